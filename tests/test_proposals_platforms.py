"""Status proposals through the real adapters: posted by the proposals job to the Telegram and Slack
fakes with Accept / Dismiss buttons, a member's press refused, an admin's Accept editing the post
and moving the board, and nothing posted twice after a restart."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from drive import command as drive_command
from fakes.feed_site import FeedSite, Item, rss20
from fakes.telegram_api import TOKEN, FakeTelegram, check_html
from gatebot import proposals
from gatebot.classifier import Classifier
from gatebot.feeds import FeedReader
from gatebot.handlers import slack, telegram
from gatebot.poller import FeedPoller
from gatebot.ruleset import RuleSet
from gatebot.service import Message, Service
from gatebot.settings import Settings
from test_feeds import CHATTER, OPEN, cmd, items, site, u1_administers_the_chats  # noqa: F401 - fixtures
from test_manners_slack import BOSS, CHANNEL, MEMBER, SECRET, Bot, buttons
from test_manners_slack import TOKEN as SLACK_TOKEN
from test_manners_slack import slack as slack_app  # noqa: F401 - the fixture runs the real app
from test_manners_telegram import GROUP, Clock, make_service, rows, run, say, user
from test_proposals import ADOPTION, T0
from test_proposals import Sender as Sent

# A real headline with markup and a link added: quoted escaped, the link kept.
# Markup and a link to escape; it must read "for" to be quoted by an upward proposal (checked below).
HOSTILE = "Huawei in the countryside: AI diagnostics now runs on an ordinary office PC <b>new</b> https://news.example/pc?a=1&b=2"
ADMIN_ID = 555  # in GATEBOT_ADMINS as telegram:555; its direct chat has the same id


@pytest.fixture
def clock() -> Clock:
    """The Slack app's clock (the `slack` fixture asks for it)."""
    return Clock(T0)


async def fill(service: Service, now: Clock, platform: str, chat: str, days: int = 18) -> None:
    """Nine adoption headlines pasted over `days` by three readers, the clock moving on."""
    start = now.now
    for i, text in enumerate([*ADOPTION[:6], HOSTILE, *ADOPTION[7:9]]):
        now.now = start + timedelta(days=i * days / 9)
        await service.ahandle_message(Message(platform, chat, f"reader{i % 3}", text))
    now.now = start + timedelta(days=days)


@contextlib.asynccontextmanager
async def telegram_bot(service: Service, fake: FakeTelegram) -> AsyncIterator[telegram.TelegramAdapter]:
    settings = Settings(telegram_bot_token=TOKEN, telegram_api_base_url=fake.base_url, telegram_webhook_url=None,
                        telegram_webhook_secret=None, slack_bot_token=None)
    adapter = telegram.build(service, settings, web.Application(), retry_base=0.01)
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()


def test_telegram_proposal_buttons(rules: RuleSet, classifier: Classifier, tmp_path: Path, clock: Clock) -> None:
    premise = classifier.classify(HOSTILE)
    assert (premise.gate, premise.reading) == (4, "for"), "pick a HOSTILE headline the shipped model reads as gate 4, for"
    service = make_service(rules, classifier, tmp_path / "tg.db", clock, admins=frozenset({f"telegram:{ADMIN_ID}"}))

    async def scenario() -> None:
        fake = await FakeTelegram().start()
        try:
            async with telegram_bot(service, fake) as adapter:
                refused = await say(fake, "/proposals on", 1001)
                assert "only the bot's admins (GATEBOT_ADMINS) can turn status proposals on" in refused["text"]
                assert "on here" in (await say(fake, "/proposals on", ADMIN_ID, chat=ADMIN_ID))["text"]
                assert "on here" in (await say(fake, "/proposals on", ADMIN_ID))["text"]  # the group too
                await fill(service, clock, "telegram", str(GROUP))
                sent = await proposals.proposals_tick(service, {"telegram": adapter}, "run-1")
                assert sorted(sent) == sorted([(1, "telegram", str(ADMIN_ID), "sent"), (1, "telegram", str(GROUP), "sent")])
                posts = {int(c.params["chat_id"]): c.params for c in fake.calls_to("sendMessage")
                         if "Status proposal #1" in c.params["text"]}
                assert set(posts) == {ADMIN_ID, GROUP}
                for post in posts.values():
                    assert check_html(post["text"]) is None
                    assert rows(post) == [[("Accept", "v:proposal:accept=1"), ("Dismiss", "v:proposal:dismiss=1")]]
                assert any(text[:25] in posts[GROUP]["text"] for text in ADOPTION)  # this chat's headlines
                assert "office PC &lt;b&gt;new&lt;/b&gt;" in posts[GROUP]["text"] and "<b>new</b>" not in posts[GROUP]["text"]
                assert "https://news.example/pc?a=1&amp;b=2" in posts[GROUP]["text"]
                assert not any(text[:25] in posts[ADMIN_ID]["text"] for text in ADOPTION)  # never another's
                group_post = max(mid for (chat, mid) in fake.messages if chat == GROUP)
                fake.push_callback(GROUP, group_post, "v:proposal:accept=1", user=user(fake, 1001))
                alert = (await fake.wait_calls("answerCallbackQuery"))[0].params
                assert alert["show_alert"] in (True, "true") and "only the bot's admins" in alert["text"]
                assert not fake.calls_to("editMessageText") and service.store.gate_status(4) is None
                dm_post = max(mid for (chat, mid) in fake.messages if chat == ADMIN_ID)
                fake.push_callback(ADMIN_ID, dm_post, "v:proposal:accept=1", user=user(fake, ADMIN_ID))
                edit = (await fake.wait_calls("editMessageText"))[0].params
                assert "accepted by telegram:555" in edit["text"] and not edit.get("reply_markup")
                assert service.store.gate_status(4).status_en == "A crack has opened."
                fake.push_callback(GROUP, group_post, "v:proposal:dismiss=1", user=user(fake, ADMIN_ID))
                again = (await fake.wait_calls("answerCallbackQuery", 3))[2].params
                assert again["text"].startswith("Already accepted by telegram:555")
            service.store.close()
            # a restart: the same database, a new run; nothing is posted again
            restarted = make_service(rules, classifier, tmp_path / "tg.db", clock,
                                     admins=frozenset({f"telegram:{ADMIN_ID}"}))
            try:
                async with telegram_bot(restarted, fake) as adapter:
                    clock.now += timedelta(days=8)
                    assert await proposals.proposals_tick(restarted, {"telegram": adapter}, "run-2") == []
                    card = await say(fake, "/gate 4", 1001)
                    signals = proposals.rows(restarted).proposal(1)["signals"]
                    assert signals == 9 and f"accepted by telegram:555 on {signals} signals" in card["text"]
            finally:
                restarted.store.close()
        finally:
            await fake.stop()

    run(scenario())


