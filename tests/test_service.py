"""The service through the `testbot` fixture: what gets answered, in which language, and what is stored."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import drive
from gatebot.service import Message, Service
from gatebot.store import Store


def test_group_headline_gets_the_gate_status_and_risk(testbot):
    reply = testbot.push("ByteDance orders $5.6B of Ascend 950PR chips")
    assert reply is not None and reply.kind == "verdict"
    text = reply.plain()
    lines = text.splitlines()
    assert lines[0] == "Gate 1 · Policy procurement"  # the verdict leads
    assert lines[1].startswith("Status: Opened, and opened wide.")
    assert lines[2] == "Risk warning: Procurement volume ≠ deployment volume. Don't confuse them."
    assert "“orders” → order" in text
    assert [c.value for c in reply.choices] == ["right", "1", "2", "3", "4", "0"]


def test_chinese_input_gets_a_chinese_reply(testbot):
    reply = testbot.push("昇腾CANN全面开源")
    text = reply.plain()
    assert reply.lang == "zh"
    assert text.startswith("第三道门·软件生态成熟")
    assert "风险提示：这道门决定了算力「护城河」有多深。" in text


def test_group_chatter_is_silent_but_stored(testbot, store):
    assert testbot.push("lunch at noon?") is None
    assert store.count_messages() == 1


def test_direct_chatter_gets_a_helpful_no_gate(testbot):
    reply = testbot.push("lunch at noon?", direct=True)
    assert reply.kind == "no_gate"
    assert reply.plain().startswith("No gate.")
    assert "/gates" in reply.plain()


def test_addressed_chatter_is_answered(testbot):
    assert testbot.push("what do you think?", addressed=True).kind == "no_gate"


def test_no_gate_reason_off_domain(testbot):
    reply = testbot.push("比特币全网算力创新高,矿工订单大增", direct=True)
    assert reply.kind == "no_gate" and reply.lang == "zh"
    assert "比特币" in reply.plain()


def test_seen_before_in_the_same_chat_only(service):
    first = drive.say(service, Message("t", "c1", "u", "ByteDance orders Ascend 950PR chips"))
    again = drive.say(service, Message("t", "c1", "u2", "bytedance ORDERS ascend-950PR chips!"))
    other = drive.say(service, Message("t", "c2", "u", "ByteDance orders Ascend 950PR chips"))
    assert "Seen before" not in first.plain()
    assert "Seen before in this chat on" in again.plain()
    assert "Seen before" not in other.plain()


def test_commands(testbot):
    board = testbot.command("gates")
    assert board.kind == "board" and len([b for b in board.blocks if b.kind == "text"]) == 4
    assert "BT财经" in board.plain()
    card = testbot.command("gate", "3")
    assert card.plain().startswith("Gate 3 · Software ecosystem maturity")
    assert "Number of models covered by CANN" in card.plain()
    assert testbot.command("gate", "replication").plain().startswith("Gate 4")
    assert testbot.command("gate", "采购").plain().startswith("第一道门")
    assert testbot.command("gate@gatebot", "2").kind == "gate"
    assert testbot.command("gate", "9").kind == "error"
    assert testbot.command("gate").kind == "error"
    assert testbot.command("help").kind == "help"
    assert testbot.command("gates", lang_hint="zh-hans").plain().startswith("国产算力兑现的四道门")
    assert testbot.command("gate", "3", lang_hint="zh-hans").plain().startswith("第三道门")
    assert testbot.command("gate", "ecosystem", lang_hint="zh-hans").plain().startswith("Gate 3")
    assert "Unknown command /nope" in testbot.command("nope").plain()


def test_classify_command_always_answers_and_quotes(testbot):
    reply = testbot.command("classify", "lunch at noon?")
    assert reply.kind == "no_gate" and reply.blocks[0].kind == "quote" and reply.blocks[0].user_text
    assert testbot.command("classify", "").kind == "error"


def test_bad_input_is_answered_and_nothing_lost(testbot, store):
    huge = "ByteDance orders Ascend chips. " + "x" * 100_000
    reply = testbot.push(huge, direct=True)
    assert "Only the first 4,000 characters were read" in reply.plain()
    row = next(store.db["messages"].rows_where(order_by="id desc", limit=1))
    assert row["text_len"] == len(huge)
    assert testbot.push("\x00\x00", direct=True).kind == "no_gate"
    assert testbot.push("🙂", direct=True).kind == "no_gate"
    assert testbot.push("", direct=True).plain().startswith("No gate.\nNothing to classify")


def test_votes_one_per_user_latest_wins(service):
    reply = drive.say(service, Message("t", "c1", "u", "ByteDance orders Ascend 950PR chips"))
    assert drive.press(service, "t", "c1", "a", reply.message_id, "right").ok
    assert drive.press(service, "t", "c1", "b", reply.message_id, "2").ok
    result = drive.press(service, "t", "c1", "a", reply.message_id, "3")
    assert result.ok and service.store.tally(reply.message_id) == {"2": 1, "3": 1}
    assert "Feedback: Gate 2 1 · Gate 3 1" in result.reply.plain()
    assert not drive.press(service, "t", "c1", "a", reply.message_id, "9").ok
    assert not drive.press(service, "t", "c1", "a", "not-a-number", "right").ok
    assert not drive.press(service, "t", "c1", "a", 999_999, "right").ok
    assert not drive.press(service, "t", "other-chat", "a", reply.message_id, "right").ok  # forged chat


def test_status_change_is_shown_with_since_and_previous(tmp_path, rules, classifier):
    now = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
    store = Store(tmp_path / "s.db", clock=lambda: now)
    service = Service(rules, store, classifier)
    store.set_gate_status(4, "A crack has opened.", "开了一条缝。", "admin", "first SME projects")
    card = drive.command(service, "t", "c1", "u", "gate", "4", "en").plain()
    assert "Status: A crack has opened. (since 2026-11-20)" in card
    assert "Previous: Basically not opened. (checklist, 2026)" in card
    assert "开了一条缝。" in drive.command(service, "t", "c1", "u", "gates", "", "zh").plain()
    store.close()


def test_restart_keeps_history(tmp_path, rules, classifier):
    clock = [datetime(2026, 11, 1, tzinfo=timezone.utc)]
    store = Store(tmp_path / "s.db", clock=lambda: clock[0])
    drive.say(Service(rules, store, classifier), Message("t", "c", "u", "昇腾CANN全面开源"))
    store.close()
    clock[0] += timedelta(days=3)
    store = Store(tmp_path / "s.db", clock=lambda: clock[0])
    reply = drive.say(Service(rules, store, classifier), Message("t", "c", "u", "昇腾CANN全面开源"))
    assert "本群已于 2026-11-01 出现过这条。" in reply.plain()
    store.close()
