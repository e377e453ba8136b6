"""What every part of the store shares: time and text keys, the rows it hands out, and `Rows`,
the connection and lock each concern's queries run on (the store owns them)."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import sqlite_utils

from ..models import Verdict
from ..text import fold

if TYPE_CHECKING:  # evidence.py builds on this module
    from .evidence import Balance

MAX_STORED_CHARS = 200_000  # a message longer than this is stored cut, with its full length noted


def database_problem(path: str, exc: sqlite3.Error | str, damaged: bool = False) -> str:
    """One line for an error of the database file itself: which file, what, and what to do."""
    text = " ".join((str(exc) or type(exc).__name__).split())
    if damaged or any(k in text.lower() for k in ("malformed", "not a database", "corrupt")):
        return (f"database {path} is damaged ({text}): stop gatebot, restore the file from a backup, "
                f"or move it aside (mv {path} {path}.damaged) to start with an empty one")
    if any(k in text.lower() for k in ("disk is full", "disk i/o", "readonly", "read-only", "unable to open")):
        return f"cannot write database {path} ({text}): free disk space or fix the file's permissions, then retry"
    return f"database {path}: {text}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat(timespec="seconds")


KEY_CHARS = 4_000  # a pasted article is known by its beginning (and folding 40,000 characters costs ~20 ms)


def text_key(text: str) -> str:
    """Identity of a headline for "seen before": folded, so case/width/punctuation don't matter."""
    return hashlib.sha1(fold(text[:KEY_CHARS]).text.encode("utf-8")).hexdigest()

@dataclass(frozen=True)
class StoredMessage:
    id: int
    platform: str
    chat_id: str
    user_id: str
    text: str
    created_at: str
    gate: int
    verdict: Verdict
    message_ref: str | None
    judge: str | None = None  # "llm" or "rules" when a model judge was configured, else None
    verdicts: dict | None = None  # both judges' answers when a model was asked


@dataclass(frozen=True)
class StatusChange:
    gate: int
    status_en: str
    status_zh: str
    since: str
    changed_by: str
    reason: str


@dataclass(frozen=True)
class GateView:
    """The gates' statuses set by admins (gate -> change) and, for one chat, its recent signals per gate."""

    statuses: dict[int, StatusChange]
    momentum: dict[int, int] | None
    balance: dict[int, Balance] | None = None  # gate -> the evidence balance of the window, when asked


class Rows:
    """A concern's queries (mixed into `Store`, which opens the connection and owns the lock)."""

    db: sqlite_utils.Database
    lock: threading.RLock
    clock: Callable[[], datetime]