def test_slack_proposal_buttons(slack_app, tmp_path: Path) -> None:  # noqa: F811
    async def body(bot: Bot) -> None:
        service = bot.service
        refused = await bot.command("/proposals", "on", user=MEMBER)
        assert refused["response_type"] == "ephemeral" and "only the bot's admins" in refused["text"]
        assert "on here" in (await bot.command("/proposals", "on", user=BOSS))["text"]
        await fill(service, service.clock, "slack", CHANNEL)  # type: ignore[arg-type]
        settings = Settings(slack_bot_token=SLACK_TOKEN, slack_signing_secret=SECRET, slack_app_token=None,
                            slack_api_url=bot.fake.base_url)
        sender = slack.build(service, settings, web.Application())  # what `gatebot run` sends through
        assert await proposals.proposals_tick(service, {"slack": sender}, "run-1") == [(1, "slack", CHANNEL, "sent")]
        (post,) = [c.params for c in bot.fake.of("chat.postMessage") if "Status proposal #1" in c.params["text"]]
        values = buttons(json.loads(post["blocks"]) if isinstance(post["blocks"], str) else post["blocks"])
        assert values == {"Accept": "proposal:accept=1", "Dismiss": "proposal:dismiss=1"}
        assert any(text[:25] in post["text"] for text in ADOPTION)
        assert "office PC &lt;b&gt;new&lt;/b&gt;" in json.dumps(post["blocks"], ensure_ascii=False)
        await bot.press(values["Accept"], user=MEMBER, ts="1700000001.000100")
        (notice,) = await bot.fake.wait_for("chat.postEphemeral")
        assert "only the bot's admins" in notice.params["text"] and service.store.gate_status(4) is None
        await bot.press(values["Accept"], user=BOSS, ts="1700000001.000100")
        (update,) = await bot.fake.wait_for("chat.update")
        assert f"accepted by slack:{BOSS}" in update.params["text"]
        assert "actions" not in json.dumps(update.params.get("blocks"))
        assert service.store.gate_status(4).status_en == "A crack has opened."
        card = await bot.command("/gate", "4")
        assert f"accepted by slack:{BOSS} on 9 signals" in card["text"]
        assert await proposals.proposals_tick(service, {"slack": sender}, "run-2") == []  # posted once

    slack_app(body)


def test_a_proposal_quotes_feed_entries_in_any_chat(service: Service, site: FeedSite) -> None:  # noqa: F811
    """Followed in one chat, feed entries are quoted in an admin's direct chat too (feeds are
    public); headlines pasted in another chat are not."""
    service.feeds = FeedPoller(service, FeedReader(guard=OPEN, timeout=2.0))
    service.admins = frozenset({"test:boss"})
    wires = {"/w1.xml": "Wire One", "/w2.xml": "Wire Two", "/w3.xml": "Wire Three"}
    for path, title in wires.items():  # followed first: what a feed already holds is recorded silently
        site.serve(path, rss20(title, items(CHATTER, prefix=path[2:4])))
        cmd(service, "follow", site.url(path), chat="c1")
    for n, (path, title) in enumerate(wires.items()):
        fresh = [Item(text, f"https://news.example/{n}/{i}", f"{n}-{i}")
                 for i, text in enumerate(ADOPTION[n * 3:n * 3 + 3])]
        site.serve(path, rss20(title, [*fresh, *items(CHATTER, prefix=path[2:4])]))
    cmd(service, "feeds", "refresh", chat="c1")
    run(service.ahandle_message(Message("test", "c2", "reader", ADOPTION[9])))  # pasted elsewhere
    assert "on here" in drive_command(service, "test", "boss-dm", "boss", "proposals", "on", is_direct=True).plain()
    sender = Sent()
    assert run(proposals.proposals_tick(service, {"test": sender}, "run-1")) == [(1, "test", "boss-dm", "sent")]
    (proposal,) = proposals.rows(service).proposals()
    assert proposal["sources"] >= 3
    text = sender.sent[0][1].plain()
    assert "Strongest items (from feeds and this chat)" in text and "https://news.example/" in text
    assert ADOPTION[9][:20] not in text
