"""Group manners through the real Slack app (run.serve, HTTP mode) and the fake Web API: /settings
and its buttons, workspace admins recognised with users.info and GATEBOT_ADMINS, modes, the floor,
/quiet with an injected clock, compact replies with a Why? button, /why, the language override
(slash commands included, which carry no locale), settings surviving a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import yaml
from fakes.slack_api import BOT_ID, BOT_USER_ID, TEAM_ID, FakeSlackAPI
from gatebot.classifier import Classifier
from gatebot.ruleset import RuleSet
from gatebot.service import Service
from gatebot.store import Store
from headlines import pick
from test_slack import serving

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-signing-secret-0123456789"
TOKEN = "xoxb-test-token-SECRET-42"
CHANNEL = "C0CHANNEL1"
DM = "D0DM00001"
MEMBER, ADMIN, OWNER, BOSS = "U0MEMBER1", "U0ADMIN01", "U0OWNER01", "U0BOSS001"  # BOSS: GATEBOT_ADMINS
HIGH = "ByteDance orders $5.6B of Ascend 950PR chips"
LOW = "Huawei Ascend chips in the news again"
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Bot:
    http: aiohttp.ClientSession
    url: str
    service: Service
    fake: FakeSlackAPI
    n: int = 0

    async def post(self, body: str, content_type: str) -> int:
        headers = {"Content-Type": content_type, **signed(body)}
        async with self.http.post(self.url + "/slack/events", data=body.encode(), headers=headers) as resp:
            await resp.read()
            return resp.status

    def ts(self) -> str:
        self.n += 1
        return f"17000{self.n:05d}.000100"

    async def say(self, text: str, *, user: str = MEMBER, channel: str = CHANNEL, mention: bool = False) -> str:
        """Post a message event (as an app_mention when `mention`); returns its ts."""
        ts = self.ts()
        kind = "app_mention" if mention else "message"
        event = {"type": kind, "channel": channel, "user": user, "ts": ts, "event_ts": ts, "team": TEAM_ID,
                 "text": f"<@{BOT_USER_ID}> {text}" if mention else text,
                 "channel_type": "im" if channel.startswith("D") else "channel"}
        body = {"token": "x", "team_id": TEAM_ID, "api_app_id": "A0000001", "event": event, "type": "event_callback",
                "event_id": f"Ev{ts}", "event_time": int(time.time())}
        assert await self.post(json.dumps(body), "application/json") == 200
        return ts

    async def answer(self, text: str, **kw: Any) -> dict[str, Any]:
        """A message and the bot's threaded answer to it."""
        ts = await self.say(text, **kw)
        return await self.reply_to(ts)

    async def reply_to(self, ts: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [c.params for c in self.fake.of("chat.postMessage") if c.params.get("thread_ts") == ts]
            if found:
                return found[0]
            await asyncio.sleep(0.01)
        raise TimeoutError(f"no answer to {ts}")

    async def silent(self, text: str, **kw: Any) -> None:
        """No answer to `text`: once it is stored, a /gates is answered, and nothing went to its thread."""
        before = self.service.store.count_messages()
        ts = await self.say(text, **kw)
        deadline = time.monotonic() + 5
        while self.service.store.count_messages() == before and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        board = (await self.command("/gates"))["text"]
        assert "four gates" in board or "四道门" in board
        assert not [c for c in self.fake.of("chat.postMessage") if c.params.get("thread_ts") == ts]

    async def command(self, command: str, text: str = "", *, user: str = MEMBER, channel: str = CHANNEL
                      ) -> dict[str, Any]:
        """A slash command and what the app posted to its response_url."""
        rid = self.ts()
        form = {"token": "x", "team_id": TEAM_ID, "team_domain": "fake", "channel_id": channel,
                "channel_name": "directmessage" if channel.startswith("D") else "general", "user_id": user,
                "user_name": user.lower(), "command": command, "text": text, "api_app_id": "A0000001",
                "is_enterprise_install": "false", "response_url": self.fake.response_url(rid), "trigger_id": "1.2.3"}
        assert await self.post(urlencode(form), "application/x-www-form-urlencoded") == 200
        return await self.response(rid)

    async def response(self, rid: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for call in self.fake.responses:
                if call.params.get("_rid") == rid:
                    return call.params
            await asyncio.sleep(0.01)
        raise TimeoutError(f"no response for {rid}")

    async def press(self, value: str, *, user: str, ts: str, ephemeral: bool = False) -> str:
        """A block_actions press; returns its response_url id."""
        rid = self.ts()
        payload = {
            "type": "block_actions", "team": {"id": TEAM_ID, "domain": "fake"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID}, "api_app_id": "A0000001",
            "token": "x", "trigger_id": "1.2.3",
            "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": ephemeral},
            "channel": {"id": CHANNEL, "name": "general"},
            "message": {"type": "message", "ts": ts, "bot_id": BOT_ID, "text": "…"},
            "response_url": self.fake.response_url(rid),
            "actions": [{"action_id": f"gatebot_vote_{value.split(':')[1]}", "block_id": "gatebot_vote",
                         "type": "button", "value": value, "text": {"type": "plain_text", "text": "x"},
                         "action_ts": str(time.time())}],
        }
        assert await self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded") == 200
        return rid


class TaggedSlack(FakeSlackAPI):
    """The fake Web API, remembering which response_url each post went to."""

    async def _response_url(self, request):  # type: ignore[override]
        response = await super()._response_url(request)
        self.responses[-1].params["_rid"] = request.match_info["rid"]
        return response


@asynccontextmanager
async def running(db: Path, fake: FakeSlackAPI, rules: RuleSet, classifier: Classifier, clock: Clock):
    service = Service(rules, Store(db, clock=clock), classifier, clock=clock)
    service.admins = frozenset({BOSS})
    async with serving(service, fake, Bot) as bot:
        yield bot


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture(scope="module", autouse=True)
def _headlines(classifier: Classifier) -> None:
    """A high- and a low-confidence headline for the model that ships (see headlines.py)."""
    global HIGH, LOW
    HIGH, LOW = pick(classifier, "high"), pick(classifier, "low")


@pytest.fixture
def slack(tmp_path: Path, rules: RuleSet, classifier: Classifier, clock: Clock):
    def run(body) -> None:
        async def main() -> None:
            async with TaggedSlack() as fake:
                fake.users.update({MEMBER: {}, ADMIN: {"is_admin": True}, OWNER: {"is_owner": True}})
                async with running(tmp_path / "slack.db", fake, rules, classifier, clock) as bot:
                    await body(bot)

        asyncio.run(asyncio.wait_for(main(), 60))

    return run


def lookups(bot: Bot) -> list[str]:
    return [c.params.get("user") for c in bot.fake.of("users.info")]


def buttons(blocks: list[dict[str, Any]]) -> dict[str, str]:
    return {e["text"]["text"]: e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]}


