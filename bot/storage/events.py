"""Idempotency: event ids and claims that survive restarts, so no platform event is handled twice."""

from __future__ import annotations

from .base import Rows, iso


class EventRows(Rows):
    def first_time(self, platform: str, event_id: str) -> bool:
        """Record an event id; True only the first time it is seen (survives restarts)."""
        with self.lock, self.db.conn:
            cur = self.db.execute(
                "insert or ignore into processed_events (platform, event_id, seen_at) values (?, ?, ?)",
                [platform, event_id, iso(self.clock())],
            )
            return cur.rowcount == 1

    def claim(self, platform: str, key: str, owner: str) -> bool:
        """Like first_time, but the owner that first claimed `key` may claim it again: an inbox item
        handled again after a restart keeps the message it was answering."""
        with self.lock, self.db.conn:
            cur = self.db.execute(
                "insert or ignore into processed_events (platform, event_id, seen_at, owner) values (?, ?, ?, ?)",
                [platform, key, iso(self.clock()), owner],
            )
            if cur.rowcount == 1:
                return True
            row = self.db.execute("select owner from processed_events where platform = ? and event_id = ?",
                                  [platform, key]).fetchone()
        return bool(owner) and row is not None and row[0] == owner
