"""Group manners through the real Telegram adapter and the fake Bot API: /settings (text and inline
buttons), admins recognised with getChatMember, modes, the floor, /quiet with an injected clock,
compact replies with a Why? button, /why, the language override, settings surviving a restart.

Silence is asserted deterministically: after the message that must get no answer, a command that
is always answered; updates are handled in order, so its reply proves the first was passed over.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from fakes.telegram_api import BOT_USERNAME, TOKEN, FakeTelegram, check_html, sent_texts
from gatebot.classifier import Classifier
from gatebot.handlers import telegram
from gatebot.ruleset import RuleSet
from gatebot.service import Service
from gatebot.settings import Settings
from gatebot.store import Store
from headlines import pick

GROUP = -1001234567890
DM = 4242
ADMIN = 7  # an administrator of GROUP (fake.members)
OWNER = 8  # its creator
HIGH = "ByteDance orders $5.6B of Ascend 950PR chips"
MEDIUM = "Tencent orders Ascend chips for its cloud"
LOW = "Huawei Ascend chips in the news again"
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def run(coro: Any, timeout: float = 40) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture(scope="module", autouse=True)
def _headlines(classifier: Classifier) -> None:
    """A high- and a low-confidence headline for the model that ships (see headlines.py)."""
    global HIGH, MEDIUM, LOW
    HIGH, MEDIUM, LOW = (pick(classifier, c) for c in ("high", "medium", "low"))


def make_service(rules: RuleSet, classifier: Classifier, db: Path, clock: Clock, admins: frozenset[str] = frozenset()
                 ) -> Service:
    service = Service(rules, Store(db, clock=clock), classifier, clock=clock)
    service.admins = admins
    return service


@pytest.fixture
def service(rules: RuleSet, classifier: Classifier, tmp_path: Path, clock: Clock) -> Service:
    s = make_service(rules, classifier, tmp_path / "tg.db", clock)
    yield s
    s.store.close()


@contextlib.asynccontextmanager
async def bot(service: Service, fake: FakeTelegram | None = None) -> AsyncIterator[FakeTelegram]:
    own = fake is None
    fake = fake or await FakeTelegram().start()
    fake.members[(GROUP, ADMIN)] = "administrator"
    fake.members[(GROUP, OWNER)] = "creator"
    settings = Settings(telegram_bot_token=TOKEN, telegram_api_base_url=fake.base_url, telegram_webhook_url=None,
                        telegram_webhook_secret=None, slack_bot_token=None)
    adapter = telegram.build(service, settings, web.Application(), retry_base=0.01)
    await adapter.start()
    try:
        yield fake
    finally:
        await adapter.stop()
        if own:
            await fake.stop()


def user(fake: FakeTelegram, user_id: int, language_code: str = "en") -> dict[str, Any]:
    return fake.user(user_id, f"user{user_id}", language_code=language_code)


async def say(fake: FakeTelegram, text: str, user_id: int = 1001, chat: int = GROUP, **kw: Any) -> dict[str, Any]:
    """Send a message and return the bot's reply to it."""
    update = fake.push_message(chat, text, user=user(fake, user_id, **kw))
    msg = update["message"]
    if chat > 0:  # direct chats are not threaded: the next message there
        before = len(sent_texts(fake, chat))
        await fake.wait_for(lambda f: len(sent_texts(f, chat)) > before)
        return [c.params for c in fake.calls_to("sendMessage") if int(c.params["chat_id"]) == chat][before]
    found = await fake.wait_for(lambda f: [
        c.params for c in f.calls_to("sendMessage") if int(c.params["chat_id"]) == chat
        and (c.params.get("reply_parameters") or {}).get("message_id") == msg["message_id"]])
    return found[0]


async def silent(fake: FakeTelegram, text: str, user_id: int = 1001) -> None:
    """`text` gets no reply: the /gates after it is answered, and nothing else was sent."""
    before = len(sent_texts(fake, GROUP))
    fake.push_message(GROUP, text, user=user(fake, user_id))
    board = await say(fake, "/gates", user_id)
    assert "The four gates" in board["text"]
    assert len(sent_texts(fake, GROUP)) == before + 1, sent_texts(fake, GROUP)[before:]


