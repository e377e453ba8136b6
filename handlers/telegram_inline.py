"""Inline mode: `@bot headline` typed in any chat, the bot not a member of it.

One result per query: the verdict (title "Gate N · name (confidence)" or "No gate", the status and
risk warning as its description); choosing it posts the compact verdict as the asker. Answers are
personal (is_personal) and cached briefly by Telegram (CACHE_SECONDS), since a gate's status can
change. Queries are rate-limited per user by a token bucket kept in memory, and never written to
the store or the inbox: they expire within seconds and are the asker's typing, not a chat message.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from gatebot.answers import InlineAnswer
from telegram import InlineQueryResultArticle, InputTextMessageContent, LinkPreviewOptions
from telegram.constants import ParseMode

from .telegram_render import esc, render_single

CACHE_SECONDS = 10  # short: an admin's /setstatus shows within seconds
DESCRIPTION_LIMIT = 400  # Telegram shows two or three lines of it anyway


class TokenBucket:
    """Per-user query budget: `burst` at once, then `rate` per second. At most `max_users` buckets
    are kept (the oldest dropped first), so memory stays bounded however many people ask."""

    def __init__(self, burst: float = 8, rate: float = 2.0, max_users: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.rate, self.max_users, self.clock = burst, rate, max_users, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # user -> (tokens, when counted)

    def allow(self, user: str) -> bool:
        now = self.clock()
        tokens, then = self._buckets.pop(user, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        allowed = tokens >= 1
        self._buckets[user] = (tokens - 1 if allowed else tokens, now)  # re-inserted: newest last
        while len(self._buckets) > self.max_users:
            del self._buckets[next(iter(self._buckets))]
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)


def result_id(text: str) -> str:
    """A stable id per text (at most 64 bytes, as Telegram requires)."""
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


def article(answer: InlineAnswer, query: str) -> InlineQueryResultArticle:
    """The one result: its title and description are plain text; the posted message is HTML with
    everything escaped (render_single)."""
    description = answer.description
    if len(description) > DESCRIPTION_LIMIT:
        description = description[: DESCRIPTION_LIMIT - 1] + "…"
    return InlineQueryResultArticle(
        id=result_id(f"{answer.reply.kind}:{query}"),
        title=answer.title,
        description=description,
        input_message_content=InputTextMessageContent(
            render_single(answer.reply), parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True)),
    )


def slow_down(title: str, description: str) -> InlineQueryResultArticle:
    """What a rate-limited asker sees instead of a verdict (choosing it posts the advice itself)."""
    return InlineQueryResultArticle(
        id="slow", title=title, description=description,
        input_message_content=InputTextMessageContent(f"<i>{esc(description)}</i>", parse_mode=ParseMode.HTML),
    )
