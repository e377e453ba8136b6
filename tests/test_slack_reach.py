"""Slack's own ways in, through the real app (run.serve, HTTP mode) and the fake Web API: the message
shortcut "Which gate?" (a private verdict via the response_url, and its button posting it in the
thread) and the App Home tab. Payloads are in Slack's formats, signed as Slack signs them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes.slack_api import TEAM_ID
from gatebot.handlers.slack_reach import SHORTCUT_ID, THREAD_ACTION, parse_thread_value
from test_slack import CHANNEL, HEADLINE, HEADLINE_ZH, Bot, scenario, settle

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
ASKER = "U0ASKER01"
OUTSIDE = "C0NOTJOINED"  # a channel the bot is not a member of


@pytest.fixture
def slack(tmp_path, rules, classifier):
    return scenario(tmp_path, rules, classifier)


def shortcut(bot: Bot, text: str, ts: str, *, channel: str = CHANNEL, rid: str = "sc1",
             thread_ts: str | None = None) -> dict[str, Any]:
    """A message_action payload as Slack sends it when someone uses the shortcut on a message."""
    message: dict[str, Any] = {"type": "message", "user": "U0AUTHOR1", "text": text, "ts": ts}
    if thread_ts:
        message["thread_ts"] = thread_ts
    return {
        "type": "message_action", "token": "legacy", "action_ts": f"{int(time.time())}.000001",
        "team": {"id": TEAM_ID, "domain": "fake"}, "user": {"id": ASKER, "name": "asker", "team_id": TEAM_ID},
        "channel": {"id": channel, "name": "news"}, "is_enterprise_install": False, "enterprise": None,
        "callback_id": SHORTCUT_ID, "trigger_id": "1.2.3", "response_url": bot.fake.response_url(rid),
        "message_ts": ts, "message": message,
    }


def press(bot: Bot, button: dict[str, Any], channel: str, rid: str) -> dict[str, Any]:
    """The block_actions payload of a button pressed in an ephemeral (response_url) message."""
    return {
        "type": "block_actions", "team": {"id": TEAM_ID, "domain": "fake"},
        "user": {"id": ASKER, "name": "asker", "team_id": TEAM_ID}, "api_app_id": "A0000001", "token": "legacy",
        "container": {"type": "message", "message_ts": "1700000099.000001", "channel_id": channel,
                      "is_ephemeral": True},
        "trigger_id": "1.2.4", "channel": {"id": channel, "name": "news"}, "response_url": bot.fake.response_url(rid),
        "actions": [{"action_id": button["action_id"], "block_id": THREAD_ACTION, "type": "button",
                     "value": button["value"], "text": button["text"], "action_ts": "1700000100.000001"}],
    }


def thread_button(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    (button,) = [e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == THREAD_ACTION]
    return button


# --------------------------------------------------------------------------- the message shortcut


def test_the_shortcut_answers_the_asker_privately_and_its_button_posts_in_the_thread(slack):
    async def body(bot: Bot):
        status, _ = await bot.action(shortcut(bot, HEADLINE, "1700000001.000100"))
        assert status == 200
        (private,) = await bot.fake.wait_for("response_url")
        p = private.params
        assert p["response_type"] == "ephemeral" and p["replace_original"] is False
        assert "Gate 1" in p["text"]
        button = thread_button(p["blocks"])
        assert button["text"]["text"] == "Post in thread"
        mid, thread_ts = parse_thread_value(button["value"])
        assert thread_ts == "1700000001.000100"
        stored = bot.service.store.get_message(mid)
        assert stored is not None and stored.chat_id == CHANNEL and stored.verdict.gate == 1
        assert bot.fake.of("chat.postMessage") == []  # nothing in the channel yet
        # the button: the verdict in the message's thread, then the private copy says so
        await bot.action(press(bot, button, CHANNEL, "sc2"))
        (post,) = await bot.fake.wait_for("chat.postMessage")
        assert post.params["channel"] == CHANNEL and post.params["thread_ts"] == "1700000001.000100"
        assert "Gate 1" in post.params["text"]
        (_, done) = await bot.fake.wait_for("response_url", 2)
        assert done.params["replace_original"] is True and done.params["text"] == "Posted in the thread."
        assert bot.service.store.replied_to("slack", CHANNEL, "1700000001.000100")

    slack(body)


def test_in_a_channel_the_bot_is_not_in_everything_goes_through_the_response_url(slack):
    async def body(bot: Bot):
        bot.fake.errors["chat.postMessage"] = "not_in_channel"
        await bot.action(shortcut(bot, HEADLINE, "1700000002.000100", channel=OUTSIDE, thread_ts="1700000000.000001"))
        (private,) = await bot.fake.wait_for("response_url")
        button = thread_button(private.params["blocks"])
        assert parse_thread_value(button["value"])[1] == "1700000000.000001"  # the thread the message is in
        await bot.action(press(bot, button, OUTSIDE, "sc2"))
        _, public, done = await bot.fake.wait_for("response_url", 3)
        assert public.params["response_type"] == "in_channel"
        assert public.params["thread_ts"] == "1700000000.000001"
        assert "Gate 1" in public.params["text"]
        assert done.params["replace_original"] is True
        assert len(bot.fake.of("chat.postMessage")) == 1  # tried once, refused

    slack(body)


def test_the_shortcut_escapes_the_message_and_follows_the_language(slack):
    async def body(bot: Bot):
        hostile = f"&lt;!channel&gt; {HEADLINE} &lt;@U0VICTIM&gt;"  # Slack escapes what people type
        await bot.action(shortcut(bot, hostile, "1700000003.000100"))
        (private,) = await bot.fake.wait_for("response_url")
        raw = json.dumps(private.params, ensure_ascii=False)
        assert "<!channel>" not in raw and "<@U0VICTIM>" not in raw
        await bot.action(shortcut(bot, HEADLINE_ZH, "1700000004.000100", rid="sc2"))
        (_, zh) = await bot.fake.wait_for("response_url", 2)
        assert "第三道门" in zh.params["text"]
        assert thread_button(zh.params["blocks"])["text"]["text"] == "发到话题串"

    slack(body)


def test_a_message_without_text_gets_a_clear_answer_and_no_button(slack):
    async def body(bot: Bot):
        await bot.action(shortcut(bot, "", "1700000005.000100"))
        (private,) = await bot.fake.wait_for("response_url")
        assert "no text to judge" in private.params["text"]
        assert not [b for b in private.params["blocks"] if b["type"] == "actions"]
        assert bot.service.store.count_messages() == 0

    slack(body)


def test_a_forged_or_foreign_thread_button_posts_nothing(slack):
    async def body(bot: Bot):
        await bot.action(shortcut(bot, HEADLINE, "1700000006.000100"))
        (private,) = await bot.fake.wait_for("response_url")
        button = thread_button(private.params["blocks"])
        # the same verdict pressed "from" another channel, and a value that is not ours
        await bot.action(press(bot, button, "C0ELSEWHERE", "sc2"))
        await bot.action(press(bot, {**button, "value": "1:not-a-ts"}, CHANNEL, "sc3"))
        (_, refused) = await bot.fake.wait_for("response_url", 2)
        assert refused.params["response_type"] == "ephemeral" and "can't be found" in refused.params["text"]
        await settle()
        assert bot.fake.of("chat.postMessage") == []
        assert len(bot.fake.responses) == 2

    slack(body)


def test_the_manifest_declares_the_shortcut() -> None:
    manifest = yaml.safe_load((ROOT / "slack-manifest.yaml").read_text(encoding="utf-8"))
    (sc,) = manifest["features"]["shortcuts"]
    assert sc["type"] == "message" and sc["callback_id"] == SHORTCUT_ID and sc["name"] == "Which gate?"
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


# --------------------------------------------------------------------------- App Home

DM_OF_ASKER = "D0ASKER01"


def home_opened(user: str = ASKER, tab: str = "home", channel: str = DM_OF_ASKER) -> dict[str, Any]:
    return {"type": "app_home_opened", "user": user, "channel": channel, "tab": tab,
            "event_ts": f"{time.time():.6f}"}


def view_text(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def test_opening_app_home_publishes_the_board_once_a_minute_per_person(slack, rules):
    async def body(bot: Bot):
        assert await bot.event(home_opened(), "EvHome1") == 200
        (call,) = await bot.fake.wait_for("views.publish")
        assert call.params["user_id"] == ASKER
        view = bot.fake.views[ASKER]
        assert view["type"] == "home"
        text = view_text(view)
        for n, gate in rules.gates.items():
            assert f"{n} · {gate.name.get('en')}: " in text, n
        assert "Your recent verdicts" in text and "No verdicts for you yet" in text
        assert "Every channel uses the defaults" in text
        # opened again within the minute (a new event): nothing is published; another person: published
        await bot.event(home_opened(), "EvHome2")
        await bot.event(home_opened(tab="messages", user="U0OTHER01"), "EvHome3")  # the Messages tab: no Home
        await bot.event(home_opened(user="U0OTHER02", channel="D0OTHER02"), "EvHome4")
        calls = await bot.fake.wait_for("views.publish", 2)
        await settle()
        assert len(bot.fake.of("views.publish")) == 2
        assert calls[1].params["user_id"] == "U0OTHER02"

    slack(body)


def test_app_home_shows_the_viewers_verdicts_escaped_and_the_workspace_settings(slack):
    async def body(bot: Bot):
        await bot.action(shortcut(bot, f"&lt;!here&gt; {HEADLINE}", "1700000011.000100"))
        await bot.fake.wait_for("response_url")
        bot.fake.users["U0USER001"] = {"is_admin": True}  # the workspace admin changing the channel's settings
        status, _ = await bot.command("/settings", "mode mention", rid="set1")
        assert status == 200
        await bot.fake.wait_for("response_url", 2)
        await bot.event(home_opened(), "EvHome5")
        await bot.fake.wait_for("views.publish")
        text = view_text(bot.fake.views[ASKER])
        assert "Gate 1 · " in text.split("Your recent verdicts")[1]
        assert "&lt;!here&gt; ByteDance" in text and "<!here>" not in text
        assert f"{CHANNEL}: mode mention" in text
        assert "No verdicts for you yet" not in text and "Every channel uses the defaults" not in text

    slack(body)


def test_app_home_speaks_the_language_of_the_viewers_direct_chat(slack):
    async def body(bot: Bot):
        dm = {"type": "message", "channel": DM_OF_ASKER, "user": ASKER, "text": HEADLINE_ZH,
              "ts": "1700000012.000100", "event_ts": "1700000012.000100", "channel_type": "im", "team": TEAM_ID}
        await bot.event(dm, "EvDmZh")
        await bot.fake.wait_for("chat.postMessage")
        await bot.event(home_opened(), "EvHome6")
        await bot.fake.wait_for("views.publish")
        text = view_text(bot.fake.views[ASKER])
        assert "你最近的判断" in text and "第三道门" in text
        assert "Your recent verdicts" not in text

    slack(body)


def test_the_manifest_declares_the_home_tab_and_its_event() -> None:
    manifest = yaml.safe_load((ROOT / "slack-manifest.yaml").read_text(encoding="utf-8"))
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]
