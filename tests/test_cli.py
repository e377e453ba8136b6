"""The `gatebot` command line: what each command does and prints, its exit codes and one-line errors
(run in this process, cli_run.py), and the console entry point and `gatebot run` as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import gatebot_here

pytestmark = pytest.mark.slow  # the full command each time: rules and models loaded, some tests start a process

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "eval-fixture.jsonl"


def gatebot(*args: str, stdin: bytes | None = None, env: dict | None = None, cwd: Path | None = None):
    return gatebot_here(*args, stdin=stdin, env={**os.environ, **(env or {})}, cwd=cwd or ROOT)


def test_version_and_help():
    # as a process: `python -m gatebot.cli` is how the console script and the Dockerfile start it
    out = subprocess.run([sys.executable, "-m", "gatebot.cli", "--version"], capture_output=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0 and out.stdout.decode().startswith("gatebot ")
    out = gatebot("--help")
    assert out.returncode == 0 and b"classify" in out.stdout


def test_classify_one_text():
    out = gatebot("classify", "ByteDance orders $5.6B of Ascend 950PR chips")
    assert out.returncode == 0
    assert out.stdout.decode().startswith("gate 1 · Policy procurement")


def test_classify_json_fields():
    out = gatebot("classify", "--json", "昇腾CANN全面开源")
    data = json.loads(out.stdout)
    assert data["gate"] == 3 and data["lang"] == "zh" and data["confidence"] in {"high", "medium", "low"}
    assert data["gates"][0]["gate"] == 3 and data["gates"][0]["evidence"][0]["match"] == "CANN"


def test_classify_stdin_keeps_order_and_handles_bad_bytes():
    lines = "昇腾CANN全面开源\nlunch?\n\nByteDance orders Ascend chips\n".encode() + b"\xff\xfe broken\n"
    out = gatebot("classify", "--json", "-", stdin=lines)
    assert out.returncode == 0
    results = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert [r["gate"] for r in results] == [3, 0, 0, 1, 0]
    assert "invalid UTF-8" in out.stderr.decode() and b"Traceback" not in out.stderr


def test_classify_a_long_stdin_in_worker_processes_prints_what_one_process_prints():
    from gatebot.batch import BLOCK

    heads = ["昇腾CANN全面开源", "lunch?", "ByteDance orders Ascend chips", "算力租赁价格上涨"]
    lines = "".join(f"{heads[i % 4]} {i}\n" for i in range(BLOCK + 300)).encode()
    spread = gatebot("classify", "--jobs", "2", stdin=lines)
    alone = gatebot("classify", "--jobs", "1", stdin=lines)
    assert spread.returncode == alone.returncode == 0
    assert spread.stdout == alone.stdout and len(spread.stdout.splitlines()) == BLOCK + 300


def test_classify_piped_without_dash():
    out = gatebot("classify", stdin="昇腾CANN全面开源\n".encode())
    assert out.returncode == 0 and out.stdout.decode().startswith("gate 3")


def test_gates_board_and_gate():
    out = gatebot("gates", env={"GATEBOT_DB": ":memory:"})
    assert out.returncode == 0 and out.stdout.decode().count("\n") >= 5
    out = gatebot("gates", "--lang", "zh", env={"GATEBOT_DB": ":memory:"})
    assert "第四道门·规模化复制" in out.stdout.decode()
    out = gatebot("gate", "nope", env={"GATEBOT_DB": ":memory:"})
    assert out.returncode == 2


def test_eval_on_fixture_has_known_numbers():
    out = gatebot("eval", "--json", str(FIXTURE))
    assert out.returncode == 0
    data = json.loads(out.stdout)
    assert data["n"] == 6
    assert data["top1"] == pytest.approx(5 / 6, abs=1e-3)  # f5 is labeled 4 on purpose: 3 is predicted
    assert data["by_lang"] == {"en": 1.0, "zh": pytest.approx(0.75)}
    assert data["per_gate"]["4"]["recall"] == pytest.approx(0.5)
    assert data["per_gate"]["3"]["precision"] == pytest.approx(0.5)
    assert data["confusion"]["4"]["3"] == 1
    assert data["misses"][0]["id"] == "f5"
    text = gatebot("eval", str(FIXTURE)).stdout.decode()
    assert "top-1: 0.833" in text and "f5: gold 4" in text and "confusion" in text


def test_rules_check_passes_and_fails(tmp_path):
    out = gatebot("rules", "check")
    assert out.returncode == 0, out.stderr.decode()
    assert "examples hold" in out.stdout.decode()
    import shutil

    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    bad = tmp_path / "rules" / "cues" / "2-deployment.yaml"
    bad.write_text(bad.read_text(encoding="utf-8").replace("weight: 4", "weight: lots", 1), encoding="utf-8")
    out = gatebot("rules", "check", "--dir", str(tmp_path / "rules"))
    assert out.returncode == 1
    assert "rules/cues/2-deployment.yaml:" in out.stderr.decode() and "weight" in out.stderr.decode()


@pytest.mark.parametrize(
    "args, stdin",
    [(["eval", "/nonexistent.jsonl"], None), (["eval", str(ROOT / "README.md")], None),
     (["frobnicate"], None), (["classify", "--bogus"], None)],
)
def test_bad_usage_exits_2_with_one_line(args, stdin):
    out = gatebot(*args, stdin=stdin)
    assert out.returncode == 2
    err = out.stderr.decode().strip()
    assert err.startswith("gatebot:") and "\n" not in err and "Traceback" not in err


def test_chat_piped_uses_gatebot_db(tmp_path):
    db = tmp_path / "chat.db"
    script = "昇腾CANN全面开源\n/gates\nhello\n/gate 1\n".encode() + b"\xff\n"
    out = gatebot("chat", stdin=script, env={"GATEBOT_DB": str(db)})
    assert out.returncode == 0, out.stderr.decode()
    text = out.stdout.decode()
    assert text.startswith("第三道门·软件生态成熟")
    # no locale in a terminal: commands answer in the language of the chat's headlines so far
    assert "国产算力兑现的四道门" in text and "No gate." in text
    assert "第一道门·政策采购" in text
    import sqlite_utils

    assert sqlite_utils.Database(db)["messages"].count == 3


def test_chat_defaults_to_gatebot_db_in_cwd(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GATEBOT_DB"}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-m", "gatebot.cli", "chat"], input="hello\n".encode(), capture_output=True,
                         env=env, cwd=tmp_path, timeout=60)
    assert out.returncode == 0
    assert (tmp_path / "gatebot.db").exists()


def test_chat_reads_a_pasted_link(tmp_path):
    """`gatebot chat` reads links like the chat adapters do (a local page, private fetch allowed)."""
    import http.server
    import threading

    page = ('<html><head><title>x</title><meta property="og:title" content="昇腾CANN全面开源">'
            "</head><body></body></html>").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/news"
        out = gatebot("chat", stdin=f"{url}\n".encode(),
                      env={"GATEBOT_DB": str(tmp_path / "g.db"), "GATEBOT_FETCH_ALLOW_PRIVATE": "1"})
        refused = gatebot("chat", stdin=f"{url}\n".encode(),
                          env={"GATEBOT_DB": str(tmp_path / "h.db"), "GATEBOT_FETCH_ALLOW_PRIVATE": "0"})
    finally:
        server.shutdown()
    assert out.returncode == 0, out.stderr.decode()
    assert "第三道门" in out.stdout.decode() and "昇腾CANN全面开源" in out.stdout.decode()
    assert refused.returncode == 0 and "127.0.0.1" in refused.stdout.decode()


@pytest.mark.parametrize(
    "env, message",
    [({}, "no adapter configured"),
     ({"SLACK_BOT_TOKEN": "xoxb-not-real"}, "SLACK_SIGNING_SECRET is required")],
)
def test_run_without_usable_settings_exits_2(tmp_path, env, message):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    out = subprocess.run([sys.executable, "-m", "gatebot.cli", "run"], capture_output=True, timeout=60, cwd=ROOT,
                         env={**clean, "GATEBOT_DB": str(tmp_path / "g.db"), **env})
    assert out.returncode == 2
    assert message in out.stderr.decode() and "Traceback" not in out.stderr.decode()
    assert "xoxb-not-real" not in out.stderr.decode()
