"""The command line says what is wrong in one line on stderr, and reads a .env file: the whole
command, with its own environment and working directory (in this process: cli_run.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_run import gatebot_here

pytestmark = pytest.mark.slow  # the full command each time: rules and models loaded

ROOT = Path(__file__).resolve().parent.parent


def gatebot(*args: str, env: dict | None = None, cwd: Path | None = None, drop: tuple[str, ...] = (),
            stdin: bytes = b""):
    """The whole CLI; `drop` removes variables from the inherited environment."""
    base = {k: v for k, v in os.environ.items() if k not in drop}
    return gatebot_here(*args, stdin=stdin, env={**base, **(env or {})}, cwd=cwd or ROOT)


def one_error_line(out) -> str:
    err = out.stderr.decode().strip()
    assert out.returncode == 2, (out.returncode, err)
    assert err.startswith("gatebot:") and "\n" not in err and "Traceback" not in err, err
    return err


def test_unknown_gate_is_an_error_on_stderr(tmp_path):
    out = gatebot("gate", "7", env={"GATEBOT_DB": str(tmp_path / "g.db")})
    assert out.stdout == b""
    assert one_error_line(out) == "gatebot: Unknown gate “7”. Use 1-4 or a name: procurement, deployment, " \
                                  "ecosystem, replication."
    out = gatebot("gate", "3", env={"GATEBOT_DB": str(tmp_path / "g.db")})
    assert out.returncode == 0 and out.stdout.decode().startswith("Gate 3 · ") and out.stderr == b""


@pytest.mark.parametrize("group, sub", [("rules", "check"), ("status", "set")])
def test_a_command_group_alone_prints_its_own_help(group, sub):
    out = gatebot(group)
    assert out.returncode == 2
    text = out.stdout.decode()
    assert text.startswith(f"usage: gatebot {group} ") and sub in text
    assert "classify" not in text  # not the top-level help


def test_unknown_platform_is_refused(tmp_path):
    err = one_error_line(gatebot("digest", "--platform", "telegarm", env={"GATEBOT_DB": str(tmp_path / "g.db")}))
    assert "--platform" in err and "telegarm" in err and "'telegram', 'slack', 'terminal'" in err
    out = gatebot("digest", "--platform", "slack", "--chat", "C1", env={"GATEBOT_DB": str(tmp_path / "g.db")})
    assert out.returncode == 0, out.stderr.decode()


def test_unknown_time_zone_is_refused_not_replaced_by_utc(tmp_path):
    env = {"GATEBOT_DB": str(tmp_path / "g.db")}
    err = one_error_line(gatebot("gates", env={**env, "GATEBOT_TZ": "Asia/Shangai"}))
    assert "GATEBOT_TZ='Asia/Shangai' is not a known IANA time zone" in err
    # A known zone, in any case, sets the default for `/digest on HH:MM` in the canonical spelling.
    out = gatebot("chat", env={**env, "GATEBOT_TZ": "asia/shanghai"}, stdin=b"/digest on 09:00\n")
    assert out.returncode == 0 and "Asia/Shanghai" in out.stdout.decode(), out.stderr.decode()


def test_eval_help_states_the_file_format():
    out = gatebot("eval", "--help")
    text = out.stdout.decode()
    assert out.returncode == 0
    for field in ("text ", "gold ", "ok "):
        assert f"  {field}" in text
    assert "0-4" in text and "optional" in text


def test_env_file_in_the_working_directory_and_the_environment_wins(tmp_path):
    (tmp_path / ".env").write_text("GATEBOT_DB=from-dotenv.db\nGATEBOT_TZ=Europe/Berlin\n", encoding="utf-8")
    out = gatebot("chat", cwd=tmp_path, drop=("GATEBOT_DB", "GATEBOT_TZ"), stdin=b"/digest on 07:30\n")
    assert out.returncode == 0, out.stderr.decode()
    assert (tmp_path / "from-dotenv.db").exists() and "Europe/Berlin" in out.stdout.decode()
    out = gatebot("chat", env={"GATEBOT_DB": str(tmp_path / "from-env.db")}, cwd=tmp_path, drop=("GATEBOT_TZ",),
                  stdin=b"/digest on 07:30\n")
    assert out.returncode == 0, out.stderr.decode()
    assert (tmp_path / "from-env.db").exists() and "Europe/Berlin" in out.stdout.decode()  # the rest still read
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["from-dotenv.db", "from-env.db"]