def rows(params: dict[str, Any]) -> list[list[tuple[str, str]]]:
    return [[(b["text"], b["callback_data"]) for b in row] for row in params["reply_markup"]["inline_keyboard"]]


def admin_lookups(fake: FakeTelegram) -> list[tuple[int, int]]:
    return [(int(c.params["chat_id"]), int(c.params["user_id"])) for c in fake.calls_to("getChatMember")]


# --------------------------------------------------------------------------- who may change settings


def test_chat_admins_may_change_settings_members_may_not(service: Service) -> None:
    async def scenario() -> None:
        async with bot(service) as fake:
            page = await say(fake, "/settings")  # anyone may look
            assert "<b>mode:</b> auto — answer gate headlines unprompted" in page["text"]
            assert check_html(page["text"]) is None and not admin_lookups(fake)
            refused = await say(fake, "/settings mode mention")
            assert refused["text"] == ("Sorry, only the chat's admins can change its settings. Nothing was changed. "
                                       "(Your id, for the bot's GATEBOT_ADMINS: telegram:1001)")
            assert admin_lookups(fake) == [(GROUP, 1001)]
            assert service.chat_settings("telegram", str(GROUP)).mode == ""
            done = await say(fake, "/settings mode mention", ADMIN)
            assert done["text"].startswith("mode is now mention.")
            assert (await say(fake, "/settings floor high", OWNER))["text"].startswith("floor is now high.")
            assert admin_lookups(fake)[1:] == [(GROUP, ADMIN), (GROUP, OWNER)]
            await silent(fake, HIGH)
            # a direct chat: its user decides, no lookup
            dm = await say(fake, "/settings format compact", 1001, chat=DM)
            assert dm["text"].startswith("format is now compact.") and len(admin_lookups(fake)) == 3
    run(scenario())


def test_gatebot_admins_need_no_lookup(rules: RuleSet, classifier: Classifier, tmp_path: Path, clock: Clock) -> None:
    service = make_service(rules, classifier, tmp_path / "a.db", clock, admins=frozenset({"telegram:555"}))

    async def scenario() -> None:
        async with bot(service) as fake:
            assert (await say(fake, "/quiet 1h", 555))["text"].startswith("Quiet until 10:00 UTC")
            assert not admin_lookups(fake)
    try:
        run(scenario())
    finally:
        service.store.close()


def test_settings_buttons(service: Service) -> None:
    async def scenario() -> None:
        async with bot(service) as fake:
            page = await say(fake, "/settings", ADMIN)
            layout = rows(page)
            assert [[text for text, _ in row] for row in layout] == [
                ["✓ mode auto", "mode mention", "mode off"], ["floor low", "✓ floor medium", "floor high"],
                ["✓ format full", "format compact"], ["✓ lang auto", "lang en", "lang zh"],
                ["quiet 1h", "quiet 2h", "quiet off"]]
            assert layout[0][2][1] == "v:settings:mode=off"
            page_id = max(mid for (chat, mid) in fake.messages if chat == GROUP)
            fake.push_callback(GROUP, page_id, "v:settings:mode=off", user=user(fake, 1001))
            refused = (await fake.wait_calls("answerCallbackQuery"))[0].params
            assert refused["show_alert"] in (True, "true") and "only the chat's admins" in refused["text"]
            assert not fake.calls_to("editMessageText") and service.chat_settings("telegram", str(GROUP)).mode == ""
            fake.push_callback(GROUP, page_id, "v:settings:mode=off", user=user(fake, ADMIN))
            edit = (await fake.wait_calls("editMessageText"))[0].params
            assert edit["text"].startswith("mode is now off.") and ("✓ mode off", "v:settings:mode=off") in rows(edit)[0]
            toast = fake.calls_to("answerCallbackQuery")[1].params
            assert toast["text"] == "mode is now off." and toast.get("show_alert") in (None, False, "false")
            await silent(fake, f"@{BOT_USERNAME} {HIGH}")  # off: not even a mention
            fake.push_callback(GROUP, page_id, "v:settings:quiet=2h", user=user(fake, ADMIN))
            quiet = (await fake.wait_calls("editMessageText", 2))[1].params
            assert quiet["text"].startswith("Quiet until 11:00 UTC")
            assert service.chat_settings("telegram", str(GROUP)).quiet_until == "2026-11-30T11:00:00+00:00"
    run(scenario())


