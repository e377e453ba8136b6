"""The SQLite store (sqlite-utils, WAL mode).

Tables: messages (every classified message and its verdict), gate_status and gate_status_history
(the living board), feedback (votes on verdicts), subscriptions (digests), processed_events
(idempotency for platforms that re-send events), chat_settings (how the bot behaves per chat),
schema_migrations. The schema is created and migrated on open; each migration runs once, in order,
recorded in schema_migrations.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlite_utils

from .models import Verdict
from .text import fold

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


# --------------------------------------------------------------------------- migrations


def _m1_initial(db: sqlite_utils.Database) -> None:
    db["messages"].create(
        {
            "id": int,
            "platform": str,
            "chat_id": str,
            "user_id": str,
            "text": str,
            "text_len": int,
            "text_key": str,
            "created_at": str,
            "lang": str,
            "gate": int,
            "confidence": str,
            "verdict": str,  # JSON of the Verdict
            "message_ref": str,  # the platform's id of the pasted message
            "reply_ref": str,  # the platform's id of the bot's reply, once sent
        },
        pk="id",
        not_null={"platform", "chat_id", "text", "created_at", "gate"},
    )
    db["messages"].create_index(["platform", "chat_id", "text_key"])
    db["messages"].create_index(["platform", "chat_id", "created_at"])
    db["gate_status"].create(
        {"gate": int, "status_en": str, "status_zh": str, "since": str, "changed_by": str, "reason": str},
        pk="gate",
    )
    db["gate_status_history"].create(
        {
            "id": int,
            "gate": int,
            "status_en": str,
            "status_zh": str,
            "since": str,
            "changed_by": str,
            "reason": str,
        },
        pk="id",
    )
    db["gate_status_history"].create_index(["gate", "since"])
    db["feedback"].create(
        {
            "message_id": int,  # messages.id of the verdict voted on
            "user_id": str,
            "platform": str,
            "chat_id": str,
            "choice": str,  # "right", or "0".."4"
            "created_at": str,
        },
        pk=("message_id", "user_id"),
        foreign_keys=[("message_id", "messages", "id")],
    )
    db["subscriptions"].create(
        {
            "platform": str,
            "chat_id": str,
            "enabled": int,
            "time": str,  # HH:MM local
            "tz": str,  # IANA zone
            "lang": str,  # override; empty = the chat's usual language
            "created_at": str,
            "updated_at": str,
        },
        pk=("platform", "chat_id"),
    )
    db["processed_events"].create(
        {"platform": str, "event_id": str, "seen_at": str}, pk=("platform", "event_id")
    )


def _m2_link_cache(db: sqlite_utils.Database) -> None:
    db["link_cache"].create(
        {"url": str, "fetched_at": str, "ok": int, "title": str, "description": str, "error": str, "verdict": str},
        pk="url",
    )


def _m3_digests(db: sqlite_utils.Database) -> None:
    # One row per chat per local day: claimed (pending) before the send, then sent/failed/gave_up.
    db["digests_sent"].create(
        {
            "platform": str,
            "chat_id": str,
            "local_date": str,  # YYYY-MM-DD in the subscription's zone
            "status": str,  # pending | sent | failed | gave_up | interrupted
            "attempts": int,
            "next_attempt_at": str,  # when a failed send may be retried
            "window_start": str,
            "window_end": str,
            "claimed_at": str,
            "run_id": str,  # the scheduler run that claimed it
            "sent_at": str,
            "message_ref": str,
            "error": str,
        },
        pk=("platform", "chat_id", "local_date"),
    )
    db["digests_sent"].create_index(["local_date"])
    db["digests_sent"].create_index(["platform", "chat_id", "status", "window_end"])
    db["feedback"].create_index(["platform", "chat_id", "created_at"])
    db["subscriptions"].create_index(["enabled"])


def _m4_link_cache_expiry(db: sqlite_utils.Database) -> None:
    # Expiry and error detail get columns of their own; rows written before kept them as JSON in `error`.
    table = db["link_cache"]
    table.add_column("expires_at", str)
    table.add_column("detail", str)
    for row in list(table.rows):
        try:
            meta = json.loads(row["error"] or "{}")
        except ValueError:
            meta = {}
        if not isinstance(meta, dict):
            meta = {}
        table.update(row["url"], {"error": meta.get("code", ""), "detail": meta.get("detail", ""),
                                  "expires_at": meta.get("expires", "")})


def _m5_judgements(db: sqlite_utils.Database) -> None:
    # A language model's answers, one per (model, instructions, normalised text): the same headline
    # pasted in ten chats costs one call. On messages, which judge decided and, when a model was
    # asked, both judges' answers (`verdicts` JSON), so disagreements can be reviewed.
    db["judgements"].create(
        {"key": str, "model": str, "text_key": str, "answer": str, "created_at": str}, pk="key")
    db["messages"].add_column("judge", str)
    db["messages"].add_column("verdicts", str)


def _m6_feeds(db: sqlite_utils.Database) -> None:
    # Followed feeds (per chat), the entries seen in them, per-chat feed settings, weekly charts.
    db["feeds"].create(
        {
            "id": int,
            "platform": str,
            "chat_id": str,
            "url": str,  # as followed (normalised)
            "feed_url": str,  # the feed itself (differs when discovered from a page)
            "title": str,
            "mode": str,  # "" = the chat's setting, "post" or "digest"
            "created_by": str,
            "created_at": str,
            "etag": str,
            "last_modified": str,
            "last_fetch_at": str,
            "last_ok_at": str,
            "error_code": str,  # the last poll's failure, "" after a good one
            "error_detail": str,
            "errors": int,  # consecutive failures (backoff)
            "note": str,  # what the last good poll had to say about the feed (malformed, too long, ...)
            "next_poll_at": str,
            "items_seen": int,
            "primed": int,  # the first fetch (recorded silently) is done
        },
        pk="id",
        not_null={"platform", "chat_id", "feed_url"},
    )
    db["feeds"].create_index(["platform", "chat_id", "feed_url"], unique=True)
    db["feeds"].create_index(["next_poll_at"])
    db["feed_items"].create(
        {
            "feed_id": int,
            "entry_key": str,  # the entry's id, else its link, else its title
            "platform": str,
            "chat_id": str,
            "title_key": str,
            "link": str,
            "seen_at": str,
            "message_id": int,  # messages.id once classified ("" for entries recorded on the first fetch)
            "post": str,  # "" | pending | sent | failed | capped | below | digest
            "posted_at": str,
        },
        pk=("feed_id", "entry_key"),
    )
    db["feed_items"].create_index(["platform", "chat_id", "title_key"])
    db["feed_items"].create_index(["platform", "chat_id", "link"])
    db["feed_items"].create_index(["platform", "chat_id", "posted_at"])
    db["feed_chats"].create(
        {"platform": str, "chat_id": str, "mode": str, "per_hour": int, "floor": str, "updated_at": str},
        pk=("platform", "chat_id"),
    )
    db["weekly"].create(
        {"platform": str, "chat_id": str, "enabled": int, "day": int, "time": str, "tz": str, "updated_at": str},
        pk=("platform", "chat_id"),
    )
    db["weekly_sent"].create(
        {"platform": str, "chat_id": str, "local_date": str, "status": str, "run_id": str, "claimed_at": str,
         "sent_at": str, "error": str},
        pk=("platform", "chat_id", "local_date"),
    )
    # Feed entries are stored as messages too (digest, momentum, charts): where they came from.
    db["messages"].add_column("source", str)
    db["messages"].add_column("link", str)
    # "Seen before" (min(created_at) by text_key) walked the chat's whole history through the
    # created_at index; with created_at in this one it is a single index probe.
    db["messages"].create_index(["platform", "chat_id", "text_key", "created_at"])


def _m7_inbox(db: sqlite_utils.Database) -> None:
    # Every update or event, written before the platform is told it arrived; done once answered.
    db["inbox"].create(
        {
            "platform": str,
            "key": str,  # Telegram: update_id; Slack: "sig:<signature>" (HTTP) or "env:<envelope id>"
            "kind": str,
            "payload": str,  # JSON, enough to handle it again after a restart
            "received_at": str,
            "status": str,  # pending | done | failed | expired
            "finished_at": str,
            "error": str,
        },
        pk=("platform", "key"),
    )
    db["inbox"].create_index(["status", "received_at"])
    db["processed_events"].add_column("owner", str)  # the inbox item that claimed the key


def _m8_chat_settings(db: sqlite_utils.Database) -> None:
    # How the bot behaves in each chat (bot/chatsettings.py): only values someone chose, "" = default.
    db["chat_settings"].create(
        {"platform": str, "chat_id": str, "mode": str, "floor": str, "format": str, "lang": str,
         "quiet_until": str, "updated_by": str, "updated_at": str},
        pk=("platform", "chat_id"),
    )
    # The digest ranks a headline by how many chats had it: an index over the headlines with a gate
    # (chatter, most messages, never ranks). It is paid for by dropping (platform, chat_id, text_key),
    # which (platform, chat_id, text_key, created_at) already covers: a 1,000,000-message store stays
    # the size it was.
    db.execute("create index idx_messages_gated_text_key on messages (text_key, created_at) where gate > 0")
    db.execute("drop index if exists idx_messages_platform_chat_id_text_key")


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("0001_initial", _m1_initial),
    ("0002_link_cache", _m2_link_cache),
    ("0003_digests", _m3_digests),
    ("0004_link_cache_expiry", _m4_link_cache_expiry),
    ("0005_judgements", _m5_judgements),
    ("0006_feeds", _m6_feeds),
    ("0007_inbox", _m7_inbox),
    ("0008_chat_settings", _m8_chat_settings),
]


# --------------------------------------------------------------------------- the store


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


class Store:
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
        self._lock = threading.RLock()
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
        with self._lock:
            if "schema_migrations" not in self.db.table_names():
                self.db["schema_migrations"].create({"name": str, "applied_at": str}, pk="name")
            done = {row["name"] for row in self.db["schema_migrations"].rows}
            applied = []
            for name, step in MIGRATIONS:
                if name in done:
                    continue
                with self.db.conn:
                    step(self.db)
                    self.db["schema_migrations"].insert({"name": name, "applied_at": iso(self.clock())})
                applied.append(name)
            return applied

    # ------------------------------------------------------------------ messages

    def add_message(
        self,
        *,
        platform: str,
        chat_id: str,
        user_id: str,
        text: str,
        verdict: Verdict,
        message_ref: str | None = None,
        source: str | None = None,
        link: str | None = None,
    ) -> tuple[int, str | None]:
        """Store a classified message; return its id and when this chat first saw the same text.

        `source` and `link` are set for feed entries: the feed's title and the entry's link."""
        key = text_key(text)
        now = iso(self.clock())
        with self._lock:
            # INDEXED BY: left to itself SQLite serves min(created_at) by walking the chat's created_at
            # index, a scan of the chat's whole history on every message (2.4 ms per message at 1,000
            # messages per chat, growing linearly); the text_key index finds the few same-text rows.
            earlier = self.db.execute(
                "select min(created_at) from messages indexed by idx_messages_platform_chat_id_text_key_created_at "
                "where platform = ? and chat_id = ? and text_key = ?",
                [platform, chat_id, key],
            ).fetchone()[0]
            with self.db.conn:
                row_id = self.db["messages"].insert(
                    {
                        "platform": platform,
                        "chat_id": str(chat_id),
                        "user_id": str(user_id),
                        "text": text[:MAX_STORED_CHARS],
                        "text_len": len(text),
                        "text_key": key,
                        "created_at": now,
                        "lang": verdict.lang,
                        "gate": verdict.gate,
                        "confidence": verdict.confidence,
                        "verdict": verdict.model_dump_json(),
                        "message_ref": message_ref,
                        "reply_ref": None,
                        **({"source": source, "link": link} if source or link else {}),
                    }
                ).last_pk
        return int(row_id), earlier

    def set_reply_ref(self, message_id: int, reply_ref: str) -> None:
        with self._lock, self.db.conn:
            self.db["messages"].update(message_id, {"reply_ref": str(reply_ref)})

    def replied_to(self, platform: str, chat_id: str, message_ref: str) -> bool:
        """Did the bot reply to this platform message? (Slack: is this thread one of ours?)"""
        with self._lock:
            row = self.db.execute(
                "select 1 from messages where platform = ? and chat_id = ? and message_ref = ? "
                "and reply_ref is not null limit 1",
                [platform, str(chat_id), str(message_ref)],
            ).fetchone()
        return row is not None

    # ------------------------------------------------------------------ link cache

    def cached_link(self, url: str) -> dict | None:
        """The cached row for a URL while it has not expired, else None."""
        with self._lock:
            rows = list(self.db["link_cache"].rows_where("url = ? and expires_at > ?", [url, iso(self.clock())]))
        return rows[0] if rows else None

    def cache_link(self, url: str, *, ok: bool, title: str, description: str, error: str, detail: str,
                   verdict: str, ttl: timedelta) -> None:
        now = self.clock()
        with self._lock, self.db.conn:
            self.db["link_cache"].upsert(
                {"url": url, "fetched_at": iso(now), "expires_at": iso(now + ttl), "ok": int(ok), "title": title,
                 "description": description, "error": error, "detail": detail[:500], "verdict": verdict},
                pk="url",
            )

    def get_message(self, message_id: int) -> StoredMessage | None:
        with self._lock:
            try:
                row = self.db["messages"].get(message_id)
            except sqlite_utils.db.NotFoundError:
                return None
        return StoredMessage(
            id=row["id"],
            platform=row["platform"],
            chat_id=row["chat_id"],
            user_id=row["user_id"],
            text=row["text"],
            created_at=row["created_at"],
            gate=row["gate"],
            verdict=Verdict.model_validate_json(row["verdict"]),
            message_ref=row["message_ref"],
            judge=row.get("judge"),
            verdicts=json.loads(row["verdicts"]) if row.get("verdicts") else None,
        )

    def count_messages(self) -> int:
        with self._lock:
            return self.db["messages"].count

    # ------------------------------------------------------------------ model judgements

    def cached_judgement(self, key: str) -> dict | None:
        """A model's stored answer for this cache key (see bot/judge.py), or None."""
        with self._lock:
            row = self.db.execute("select answer from judgements where key = ?", [key]).fetchone()
        try:
            return json.loads(row[0]) if row else None
        except ValueError:
            return None

    def cache_judgement(self, key: str, model: str, text_key: str, answer: dict) -> None:
        with self._lock, self.db.conn:
            self.db["judgements"].upsert(
                {"key": key, "model": model, "text_key": text_key, "answer": json.dumps(answer, ensure_ascii=False),
                 "created_at": iso(self.clock())}, pk="key")

    def record_judges(self, message_id: int, judge: str, verdicts: dict | None) -> None:
        """Which judge decided a stored message, and both judges' answers when a model was asked."""
        with self._lock, self.db.conn:
            self.db["messages"].update(message_id, {
                "judge": judge, "verdicts": json.dumps(verdicts, ensure_ascii=False) if verdicts else None})

    def disagreements(self, since: str | None = None) -> list[tuple]:
        """(message id, created_at, lang, text, verdicts JSON) of each distinct headline the model and
        the rules judged differently, the latest message per headline, newest first."""
        with self._lock:
            return self.db.execute(
                "select id, created_at, lang, substr(text, 1, 2000), verdicts from messages where id in ("
                "select max(id) from messages where verdicts is not null and created_at >= ? "
                "and json_extract(verdicts, '$.llm.gate') != json_extract(verdicts, '$.rules.gate') "
                "group by text_key) order by id desc", [since or ""],
            ).fetchall()

    def voted_messages(self, since: str | None = None) -> list[tuple]:
        """(message id, created_at, platform, lang, text, gate, {choice: votes} JSON) of every verdict
        readers voted on ("right" or a gate), oldest first."""
        with self._lock:
            return self.db.execute(
                "select m.id, m.created_at, m.platform, m.lang, substr(m.text, 1, 2000), m.gate, "
                "json_group_object(f.choice, f.n) from messages m join (select message_id, choice, count(*) as n "
                "from feedback group by message_id, choice) f on f.message_id = m.id "
                "where m.created_at >= ? group by m.id order by m.id",
                [since or ""],
            ).fetchall()

    # ------------------------------------------------------------------ gate status

    def gate_status(self, gate: int) -> StatusChange | None:
        """The current status set through the store, or None while the checklist's stands."""
        with self._lock:
            rows = list(self.db["gate_status"].rows_where("gate = ?", [gate]))
        return StatusChange(**rows[0]) if rows else None

    def status_history(self, gate: int) -> list[StatusChange]:
        """Every change for a gate, newest first."""
        with self._lock:
            rows = self.db.execute(
                "select gate, status_en, status_zh, since, changed_by, reason from gate_status_history "
                "where gate = ? order by since desc, id desc",
                [gate],
            ).fetchall()
        return [StatusChange(*row) for row in rows]

    def set_gate_status(self, gate: int, status_en: str, status_zh: str, changed_by: str, reason: str = "") -> StatusChange:
        change = StatusChange(gate, status_en, status_zh, iso(self.clock()), changed_by, reason)
        with self._lock, self.db.conn:
            self.db["gate_status"].upsert(change.__dict__, pk="gate")
            self.db["gate_status_history"].insert(change.__dict__)
        return change

    # ------------------------------------------------------------------ feedback

    def vote(self, message_id: int, user_id: str, choice: str, platform: str, chat_id: str) -> None:
        """One vote per user per verdict; a later vote replaces the earlier one."""
        with self._lock, self.db.conn:
            self.db["feedback"].upsert(
                {
                    "message_id": message_id,
                    "user_id": str(user_id),
                    "platform": platform,
                    "chat_id": str(chat_id),
                    "choice": choice,
                    "created_at": iso(self.clock()),
                },
                pk=("message_id", "user_id"),
            )

    def tally(self, message_id: int) -> dict[str, int]:
        with self._lock:
            rows = self.db.execute(
                "select choice, count(*) from feedback where message_id = ? group by choice order by choice",
                [message_id],
            ).fetchall()
        return {choice: n for choice, n in rows}

    # ------------------------------------------------------------------ idempotency

    def first_time(self, platform: str, event_id: str) -> bool:
        """Record an event id; True only the first time it is seen (survives restarts)."""
        with self._lock, self.db.conn:
            cur = self.db.execute(
                "insert or ignore into processed_events (platform, event_id, seen_at) values (?, ?, ?)",
                [platform, event_id, iso(self.clock())],
            )
            return cur.rowcount == 1

    def claim(self, platform: str, key: str, owner: str) -> bool:
        """Like first_time, but the owner that first claimed `key` may claim it again: an inbox item
        handled again after a restart keeps the message it was answering."""
        with self._lock, self.db.conn:
            cur = self.db.execute(
                "insert or ignore into processed_events (platform, event_id, seen_at, owner) values (?, ?, ?, ?)",
                [platform, key, iso(self.clock()), owner],
            )
            if cur.rowcount == 1:
                return True
            row = self.db.execute("select owner from processed_events where platform = ? and event_id = ?",
                                  [platform, key]).fetchone()
        return bool(owner) and row is not None and row[0] == owner

    # ------------------------------------------------------------------ inbox

    def inbox_add(self, platform: str, key: str, kind: str, payload: str) -> str | None:
        """Write an incoming item (committed on return); None if new, else the status it already has."""
        with self._lock, self.db.conn:
            cur = self.db.execute(
                "insert or ignore into inbox (platform, key, kind, payload, received_at, status) "
                "values (?, ?, ?, ?, ?, 'pending')", [platform, key, kind, payload, iso(self.clock())])
            if cur.rowcount == 1:
                return None
            row = self.db.execute("select status from inbox where platform = ? and key = ?", [platform, key]).fetchone()
        return row[0] if row else "pending"

    def inbox_status(self, platform: str, key: str) -> str | None:
        with self._lock:
            row = self.db.execute("select status from inbox where platform = ? and key = ?", [platform, key]).fetchone()
        return row[0] if row else None

    def inbox_finish(self, platform: str, key: str, status: str, error: str = "") -> None:
        with self._lock, self.db.conn:
            self.db.execute("update inbox set status = ?, finished_at = ?, error = ? where platform = ? and key = ?",
                            [status, iso(self.clock()), error[:500], platform, key])

    def inbox_pending(self, platform: str) -> list[tuple[str, str, str, str]]:
        """(key, kind, payload, received_at) of the platform's unfinished items, oldest first."""
        with self._lock:
            return self.db.execute(
                "select key, kind, payload, received_at from inbox where platform = ? and status = 'pending' "
                "order by received_at, rowid", [platform]).fetchall()

    def inbox_expire(self, platform: str, before: str) -> int:
        """Give up on unfinished items received before `before`; how many."""
        with self._lock, self.db.conn:
            return self.db.execute(
                "update inbox set status = 'expired', finished_at = ? where platform = ? and status = 'pending' "
                "and received_at < ?", [iso(self.clock()), platform, before]).rowcount

    def inbox_prune(self, before: str) -> int:
        """Forget finished items received before `before` (signatures older than that are stale anyway)."""
        with self._lock, self.db.conn:
            return self.db.execute("delete from inbox where status != 'pending' and received_at < ?",
                                   [before]).rowcount

    def inbox_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.db.execute("select status, count(*) from inbox group by status").fetchall())

    # ------------------------------------------------------------------ digests

    def get_subscription(self, platform: str, chat_id: str) -> dict | None:
        with self._lock:
            rows = list(self.db["subscriptions"].rows_where(
                "platform = ? and chat_id = ?", [platform, str(chat_id)]))
        return rows[0] if rows else None

    def set_subscription(self, platform: str, chat_id: str, **fields: object) -> dict:
        """Create or update a chat's digest settings (enabled, time, tz, lang)."""
        now = iso(self.clock())
        with self._lock, self.db.conn:
            current = self.get_subscription(platform, chat_id)
            row = dict(current) if current else {
                "platform": platform, "chat_id": str(chat_id), "enabled": 0, "time": "", "tz": "",
                "lang": "", "created_at": now,
            }
            row.update(fields)
            row["updated_at"] = now
            self.db["subscriptions"].upsert(row, pk=("platform", "chat_id"))
        return row

    def enabled_subscriptions(self) -> list[tuple]:
        """(platform, chat_id, time, tz, lang, updated_at) of every enabled subscription."""
        with self._lock:
            return self.db.execute(
                "select platform, chat_id, time, tz, lang, updated_at from subscriptions where enabled = 1"
            ).fetchall()

    def digest_rows_for_dates(self, dates: list[str]) -> dict[tuple[str, str, str], tuple]:
        """(platform, chat_id, local_date) -> (status, attempts, next_attempt_at) for the given dates."""
        if not dates:
            return {}
        marks = ",".join("?" * len(dates))
        with self._lock:
            rows = self.db.execute(
                "select platform, chat_id, local_date, status, attempts, next_attempt_at from digests_sent "
                f"where local_date in ({marks})", list(dates),
            ).fetchall()
        return {(r[0], r[1], r[2]): (r[3], r[4], r[5]) for r in rows}

    def claim_digest(self, platform: str, chat_id: str, local_date: str, run_id: str,
                     window_start: str, window_end: str, max_attempts: int) -> int | None:
        """Atomically claim a chat's digest for a local day before sending it.

        A new day is claimed once; a failed one is re-claimed when its retry time has come and
        attempts remain. Returns the attempt number, or None when there is nothing to send.
        """
        now = iso(self.clock())
        with self._lock, self.db.conn:
            cur = self.db.execute(
                "insert or ignore into digests_sent (platform, chat_id, local_date, status, attempts, "
                "window_start, window_end, claimed_at, run_id) values (?, ?, ?, 'pending', 1, ?, ?, ?, ?)",
                [platform, str(chat_id), local_date, window_start, window_end, now, run_id],
            )
            if cur.rowcount == 1:
                return 1
            cur = self.db.execute(
                "update digests_sent set status = 'pending', attempts = attempts + 1, claimed_at = ?, run_id = ?, "
                "window_start = ?, window_end = ? where platform = ? and chat_id = ? and local_date = ? "
                "and status = 'failed' and attempts < ? and (next_attempt_at is null or next_attempt_at <= ?)",
                [now, run_id, window_start, window_end, platform, str(chat_id), local_date, max_attempts, now],
            )
            if cur.rowcount != 1:
                return None
            return self.db.execute(
                "select attempts from digests_sent where platform = ? and chat_id = ? and local_date = ?",
                [platform, str(chat_id), local_date],
            ).fetchone()[0]

    def finish_digest(self, platform: str, chat_id: str, local_date: str, *, ok: bool,
                      message_ref: str | None = None, error: str = "", next_attempt_at: str | None = None,
                      give_up: bool = False) -> None:
        now = iso(self.clock())
        status = "sent" if ok else ("gave_up" if give_up else "failed")
        with self._lock, self.db.conn:
            self.db.execute(
                "update digests_sent set status = ?, sent_at = ?, message_ref = ?, error = ?, next_attempt_at = ? "
                "where platform = ? and chat_id = ? and local_date = ?",
                [status, now if ok else None, message_ref, error[:500], next_attempt_at,
                 platform, str(chat_id), local_date],
            )

    def interrupt_pending_digests(self, run_id: str) -> int:
        """Mark digests left pending by an earlier run (it stopped mid-send) as interrupted.

        They are not sent again: the platform may have delivered them, and a digest must never
        arrive twice. Returns how many were marked.
        """
        with self._lock, self.db.conn:
            cur = self.db.execute(
                "update digests_sent set status = 'interrupted' where status = 'pending' and run_id != ?", [run_id])
            return cur.rowcount

    def last_digest(self, platform: str, chat_id: str) -> tuple | None:
        """(local_date, status, window_end, sent_at) of the chat's latest digest row."""
        with self._lock:
            return self.db.execute(
                "select local_date, status, window_end, sent_at from digests_sent where platform = ? and chat_id = ? "
                "order by local_date desc limit 1", [platform, str(chat_id)],
            ).fetchone()

    def last_sent_window_end(self, platform: str, chat_id: str) -> str | None:
        with self._lock:
            row = self.db.execute(
                "select max(window_end) from digests_sent where platform = ? and chat_id = ? and status = 'sent'",
                [platform, str(chat_id)],
            ).fetchone()
        return row[0] if row else None

    def signal_counts(self, platform: str, chat_id: str, start: str, end: str,
                      exclude: int | None = None) -> dict[int, int]:
        """Messages per gate (gate > 0) a chat saw in [start, end), without message `exclude`."""
        with self._lock:
            rows = self.db.execute(
                "select gate, count(*) from messages where platform = ? and chat_id = ? and created_at >= ? "
                "and created_at < ? and gate > 0 and id != ? group by gate",
                [platform, str(chat_id), start, end, -1 if exclude is None else exclude],
            ).fetchall()
        return {gate: n for gate, n in rows}

    def top_items(self, platform: str, chat_id: str, start: str, end: str) -> list[tuple]:
        """(gate, text_key, times, latest, text, source, link, confidence rank, chats) per distinct headline
        with a gate in [start, end).

        source and link are a feed entry's (None for pasted messages); the confidence rank is the
        best of the headline's verdicts here (3 high, 2 medium, 1 low); chats counts every chat
        that had the same headline in the window, this one included."""
        with self._lock:
            return self.db.execute(
                "select t.*, (select count(distinct o.platform || ':' || o.chat_id) from messages o "
                "indexed by idx_messages_gated_text_key "
                "where o.text_key = t.text_key and o.gate > 0 and o.created_at >= ? and o.created_at < ?) as chats from ("
                "select gate, text_key, count(*) as n, max(created_at) as latest, substr(min(text), 1, 2000), "
                "max(source), max(link), max(case confidence when 'high' then 3 when 'medium' then 2 "
                "when 'low' then 1 else 0 end) as rank "
                "from messages where platform = ? and chat_id = ? and created_at >= ? and created_at < ? "
                "and gate > 0 group by gate, text_key) t order by gate, rank desc, chats desc, latest desc",
                [start, end, platform, str(chat_id), start, end],
            ).fetchall()

    def chat_languages(self, platform: str, chat_id: str, limit: int = 200) -> dict[str, int]:
        """Languages of the chat's latest pasted messages, counted."""
        with self._lock:
            rows = self.db.execute(
                "select lang, count(*) from (select lang from messages where platform = ? and chat_id = ? "
                "order by created_at desc limit ?) group by lang", [platform, str(chat_id), limit],
            ).fetchall()
        return {lang: n for lang, n in rows if lang}

    def status_changes_between(self, start: str, end: str) -> list[StatusChange]:
        with self._lock:
            rows = self.db.execute(
                "select gate, status_en, status_zh, since, changed_by, reason from gate_status_history "
                "where since >= ? and since < ? order by since, id", [start, end],
            ).fetchall()
        return [StatusChange(*row) for row in rows]

    def corrections(self, platform: str, chat_id: str, start: str, end: str, limit: int = 5) -> list[tuple]:
        """(text, bot_gate, choice, votes) of feedback in [start, end) that disagreed with the bot."""
        with self._lock:
            return self.db.execute(
                "select substr(m.text, 1, 2000), m.gate, f.choice, count(*) as n from feedback f "
                "join messages m on m.id = f.message_id where f.platform = ? and f.chat_id = ? "
                "and f.created_at >= ? and f.created_at < ? and f.choice != 'right' "
                "and f.choice != cast(m.gate as text) group by m.id, f.choice "
                "order by n desc, max(f.created_at) desc limit ?",
                [platform, str(chat_id), start, end, limit],
            ).fetchall()

    def latest_answered(self, platform: str, chat_id: str) -> StoredMessage | None:
        """The chat's latest message the bot replied to; else its latest pasted message (not a feed entry)."""
        with self._lock:
            row = self.db.execute(
                "select coalesce((select max(id) from messages where platform = ? and chat_id = ? "
                "and reply_ref is not null), (select max(id) from messages where platform = ? and chat_id = ? "
                "and source is null))", [platform, str(chat_id), platform, str(chat_id)]).fetchone()
        return self.get_message(row[0]) if row and row[0] is not None else None

    def message_chat(self, message_id: int) -> tuple[str, str] | None:
        with self._lock:
            row = self.db.execute("select platform, chat_id from messages where id = ?", [message_id]).fetchone()
        return (row[0], row[1]) if row else None

    # ------------------------------------------------------------------ the file itself

    def integrity_problem(self) -> str | None:
        """None when PRAGMA quick_check finds the file sound, else its first complaint.

        A file whose header is intact but whose pages are not opens fine and fails later, on
        whichever query touches a bad page: checked once at start, it fails there instead.
        """
        with self._lock:
            try:
                rows = self.db.execute("PRAGMA quick_check(1)").fetchall()
            except sqlite3.DatabaseError as exc:
                return str(exc)
        first = str(rows[0][0]) if rows else "no answer"
        return None if first == "ok" else first
