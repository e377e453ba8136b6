"""The SQLite store (sqlite-utils, WAL mode): one connection and its lock, and the queries of each
concern (bot/storage/: messages, caches, statuses and votes, events, digests).

Tables: messages (every classified message and its verdict), gate_status and gate_status_history
(the living board), feedback (votes on verdicts), subscriptions (digests), processed_events
(idempotency for platforms that re-send events), chat_settings (how the bot behaves per chat),
inbox (bot/inbox.py), feeds (storage/feeds.py), evidence, evidence_keys and evidence_daily (the
evidence ledger, bot/storage/evidence.py), schema_migrations. The schema is created and migrated
on open (bot/storage/schema.py).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import sqlite_utils

from .storage.base import (
    KEY_CHARS,
    MAX_STORED_CHARS,
    GateView,
    StatusChange,
    StoredMessage,
    database_problem,
    iso,
    text_key,
    utcnow,
)
from .storage.caches import CacheRows
from .storage.digests import DigestRows
from .storage.events import EventRows
from .storage.evidence import Balance, EvidenceItem, EvidenceRows, Tally
from .storage.feeds import FeedRows
from .storage.home import HomeRows
from .storage.messages import MessageRows
from .storage.schema import MIGRATIONS
from .storage.statuses import StatusRows
from .storage.trends import TrendRows
from .storage.weekly import WeeklyRows

__all__ = ["KEY_CHARS", "MAX_STORED_CHARS", "Balance", "EvidenceItem", "GateView", "Tally", "StatusChange", "Store", "StoredMessage", "database_problem",
           "iso", "text_key", "utcnow"]


class Store(MessageRows, CacheRows, StatusRows, EventRows, DigestRows, WeeklyRows, TrendRows, FeedRows,
            EvidenceRows, HomeRows):
    """All reads and writes of gatebot's state. Safe to share across threads of one process."""

    def __init__(self, path: str | Path, clock: Callable[[], datetime] = utcnow):
        self.path = str(path)
        self.clock = clock
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(
            self.path if self.path != ":memory:" else None,
            memory=self.path == ":memory:",
        )
        self.lock = threading.RLock()
        self.db.conn.execute("PRAGMA busy_timeout = 5000")
        if self.path != ":memory:":
            self.db.enable_wal()
            # In WAL mode NORMAL cannot corrupt the database; it only lets a power cut lose the last
            # commits, and it takes the per-commit fsync (~4 ms here) off the event loop's path.
            self.db.conn.execute("PRAGMA synchronous = NORMAL")
        self.db.conn.execute("PRAGMA foreign_keys = ON")
        self.migrate()

    def close(self) -> None:
        self.db.close()

    def migrate(self) -> list[str]:
        with self.lock:
            if "schema_migrations" not in self.db.table_names():
                self.db.table("schema_migrations").create({"name": str, "applied_at": str}, pk="name")
            done = {row["name"] for row in self.db.table("schema_migrations").rows}
            applied = []
            for name, step in MIGRATIONS:
                if name in done:
                    continue
                with self.db.conn:
                    step(self.db)
                    self.db.table("schema_migrations").insert({"name": name, "applied_at": iso(self.clock())})
                applied.append(name)
            return applied

    def integrity_problem(self) -> str | None:
        """None when PRAGMA quick_check finds the file sound, else its first complaint.

        A file whose header is intact but whose pages are not opens fine and fails later, on
        whichever query touches a bad page: checked once at start, it fails there instead.
        """
        with self.lock:
            try:
                rows = self.db.execute("PRAGMA quick_check(1)").fetchall()
            except sqlite3.DatabaseError as exc:
                return str(exc)
        first = str(rows[0][0]) if rows else "no answer"
        return None if first == "ok" else first
