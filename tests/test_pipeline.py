"""The pipeline's seams: the one language decision, the command table (help, menus, the Slack
manifest made from it), who may change what, and how many SQL statements an event costs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import drive
import pytest
import yaml
from gatebot.commands import COMMANDS, help_lines, menu, slack_commands
from gatebot.context import decide_language
from gatebot.service import Message, Service

ROOT = Path(__file__).resolve().parent.parent
HEADLINE = "ByteDance orders $5.6B of Ascend 950PR chips"


def _never() -> str | None:
    raise AssertionError("the chat's headlines were counted although an earlier rule decided")


# (digest override, chat setting, words answered, locale, chat majority) -> language
LANGUAGE_TABLE = [
    ("zh", "en", "en", "en", "en", "zh"),  # 1. the digest's own language, for what belongs to digests
    ("", "zh", "en", "en", "en", "zh"),  # 2. the chat's /settings lang
    ("", "", "zh", "en", "en", "zh"),  # 3. the words being answered
    ("", "", "en", "zh-hans", "zh", "en"),
    ("", "", None, "zh-hans", "en", "zh"),  # 4. the asker's locale
    ("", "", None, "en-GB", "zh", "en"),
    ("", "", None, None, "zh", "zh"),  # 5. the chat's usual language
    ("", "auto", None, None, None, "en"),  # 6. English
    ("", "", None, "", None, "en"),
]


@pytest.mark.parametrize("digest,chosen,words,locale,majority,expected", LANGUAGE_TABLE)
def test_the_language_decision_as_a_table(digest, chosen, words, locale, majority, expected) -> None:
    assert (
        decide_language(digest=digest, chosen=chosen, words=words, locale=locale, majority=lambda: majority) == expected
    )


def test_the_chats_headlines_are_counted_only_when_nothing_else_decides() -> None:
    assert decide_language(chosen="zh", majority=_never) == "zh"
    assert decide_language(locale="en", majority=_never) == "en"


def test_help_and_the_telegram_menu_come_from_the_table() -> None:
    names = [c.name for c in COMMANDS]
    for lang in ("en", "zh"):
        assert [line.split(" ")[0] for line in help_lines(lang)] == [f"/{n}" for n in names]
        assert [name for name, _ in menu(lang)] == ["start", *names]
        assert all(description for _, description in menu(lang))
    quiet = next(c for c in COMMANDS if c.name == "quiet")
    assert quiet.help_line("zh") == "/quiet 2h — 暂停主动回复一段时间（30m、1d；/quiet off 结束）"


def test_the_slack_manifest_matches_the_command_table() -> None:
    manifest = yaml.safe_load((ROOT / "slack-manifest.yaml").read_text(encoding="utf-8"))
    listed = manifest["features"]["slash_commands"]
    url = listed[0]["url"]
    expected = slack_commands(url)
    assert listed == expected, (
        "slack-manifest.yaml's slash_commands drifted from bot/commands.py; they should be:\n"
        + yaml.safe_dump(expected, allow_unicode=True, sort_keys=False)
    )


def test_every_name_answers_and_chinese_aliases_work(testbot) -> None:
    assert testbot.command("帮助").kind == "help"
    assert testbot.command("四道门").kind == "board"
    assert testbot.command("/gates@gatebot").kind == "board"
    assert testbot.command("nope").kind == "unknown"


def test_no_sync_twins() -> None:
    for twin in (
        "handle_message",
        "handle_command",
        "feed_command",
        "afeed_command",
        "classify_command",
        "vote",
        "board",
        "gate_card",
    ):
        assert not hasattr(Service, twin), twin


# --------------------------------------------------------------------------- who may change what


CHANGES = [
    "follow https://example.org/feed post",
    "unfollow 1",
    "feeds post",
    "feeds post 60",
    "feeds digest",
    "feeds floor low",
    "feeds 1 post",
    "digest on 09:00",
    "digest off",
    "digest lang zh",
    "digest weekly mon 09:00",
    "digest weekly off",
    "settings floor low",
    "quiet 2h",
]
LOOKS = ["feeds", "digest status", "digest weekly", "settings", "gates", "trend 7d"]


@pytest.mark.parametrize("line", CHANGES)
def test_a_member_cannot_change_a_groups_configuration(testbot, line: str) -> None:
    name, _, args = line.partition(" ")
    service = testbot.service
    drive.chat_admins(service, "the-admin")
    fs, floor = service.store, service.default_floor
    fs.set_feed_settings("test", testbot.chat_id, floor, floor="high")  # what an admin set
    before = (
        fs.feed_settings("test", testbot.chat_id, floor),
        service.store.get_subscription("test", testbot.chat_id),
        service.store.weekly("test", testbot.chat_id),
        service.chat_settings("test", testbot.chat_id),
    )
    refused = testbot.command(name, args)
    assert refused.kind == "error" and "Nothing was changed." in refused.plain() and "test:user-1" in refused.plain()
    after = (
        fs.feed_settings("test", testbot.chat_id, floor),
        service.store.get_subscription("test", testbot.chat_id),
        service.store.weekly("test", testbot.chat_id),
        service.chat_settings("test", testbot.chat_id),
    )
    assert after == before
    # the same line from the chat's admin, or in the user's own direct chat, is not refused
    allowed = drive.command(service, "test", testbot.chat_id, "the-admin", name, args)
    assert "Nothing was changed." not in allowed.plain()
    assert "Nothing was changed." not in testbot.command(name, args, direct=True).plain()


@pytest.mark.parametrize("line", LOOKS)
def test_anyone_may_look(testbot, line: str) -> None:
    name, _, args = line.partition(" ")
    assert "Nothing was changed." not in testbot.command(name, args).plain()


def test_the_refusal_speaks_chinese_to_a_chinese_chat(testbot) -> None:
    assert testbot.command("follow", "https://example.org/feed", "zh-hans").plain().startswith("抱歉，只有管理员")


# --------------------------------------------------------------------------- statements per event


def _count(service: Service, run) -> list[str]:
    """Statements the store runs for one event (transaction control left out)."""
    seen: list[str] = []
    service.store.db.conn.set_trace_callback(seen.append)
    try:
        run()
    finally:
        service.store.db.conn.set_trace_callback(None)
    return [s for s in seen if s.split()[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK")]


def test_statements_per_pasted_group_headline_and_per_gates(service: Service) -> None:
    asyncio.run(service.ahandle_message(Message("telegram", "-100", "u1", "Alibaba orders 10,000 Ascend 910C chips")))
    reply = None

    def paste() -> None:
        nonlocal reply
        reply = asyncio.run(service.ahandle_message(Message("telegram", "-100", "u2", HEADLINE)))

    statements = _count(service, paste)
    assert reply is not None and reply.kind == "verdict"  # a group headline that is answered
    # 4 before the evidence ledger; it adds 3 inside the message's transaction (the ledger row, its story
    # keys, the daily aggregates /gate reads); its "seen in which scopes" rides along "seen before".
    assert len(statements) <= 7, statements
    gates = _count(service, lambda: asyncio.run(service.ahandle_command("slack", "C1", "U1", "gates")))
    assert len(gates) <= 3, gates
