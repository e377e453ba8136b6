"""The model judge through the command line (the whole command, in this process: cli_run.py) against
the fake server."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from cli_run import gatebot_here
from fakes.openai_api import MODEL, FakeLLM

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "eval-fixture.jsonl"
KEY = "sk-test-SECRET-0123456789abcdef"
HEADLINE = "ByteDance orders $5.6B of Ascend 950PR chips for its servers"  # rules: gate 1; the fake model: gate 2

pytestmark = pytest.mark.slow


def gatebot(*args: str, fake: FakeLLM | None, tmp_path: Path, stdin: bytes | None = None, **env: str):
    full = {k: v for k, v in os.environ.items() if not k.startswith("GATEBOT_LLM_")}
    full["GATEBOT_DB"] = str(tmp_path / "gatebot.db")
    if fake is not None:
        full.update(GATEBOT_LLM_URL=fake.base_url, GATEBOT_LLM_MODEL=MODEL, GATEBOT_LLM_API_KEY=KEY,
                    GATEBOT_LLM_TIMEOUT="1")
    full.update(env)
    return gatebot_here(*args, stdin=stdin, env=full, cwd=tmp_path)


def test_classify_json_reports_both_judges(tmp_path: Path) -> None:
    with FakeLLM().running_in_thread() as fake:
        out = gatebot("classify", "--json", HEADLINE, fake=fake, tmp_path=tmp_path)
        assert out.returncode == 0, out.stderr.decode()
        data = json.loads(out.stdout)
        assert data["gate"] == 2 and data["judge"] == "llm" and data["text"] == HEADLINE
        assert data["llm"] == {"model": MODEL, "gate": 2, "secondary": None, "confidence": "high",
                               "reason": "The headline is about gate 2."}
        assert data["gates"][0]["gate"] == 1  # the rules' evidence stays
        # one text per stdin line, in order, the repeated line from the cache
        lines = f"{HEADLINE}\n昇腾CANN全面开源\nlunch?\n{HEADLINE}\n".encode()
        out = gatebot("classify", "--json", "-", fake=fake, tmp_path=tmp_path, stdin=lines)
        results = [json.loads(line) for line in out.stdout.decode().splitlines()]
        assert [r["gate"] for r in results] == [2, 3, 0, 2]
        assert [r["judge"] for r in results] == ["llm", "llm", "rules", "llm"]
        assert fake.calls == 2  # HEADLINE is cached in GATEBOT_DB from the first run; "lunch?" is never sent
        out = gatebot("classify", HEADLINE, fake=fake, tmp_path=tmp_path)
        assert out.stdout.decode().strip() == (
            f"gate 2 · Real deployment (high) — judged by {MODEL}: The headline is about gate 2. [rules: 1]")


def test_classify_falls_back_without_traceback(tmp_path: Path) -> None:
    with FakeLLM(mode="hang").running_in_thread() as fake:
        started = time.perf_counter()
        out = gatebot("classify", "--json", HEADLINE, fake=fake, tmp_path=tmp_path)
        elapsed = time.perf_counter() - started
    assert out.returncode == 0
    data = json.loads(out.stdout)
    assert data["gate"] == 1 and data["judge"] == "rules" and data["fallback"] == "timeout" and "llm" not in data
    err = out.stderr.decode()
    assert "Traceback" not in err and KEY not in err and err.count("\n") <= 1
    assert elapsed < 1 + 1 + 3  # timeout + 1 s, plus the interpreter's start


def test_unset_url_classify_output_is_the_offline_one(tmp_path: Path) -> None:
    out = gatebot("classify", "--json", HEADLINE, fake=None, tmp_path=tmp_path)
    data = json.loads(out.stdout)
    assert "judge" not in data and data["gate"] == 1
    assert not (tmp_path / "gatebot.db").exists()  # offline classify opens no database


def test_chat_uses_the_model_and_falls_back(tmp_path: Path) -> None:
    with FakeLLM().running_in_thread() as fake:
        fake.by_text["昇腾CANN全面开源"] = "500"
        out = gatebot("chat", fake=fake, tmp_path=tmp_path, stdin=f"{HEADLINE}\n昇腾CANN全面开源\n/gates\n".encode())
    assert out.returncode == 0, out.stderr.decode()
    text = out.stdout.decode()
    first, second, board = text.split("\n\n")[:3]
    assert first.startswith("Gate 2 · Real deployment") and first.endswith(f"Judged by {MODEL}.")
    assert "The rules said: Gate 1 · Policy procurement" in first
    assert second.startswith("第三道门·软件生态成熟") and second.endswith("由规则判断（模型未能作答）。")
    assert board.startswith("The four gates")
    err = out.stderr.decode()
    assert "Traceback" not in err and KEY not in err
    # the disagreement is kept for review
    out = gatebot("feedback", "export", "--disagreements", fake=None, tmp_path=tmp_path)
    (row,) = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert row["text"] == HEADLINE and (row["rules"], row["llm"]) == (1, 2) and row["gold"] is None
    assert "feedback export: 1 headline(s) to review" in out.stderr.decode()


def test_llm_check_and_prompt(tmp_path: Path) -> None:
    with FakeLLM().running_in_thread() as fake:
        out = gatebot("llm", "check", fake=fake, tmp_path=tmp_path)
        assert out.returncode == 0, out.stderr.decode()
        text = out.stdout.decode()
        assert f"asking {MODEL} at {fake.base_url}/chat/completions" in text
        assert "model: gate 1, high, in " in text and " ms — " in text and "rules: gate 1" in text
        fake.mode = "500"
        out = gatebot("llm", "check", fake=fake, tmp_path=tmp_path)
        assert out.returncode == 1 and out.stderr.decode().strip() == "llm check failed: http: HTTP 500"
    out = gatebot("llm", "check", fake=None, tmp_path=tmp_path)
    assert out.returncode == 2 and "GATEBOT_LLM_URL is not set" in out.stderr.decode()
    out = gatebot("llm", "prompt", fake=None, tmp_path=tmp_path)
    assert out.returncode == 0 and "Labelling conventions:" in out.stdout.decode()


def test_bad_configuration_is_one_line(tmp_path: Path) -> None:
    out = gatebot("classify", HEADLINE, fake=None, tmp_path=tmp_path, GATEBOT_LLM_URL="http://127.0.0.1:9/v1")
    assert out.returncode == 2
    assert out.stderr.decode().strip() == "gatebot: GATEBOT_LLM_MODEL is required when GATEBOT_LLM_URL is set"


def test_eval_judge_both_side_by_side(tmp_path: Path) -> None:
    gold = {json.loads(line)["text"]: json.loads(line)["gold"] for line in FIXTURE.read_text().splitlines()}
    oracle = FakeLLM(answer=lambda text: {"gate": gold.get(text, 0), "confidence": "high", "reason": "gold"})
    with oracle.running_in_thread() as fake:
        out = gatebot("eval", str(FIXTURE), "--judge", "both", fake=fake, tmp_path=tmp_path)
        assert out.returncode == 0, out.stderr.decode()
        text = out.stdout.decode()
        assert text.startswith(f"judge: {MODEL} (mode always): 6/6 answered by the model; rules instead: none; "
                               "6 calls, 0 cached")
        top1 = next(line for line in text.splitlines() if line.startswith("top-1"))
        assert top1.split()[1:] == ["0.833", "1.000"]
        assert "agreement: 0.833 (5/6 the same gate); where they differ: rules right 0, model right 1" in text
        out = gatebot("eval", str(FIXTURE), "--judge", "llm", "--json", fake=fake, tmp_path=tmp_path)
        data = json.loads(out.stdout)
        assert data["llm"]["top1"] == 1.0 and "rules" not in data and data["cache_hits"] == 6
    out = gatebot("eval", str(FIXTURE), "--judge", "both", fake=None, tmp_path=tmp_path)
    assert out.returncode == 2 and "needs GATEBOT_LLM_URL" in out.stderr.decode()
