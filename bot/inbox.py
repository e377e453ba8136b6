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
        known = self._add(platform, key, kind, payload)
        return "new" if known is None else known

    def begin(self, platform: str, key: str) -> bool:
        """True when the caller should handle the item now: it is not finished and not in hand."""
        if (platform, key) in self._in_hand:
            return False
        if self.status(platform, key) not in (None, "pending"):
            return False
        self._in_hand.add((platform, key))
        return True

    def finish(self, platform: str, key: str, ok: bool = True, error: str = "") -> None:
        """The item is answered (or deliberately not): it will not be handled again."""
        self._in_hand.discard((platform, key))
        self._finish(platform, key, "done" if ok else "failed", error)
        self._finished += 1
        if self._finished % PRUNE_EVERY == 0:  # a process that runs for months keeps the table small
            self._prune(iso(self.clock() - self.keep))

    def release(self, platform: str, key: str) -> None:
        """Handling stopped before the end (shutdown): it stays pending for the next start."""
        self._in_hand.discard((platform, key))

    def resumable(self, platform: str) -> list[InboxItem]:
        """Items a previous run accepted but never finished, oldest first; older ones expire."""
        now = self.clock()
        expired = self._expire(platform, iso(now - self.max_age))
        if expired:
            log.warning("%s: %d unanswered item(s) older than %s were not resumed", platform, expired, self.max_age)
        self._prune(iso(now - self.keep))
        return [InboxItem(platform, key, kind, payload, received)
                for key, kind, payload, received in self._pending(platform)
                if (platform, key) not in self._in_hand]

    def counts(self) -> dict[str, int]:
        """Items per status ("pending" always present): what /healthz shows."""
        return {"pending": 0, **self._counts()}

    # ------------------------------------------------------------------ its table

    def _add(self, platform: str, key: str, kind: str, payload: str) -> str | None:
        """Write an incoming item (committed on return); None if new, else the status it already has."""
        with self.store.lock, self.store.db.conn:
            cur = self.store.db.execute(
                "insert or ignore into inbox (platform, key, kind, payload, received_at, status) "
                "values (?, ?, ?, ?, ?, 'pending')", [platform, key, kind, payload, iso(self.store.clock())])
            if cur.rowcount == 1:
                return None
            row = self.store.db.execute("select status from inbox where platform = ? and key = ?", [platform, key]).fetchone()
        return row[0] if row else "pending"

    def status(self, platform: str, key: str) -> str | None:
        with self.store.lock:
            row = self.store.db.execute("select status from inbox where platform = ? and key = ?", [platform, key]).fetchone()
        return row[0] if row else None

    def _finish(self, platform: str, key: str, status: str, error: str = "") -> None:
        with self.store.lock, self.store.db.conn:
            self.store.db.execute("update inbox set status = ?, finished_at = ?, error = ? where platform = ? and key = ?",
                            [status, iso(self.store.clock()), error[:500], platform, key])

    def _pending(self, platform: str) -> list[tuple[str, str, str, str]]:
        """(key, kind, payload, received_at) of the platform's unfinished items, oldest first."""
        with self.store.lock:
            return self.store.db.execute(
                "select key, kind, payload, received_at from inbox where platform = ? and status = 'pending' "
                "order by received_at, rowid", [platform]).fetchall()

    def _expire(self, platform: str, before: str) -> int:
        """Give up on unfinished items received before `before`; how many."""
        with self.store.lock, self.store.db.conn:
            return self.store.db.execute(
                "update inbox set status = 'expired', finished_at = ? where platform = ? and status = 'pending' "
                "and received_at < ?", [iso(self.store.clock()), platform, before]).rowcount

    def _prune(self, before: str) -> int:
        """Forget finished items received before `before` (signatures older than that are stale anyway)."""
        with self.store.lock, self.store.db.conn:
            return self.store.db.execute("delete from inbox where status != 'pending' and received_at < ?",
                                   [before]).rowcount

    def _counts(self) -> dict[str, int]:
        with self.store.lock:
            return dict(self.store.db.execute("select status, count(*) from inbox group by status").fetchall())