# --------------------------------------------------------------------------- modes, floor, quiet


def test_modes_in_a_group(service: Service) -> None:
    async def scenario() -> None:
        async with bot(service) as fake:
            assert "Gate 1" in (await say(fake, HIGH))["text"]  # auto: today's behaviour
            await say(fake, "/settings mode mention", ADMIN)
            await silent(fake, HIGH)
            assert "Gate 1" in (await say(fake, f"@{BOT_USERNAME} {HIGH}"))["text"]
            bot_msg = fake.message(GROUP, "earlier answer", user=fake.bot)
            answer = fake.push_message(GROUP, LOW, reply_to=bot_msg)  # a reply to the bot is a question
            found = await fake.wait_for(lambda f: [c.params for c in f.calls_to("sendMessage") if (
                c.params.get("reply_parameters") or {}).get("message_id") == answer["message"]["message_id"]])
            assert "Confidence:</b> low" in found[0]["text"]
            await say(fake, "/settings mode off", ADMIN)
            await silent(fake, f"@{BOT_USERNAME} {HIGH}")
            assert "Gate 1" in (await say(fake, f"/classify {HIGH}"))["text"]  # commands still answer
            assert "Gate 1" in (await say(fake, HIGH, chat=DM))["text"]  # a direct chat has no mode
    run(scenario())


def test_the_confidence_floor(service: Service) -> None:
    async def scenario() -> None:
        async with bot(service) as fake:
            await silent(fake, LOW)  # below the rules' floor (medium): silence
            assert "Confidence:</b> low" in (await say(fake, LOW, chat=DM))["text"]  # a direct chat: answered
            await say(fake, "/settings floor low", ADMIN)
            assert "Confidence:</b> low" in (await say(fake, LOW))["text"]
            await say(fake, "/settings floor high", ADMIN)
            await silent(fake, MEDIUM)
            assert "Gate 1" in (await say(fake, HIGH))["text"]
    run(scenario())


def test_quiet_expires_by_itself(service: Service, clock: Clock) -> None:
    async def scenario() -> None:
        async with bot(service) as fake:
            quiet = await say(fake, "/quiet 2h", ADMIN)
            assert quiet["text"].startswith("Quiet until 11:00 UTC: no unprompted replies until then;")
            await silent(fake, HIGH)
            assert "Gate 1" in (await say(fake, f"@{BOT_USERNAME} {HIGH}"))["text"]  # a question: answered
            status = await say(fake, "/quiet")
            assert status["text"] == "Quiet until 11:00 UTC. /quiet off ends it early."
            clock.now = T0 + timedelta(hours=2, seconds=1)
            assert "Gate 1" in (await say(fake, HIGH))["text"]
            assert (await say(fake, "/quiet"))["text"].startswith("Not quiet.")
    run(scenario())


# --------------------------------------------------------------------------- compact, /why, language


def test_compact_reply_why_button_and_why_command(service: Service) -> None:
    async def scenario() -> None:
        async with bot(service) as fake:
            await say(fake, "/settings format compact", ADMIN)
            reply = await say(fake, HIGH)
            assert reply["text"].split("\n") == [
                "<b>Gate 1 · Policy procurement · high confidence</b>",
                "Opened, and opened wide. (checklist, 2026) — Risk: Procurement volume ≠ deployment volume. "
                "Don't confuse them."]
            [[(text, data)]] = rows(reply)
            assert text == "Why?" and data.endswith(":why")
            reply_id = max(mid for (chat, mid) in fake.messages if chat == GROUP)
            fake.push_callback(GROUP, reply_id, data, user=user(fake, 2002))
            edit = (await fake.wait_calls("editMessageText"))[0].params
            assert int(edit["message_id"]) == reply_id and check_html(edit["text"]) is None
            assert "<b>Why:</b>\n• “orders” → order (+3)" in edit["text"]
            assert [t for row in rows(edit) for t, _ in row] == ["Right", "Gate 1", "Gate 2", "Gate 3", "Gate 4", "None"]
            why = await say(fake, "/why", 2002)
            assert why["text"].startswith(f"<blockquote>{HIGH}</blockquote>\n<b>Gate 1 · Policy procurement</b>")
    run(scenario())


