"""Slack's own ways in beside channels: the "Which gate?" message shortcut (a private verdict on any
message, with a button that posts it in the message's thread) and the App Home tab (the board, the
viewer's latest verdicts, the workspace's settings). The adapter (handlers/slack.py) routes to them and
passes itself as `self` (typed Any: a type import of the adapter here would close an import circle)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from gatebot.reply import Block, Reply, label
from gatebot.service import home_reply
from slack_sdk.errors import SlackApiError

from .slack_api import PLATFORM, api_error
from .slack_render import MAX_BLOCKS, MAX_BUTTON_TEXT, escape, fallback_text, render_blocks, unescape

log = logging.getLogger("gatebot.slack")

SHORTCUT_ID = "which_gate"  # the message shortcut's callback_id (slack-manifest.yaml)
THREAD_ACTION = "gatebot_thread"  # the "Post in thread" button under a shortcut's private verdict
HOME_EVERY = 60.0  # seconds: App Home is published at most this often per user
HOME_MEMORY = 10_000  # users remembered for that before the ones older than a minute are forgotten


async def which_gate(self: Any, body: dict, respond: Any) -> None:
    """The verdict on any message, to the person who asked only (response_url: works in channels
    the bot is not in), judged and stored as /classify would, with a button to post it in the thread."""
    try:
        message = body.get("message") or {}
        channel = str((body.get("channel") or {}).get("id") or "")
        user = str((body.get("user") or {}).get("id") or "")
        ts = str(message.get("ts") or body.get("message_ts") or "")
        if not channel or not user or not ts:
            log.info("slack: malformed shortcut payload ignored")
            return
        text = unescape(str(message.get("text") or "")).strip()
        is_direct = channel.startswith("D")
        if not text:
            lang = self.service.context(PLATFORM, channel, user, is_direct=is_direct).language()
            reply = Reply(kind="error", lang=lang, blocks=[Block(kind="text", text=label("slack_no_text", lang))])
        else:
            reply = await self.service.ahandle_command(PLATFORM, channel, user, "classify", text,
                                                       message_ref=ts, is_direct=is_direct)
        blocks = render_blocks(reply)
        if reply.message_id is not None:
            blocks = blocks[: MAX_BLOCKS - 1] + [thread_button(reply, str(message.get("thread_ts") or ts))]
        await respond(text=fallback_text(reply), blocks=blocks, response_type="ephemeral",
                      replace_original=False)
    except Exception:  # noqa: BLE001
        log.exception("slack: the which-gate shortcut failed")

async def post_in_thread(self: Any, body: dict, respond: Any) -> None:
    """Post a private verdict in its message's thread: chat.postMessage, or (the bot not being in
    the channel) the response_url; then the private copy says where it went."""
    try:
        actions = body.get("actions") or []
        action = actions[0] if actions and isinstance(actions[0], dict) else {}
        parsed = parse_thread_value(action.get("value"))
        user = str((body.get("user") or {}).get("id") or "")
        container = body.get("container") or {}
        channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
        if parsed is None or not user or not channel:
            log.info("slack: malformed post-in-thread payload ignored")
            return
        message_id, thread_ts = parsed
        result = await self.service.apress(PLATFORM, channel, user, message_id, "why",
                                           is_direct=channel.startswith("D"))
        if not result.ok or result.reply is None:
            await respond(text=escape(result.notice), response_type="ephemeral", replace_original=False)
            return
        reply = result.reply
        text, blocks = fallback_text(reply), render_blocks(reply)
        try:
            resp = await self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text,
                                                      blocks=blocks, unfurl_links=False, unfurl_media=False)
            if resp.get("ts"):
                self.service.store.set_reply_ref(message_id, resp["ts"])
        except Exception as exc:  # noqa: BLE001 - e.g. not_in_channel: the response_url can still post
            log.info("slack: chat.postMessage failed (%s), posting via response_url", api_error(exc))
            await respond(text=text, blocks=blocks, response_type="in_channel", replace_original=False,
                          thread_ts=thread_ts)
        await respond(text=escape(label("slack_posted", reply.lang)), replace_original=True)
    except Exception:  # noqa: BLE001
        log.exception("slack: posting a verdict in its thread failed")

def _same_workspace(self: Any, context: Any) -> Callable[[str], bool] | None:
    """With Add to Slack, one workspace's Home lists only its own channels' settings."""
    if getattr(self, "oauth", None) is None:
        return None  # one bot token, one workspace: every channel is the viewer's
    get = (lambda key: context.get(key)) if context is not None else (lambda key: None)
    here = (str(get("enterprise_id") or ""), str(get("team_id") or ""))
    chats = self.oauth.installations

    def same(chat_id: str) -> bool:
        seen = chats.chat_workspace(chat_id)
        return seen is not None and (seen[1] == here[1] if here[1] else seen[0] == here[0])
    return same


async def home_opened(self: Any, event: dict, context: Any = None) -> None:
    """The Home tab: the board, the viewer's latest verdicts and the workspace's settings, published
    (views.publish) when the tab is opened, at most once a minute per person."""
    try:
        user = str(event.get("user") or "")
        if event.get("tab") != "home" or not user:
            return
        now = self.home_clock()
        if now - self._home_seen.get(user, float("-inf")) < HOME_EVERY:
            return
        if len(self._home_seen) >= HOME_MEMORY:  # forget who opened it longer ago than a minute
            self._home_seen = {u: t for u, t in self._home_seen.items() if now - t < HOME_EVERY}
        self._home_seen[user] = now
        reply = home_reply(self.service, PLATFORM, user, str(event.get("channel") or ""),
                           chat_filter=_same_workspace(self, context))
        await self.client.views_publish(user_id=user, view={"type": "home", "blocks": render_blocks(reply)})
    except Exception as exc:  # noqa: BLE001
        log.warning("slack: publishing App Home failed: %s", api_error(exc),
                    exc_info=not isinstance(exc, SlackApiError))


def thread_button(reply: Reply, thread_ts: str) -> dict[str, Any]:
    """The button under a private verdict that posts it in the message's thread."""
    return {"type": "actions", "block_id": THREAD_ACTION, "elements": [{
        "type": "button", "action_id": THREAD_ACTION, "style": "primary",
        "text": {"type": "plain_text", "text": label("slack_post_thread", reply.lang)[:MAX_BUTTON_TEXT]},
        "value": f"{reply.message_id}:{thread_ts}",
    }]}


def parse_thread_value(value: object) -> tuple[int, str] | None:
    """"<message id>:<thread ts>" -> (message id, thread ts); None if malformed."""
    if not isinstance(value, str) or value.count(":") != 1:
        return None
    mid, thread_ts = value.split(":")
    if not mid.isdigit() or not re.fullmatch(r"\d{1,12}\.\d{1,8}", thread_ts):
        return None
    return int(mid), thread_ts


__all__ = ["SHORTCUT_ID", "THREAD_ACTION", "home_opened", "parse_thread_value", "post_in_thread", "thread_button", "which_gate"]
