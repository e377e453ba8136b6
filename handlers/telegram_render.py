"""Reply -> Telegram HTML, and the feedback keyboard.

All wording comes from the service; this module only chooses markup. Every piece of text (labels,
values, list items, user text) is escaped with html.escape, so nothing a user typed can become
markup. Telegram's limit is 4096 characters per message; we measure in UTF-16 code units and
count the tags too, which is stricter than Telegram (it counts the text after parsing entities),
so a rendered chunk always fits.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from gatebot.reply import Block, Reply, colon
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

TELEGRAM_LIMIT = 4096
CALLBACK_LIMIT = 64  # bytes of callback_data
MAX_CHUNKS = 5  # a split reply never becomes more than this many messages
ELLIPSIS = "…"
VOTE_PREFIX = "v"


def tg_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def esc(text: str) -> str:
    return html.escape(text or "", quote=False)


@dataclass(frozen=True)
class Unit:
    """One self-contained line of HTML: prefix + escaped(raw) + suffix; tags never span units."""

    prefix: str
    raw: str
    suffix: str

    def html(self) -> str:
        return f"{self.prefix}{esc(self.raw)}{self.suffix}"

    def fit(self, limit: int) -> str | None:
        """The unit, cut cleanly (at a space if one is near) with an ellipsis to fit `limit`."""
        full = self.html()
        if tg_len(full) <= limit:
            return full
        fixed = tg_len(self.prefix) + tg_len(self.suffix) + tg_len(ELLIPSIS)
        if fixed >= limit:
            return None
        lo, hi = 0, len(self.raw)
        while lo < hi:  # the longest raw prefix whose escaped form fits: O(log n) tries
            mid = (lo + hi + 1) // 2
            if tg_len(esc(self.raw[:mid])) + fixed <= limit:
                lo = mid
            else:
                hi = mid - 1
        cut = self.raw[:lo]
        space = cut.rfind(" ")
        if space > lo * 0.8:
            cut = cut[:space]
        return f"{self.prefix}{esc(cut.rstrip())}{ELLIPSIS}{self.suffix}"


def _label(text: str, lang: str = "en") -> str:
    sep = colon(lang)
    return f"<b>{esc(text)}{sep.rstrip()}</b>{sep[len(sep.rstrip()):]}"


def block_units(block: Block, lang: str = "en") -> list[Unit]:
    kind = block.kind
    if kind == "heading":
        return [Unit("<b>", line, "</b>") for line in block.text.splitlines() or [""]]
    if kind == "field":
        prefix = _label(block.label, lang) if block.label else ""
        return [Unit(prefix, block.text, "")]
    if kind == "list":
        units = [Unit(_label(block.label, lang).rstrip(), "", "")] if block.label else []
        return units + [Unit("• ", item, "") for item in block.items]
    if kind == "quote":
        return [Unit("<blockquote>", block.text, "</blockquote>")]
    if kind == "note":
        return [Unit("<i>", line, "</i>") for line in block.text.splitlines() if line.strip()]
    return [Unit("", line, "") for line in block.text.splitlines()] or [Unit("", "", "")]


def render_chunks(reply: Reply, limit: int = TELEGRAM_LIMIT, max_chunks: int = MAX_CHUNKS) -> list[str]:
    """Render a reply as 1..max_chunks messages of at most `limit` characters each.

    Units are packed greedily; a unit too long for a message on its own is cut with an ellipsis;
    whatever does not fit in `max_chunks` messages is cut, and the last message ends with "…".
    """
    units = [u for b in reply.blocks for u in block_units(b, reply.lang)]
    chunks: list[str] = []
    current = ""
    for unit in units:
        piece = unit.html()
        sep = "\n" if current else ""
        if tg_len(current) + tg_len(sep) + tg_len(piece) <= limit:
            current += sep + piece
            continue
        room = limit - tg_len(current) - tg_len(sep)
        if len(chunks) + 1 >= max_chunks:  # the last allowed message: cut here and stop
            cut = unit.fit(room) if room > 40 else None
            if cut:
                current += sep + cut
            elif tg_len(current) + tg_len(ELLIPSIS) + 1 <= limit:
                current += ("\n" if current else "") + ELLIPSIS
            break
        if current:
            chunks.append(current)
        current = unit.fit(limit) or ""
    if current or not chunks:
        chunks.append(current or ELLIPSIS)
    return chunks


def render_single(reply: Reply, limit: int = TELEGRAM_LIMIT) -> str:
    """One message, cut cleanly if needed: verdicts, which carry the keyboard and get edited."""
    return render_chunks(reply, limit, max_chunks=1)[0]


def callback_data(message_id: int | str, value: str) -> str | None:
    data = f"{VOTE_PREFIX}:{message_id}:{value}"
    return data if len(data.encode("utf-8")) <= CALLBACK_LIMIT else None


def parse_callback(data: str | None) -> tuple[str | None, str]:
    """(message id, choice) from callback data; (None, "") when it isn't ours or is malformed."""
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != VOTE_PREFIX:
        return None, ""
    return parts[1], parts[2]


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The reply's buttons: feedback three to a row (Right, Gate 1, Gate 2 / Gate 3, Gate 4, None),
    a compact reply's "Why?", or the settings page's, one row per setting."""
    rows: list[list[InlineKeyboardButton]] = []
    group = None
    for choice in reply.choices:
        target = choice.target or reply.message_id
        data = callback_data(target, choice.value) if target is not None else None
        if data is None:
            continue
        button = InlineKeyboardButton(choice.label[:64], callback_data=data)
        if rows and choice.group == group and (group or len(rows[-1]) < 3):
            rows[-1].append(button)
        else:
            rows.append([button])
        group = choice.group
    return InlineKeyboardMarkup(rows) if rows else None