def test_language_override_for_replies_and_commands(service: Service) -> None:
    async def scenario() -> None:
        async with bot(service) as fake:
            await say(fake, "/settings lang zh", ADMIN)
            reply = await say(fake, HIGH)
            assert reply["text"].startswith("<b>第一道门·政策采购</b>\n<b>状态：</b>已打开，且开得很大。（清单，2026年）")
            assert [t for row in rows(reply) for t, _ in row][0] == "判断正确"
            assert "国产算力兑现的四道门" in (await say(fake, "/gates", 1001, language_code="en"))["text"]
            page = await say(fake, "/settings", 1001, language_code="en")
            assert "<b>语言（lang）：</b>zh——所有回复用中文" in page["text"]
            await say(fake, "/settings lang auto", ADMIN)
            assert "Gate 1" in (await say(fake, HIGH))["text"]
    run(scenario())


def test_settings_survive_a_restart(rules: RuleSet, classifier: Classifier, tmp_path: Path, clock: Clock) -> None:
    db = tmp_path / "restart.db"

    async def scenario() -> None:
        async with FakeTelegram() as fake:
            first = make_service(rules, classifier, db, clock)
            async with bot(first, fake):
                await say(fake, "/settings mode mention", ADMIN)
                await say(fake, "/settings format compact", ADMIN)
            first.store.close()
            again = make_service(rules, classifier, db, clock)
            try:
                async with bot(again, fake):
                    await silent(fake, HIGH)
                    asked = await say(fake, f"@{BOT_USERNAME} {HIGH}")
                    assert asked["text"].count("\n") == 1 and rows(asked)[0][0][0] == "Why?"
            finally:
                again.store.close()

    run(scenario())


def test_command_menus_list_the_new_commands(service: Service) -> None:
    async def scenario() -> None:
        async with bot(service) as fake:
            en, zh = fake.calls_to("setMyCommands")
            for call in (en, zh):
                names = [c["command"] for c in call.params["commands"]]
                assert {"settings", "quiet", "why"} <= set(names)
            quiet = next(c for c in zh.params["commands"] if c["command"] == "quiet")
            assert quiet["description"].startswith("暂停主动回复")
    run(scenario())


def test_members_may_not_configure_feeds_or_digests_admins_may(service: Service) -> None:
    """Following and configuring feeds and subscribing digests change what a group receives: like
    /settings, they need the chat's admins; a member's attempt is refused and changes nothing."""

    fs, default = service.store, service.default_floor

    async def scenario() -> None:
        async with bot(service) as fake:
            floor = await say(fake, "/feeds floor high", ADMIN)
            assert floor["text"].startswith("New entries") and fs.feed_settings("telegram", str(GROUP), default).floor == "high"
            # (Telegram limits a bot to 20 messages a minute in a group: the rest are in test_permissions.py)
            for attempt, what in (("/follow https://example.org/feed post", "feeds"), ("/feeds post 60", "feeds"),
                                  ("/feeds floor low", "feeds"), ("/digest on 09:00", "digests"),
                                  ("/digest weekly mon 09:00", "digests")):
                refused = await say(fake, attempt)
                assert refused["text"].startswith("Sorry, only the chat's admins can change") and what in \
                    refused["text"] and "Nothing was changed." in refused["text"], (attempt, refused["text"])
            assert fs.feed_settings("telegram", str(GROUP), default).floor == "high"  # the admin's floor stands
            assert fs.feed_settings("telegram", str(GROUP), default).mode != "post"
            assert fs.feeds("telegram", str(GROUP)) == []
            assert service.store.get_subscription("telegram", str(GROUP)) is None
            assert fs.weekly("telegram", str(GROUP)) is None
            # looking is for everyone; a direct chat is the user's own
            assert "follows no feeds" in (await say(fake, "/feeds"))["text"]
            assert (await say(fake, "/digest status"))["text"].startswith("Daily digest: off.")
            dm = await say(fake, "/digest on 09:00", 1001, chat=DM)
            assert "09:00" in dm["text"]
            on = await say(fake, "/digest on 08:00", OWNER)
            assert "08:00" in on["text"] and service.store.get_subscription("telegram", str(GROUP))["enabled"] == 1

    run(scenario())
