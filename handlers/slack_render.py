"""Render a platform-neutral `Reply` as Slack Block Kit.

All wording comes from the service; this module only lays it out. Every text piece that goes into
a mrkdwn field (and the `text` fallback, which Slack also parses) is escaped for &, < and >, so a
pasted `<!channel>`, `<!here>` or `<@U123>` shows as text and never pings anyone. Slack's limits
are kept: at most 50 blocks per message, 3,000 characters per section text, 150 per header,
75 per button label, 2,000 per button value.
"""

from __future__ import annotations

import re
from typing import Any

from gatebot.reply import Block, Reply

ACTION_PREFIX = "gatebot_vote"
SETTINGS_TARGET = "settings"  # a settings button's value names this instead of a message id
VOTE_BLOCK_ID = "gatebot_vote"
_NAMED_TARGET = re.compile(r"[a-z]{2,20}")  # "settings", "proposal": the service says what they mean
MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_CONTEXT = 3000
MAX_FALLBACK = 3900  # Slack truncates `text` past 40k; notifications show far less

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(text: str) -> str:
    """Escape text for Slack mrkdwn: only &, < and > have to be (and may be) escaped."""
    return (text or "").translate(_ESCAPES)


_ENTITY = re.compile(r"&(amp|lt|gt);")
_UNESCAPES = {"amp": "&", "lt": "<", "gt": ">"}


def unescape(text: str) -> str:
    """What the user typed, from Slack's message text (it escapes &, < and > once; undone in one
    pass, so a typed "&lt;" stays "&lt;"). Slack's own markup (<@U1>, <https://...|label>) keeps
    its brackets: Slack never escapes those."""
    return _ENTITY.sub(lambda m: _UNESCAPES[m.group(1)], text or "")


def _cut(text: str, limit: int) -> str:
    """Cut already-escaped text to `limit` characters without splitting an entity like &amp;."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, MAX_SECTION)}}


def _chunks(lines: list[str], head: str, limit: int = MAX_SECTION) -> list[str]:
    """Pack lines into section texts of at most `limit` characters, the head on the first."""
    out: list[str] = []
    current = head
    for line in lines:
        line = _cut(line, limit - 2)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit and current:
            out.append(current)
            current = line
        else:
            current = candidate
    if current:
        out.append(current)
    return out


def render_block(block: Block) -> list[dict[str, Any]]:
    if block.kind == "heading":
        if not block.user_text and len(block.text) <= MAX_HEADER and not set(block.text) & set("&<>"):
            return [{"type": "header", "text": {"type": "plain_text", "text": block.text or " ", "emoji": True}}]
        return [_section(f"*{escape(block.text)}*")]
    if block.kind == "field":
        label = f"*{escape(block.label)}*\n" if block.label else ""
        return [_section(label + escape(block.text))]
    if block.kind == "list":
        head = f"*{escape(block.label)}*" if block.label else ""
        return [_section(t) for t in _chunks([f"• {escape(i)}" for i in block.items], head)]
    if block.kind == "quote":
        lines = escape(block.text).splitlines() or [""]
        return [_section("\n".join(f"> {line}" for line in lines))]
    if block.kind == "note":
        return [{"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(escape(block.text), MAX_CONTEXT)}]}]
    return [_section(escape(block.text))]  # "text"


def vote_value(message_id: int | str, choice: str) -> str:
    return f"{message_id}:{choice}"


def parse_vote_value(value: object) -> tuple[int | str, str] | None:
    """"<message_id>:<choice>" -> (message_id, choice), or ("settings", "mode=off") for a settings
    button; None if malformed."""
    if not isinstance(value, str) or value.count(":") != 1:
        return None
    mid, choice = value.split(":")
    if not choice or len(choice) > 20:
        return None
    if mid == SETTINGS_TARGET or _NAMED_TARGET.fullmatch(mid):  # a button acting on something named, not a message
        return mid, choice
    if not mid.isdigit():
        return None
    return int(mid), choice


def vote_actions(reply: Reply) -> list[dict[str, Any]]:
    """The reply's buttons: one actions block for a verdict's (or "Why?"), one per setting on the settings page."""
    blocks: list[dict[str, Any]] = []
    group = None
    for choice in reply.choices:
        target = choice.target or reply.message_id
        if target is None:
            continue
        button: dict[str, Any] = {
            "type": "button",
            "action_id": f"{ACTION_PREFIX}_{choice.value}",
            "text": {"type": "plain_text", "text": choice.label[:MAX_BUTTON_TEXT] or choice.value, "emoji": True},
            "value": vote_value(target, choice.value),
        }
        if choice.value == "right":
            button["style"] = "primary"
        if not blocks or choice.group != group or len(blocks[-1]["elements"]) >= 25:
            block_id = f"{VOTE_BLOCK_ID}_{choice.group}" if choice.group else VOTE_BLOCK_ID
            blocks.append({"type": "actions", "block_id": block_id, "elements": []})
        blocks[-1]["elements"].append(button)
        group = choice.group
    return blocks


def render_blocks(reply: Reply) -> list[dict[str, Any]]:
    """The reply's blocks as Block Kit, with its buttons last; never more than 50 blocks."""
    actions = vote_actions(reply)
    room = MAX_BLOCKS - len(actions)
    out: list[dict[str, Any]] = []
    for block in reply.blocks:
        out.extend(render_block(block))
    if len(out) > room:
        out = out[: room - 1] + [{"type": "context", "elements": [{"type": "mrkdwn", "text": "…"}]}]
    return out + actions


def fallback_text(reply: Reply) -> str:
    """The plain `text` shown in notifications; Slack parses it as mrkdwn, so it is escaped too."""
    return _cut(escape(reply.plain()), MAX_FALLBACK) or " "
