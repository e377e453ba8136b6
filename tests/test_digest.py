"""Digest content, /digest and /setstatus commands, board momentum. Injectable clock, no sleeping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import drive
import pytest
from gatebot import answers
from gatebot.context import is_bot_admin as is_admin
from gatebot.digest import build_digest, compute_digest, first_url
from gatebot.service import Message, Service
from gatebot.store import Store
from headlines import pick

UTC = timezone.utc
T0 = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)

G1 = [  # gate 1 headlines, all distinct
    "ByteDance orders $5.6B of Ascend 950PR chips",
    "Alibaba orders 10,000 Ascend 910C chips",
    "Tencent orders Ascend chips for its cloud",
    "China Mobile orders 8,000 Ascend servers",
    "Baidu orders Kunlun chips worth $1B",
]
G2 = "DeepSeek model trained on a 10,000-card Ascend cluster goes into production"
G3_ZH = "昇腾CANN全面开源"


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def svc(rules, classifier, tmp_path, clock) -> Service:
    s = Service(rules, Store(tmp_path / "d.db", clock=clock), classifier, clock=clock)
    drive.chat_admins(s, "u1")  # digests are configured by a chat's admins (see test_permissions.py)
    yield s
    s.store.close()


def post(svc: Service, clock: Clock, when: datetime, text: str, chat: str = "c1", platform: str = "telegram"):
    clock.now = when
    drive.say(svc, Message(platform, chat, "u1", text))


def cmd(svc: Service, name: str, args: str = "", user: str = "u1", chat: str = "c1", platform: str = "telegram",
        lang_hint: str | None = None):
    return drive.command(svc, platform, chat, user, name, args, lang_hint)


# ----------------------------------------------------------------------------- content


def test_counts_and_delta_against_previous_week(svc, clock):
    # Baseline: 7 gate-1 signals in the 7 days before the window (1/day); 3 in the last 24 hours.
    for day in range(2, 9):
        post(svc, clock, T0 - timedelta(days=day), G1[day % 5] + f" #{day}")
    for i in range(3):
        post(svc, clock, T0 - timedelta(hours=3 + i), G1[i])
    post(svc, clock, T0 - timedelta(hours=1), G2)
    clock.now = T0
    digest = compute_digest(svc, "telegram", "c1")
    by_gate = {g.gate: g for g in digest.gates}
    assert by_gate[1].count == 3 and by_gate[1].avg_per_day == pytest.approx(1.0)
    assert by_gate[1].delta == pytest.approx(2.0)
    assert by_gate[2].count == 1 and by_gate[2].avg_per_day == 0
    assert by_gate[3].count == 0 and by_gate[4].count == 0
    text = build_digest(svc, "telegram", "c1").plain()
    assert "Gate 1 · Policy procurement: 3 (+2 vs 7-day average 1/day)" in text
    assert "Gate 2 · Real deployment: 1 (no signals in the 7 days before)" in text
    assert "4 · Scaled replication" in text  # on the board lines
    assert "The board now" in text


def test_top_items_deduplicated_at_most_three_with_links(svc, clock):
    base = T0 - timedelta(hours=10)
    post(svc, clock, base, G1[0])
    post(svc, clock, base + timedelta(minutes=1), G1[0].upper())  # same headline, folded
    post(svc, clock, base + timedelta(minutes=2), G1[0] + " https://example.com/bytedance")  # same, with a link
    post(svc, clock, base + timedelta(minutes=3), G1[1])
    post(svc, clock, base + timedelta(minutes=4), G1[1])
    for i, text in enumerate(G1[2:]):  # earlier: among headlines of one confidence the latest rank first
        post(svc, clock, base - timedelta(minutes=10 + i), text)
    clock.now = T0
    digest = compute_digest(svc, "telegram", "c1")
    items = {g.gate: g.items for g in digest.gates}[1]
    assert len(items) == 3
    merged = [(times, url) for text, times, url in items if text.lower().startswith(G1[0].lower())]
    assert merged == [(3, "https://example.com/bytedance")]
    text = build_digest(svc, "telegram", "c1").plain()
    assert "(×3)" in text and "https://example.com/bytedance" in text
    assert text.lower().count("bytedance orders") == 1


def test_top_items_ranked_by_confidence_then_chats_then_time(svc, clock):
    base = T0 - timedelta(hours=10)
    low = pick(svc.classifier, "medium")  # a medium-confidence headline for the model that ships
    post(svc, clock, base, G1[0])  # high, only here, the earliest
    post(svc, clock, base + timedelta(minutes=1), G1[1])  # high, pasted in two more chats
    post(svc, clock, base + timedelta(minutes=2), G1[1], chat="c2")
    post(svc, clock, base + timedelta(minutes=3), G1[1], chat="c3", platform="slack")
    for i in range(4):  # pasted four times here, in two other chats too, but only medium confidence
        post(svc, clock, base + timedelta(minutes=20 + i), low)
    post(svc, clock, base + timedelta(minutes=30), low, chat="c2")
    post(svc, clock, base + timedelta(minutes=31), low, chat="c4")
    post(svc, clock, base + timedelta(minutes=40), G1[3])  # high, only here, the latest
    clock.now = T0
    assert [svc.classifier.classify(t).confidence for t in (G1[0], G1[1], G1[3], low)] == [
        "high", "high", "high", "medium"]
    items = [text for text, _times, _url in {g.gate: g.items for g in compute_digest(svc, "telegram", "c1").gates}[1]]
    # confidence first (the medium one, pasted most, never outranks a high one), then chats, then time
    assert items == [G1[1], G1[3], G1[0]]
    c4 = [text for text, _t, _u in {g.gate: g.items for g in compute_digest(svc, "telegram", "c4").gates}[1]]
    assert c4 == [low]


def test_quiet_day_is_short_not_silent(svc, clock):
    post(svc, clock, T0 - timedelta(days=3), G1[0])  # outside the 24-hour first window
    post(svc, clock, T0 - timedelta(hours=2), "lunch at noon?")  # chatter, no gate
    clock.now = T0
    reply = build_digest(svc, "telegram", "c1")
    text = reply.plain()
    assert "No new signals since 2026-05-09 12:00 UTC." in text
    assert "Top items" not in text and "Signals per gate" not in text
    assert len(reply.blocks) <= 4


def test_window_since_previous_digest_capped_at_seven_days(svc, clock):
    post(svc, clock, T0 - timedelta(days=6), G1[0])
    post(svc, clock, T0 - timedelta(days=9), G1[1])
    store = svc.store
    clock.now = T0 - timedelta(days=20)
    store.claim_digest("telegram", "c1", "2026-04-20", "r", "x", (T0 - timedelta(days=20)).isoformat(), 5)
    store.finish_digest("telegram", "c1", "2026-04-20", ok=True)
    clock.now = T0
    digest = compute_digest(svc, "telegram", "c1")
    assert digest.start == T0 - timedelta(days=7)
    assert {g.gate: g.count for g in digest.gates}[1] == 1
    since = compute_digest(svc, "telegram", "c1", since=T0 - timedelta(days=10))
    assert since.start == T0 - timedelta(days=7)


def test_chats_are_separate(svc, clock):
    post(svc, clock, T0 - timedelta(hours=1), G1[0], chat="c1")
    post(svc, clock, T0 - timedelta(hours=1), G2, chat="c2")
    post(svc, clock, T0 - timedelta(hours=1), G2, chat="c1", platform="slack")
    clock.now = T0
    counts = {g.gate: g.count for g in compute_digest(svc, "telegram", "c1").gates}
    assert counts == {1: 1, 2: 0, 3: 0, 4: 0}


def test_language_follows_headlines_unless_overridden(svc, clock):
    post(svc, clock, T0 - timedelta(hours=3), G3_ZH)
    post(svc, clock, T0 - timedelta(hours=2), "字节跳动采购昇腾950PR芯片")
    post(svc, clock, T0 - timedelta(hours=1), G1[0])
    clock.now = T0
    reply = cmd(svc, "digest")
    assert reply.lang == "zh" and "每日简报" in reply.plain()
    assert cmd(svc, "digest", "lang en").kind == "status"
    assert cmd(svc, "digest").lang == "en"
    cmd(svc, "digest", "lang auto")
    assert cmd(svc, "digest").lang == "zh"
    assert cmd(svc, "digest", "lang fr").kind == "error"


def test_status_changes_and_corrections_in_window(svc, clock):
    svc.admins = frozenset({"admin"})
    post(svc, clock, T0 - timedelta(hours=5), G1[0])
    mid = svc.store.db.execute("select max(id) from messages").fetchone()[0]
    clock.now = T0 - timedelta(hours=4)
    drive.press(svc, "telegram", "c1", "u2", mid, "3")
    drive.press(svc, "telegram", "c1", "u3", mid, "3")
    drive.press(svc, "telegram", "c1", "u4", mid, "right")
    clock.now = T0 - timedelta(days=3)
    cmd(svc, "setstatus", "2 old change", user="admin")  # before the window
    clock.now = T0 - timedelta(hours=2)
    cmd(svc, "setstatus", "3 CANN fully open-sourced | Huawei announcement", user="admin")
    clock.now = T0
    text = build_digest(svc, "telegram", "c1").plain()
    assert "Status changes:" in text
    assert "Gate 3 · Software ecosystem maturity: CANN fully open-sourced — reason: Huawei announcement" in text
    assert "old change:" not in text.split("The board now")[0]
    assert "Feedback corrections:" in text
    assert "the bot said gate 1, readers said gate 3 (2)" in text


def test_digest_blocks_stay_reasonable(svc, clock):
    for i in range(60):
        post(svc, clock, T0 - timedelta(minutes=100 - i), f"{G1[i % 5]} batch {i} https://example.com/{i}")
        post(svc, clock, T0 - timedelta(minutes=100 - i), f"{G2} batch {i}")
    clock.now = T0
    reply = build_digest(svc, "telegram", "c1")
    assert len(reply.blocks) <= 40
    assert len(reply.plain()) < 4096
    for block in reply.blocks:
        assert all(len(item) <= 300 for item in block.items)


def test_first_url():
    assert first_url("see https://a.example/x?y=1, then") == "https://a.example/x?y=1"
    assert first_url("no link") is None


# ----------------------------------------------------------------------------- /digest


def test_digest_on_off_status(svc, clock, rules):
    clock.now = datetime(2026, 5, 10, 0, 0, tzinfo=UTC)
    reply = cmd(svc, "digest", "on 09:00 Asia/Shanghai")
    assert reply.kind == "status"
    assert reply.plain() == "Daily digest on: every day at 09:00 (Asia/Shanghai). Next: 2026-05-10 09:00 CST."
    status = cmd(svc, "digest", "status").plain()
    assert "Daily digest: on, every day at 09:00 (Asia/Shanghai)" in status
    sub = svc.store.get_subscription("telegram", "c1")
    assert (sub["enabled"], sub["time"], sub["tz"]) == (1, "09:00", "Asia/Shanghai")
    assert cmd(svc, "digest", "off").plain() == "Daily digest off for this chat."
    assert "Daily digest: off" in cmd(svc, "digest", "status").plain()
    assert svc.store.get_subscription("telegram", "c1")["enabled"] == 0


def test_digest_on_default_zone(svc, clock):
    clock.now = datetime(2026, 5, 10, 0, 0, tzinfo=UTC)
    assert "(UTC)" in cmd(svc, "digest", "on 7:30").plain()
    svc.default_tz = "Europe/Berlin"
    assert "(Europe/Berlin)" in cmd(svc, "digest", "on 7:30").plain()
    assert svc.store.get_subscription("telegram", "c1")["time"] == "07:30"


@pytest.mark.parametrize("args, expected", [
    ("on 25:00", "“25:00” is not a time. Use 24-hour HH:MM, e.g. /digest on 09:00 Asia/Shanghai"),
    ("on 9am", "“9am” is not a time"),
    ("on 09:00 Mars/Olympus", "Unknown time zone “Mars/Olympus”. Use an IANA name, e.g."),
    ("on", "Usage: /digest"),
    ("on 09:00 Asia/Shanghai extra", "Usage: /digest"),
    ("sometimes", "Usage: /digest"),
    ("off now", "Usage: /digest"),
])
def test_digest_bad_inputs(svc, args, expected):
    reply = cmd(svc, "digest", args)
    assert reply.kind == "error"
    assert expected in reply.plain()
    assert svc.store.get_subscription("telegram", "c1") is None


def test_digest_zh_locale(svc):
    reply = cmd(svc, "digest", "on 25:99", lang_hint="zh-CN")
    assert reply.lang == "zh" and "不是有效时间" in reply.plain()


def test_digest_now_on_empty_chat(svc):
    reply = cmd(svc, "digest")
    assert reply.kind == "board" and "No new signals" in reply.plain()


# ----------------------------------------------------------------------------- /setstatus and the board


def test_setstatus_refused_for_non_admin(svc, clock):
    svc.admins = frozenset({"42", "U0ADMIN"})
    before = cmd(svc, "gate", "3").plain()
    reply = cmd(svc, "setstatus", "3 CANN open-sourced", user="999")
    assert reply.kind == "error" and "only the bot's admins" in reply.plain()
    assert svc.store.status_history(3) == [] and svc.store.gate_status(3) is None
    assert cmd(svc, "gate", "3").plain() == before
    svc.admins = frozenset()
    assert cmd(svc, "setstatus", "3 x", user="u1").kind == "error"  # no admins configured: nobody


def test_setstatus_by_admin_with_history(svc, clock):
    svc.admins = frozenset({"42", "U0ADMIN"})
    clock.now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    reply = cmd(svc, "setstatus", "3 Top-level adaptation spreading | CANN 8.0 release", user="U0ADMIN", platform="slack")
    assert reply.kind == "status"
    text = reply.plain()
    assert "New status: Top-level adaptation spreading (since 2026-05-01)" in text
    assert "Previous: Top-level adaptation achieved" in text and "Reason: CANN 8.0 release" in text
    clock.now = datetime(2026, 5, 8, 9, 0, tzinfo=UTC)
    cmd(svc, "setstatus", "software ecosystem CANN fully open-sourced", user="42")
    card = cmd(svc, "gate", "3").plain()
    assert "Status: software ecosystem" not in card  # the gate's name is not part of the status
    history = svc.store.status_history(3)
    assert len(history) == 2
    assert history[0].changed_by == "telegram:42" and history[1].changed_by == "slack:U0ADMIN"
    assert history[1].reason == "CANN 8.0 release"
    assert "Status: CANN fully open-sourced (since 2026-05-08)" in card
    assert "Previous: Top-level adaptation spreading (2026-05-01)" in card
    board = cmd(svc, "gates").plain()
    assert "3 · Software ecosystem maturity: CANN fully open-sourced (since 2026-05-08)" in board


def test_setstatus_usage_and_unknown_gate(svc):
    svc.admins = frozenset({"u1"})
    assert "Usage: /setstatus" in cmd(svc, "setstatus", "").plain()
    assert "Usage: /setstatus" in cmd(svc, "setstatus", "3").plain()
    assert "Unknown gate" in cmd(svc, "setstatus", "9 something").plain()
    assert svc.store.status_history(3) == []


def test_setstatus_chinese_text_stored_in_both_columns(svc):
    svc.admins = frozenset({"u1"})
    reply = cmd(svc, "setstatus", "3 CANN已全面开源 | 华为宣布")
    assert reply.lang == "zh"
    change = svc.store.gate_status(3)
    assert change.status_zh == change.status_en == "CANN已全面开源"


def test_is_admin_accepts_platform_prefixed_ids():
    assert is_admin({"slack:U1"}, "slack", "U1")
    assert not is_admin({"slack:U1"}, "telegram", "U1")
    assert not is_admin({""}, "telegram", "")


def test_board_and_verdict_show_momentum(svc, clock):
    post(svc, clock, T0 - timedelta(days=8), G1[0])  # older than 7 days: not counted
    post(svc, clock, T0 - timedelta(days=2), G1[1])
    post(svc, clock, T0 - timedelta(hours=1), G1[2])
    post(svc, clock, T0 - timedelta(hours=1), G2, chat="other")
    clock.now = T0
    board = cmd(svc, "gates").plain()
    assert "1 · Policy procurement: Opened, and opened wide. (checklist, 2026) · 7 days here: 2" in board
    assert "2 · Real deployment" in board and "· 7 days here: 0" in board
    plain = answers.board(svc.rules, answers.load_view(svc.store, clock.now), "en").plain()
    assert "7 days here" not in plain  # no chat (`gatebot gates`): the plain board, as before
    reply = drive.say(svc, Message("telegram", "c1", "u1", G1[3], addressed=True))
    # the message being answered is not counted: two before it in the last 7 days
    assert "This chat, last 7 days: 2 other signals for this gate" in reply.plain()
    zh = cmd(svc, "gates", lang_hint="zh").plain()
    assert "近7日：3 条" in zh and "本群" not in zh


# ----------------------------------------------------------------------------- CLI


def test_cli_status_set_and_digest(tmp_path, monkeypatch, capsys):
    from gatebot.cli import main

    monkeypatch.setenv("GATEBOT_DB", str(tmp_path / "cli.db"))
    for name in ("TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["status", "set", "2", "Deployments", "scaling", "--zh", "部署扩大", "--reason", "orders", "--by", "ops"]) == 0
    out = capsys.readouterr().out
    assert "New status: Deployments scaling" in out and "Reason: orders" in out
    store = Store(tmp_path / "cli.db")
    change = store.gate_status(2)
    assert (change.status_en, change.status_zh, change.changed_by) == ("Deployments scaling", "部署扩大", "ops")
    store.close()
    assert main(["digest", "--lang", "zh"]) == 0
    out = capsys.readouterr().out
    assert "每日简报" in out and "部署扩大" in out
    assert main(["digest", "--since", "yesterday"]) == 2
    assert "not an ISO date/time" in capsys.readouterr().err
    assert main(["status", "set", "9", "x"]) == 2
    assert main(["digest", "--send", "--platform", "telegram", "--chat", "1"]) == 2  # no token configured
