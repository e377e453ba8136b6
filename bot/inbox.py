"""The durable inbox: no update or event is lost to a crash, and none is handled twice.

Chat platforms consider a message delivered once the bot acknowledges it: Telegram when the next
getUpdates moves the offset past it (or a webhook answers 200), Slack when the HTTP request is
answered or the Socket Mode envelope acked. An adapter therefore writes each incoming item here
*before* acknowledging it, marks it finished once the reply has been sent (or the bot decided to
stay silent), and on start hands everything still pending back to its handlers.

Delivery is at-least-once: an item is handled again after a restart unless it was finished, so
a process killed after a reply reached the platform but before the item was marked done sends that
reply again. Everything else is answered exactly once: a re-delivery of an item already known
(Telegram re-sending an unconfirmed update, Slack retrying an event, a replayed signed request) is
recognised by its key, and an item is never in hand twice in one process.

Items older than `max_age` are not resumed (an answer an hour late is noise); finished items are
forgotten after `keep`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .store import Store, iso, utcnow

log = logging.getLogger("gatebot.inbox")

MAX_AGE = timedelta(hours=1)
KEEP = timedelta(days=2)  # finished keys are remembered this long (Slack signatures are valid 5 minutes)
PRUNE_EVERY = 1000  # finished items between two prunes


@dataclass(frozen=True)
class InboxItem:
    platform: str
    key: str
    kind: str
    payload: str  # JSON written by the adapter
    received_at: str


class Inbox:
    def __init__(self, store: Store, max_age: timedelta = MAX_AGE, keep: timedelta = KEEP,
                 clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.max_age = max_age
        self.keep = keep
        self.clock = clock
        self._in_hand: set[tuple[str, str]] = set()
        self._finished = 0

    def accept(self, platform: str, key: str, payload: str, kind: str = "") -> str:
        """Write an item before acknowledging it. "new" the first time; else the status it has
        ("pending": still to be answered, "done", "failed", "expired")."""
        known = self.store.inbox_add(platform, key, kind, payload)
        return "new" if known is None else known

    def begin(self, platform: str, key: str) -> bool:
        """True when the caller should handle the item now: it is not finished and not in hand."""
        if (platform, key) in self._in_hand:
            return False
        if self.store.inbox_status(platform, key) not in (None, "pending"):
            return False
        self._in_hand.add((platform, key))
        return True

    def finish(self, platform: str, key: str, ok: bool = True, error: str = "") -> None:
        """The item is answered (or deliberately not): it will not be handled again."""
        self._in_hand.discard((platform, key))
        self.store.inbox_finish(platform, key, "done" if ok else "failed", error)
        self._finished += 1
        if self._finished % PRUNE_EVERY == 0:  # a process that runs for months keeps the table small
            self.store.inbox_prune(iso(self.clock() - self.keep))

    def release(self, platform: str, key: str) -> None:
        """Handling stopped before the end (shutdown): it stays pending for the next start."""
        self._in_hand.discard((platform, key))

    def resumable(self, platform: str) -> list[InboxItem]:
        """Items a previous run accepted but never finished, oldest first; older ones expire."""
        now = self.clock()
        expired = self.store.inbox_expire(platform, iso(now - self.max_age))
        if expired:
            log.warning("%s: %d unanswered item(s) older than %s were not resumed", platform, expired, self.max_age)
        self.store.inbox_prune(iso(now - self.keep))
        return [InboxItem(platform, key, kind, payload, received)
                for key, kind, payload, received in self.store.inbox_pending(platform)
                if (platform, key) not in self._in_hand]

    def counts(self) -> dict[str, int]:
        """Items per status ("pending" always present): what /healthz shows."""
        return {"pending": 0, **self.store.inbox_counts()}
