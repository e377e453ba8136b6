"""The platform-neutral reply: what to say, in which language, as a list of blocks.

The service builds a Reply; each adapter turns its blocks into its own markup (plain text for the
terminal, HTML for Telegram, Block Kit for Slack) and escapes user text for that platform. All
wording lives here and in rules/, so adapters hold no domain text.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from typing import Literal, get_args

from pydantic import BaseModel, field_validator, model_validator

from .models import Lang, Verdict

BlockKind = Literal["heading", "field", "list", "quote", "text", "note"]


class Block(BaseModel):
    kind: BlockKind
    text: str = ""  # heading/quote/text/note content; field value
    label: str = ""  # field label
    items: list[str] = []  # list items
    user_text: bool = False  # text comes from a user: escape it, never interpret it


class Choice(BaseModel):
    """A button: a vote on the reply's verdict ("right", "0".."4"), "why" (expand a compact reply),
    or, with `target` "settings", a chat setting ("mode=off")."""

    value: str
    label: str
    target: str = ""  # what the button acts on; "" = the reply's stored message
    group: str = ""  # buttons of one group share a row where the platform lays out rows


# "unknown": an unknown command; in a group it may be meant for another bot, so adapters may stay silent.
REPLY_KINDS = ("verdict", "no_gate", "board", "gate", "help", "error", "unknown", "vote", "status", "chart")


class Reply(BaseModel):
    # Checked when a reply is made (below) rather than typed as Literals: the language and kind are
    # decided at run time, so a Literal would only move the check into casts at every caller.
    kind: str
    lang: str
    blocks: list[Block]
    verdict: Verdict | None = None
    message_id: int | None = None  # store id of the classified message, for feedback
    choices: list[Choice] = []  # feedback buttons to show under the reply
    ephemeral: bool = False  # only the asker needs to see it (Slack slash commands)
    image: bytes | None = None  # a PNG to post with the text (charts); the text is its caption/fallback
    image_name: str = ""

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in REPLY_KINDS:
            raise ValueError(f"unknown reply kind {value!r}")
        return value

    @field_validator("lang")
    @classmethod
    def _known_lang(cls, value: str) -> str:
        if value not in get_args(Lang):
            raise ValueError(f"reply language must be en or zh, not {value!r}")
        return value

    @model_validator(mode="after")
    def _asker_only(self) -> Reply:
        # Usage errors, unknown commands and help concern the asker, not the whole channel.
        if self.kind in ("error", "unknown", "help"):
            self.ephemeral = True
        return self

    def plain(self) -> str:
        """Plain-text rendering: the terminal's, and the notification fallback elsewhere."""
        return render_plain(self.blocks, self.lang)


def colon(lang: str) -> str:
    """What follows a field's label: a full-width colon in Chinese, ": " in English."""
    return "：" if lang == "zh" else ": "


def render_plain(blocks: list[Block], lang: str = "en") -> str:
    sep = colon(lang)
    lines: list[str] = []
    for block in blocks:
        if block.kind == "heading":
            lines.append(block.text)
        elif block.kind == "field":
            lines.append(f"{block.label}{sep}{block.text}")
        elif block.kind == "list":
            if block.label:
                lines.append(f"{block.label}{sep.rstrip()}")
            lines.extend(f"  - {item}" for item in block.items)
        elif block.kind == "quote":
            lines.append(f"> {block.text}")
        else:
            lines.append(block.text)
    return "\n".join(lines)


MESSAGE_LANGS = ("en", "zh")


def load_messages() -> dict[str, dict[str, str]]:
    """Every reply text, key -> {"en": ..., "zh": ...}, from messages/en.toml and messages/zh.toml.

    Plain TOML files beside the code (read with the standard library) rather than gettext catalogs:
    two languages, keys instead of English msgids, no compile step, and a test that both files have
    the same keys and placeholders."""
    folder = resources.files("gatebot") / "messages"
    per_lang = {lang: tomllib.loads((folder / f"{lang}.toml").read_text(encoding="utf-8")) for lang in MESSAGE_LANGS}
    return {key: {lang: per_lang[lang][key] for lang in MESSAGE_LANGS} for key in per_lang["en"]}


# UI wording, English and Chinese. Gate texts themselves come from rules/gates.yaml.
LABELS: dict[str, dict[str, str]] = load_messages()


_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
_ZH_MARK = {",": "，", ":": "：", ";": "；", "?": "？", "!": "！", "(": "（", ")": "）"}


def zh_text(text: str) -> str:
    """Chinese wording from the rules, punctuated like the rest of a Chinese reply: ASCII marks next
    to Chinese become full-width ("已打开,且" -> "已打开，且"), "..." around Chinese becomes 「...」,
    and no space is left before or after a full-width bracket. Latin and numbers ("1-2年", "10:30")
    keep theirs."""
    if not _CJK.search(text):
        return text
    text = re.sub(r'"([^"\n]*)"', lambda m: f"「{m.group(1)}」" if _CJK.search(m.group(1)) else m.group(0), text)
    out = []
    for i, ch in enumerate(text):
        if ch in _ZH_MARK:
            prev, nxt = text[i - 1:i], text[i + 1:i + 2]
            if _CJK.match(prev or " ") or _CJK.match(nxt or " "):
                ch = _ZH_MARK[ch]
        out.append(ch)
    text = "".join(out)
    return re.sub(r"\s+（", "（", re.sub(r"）\s+(?=[^\x00-\x7f])", "）", text))


def label(key: str, lang: str, **kwargs: object) -> str:
    text = LABELS[key]["zh" if lang == "zh" else "en"]
    return text.format(**kwargs) if kwargs else text