# --------------------------------------------------------------------------- who may change settings


def test_workspace_admins_and_gatebot_admins_may_change_settings(slack) -> None:
    async def body(bot: Bot) -> None:
        page = await bot.command("/settings")
        sections = [b["text"]["text"] for b in page["blocks"] if b["type"] == "section"]
        assert page["response_type"] == "ephemeral" and "*mode*\nauto — answer gate headlines unprompted, stay " \
            "silent on chatter" in sections
        assert "workspace admins and the bot's admins (GATEBOT_ADMINS)" in page["text"]
        refused = await bot.command("/settings", "mode mention")
        assert refused["response_type"] == "ephemeral"
        assert refused["text"] == ("Sorry, only the chat's admins can change its settings. Nothing was changed. "
                                   f"(Your id, for the bot's GATEBOT_ADMINS: slack:{MEMBER})")
        assert (await bot.command("/quiet", "1h", user="U0STRANGER"))["response_type"] == "ephemeral"  # unknown
        assert lookups(bot) == [MEMBER, "U0STRANGER"]
        assert bot.service.chat_settings("slack", CHANNEL).mode == ""
        done = await bot.command("/settings", "mode mention", user=ADMIN)
        assert done["response_type"] == "in_channel" and done["text"].startswith("mode is now mention.")
        assert (await bot.command("/settings", "floor high", user=OWNER))["text"].startswith("floor is now high.")
        assert (await bot.command("/settings", "format compact", user=BOSS))["text"].startswith("format is now")
        assert lookups(bot) == [MEMBER, "U0STRANGER", ADMIN, OWNER]  # GATEBOT_ADMINS: no lookup
        await bot.silent(HIGH)
        dm = await bot.command("/settings", "lang zh", channel=DM)  # a DM: its user decides
        assert dm["text"].startswith("lang 已改为 zh。") and len(lookups(bot)) == 4

    slack(body)


