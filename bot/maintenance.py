"""Looking after the live database: consistent backups while the bot writes, and retention.

Backups use SQLite's `VACUUM INTO`: one read transaction gives a snapshot of every commit made
before it began, while the bot keeps writing (WAL lets readers and the writer proceed together).
The copy is written under a temporary name, synced, checked and only then renamed, so a file at
the destination is always a whole backup.

Retention removes chatter: messages that touched no gate (gate 0), got no feedback and on which the
model judge and the rules agreed, older than the cutoff. Everything a digest or a feedback export
reads stays: messages with a gate (signal counts, top items, momentum), messages with votes
(corrections), messages the two judges disagreed on, status history, subscriptions and the digest
log. Bookkeeping past its use goes too: event ids kept to drop platform re-sends, link-cache rows
that expired before the cutoff, and cached model answers older than it.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from .store import Store, iso

PURGE_BATCH = 500  # rows per transaction: the bot's own writes wait at most one short batch (~50 ms)

_AGE = re.compile(r"^\s*(\d{1,5})\s*(d|days?)?\s*$", re.IGNORECASE)


class MaintenanceError(Exception):
    """A backup or purge that cannot be done as asked (reported in one line)."""


def parse_age(value: str) -> timedelta:
    """'180d', '180 days' or '180' (days) -> a timedelta of at least one day."""
    match = _AGE.match(value or "")
    if not match or int(match.group(1)) < 1:
        raise MaintenanceError(f"{value!r} is not an age in days, e.g. 180d")
    return timedelta(days=int(match.group(1)))


# --------------------------------------------------------------------------- backup


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    messages: int
    seconds: float


def backup(source: str | Path, dest: str | Path) -> BackupResult:
    """Write a consistent, compacted copy of the live database `source` to `dest` (which must not exist).

    Only reads `source`: no migration runs, so a backup taken before an upgrade is the old schema as it was.
    """
    source, dest = str(source), Path(dest)
    if source == ":memory:":
        raise MaintenanceError("an in-memory database cannot be backed up")
    if not Path(source).is_file():
        raise MaintenanceError(f"no database at {source}")
    if dest.exists():
        raise MaintenanceError(f"{dest} exists; back up to a new file name")
    if not dest.parent.is_dir():
        raise MaintenanceError(f"{dest.parent} is not a directory")
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    try:
        # A connection of its own that only reads: the bot (this process or another) keeps writing meanwhile.
        conn = sqlite3.connect(source, timeout=30)
        try:
            conn.execute("VACUUM INTO ?", [str(partial)])
        finally:
            conn.close()
        with open(partial, "rb+") as fh:
            os.fsync(fh.fileno())
        check = sqlite3.connect(partial)
        try:
            ok = check.execute("PRAGMA quick_check").fetchone()[0]
            messages = check.execute("select count(*) from messages").fetchone()[0]
        finally:
            check.close()
        if ok != "ok":
            raise MaintenanceError(f"the backup failed its integrity check: {ok}")
        os.replace(partial, dest)
    except sqlite3.Error as exc:
        raise MaintenanceError(f"backup of {source} failed: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(dest, dest.stat().st_size, messages, time.perf_counter() - started)


# --------------------------------------------------------------------------- retention


@dataclass(frozen=True)
class PurgeResult:
    cutoff: str
    messages: int  # chatter rows removed (or that would be, on a dry run)
    events: int  # platform event ids removed
    links: int  # expired link-cache rows removed
    judgements: int  # cached model answers removed
    kept_messages: int  # messages older than the cutoff that stay (a gate, feedback, or judges that disagreed)


_CHATTER = ("from messages where gate = 0 and created_at < ? "
            "and not exists (select 1 from feedback f where f.message_id = messages.id) "
            "and coalesce(json_extract(verdicts, '$.llm.gate') != json_extract(verdicts, '$.rules.gate'), 0) = 0")


def purge(store: Store, older_than: timedelta, *, dry_run: bool = False, now: datetime | None = None,
          batch: int = PURGE_BATCH) -> PurgeResult:
    """Remove chatter and stale bookkeeping older than `older_than` (see the module docstring)."""
    steps = purge_steps(store, older_than, dry_run=dry_run, now=now, batch=batch)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def purge_steps(store: Store, older_than: timedelta, *, dry_run: bool = False, now: datetime | None = None,
                batch: int = PURGE_BATCH) -> Generator[None, None, PurgeResult]:
    """`purge` one short transaction at a time: yields between batches so a running bot can serve
    its chats in between; the generator's return value is the PurgeResult."""
    cutoff = iso((now or store.clock()) - older_than)
    db = store.db
    with store.lock:
        old = db.execute("select count(*) from messages where created_at < ?", [cutoff]).fetchone()[0]
        counts = {
            "messages": db.execute("select count(*) " + _CHATTER, [cutoff]).fetchone()[0],
            "events": db.execute("select count(*) from processed_events where seen_at < ?", [cutoff]).fetchone()[0],
            "links": db.execute("select count(*) from link_cache where expires_at < ?", [cutoff]).fetchone()[0],
            "judgements": db.execute("select count(*) from judgements where created_at < ?", [cutoff]).fetchone()[0],
        }
    if not dry_run:
        jobs = {
            "messages": ("select id " + _CHATTER, "delete from messages where id in"),
            "events": ("select rowid from processed_events where seen_at < ?",
                       "delete from processed_events where rowid in"),
            "links": ("select rowid from link_cache where expires_at < ?", "delete from link_cache where rowid in"),
            "judgements": ("select rowid from judgements where created_at < ?", "delete from judgements where rowid in"),
        }
        for name, (select, delete) in jobs.items():
            counts[name] = 0
            while True:
                with store.lock, store.db.conn:
                    ids = [row[0] for row in db.execute(f"{select} limit {int(batch)}", [cutoff]).fetchall()]
                    if ids:
                        db.execute(f"{delete} ({','.join('?' * len(ids))})", ids)
                counts[name] += len(ids)
                if len(ids) < batch:
                    break
                yield
    return PurgeResult(cutoff, counts["messages"], counts["events"], counts["links"], counts["judgements"],
                       old - counts["messages"])
