"""What /trend and the weekly chart count: a chat's gate signals per hour (with their reading) and the status changes,
read on a thread with a read-only connection of its own and stopped at a time limit."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from urllib.parse import quote

from .base import Rows, iso

TREND_SECONDS = 20.0  # a /trend count running longer is stopped
PROGRESS_STEPS = 10_000  # SQLite steps between two looks at the clock (~1 ms)
# The reading ("for" / "against" / "neutral") is read from the stored verdict, so the chart splits
# verdicts stored before the evidence ledger too (those without a reading count as neutral).
HOURLY_SIGNALS = ("select substr(created_at, 1, 13), gate, confidence, source is not null, "
                  "coalesce(json_extract(verdict, '$.reading'), 'neutral'), count(*) from messages "
                  "where platform = ? and chat_id = ? and created_at >= ? and created_at < ? and gate > 0 "
                  "group by 1, 2, 3, 4, 5")
STATUS_CHANGES = "select gate, since from gate_status_history where since >= ? and since < ? order by since, id"


class TrendTooSlow(Exception):
    """A /trend count was stopped at its time limit."""


class TrendRows(Rows):
    path: str

    def hourly_signals(self, platform: str, chat_id: str, start: datetime, end: datetime) -> list[tuple]:
        """(hour 'YYYY-MM-DDTHH', gate, confidence, from_feed, reading, n) for messages with a gate in [start, end)."""
        with self.lock:
            return self.db.execute(HOURLY_SIGNALS, [platform, str(chat_id), iso(start), iso(end)]).fetchall()

    def trend_rows(self, platform: str, chat_id: str, start: datetime, end: datetime,
                   seconds: float = TREND_SECONDS) -> tuple[list[tuple], list[tuple]]:
        """hourly_signals and the status changes (gate, since) in [start, end), for /trend.

        Counting a busy chat's month reads every message of it (3-5 s at 1,000,000), so this runs on
        a thread (`chart.atrend`) with a read-only connection of its own: the store's lock, which
        every chat's reply needs, stays free, and in WAL mode the writers go on meanwhile. A query
        still running after `seconds` is stopped (TrendTooSlow). An in-memory store has no second
        connection: its own is used, under its lock."""
        args = [platform, str(chat_id), iso(start), iso(end)]
        if self.path == ":memory:":
            with self.lock:
                return (self.db.execute(HOURLY_SIGNALS, args).fetchall(),
                        self.db.execute(STATUS_CHANGES, args[2:]).fetchall())
        conn = sqlite3.connect(f"file:{quote(self.path)}?mode=ro", uri=True, timeout=5.0,
                               check_same_thread=False)
        deadline = time.monotonic() + seconds
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), PROGRESS_STEPS)
        try:
            return conn.execute(HOURLY_SIGNALS, args).fetchall(), conn.execute(STATUS_CHANGES, args[2:]).fetchall()
        except sqlite3.OperationalError as exc:
            if time.monotonic() > deadline:
                raise TrendTooSlow(f"counting took over {seconds:g} s") from None
            raise exc
        finally:
            conn.close()
