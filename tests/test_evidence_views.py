"""Where the evidence ledger shows: /gate N (this chat, the change from the 30 days before, the
strongest items escaped with their links), /gates, the digest's per-gate lines, /trend's split,
and the App Home board (every chat, counts only). Injectable clock, no sleeping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from drive import command, say
from gatebot import answers, chart
from gatebot.digest import build_digest
from gatebot.handlers.telegram_render import render_single
from gatebot.service import Message, Service, home_reply
from gatebot.store import Store

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
FOR_1 = ["Alibaba orders 10,000 Ascend 910C chips", "ByteDance orders $5.6B of Ascend 950PR chips"]
AGAINST_2 = "部分国产芯片闲置率高达80%"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(rules, classifier, tmp_path, clock) -> Service:
    s = Service(rules, Store(tmp_path / "v.db", clock=clock), classifier, clock=clock)
    yield s
    s.store.close()


def paste(svc: Service, text: str, chat: str = "c1", platform: str = "telegram", user: str = "u1"):
    say(svc, Message(platform, chat, user, text, is_direct=True))
    row = svc.store.db.execute("select max(id) from messages").fetchone()[0]
    return svc.store.get_message(row).verdict


def test_gate_card_shows_the_change_from_the_30_days_before(svc: Service, clock: Clock) -> None:
    clock.now = T0 - timedelta(days=40)  # the window before: one story against gate 2
    old = paste(svc, "DeepSeek delays new models due to problems with Huawei chips")
    clock.now = T0
    now_v = paste(svc, AGAINST_2)
    assert (old.gate, old.reading, now_v.gate, now_v.reading) == (2, "against", 2, "against")
    card = command(svc, "telegram", "c1", "u1", "gate", "2").plain()
    assert "This chat, last 30 days: 0 for · 1 against · 0 neutral" in card
    assert "Change from the 30 days before: ±0 for · ±0 against · ±0 neutral (then: 0 for · 1 against" in card
    clock.now = T0 + timedelta(days=31)  # the newer story is now "the 30 days before"
    card = command(svc, "telegram", "c1", "u1", "gate", "2").plain()
    assert "This chat, last 30 days: no evidence for this gate yet" in card
    assert "−1 against" in card


def test_gate_card_items_are_escaped_and_carry_their_links(svc: Service) -> None:
    nasty = '<b>ByteDance</b> orders $5.6B of Ascend 950PR chips & <script>x</script> https://example.com/a?b=1&c=2'
    v = paste(svc, nasty)
    assert v.gate == 1
    reply = command(svc, "telegram", "c1", "u1", "gate", "1")
    items = next(b for b in reply.blocks if b.label == answers.label("evidence_items", "en"))
    assert items.user_text and "https://example.com/a?b=1&c=2" in items.items[0]
    html = render_single(reply)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;ByteDance" in html
    zh = command(svc, "telegram", "c1", "u1", "gate", "1", "zh").plain()
    assert "这里近30日：利好 1 · 利空 0 · 中性 0" in zh and "国产芯片大单成交" in zh


def test_gates_board_and_the_digest_show_the_balance(svc: Service) -> None:
    for text in FOR_1:
        paste(svc, text)
    paste(svc, AGAINST_2)
    paste(svc, FOR_1[0], chat="other")  # another chat's story is not this chat's
    board = command(svc, "telegram", "c1", "u1", "gates").plain()
    assert "· 30d: 2 for · 0 against" in board.splitlines()[1]
    assert "· 30d: 0 for · 1 against" in board.splitlines()[2]
    digest = build_digest(svc, "telegram", "c1", now=svc.clock()).plain()
    assert "evidence: 2 for · 0 against · 0 neutral" in digest
    assert "evidence: 0 for · 1 against · 0 neutral" in digest


def test_trend_splits_for_and_against(svc: Service) -> None:
    for text in FOR_1:
        paste(svc, text)
    paste(svc, AGAINST_2)
    trend = chart.trend_data(svc.store, "telegram", "c1", 7, svc.clock(), [1, 2, 3, 4])
    assert sum(trend.readings[1]["for"]) == 2 and sum(trend.readings[1]["against"]) == 0
    assert sum(trend.readings[2]["against"]) == 1 and sum(trend.readings[2]["for"]) == 0
    text = chart.trend_reply(trend, chart.gate_names(svc.rules), "en").plain()
    assert "2 (2 for · 0 against)" in text and "1 (0 for · 1 against)" in text


def test_app_home_board_counts_every_chat_each_story_once_and_quotes_none(svc: Service) -> None:
    paste(svc, FOR_1[0], platform="slack", chat="C1")
    paste(svc, FOR_1[0], platform="slack", chat="C2", user="u2")
    paste(svc, FOR_1[1], platform="slack", chat="C2", user="u2")
    home = home_reply(svc, "slack", "u9", "D9").plain()
    assert "· 30d: 2 for · 0 against" in home.splitlines()[1]
    assert "Alibaba" not in home and "ByteDance" not in home  # u9 pasted nothing: no one's headlines


def test_gatebot_evidence_text_json_and_bad_usage(svc: Service, monkeypatch, capsys) -> None:
    from gatebot import cli

    for text in FOR_1:
        paste(svc, text)
    paste(svc, AGAINST_2, chat="c2")
    monkeypatch.setenv("GATEBOT_DB", str(svc.store.path))
    capsys.readouterr()
    assert cli.main(["evidence"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Evidence in every chat, the last 30 days")
    assert "   1    2        0        0        2" in text and "1.orders    2        0        0" in text
    assert cli.main(["evidence", "--json", "--gate", "2", "--chat", "c1", "--platform", "telegram"]) == 0
    assert capsys.readouterr().out.strip() == (
        '{"gate": 2, "for": 0, "against": 0, "neutral": 0, "stories": 0, "by_metric": {}}')
    assert cli.main(["evidence", "--json", "--gate", "2", "--platform", "telegram"]) == 0
    assert '"against": 1' in capsys.readouterr().out
    for bad in (["--chat", "c1"], ["--days", "0"], ["--gate", "7"]):
        assert cli.main(["evidence", *bad]) == 2, bad
        err = capsys.readouterr().err.strip()
        assert err.startswith("gatebot:") and "\n" not in err and "Traceback" not in err