def test_settings_buttons(slack) -> None:
    async def body(bot: Bot) -> None:
        page = await bot.command("/settings", user=ADMIN)
        groups = [b["block_id"] for b in page["blocks"] if b["type"] == "actions"]
        assert groups == ["gatebot_vote_mode", "gatebot_vote_floor", "gatebot_vote_format", "gatebot_vote_lang",
                          "gatebot_vote_quiet"]
        values = buttons(page["blocks"])
        assert values["✓ mode auto"] == "settings:mode=auto" and values["quiet 2h"] == "settings:quiet=2h"
        await bot.press(values["mode off"], user=MEMBER, ts="1700000001.000100", ephemeral=True)
        (notice,) = await bot.fake.wait_for("chat.postEphemeral")
        assert "only the chat's admins" in notice.params["text"] and notice.params["user"] == MEMBER
        assert bot.service.chat_settings("slack", CHANNEL).mode == ""
        rid = await bot.press(values["mode off"], user=ADMIN, ts="1700000001.000100", ephemeral=True)
        replaced = await bot.response(rid)  # an ephemeral page is replaced through its response_url
        assert replaced["replace_original"] in (True, "true") and replaced["text"].startswith("mode is now off.")
        assert "✓ mode off" in buttons(replaced["blocks"])
        await bot.silent(HIGH, mention=True)  # off: not even a mention
        assert "Gate 1" in (await bot.command("/classify", HIGH))["text"]  # commands still answer

    slack(body)


# --------------------------------------------------------------------------- modes, floor, quiet


def test_modes_and_the_floor_in_a_channel(slack) -> None:
    async def body(bot: Bot) -> None:
        assert "Gate 1" in (await bot.answer(HIGH))["text"]
        await bot.silent(LOW)  # below the rules' floor
        asked = await bot.answer(LOW, mention=True)
        assert "*Confidence*\nlow" in [b["text"]["text"] for b in asked["blocks"] if b["type"] == "section"]
        assert "Confidence: low" in (await bot.answer(LOW, channel=DM))["text"]
        await bot.command("/settings", "floor low", user=ADMIN)
        assert "Confidence: low" in (await bot.answer(LOW))["text"]
        await bot.command("/settings", "mode mention", user=ADMIN)
        await bot.silent(HIGH)
        assert "Gate 1" in (await bot.answer(HIGH, mention=True))["text"]
        await bot.command("/settings", "mode off", user=ADMIN)
        await bot.silent(HIGH, mention=True)
        assert "Gate 1" in (await bot.answer(HIGH, channel=DM))["text"]  # a DM has no mode

    slack(body)


def test_quiet_expires_by_itself(slack, clock: Clock) -> None:
    async def body(bot: Bot) -> None:
        quiet = await bot.command("/quiet", "2h", user=ADMIN)
        assert quiet["response_type"] == "in_channel" and quiet["text"].startswith("Quiet until 11:00 UTC")
        await bot.silent(HIGH)
        assert "Gate 1" in (await bot.answer(HIGH, mention=True))["text"]
        clock.now = T0 + timedelta(hours=2, minutes=1)
        assert "Gate 1" in (await bot.answer(HIGH))["text"]
        assert (await bot.command("/quiet"))["text"].startswith("Not quiet.")

    slack(body)


# --------------------------------------------------------------------------- compact, /why, language


def test_compact_reply_why_button_and_why_command(slack) -> None:
    async def body(bot: Bot) -> None:
        await bot.command("/settings", "format compact", user=ADMIN)
        reply = await bot.answer(HIGH)
        kinds = [b["type"] for b in reply["blocks"]]
        assert kinds == ["header", "section", "actions"]
        assert reply["blocks"][0]["text"]["text"] == "Gate 1 · Policy procurement · high confidence"
        assert list(buttons(reply["blocks"])) == ["Why?"]
        reply_ts = "1700000001.000100"  # the fake's first chat.postMessage ts
        await bot.press(buttons(reply["blocks"])["Why?"], user=MEMBER, ts=reply_ts)
        (update,) = await bot.fake.wait_for("chat.update")
        assert update.params["ts"] == reply_ts and "Why:" in update.params["text"]
        assert list(buttons(update.params["blocks"])) == ["Right", "Gate 1", "Gate 2", "Gate 3", "Gate 4", "None"]
        why = await bot.command("/why")
        assert why["response_type"] == "in_channel" and why["text"].startswith(f"&gt; {HIGH}\nGate 1")

    slack(body)


