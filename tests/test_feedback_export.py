"""Readers' votes become labelled corpus lines: "right" confirms the verdict, a gate vote relabels."""

from __future__ import annotations

import json
import os
from pathlib import Path

import drive
import pytest
from cli_run import gatebot_here
from gatebot.corpus import label_from_votes, validate_line
from gatebot.ruleset import load_rules
from gatebot.service import Message, Service
from gatebot.store import Store

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("bot_gate, votes, want", [
    (1, {"right": 2}, 1),
    (1, {"3": 1}, 3),
    (2, {"right": 1, "4": 2}, 4),
    (2, {"right": 1, "2": 1, "4": 1}, 2),  # "right" and "2" are the same answer
    (1, {"right": 1, "0": 1}, None),  # split evenly: nothing settled
    (0, {"0": 1}, 0),
    (3, {"bogus": 4}, None),
])
def test_label_from_votes(bot_gate, votes, want):
    assert label_from_votes(bot_gate, votes) == want


@pytest.mark.slow  # the whole gatebot command
def test_export_writes_corpus_lines_from_votes(tmp_path):
    db = tmp_path / "gatebot.db"
    store = Store(db)
    service = Service(load_rules(ROOT / "rules"), store)
    ids = {}
    for text in ("ByteDance orders $5.6B of Ascend 950PR chips", "昇腾CANN全面开源", "算力租赁价格上涨",
                 "Hospitals adopt Ascend AI appliances at scale"):
        reply = drive.say(service, Message("telegram", "-100", "u0", text, is_direct=True))
        ids[text] = reply.message_id
    drive.press(service, "telegram", "-100", "u1", ids["ByteDance orders $5.6B of Ascend 950PR chips"], "right")
    drive.press(service, "telegram", "-100", "u1", ids["昇腾CANN全面开源"], "2")
    drive.press(service, "telegram", "-100", "u2", ids["昇腾CANN全面开源"], "2")
    drive.press(service, "telegram", "-100", "u1", ids["算力租赁价格上涨"], "right")
    drive.press(service, "telegram", "-100", "u2", ids["算力租赁价格上涨"], "1")  # split: left out
    store.close()
    env = {**os.environ, "GATEBOT_DB": str(db)}
    ran = gatebot_here("feedback", "export", env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr.decode()
    stdout, stderr = ran.stdout.decode(), ran.stderr.decode()
    lines = [validate_line(json.loads(x)) for x in stdout.splitlines()]  # the corpus format
    assert [(x["text"], x["gold"]) for x in lines] == [
        ("ByteDance orders $5.6B of Ascend 950PR chips", 1), ("昇腾CANN全面开源", 2)]
    assert lines[1]["lang"] == "zh" and "readers' votes (2 2); the bot said 3" in lines[1]["note"]
    assert "2 labelled headline(s) from readers' votes (1 left out: votes split evenly)" in stderr
