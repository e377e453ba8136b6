"""The Slack adapter end to end: the real app (run.serve, HTTP mode) against a fake Web API.

Requests are in Slack's real formats (event_callback JSON; slash commands and block_actions as
form bodies), signed with a test secret the way Slack signs them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import socket
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from fakes.slack_api import BOT_ID, BOT_USER_ID, TEAM_ID, FakeSlackAPI
from gatebot.handlers.run import serve
from gatebot.handlers.slack_render import MAX_BLOCKS, escape, fallback_text, parse_vote_value, render_blocks
from gatebot.reply import Block, Choice, Reply
from gatebot.service import Service
from gatebot.settings import Settings
from gatebot.store import Store

pytestmark = pytest.mark.slow

SECRET = "test-signing-secret-0123456789"
TOKEN = "xoxb-test-token-SECRET-42"
HEADLINE = "ByteDance orders $5.6B of Ascend 950PR chips"
HEADLINE_ZH = "昇腾CANN全面开源"
CHANNEL = "C0CHANNEL1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sign(body: str, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def event_callback(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token", "team_id": TEAM_ID, "api_app_id": "A0000001",
        "event": event, "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True,
                            "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
    }


def message(text: str, ts: str, *, channel: str = CHANNEL, user: str = "U0USER001", channel_type: str = "channel",
            **extra: Any) -> dict[str, Any]:
    ev = {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts, "event_ts": ts,
          "channel_type": channel_type, "team": TEAM_ID}
    ev.update(extra)
    return ev


@dataclass
class Bot:
    http: aiohttp.ClientSession
    url: str
    service: Service
    fake: FakeSlackAPI

    async def post(self, body: str, content_type: str, headers: dict[str, str] | None = None,
                   signed: bool = True) -> tuple[int, str]:
        h = {"Content-Type": content_type, **(sign(body) if signed else {}), **(headers or {})}
        async with self.http.post(self.url + "/slack/events", data=body.encode(), headers=h) as resp:
            return resp.status, await resp.text()

    async def event(self, event: dict[str, Any], event_id: str, headers: dict[str, str] | None = None) -> int:
        status, _ = await self.post(json.dumps(event_callback(event, event_id)), "application/json", headers)
        return status

    async def command(self, command: str, text: str, rid: str = "1", channel: str = CHANNEL) -> tuple[int, str]:
        form = {"token": "x", "team_id": TEAM_ID, "team_domain": "fake", "channel_id": channel,
                "channel_name": "general", "user_id": "U0USER001", "user_name": "ann", "command": command,
                "text": text, "api_app_id": "A0000001", "is_enterprise_install": "false",
                "response_url": self.fake.response_url(rid), "trigger_id": "1.2.3"}
        return await self.post(urlencode(form), "application/x-www-form-urlencoded")

    async def action(self, payload: dict[str, Any]) -> tuple[int, str]:
        return await self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


@asynccontextmanager
async def serving(service: Service, fake: FakeSlackAPI, bot_class: type | None = None):
    """The whole `gatebot run` (serve) in Slack HTTP mode around `service`, against `fake`; closes its store.

    Yields `bot_class(http, url, service, fake)` (default: this module's Bot)."""
    port = free_port()
    settings = Settings(slack_bot_token=TOKEN, slack_signing_secret=SECRET, slack_app_token=None,
                        slack_api_url=fake.base_url, gatebot_http_host="127.0.0.1", gatebot_http_port=port,
                        telegram_bot_token=None, gatebot_db=str(service.store.path))
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(service, settings, stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        async with aiohttp.ClientSession() as http:
            yield (bot_class or Bot)(http, f"http://127.0.0.1:{port}", service, fake)
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0
        service.store.close()


@asynccontextmanager
async def running(db: Path, fake: FakeSlackAPI, rules, classifier):
    async with serving(Service(rules, Store(db), classifier), fake) as bot:
        yield bot


def scenario(tmp_path: Path, rules, classifier):
    """Run `body(bot)` against a fresh fake API and a running app; returns a sync callable."""

    def run(body):
        async def main():
            async with FakeSlackAPI() as fake:
                async with running(tmp_path / "gatebot.db", fake, rules, classifier) as bot:
                    await body(bot)

        asyncio.run(asyncio.wait_for(main(), 45))

    return run


@pytest.fixture
def slack(tmp_path, rules, classifier):
    return scenario(tmp_path, rules, classifier)


def all_text(call) -> str:
    return json.dumps(call.params, ensure_ascii=False)


async def settle(seconds: float = 0.3) -> None:
    await asyncio.sleep(seconds)


# --------------------------------------------------------------------------- HTTP contract


def test_url_verification(slack):
    async def body(bot: Bot):
        status, text = await bot.post(json.dumps({"token": "x", "challenge": "chal-123", "type": "url_verification"}),
                                      "application/json")
        assert status == 200
        assert "chal-123" in text
        async with bot.http.get(bot.url + "/healthz") as resp:
            assert resp.status == 200

    slack(body)


def test_forged_signature_and_stale_timestamp_are_401(slack):
    async def body(bot: Bot):
        payload = json.dumps(event_callback(message(HEADLINE, "1700000001.000100"), "EvForged"))
        status, _ = await bot.post(payload, "application/json", headers=sign(payload, secret="wrong-secret"))
        assert status == 401
        status, _ = await bot.post(payload, "application/json", headers=sign(payload, int(time.time()) - 6 * 60))
        assert status == 401
        status, _ = await bot.post(payload, "application/json", signed=False)
        assert status == 401
        await settle()
        assert bot.fake.of("chat.postMessage") == []
        assert bot.service.store.count_messages() == 0

    slack(body)


# --------------------------------------------------------------------------- messages


def test_headline_gets_threaded_reply_naming_the_gate(slack):
    async def body(bot: Bot):
        assert await bot.event(message(HEADLINE, "1700000001.000100"), "Ev001") == 200
        (call,) = await bot.fake.wait_for("chat.postMessage")
        p = call.params
        assert p["channel"] == CHANNEL
        assert p["thread_ts"] == "1700000001.000100"
        assert "Gate 1" in p["text"]
        assert call.auth == f"Bearer {TOKEN}"
        assert p["blocks"][0]["type"] == "header" and "Gate 1" in p["blocks"][0]["text"]["text"]
        actions = p["blocks"][-1]
        assert actions["type"] == "actions"
        values = [e["value"] for e in actions["elements"]]
        assert all(parse_vote_value(v) for v in values)
        assert {e["action_id"] for e in actions["elements"]} >= {"gatebot_vote_right", "gatebot_vote_0"}

    slack(body)


def test_reply_in_existing_thread_uses_thread_ts(slack):
    async def body(bot: Bot):
        ev = message(HEADLINE, "1700000002.000200", thread_ts="1700000000.000100", parent_user_id="U0OTHER")
        await bot.event(ev, "Ev002")
        (call,) = await bot.fake.wait_for("chat.postMessage")
        assert call.params["thread_ts"] == "1700000000.000100"

    slack(body)


def test_chinese_headline_gets_chinese_reply(slack):
    async def body(bot: Bot):
        await bot.event(message(HEADLINE_ZH, "1700000003.000100"), "Ev003")
        (call,) = await bot.fake.wait_for("chat.postMessage")
        assert "第三道门" in call.params["text"]
        assert "状态" in call.params["text"]

    slack(body)


def test_chatter_is_silent_but_dm_and_mention_answer(slack):
    async def body(bot: Bot):
        assert await bot.event(message("lunch anyone?", "1700000004.000100"), "Ev004") == 200
        await settle()
        assert bot.fake.of("chat.postMessage") == []
        # a DM always gets an answer
        await bot.event(message("lunch anyone?", "1700000005.000100", channel="D0DM00001", channel_type="im"), "Ev005")
        (call,) = await bot.fake.wait_for("chat.postMessage")
        assert call.params["channel"] == "D0DM00001"
        # a mention arrives twice (message + app_mention): stripped, addressed, answered once
        text = f"<@{BOT_USER_ID}> lunch anyone?"
        await bot.event(message(text, "1700000006.000100"), "Ev006")
        mention = {"type": "app_mention", "channel": CHANNEL, "user": "U0USER001", "text": text,
                   "ts": "1700000006.000100", "event_ts": "1700000006.000100"}
        await bot.event(mention, "Ev007")
        calls = await bot.fake.wait_for("chat.postMessage", 2)
        await settle()
        assert len(bot.fake.of("chat.postMessage")) == 2
        assert calls[1].params["thread_ts"] == "1700000006.000100"
        assert BOT_USER_ID not in bot.service.store.db.execute(
            "select group_concat(text) from messages").fetchone()[0]

    slack(body)


def test_reply_in_bots_thread_is_addressed(slack):
    async def body(bot: Bot):
        await bot.event(message(HEADLINE, "1700000008.000100"), "Ev008")
        await bot.fake.wait_for("chat.postMessage")
        # chatter in that thread now gets an answer, chatter in another thread does not
        await bot.event(message("which gate again?", "1700000009.000100", thread_ts="1700000008.000100"), "Ev009")
        await bot.event(message("which gate again?", "1700000010.000100", thread_ts="1700000001.999999"), "Ev010")
        calls = await bot.fake.wait_for("chat.postMessage", 2)
        await settle()
        assert len(bot.fake.of("chat.postMessage")) == 2
        assert calls[1].params["thread_ts"] == "1700000008.000100"

    slack(body)


def test_bot_messages_and_subtypes_are_ignored(slack):
    async def body(bot: Bot):
        await bot.event(message(HEADLINE, "1700000011.000100", subtype="bot_message", bot_id="B0OTHER"), "Ev011")
        await bot.event(message(HEADLINE, "1700000012.000100", bot_id=BOT_ID, user=BOT_USER_ID), "Ev012")
        await bot.event(message(HEADLINE, "1700000013.000100", user=BOT_USER_ID), "Ev013")
        changed = {"type": "message", "subtype": "message_changed", "channel": CHANNEL, "ts": "1700000014.000100",
                   "message": {"type": "message", "user": "U0USER001", "text": HEADLINE, "ts": "1700000001.000100"},
                   "channel_type": "channel"}
        await bot.event(changed, "Ev014")
        deleted = {"type": "message", "subtype": "message_deleted", "channel": CHANNEL, "ts": "1700000015.000100",
                   "deleted_ts": "1700000001.000100", "channel_type": "channel"}
        await bot.event(deleted, "Ev015")
        assert await bot.event({"type": "reaction_added", "user": "U0USER001", "reaction": "+1",
                                "item": {"type": "message", "channel": CHANNEL, "ts": "1"}}, "Ev016") == 200
        await settle(0.5)
        assert bot.fake.of("chat.postMessage") == []

    slack(body)


def test_retry_is_answered_once_also_after_restart(tmp_path, rules, classifier):
    ev = message(HEADLINE, "1700000020.000100")

    async def main():
        async with FakeSlackAPI() as fake:
            db = tmp_path / "gatebot.db"
            async with running(db, fake, rules, classifier) as bot:
                await bot.event(ev, "EvRetry")
                await bot.event(ev, "EvRetry", {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
                await fake.wait_for("chat.postMessage")
                await settle()
            async with running(db, fake, rules, classifier) as bot:
                status = await bot.event(ev, "EvRetry", {"X-Slack-Retry-Num": "2",
                                                         "X-Slack-Retry-Reason": "http_timeout"})
                assert status == 200
                await settle(0.5)
            assert len(fake.of("chat.postMessage")) == 1

    asyncio.run(asyncio.wait_for(main(), 45))


def test_channel_ping_is_escaped(slack):
    async def body(bot: Bot):
        await bot.event(message(f"{HEADLINE} <!channel> <!here> & <@U0VICTIM>", "1700000030.000100"), "Ev030")
        await bot.command("/classify", f"{HEADLINE} <!channel> <!here|here> & <@U0VICTIM>", rid="c")
        (post,) = await bot.fake.wait_for("chat.postMessage")
        (resp,) = await bot.fake.wait_for("response_url")
        for call in (post, resp):
            dumped = all_text(call)
            assert "<!channel>" not in dumped and "<!here" not in dumped and "<@U0VICTIM>" not in dumped
        assert "&lt;!channel&gt;" in all_text(resp)
        assert "&amp;" in resp.params["text"]

    slack(body)


# --------------------------------------------------------------------------- slash commands


def test_slash_commands(slack):
    async def body(bot: Bot):
        t0 = time.perf_counter()
        status, text = await bot.command("/gates", "", rid="gates")
        assert status == 200 and time.perf_counter() - t0 < 3
        status, _ = await bot.command("/gate", "3", rid="gate")
        assert status == 200
        await bot.command("/classify", HEADLINE_ZH, rid="classify")
        await bot.command("/gate", "nonsense-gate", rid="bad")
        await bot.command("/frobnicate", "", rid="future")  # any command is routed to the service
        await bot.fake.wait_for("response_url", 5)
        by_url = {}
        for call in bot.fake.responses:
            by_url[len(by_url)] = call.params
        texts = [p["text"] for p in by_url.values()]
        board = next(p for p in by_url.values() if "four gates" in p["text"])
        assert board["response_type"] == "in_channel"
        assert any("Gate 3" in t for t in texts)
        classified = next(p for p in by_url.values() if "第三道门" in p["text"])
        assert classified["blocks"][-1]["type"] == "actions"
        bad = next(p for p in by_url.values() if "nonsense-gate" in p["text"])
        assert bad["response_type"] == "ephemeral"
        assert any("/frobnicate" in t for t in texts), [t[:80] for t in texts]

    slack(body)


# --------------------------------------------------------------------------- buttons


def block_actions(value: str, *, user: str, ts: str, action_id: str = "gatebot_vote_right",
                  response_url: str = "") -> dict[str, Any]:
    return {
        "type": "block_actions", "team": {"id": TEAM_ID, "domain": "fake"},
        "user": {"id": user, "username": user, "team_id": TEAM_ID}, "api_app_id": "A0000001",
        "token": "x", "trigger_id": "1.2.3",
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": False,
                      "thread_ts": "1700000040.000100"},
        "channel": {"id": CHANNEL, "name": "general"},
        "message": {"type": "message", "ts": ts, "bot_id": BOT_ID, "text": "…"},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "gatebot_vote", "type": "button", "value": value,
                     "text": {"type": "plain_text", "text": "Right"}, "action_ts": str(time.time())}],
    }


def test_button_press_is_stored_and_message_updated_with_tally(slack):
    async def body(bot: Bot):
        await bot.event(message(HEADLINE, "1700000040.000100"), "Ev040")
        (post,) = await bot.fake.wait_for("chat.postMessage")
        buttons = {e["action_id"]: e["value"] for e in post.params["blocks"][-1]["elements"]}
        reply_ts = "1700000001.000100"  # the fake's first ts
        status, _ = await bot.action(block_actions(buttons["gatebot_vote_right"], user="U0A", ts=reply_ts,
                                                   response_url=bot.fake.response_url("a")))
        assert status == 200
        (update,) = await bot.fake.wait_for("chat.update")
        assert update.params["channel"] == CHANNEL and update.params["ts"] == reply_ts
        assert "Feedback" in update.params["text"] and "Right 1" in update.params["text"]
        assert update.params["blocks"][-1]["type"] == "actions"
        # a second voter picks gate 2; the first changes their mind: one vote per user
        await bot.action(block_actions(buttons["gatebot_vote_2"], user="U0B", ts=reply_ts,
                                       action_id="gatebot_vote_2"))
        await bot.action(block_actions(buttons["gatebot_vote_0"], user="U0A", ts=reply_ts,
                                       action_id="gatebot_vote_0"))
        updates = await bot.fake.wait_for("chat.update", 3)
        mid, _ = parse_vote_value(buttons["gatebot_vote_right"])
        assert bot.service.store.tally(mid) == {"0": 1, "2": 1}
        assert "Right" not in updates[2].params["text"].split("Feedback")[1]
        # the reply ts was stored for the verdict
        assert bot.service.store.db["messages"].get(mid)["reply_ref"] == reply_ts

    slack(body)


def test_malformed_and_unknown_actions_get_200(slack, caplog):
    async def body(bot: Bot):
        ts = "1700000001.000100"
        for payload in (
            block_actions("not-a-value", user="U0A", ts=ts),
            block_actions("999999:right", user="U0A", ts=ts),
            block_actions("1:banana", user="U0A", ts=ts),
            block_actions("x", user="U0A", ts=ts, action_id="someone_elses_button"),
            {"type": "block_actions", "actions": "nope"},
            {"type": "block_actions"},
            {"type": "mystery"},
        ):
            status, _ = await bot.action(payload)
            assert status == 200, payload
        status, _ = await bot.post(urlencode({"payload": "{not json"}), "application/x-www-form-urlencoded")
        assert status == 200
        status, _ = await bot.post("[1, 2]", "application/json")
        assert status == 200
        await settle()
        assert bot.fake.of("chat.update") == []

    with caplog.at_level(logging.INFO, logger="gatebot"):
        slack(body)
    assert any("malformed" in r.getMessage() or "unknown action" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- Web API errors


def test_rate_limit_then_success_and_token_not_logged(slack, caplog):
    async def body(bot: Bot):
        bot.fake.fail("chat.postMessage", status=429, retry_after=0)
        bot.fake.fail("chat.postMessage", status=503, retry_after=None)
        await bot.event(message(HEADLINE, "1700000050.000100"), "Ev050")
        calls = await bot.fake.wait_for("chat.postMessage", 3, timeout=10)
        assert "Gate 1" in calls[2].params["text"]
        await settle()
        assert len(bot.fake.of("chat.postMessage")) == 3

    with caplog.at_level(logging.DEBUG):
        slack(body)
    assert not any(TOKEN in r.getMessage() for r in caplog.records)
    assert not any(SECRET in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- shutdown, send()


def test_stop_finishes_in_flight_work(tmp_path, rules, classifier):
    async def main():
        async with FakeSlackAPI() as fake:
            fake.delays["chat.postMessage"] = 0.5
            db = tmp_path / "gatebot.db"
            async with running(db, fake, rules, classifier) as bot:
                await bot.event(message(HEADLINE, "1700000070.000100"), "Ev070")
                await fake.wait_for("chat.postMessage")  # arrived, its answer still held back
            # leaving `running` set the stop event and asserted serve() returned 0; the reply's ts
            # was stored, so the handler ran to its end before the store closed
            store = Store(db)
            try:
                row = next(store.db["messages"].rows_where("message_ref = ?", ["1700000070.000100"]))
                assert row["reply_ref"] == "1700000001.000100"
            finally:
                store.close()

    asyncio.run(asyncio.wait_for(main(), 45))


def test_send_posts_top_level_and_returns_ts(tmp_path, rules, classifier):
    from aiohttp import web
    from gatebot.handlers import slack

    async def main():
        async with FakeSlackAPI() as fake:
            settings = Settings(slack_bot_token=TOKEN, slack_signing_secret=SECRET, slack_app_token=None,
                                slack_api_url=fake.base_url)
            store = Store(tmp_path / "gatebot.db")
            adapter = slack.build(Service(rules, store, classifier), settings, web.Application())
            assert adapter.name == "slack" and adapter.uses_http
            await adapter.start()
            try:
                reply = await Service(rules, store, classifier).ahandle_command("slack", "C0DIGEST1", "U1", "gates", "")
                ts = await adapter.send("C0DIGEST1", reply)
                (call,) = fake.of("chat.postMessage")
                assert ts == "1700000001.000100"
                assert call.params["channel"] == "C0DIGEST1" and "thread_ts" not in call.params
            finally:
                await adapter.stop()
                store.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_http_mode_needs_a_signing_secret(tmp_path, rules, classifier):
    from aiohttp import web
    from gatebot.handlers import slack

    settings = Settings(slack_bot_token=TOKEN, slack_signing_secret=None, slack_app_token=None)
    store = Store(tmp_path / "gatebot.db")
    try:
        with pytest.raises(ValueError, match="SLACK_SIGNING_SECRET"):
            slack.build(Service(rules, store, classifier), settings, web.Application())
    finally:
        store.close()


# --------------------------------------------------------------------------- Socket Mode


def test_socket_mode_event_is_acked_and_answered(tmp_path, rules, classifier):
    async def main():
        async with FakeSlackAPI() as fake:
            settings = Settings(slack_bot_token=TOKEN, slack_app_token="xapp-test-token", slack_signing_secret=None,
                                slack_api_url=fake.base_url, telegram_bot_token=None)
            store = Store(tmp_path / "gatebot.db")
            service = Service(rules, store, classifier)
            stop, ready = asyncio.Event(), asyncio.Event()
            task = asyncio.create_task(serve(service, settings, stop, ready))
            try:
                await asyncio.wait_for(ready.wait(), 10)
                await fake.push_envelope(event_callback(message(HEADLINE, "1700000060.000100"), "EvSock"),
                                         envelope_id="env-60")
                (call,) = await fake.wait_for("chat.postMessage")
                assert call.params["thread_ts"] == "1700000060.000100"
                assert {"envelope_id": "env-60"}.items() <= next(
                    a for a in fake.socket_acks if a.get("envelope_id") == "env-60").items()
                assert fake.of("apps.connections.open")[0].auth == "Bearer xapp-test-token"
            finally:
                stop.set()
                assert await asyncio.wait_for(task, 30) == 0
                store.close()

    asyncio.run(asyncio.wait_for(main(), 45))


# --------------------------------------------------------------------------- rendering


def test_render_escapes_and_keeps_limits():
    long_items = [f"item {i} <!channel> " + "x" * 400 for i in range(60)]
    reply = Reply(kind="verdict", lang="en", message_id=7, blocks=[
        Block(kind="heading", text="Gate 1 · Policy procurement"),
        Block(kind="quote", text="<!here> & <@U1>\nsecond line", user_text=True),
        Block(kind="list", label="Why", items=long_items, user_text=True),
        *[Block(kind="text", text=f"line {i} " + "y" * 5000) for i in range(60)],
        Block(kind="note", text="a note <b>"),
    ], choices=[Choice(value="right", label="Right"), Choice(value="1", label="Gate 1")])
    blocks = render_blocks(reply)
    assert len(blocks) <= MAX_BLOCKS
    assert blocks[-1]["type"] == "actions"
    for b in blocks:
        if b["type"] == "section":
            assert len(b["text"]["text"]) <= 3000
    dumped = json.dumps(blocks)
    assert "<!channel>" not in dumped and "<!here>" not in dumped and "<@U1>" not in dumped and "<b>" not in dumped
    assert blocks[1]["text"]["text"].startswith("> &lt;!here&gt; &amp; &lt;@U1&gt;")
    assert "<!channel>" not in fallback_text(reply)
    assert escape("a&b<c>d") == "a&amp;b&lt;c&gt;d"
    assert parse_vote_value("12:right") == (12, "right")
    for bad in (None, 5, "", "12", "a:b", "1:2:3", ":right"):
        assert parse_vote_value(bad) is None