def test_language_override_and_slash_commands_without_a_locale(slack) -> None:
    async def body(bot: Bot) -> None:
        assert "four gates" in (await bot.command("/gates"))["text"]
        await bot.command("/settings", "lang zh", user=ADMIN)
        reply = await bot.answer(HIGH)
        assert reply["text"].startswith("第一道门·政策采购\n状态：已打开，且开得很大。")
        assert (await bot.command("/gates"))["text"].startswith("国产算力兑现的四道门")
        assert (await bot.command("/help"))["text"].startswith("gatebot：这是哪道门？")
        await bot.command("/settings", "lang auto", user=ADMIN)
        # auto: Slack sends no locale, so commands follow the language of the channel's headlines
        for text in ("昇腾CANN全面开源", "字节跳动采购昇腾950PR芯片"):
            await bot.answer(text)
        assert (await bot.command("/gates"))["text"].startswith("国产算力兑现的四道门")
        assert (await bot.command("/gates", channel="C0OTHER01"))["text"].startswith("The four gates")

    slack(body)


def test_settings_survive_a_restart(tmp_path: Path, rules: RuleSet, classifier: Classifier, clock: Clock) -> None:
    async def main() -> None:
        async with TaggedSlack() as fake:
            fake.users[ADMIN] = {"is_admin": True}
            async with running(tmp_path / "r.db", fake, rules, classifier, clock) as bot:
                await bot.command("/settings", "mode mention", user=ADMIN)
                await bot.command("/settings", "lang zh", user=ADMIN)
            async with running(tmp_path / "r.db", fake, rules, classifier, clock) as bot:
                bot.n = 100  # new message timestamps
                await bot.silent(HIGH)
                assert (await bot.answer(HIGH, mention=True))["text"].startswith("第一道门")

    asyncio.run(asyncio.wait_for(main(), 60))


def test_the_manifest_has_the_commands_and_the_scope() -> None:
    manifest = yaml.safe_load((ROOT / "slack-manifest.yaml").read_text(encoding="utf-8"))
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert {"/settings", "/quiet", "/why"} <= set(commands)
    assert "users:read" in manifest["oauth_config"]["scopes"]["bot"]  # users.info: is this a workspace admin?


def test_members_may_not_configure_feeds_or_digests_admins_may(slack) -> None:
    """Like /settings, following and configuring feeds and subscribing digests need the workspace's
    admins in a channel; a member's attempt is refused, ephemeral, and changes nothing."""

    async def body(bot: Bot) -> None:
        fs, floor = bot.service.store, bot.service.default_floor
        assert (await bot.command("/feeds", "floor high", user=ADMIN))["text"].startswith("New entries")
        for command, args, what in (("/follow", "https://example.org/feed post", "feeds"), ("/feeds", "post 60", "feeds"),
                                    ("/feeds", "floor low", "feeds"), ("/digest", "on 09:00", "digests"),
                                    ("/digest", "weekly mon 09:00", "digests")):
            refused = await bot.command(command, args)
            assert refused["response_type"] == "ephemeral" and refused["text"].startswith(
                "Sorry, only the chat's admins can change") and what in refused["text"], (command, args, refused)
        assert fs.feed_settings("slack", CHANNEL, floor).floor == "high" and fs.feed_settings("slack", CHANNEL, floor).mode != "post"
        assert fs.feeds("slack", CHANNEL) == [] and fs.weekly("slack", CHANNEL) is None
        assert bot.service.store.get_subscription("slack", CHANNEL) is None
        assert "follows no feeds" in (await bot.command("/feeds"))["text"]  # looking is for everyone
        assert "08:00" in (await bot.command("/digest", "on 08:00", channel=DM))["text"]  # a DM is the user's own
        assert "07:00" in (await bot.command("/digest", "on 07:00", user=BOSS))["text"]  # GATEBOT_ADMINS
        assert bot.service.store.get_subscription("slack", CHANNEL)["time"] == "07:00"

    slack(body)
