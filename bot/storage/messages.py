"""Stored messages: what was pasted, its verdict and judges, "seen before", the reply's ref, and what a reply about the gates reads (statuses and momentum, in one query)."""

from __future__ import annotations

import json
from datetime import datetime

import sqlite_utils

from ..models import Verdict
from . import evidence
from .base import MAX_STORED_CHARS, GateView, Rows, StatusChange, StoredMessage, iso, text_key


class MessageRows(Rows):
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

        `source` and `link` are set for feed entries: the feed's title and the entry's link. A verdict
        with a gate also goes into the evidence ledger (storage/evidence.py)."""
        key = text_key(text)
        now = iso(self.clock())
        entry = evidence.entry_for(platform=platform, chat_id=str(chat_id), user_id=str(user_id), at=now,
                                   text=text, verdict=verdict, source=source, link=link)
        # The ledger's "which scopes saw this story" rides along "seen before": one statement for both.
        seen_sql, seen_params = evidence.seen_query(entry) if entry is not None else ("''", [])
        with self.lock:
            # INDEXED BY: left to itself SQLite serves min(created_at) by walking the chat's created_at
            # index, a scan of the chat's whole history on every message (2.4 ms per message at 1,000
            # messages per chat, growing linearly); the text_key index finds the few same-text rows.
            earlier, seen = self.db.execute(
                f"select min(created_at), {seen_sql} from messages "
                "indexed by idx_messages_platform_chat_id_text_key_created_at "
                "where platform = ? and chat_id = ? and text_key = ?",
                [*seen_params, platform, chat_id, key],
            ).fetchone()
            row = {
                "platform": platform, "chat_id": str(chat_id), "user_id": str(user_id),
                "text": text[:MAX_STORED_CHARS], "text_len": len(text), "text_key": key, "created_at": now,
                "lang": verdict.lang, "gate": verdict.gate, "confidence": verdict.confidence,
                "verdict": verdict.model_dump_json(), "message_ref": message_ref, "reply_ref": None,
                **({"source": source, "link": link} if source or link else {}),
            }
            # Plain SQL, not sqlite-utils' insert: that one reads the schema (three statements) per row.
            with self.db.conn:
                row_id = self.db.conn.execute(
                    f"insert into messages ({', '.join(row)}) values ({', '.join('?' * len(row))})",
                    list(row.values()),
                ).lastrowid
                assert row_id is not None  # an insert always has a rowid
                if entry is not None:  # a gated verdict: into the evidence ledger, in the same transaction
                    evidence.record(self.db.conn, entry, int(row_id), seen)
        return int(row_id), earlier

    def set_reply_ref(self, message_id: int, reply_ref: str) -> None:
        with self.lock, self.db.conn:
            self.db.table("messages").update(message_id, {"reply_ref": str(reply_ref)})

    def replied_to(self, platform: str, chat_id: str, message_ref: str) -> bool:
        """Did the bot reply to this platform message? (Slack: is this thread one of ours?)"""
        with self.lock:
            row = self.db.execute(
                "select 1 from messages where platform = ? and chat_id = ? and message_ref = ? "
                "and reply_ref is not null limit 1",
                [platform, str(chat_id), str(message_ref)],
            ).fetchone()
        return row is not None

    def get_message(self, message_id: int) -> StoredMessage | None:
        with self.lock:
            try:
                row = self.db.table("messages").get(message_id)
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
        with self.lock:
            return self.db.table("messages").count

    def record_judges(self, message_id: int, judge: str, verdicts: dict | None) -> None:
        """Which judge decided a stored message, and both judges' answers when a model was asked."""
        with self.lock, self.db.conn:
            self.db.table("messages").update(message_id, {
                "judge": judge, "verdicts": json.dumps(verdicts, ensure_ascii=False) if verdicts else None})

    def disagreements(self, since: str | None = None) -> list[tuple]:
        """(message id, created_at, lang, text, verdicts JSON) of each distinct headline the model and
        the rules judged differently, the latest message per headline, newest first."""
        with self.lock:
            return self.db.execute(
                "select id, created_at, lang, substr(text, 1, 2000), verdicts from messages where id in ("
                "select max(id) from messages where verdicts is not null and created_at >= ? "
                "and json_extract(verdicts, '$.llm.gate') != json_extract(verdicts, '$.rules.gate') "
                "group by text_key) order by id desc", [since or ""],
            ).fetchall()

    def voted_messages(self, since: str | None = None) -> list[tuple]:
        """(message id, created_at, platform, lang, text, gate, {choice: votes} JSON) of every verdict
        readers voted on ("right" or a gate), oldest first."""
        with self.lock:
            return self.db.execute(
                "select m.id, m.created_at, m.platform, m.lang, substr(m.text, 1, 2000), m.gate, "
                "json_group_object(f.choice, f.n) from messages m join (select message_id, choice, count(*) as n "
                "from feedback group by message_id, choice) f on f.message_id = m.id "
                "where m.created_at >= ? group by m.id order by m.id",
                [since or ""],
            ).fetchall()

    def latest_answered(self, platform: str, chat_id: str) -> StoredMessage | None:
        """The chat's latest message the bot replied to; else its latest pasted message (not a feed entry)."""
        with self.lock:
            row = self.db.execute(
                "select coalesce((select max(id) from messages where platform = ? and chat_id = ? "
                "and reply_ref is not null), (select max(id) from messages where platform = ? and chat_id = ? "
                "and source is null))", [platform, str(chat_id), platform, str(chat_id)]).fetchone()
        return self.get_message(row[0]) if row and row[0] is not None else None

    def message_chat(self, message_id: int) -> tuple[str, str] | None:
        with self.lock:
            row = self.db.execute("select platform, chat_id from messages where id = ?", [message_id]).fetchone()
        return (row[0], row[1]) if row else None

    def chat_languages(self, platform: str, chat_id: str, limit: int = 200) -> dict[str, int]:
        """Languages of the chat's latest pasted messages, counted."""
        with self.lock:
            rows = self.db.execute(
                "select lang, count(*) from (select lang from messages where platform = ? and chat_id = ? "
                "order by created_at desc limit ?) group by lang", [platform, str(chat_id), limit],
            ).fetchall()
        return {lang: n for lang, n in rows if lang}

    def gate_view(self, platform: str | None, chat_id: str | None, start: str, end: str,
                  exclude: int | None = None, balance: tuple[datetime, datetime] | None = None) -> GateView:
        """What a reply about the gates needs, in one statement: every status an admin set, and (for
        a chat) its signals per gate in [start, end) without message `exclude`, and with `balance`
        the evidence balance over that window (for / against / neutral stories per gate), the chat's
        or, without a chat, every chat's."""
        sql = ("select 's', gate, status_en, status_zh, since, changed_by, reason from gate_status")
        params: list[object] = []
        chat = platform is not None and chat_id is not None
        if chat:
            sql += (" union all select 'm', gate, count(*), '', '', '', '' from messages where platform = ? "
                    "and chat_id = ? and created_at >= ? and created_at < ? and gate > 0 and id != ? group by gate")
            params = [platform, str(chat_id), start, end, -1 if exclude is None else exclude]
        ledger_sql = ""
        if balance is not None:  # the chat's, else every chat's (the board is global)
            scope = evidence.scope_of(platform, str(chat_id)) if chat else "*"
            ledger_sql, ledger_params = evidence.balance_sql(scope, *balance, head="'b', ", tail=", ''")
            if ledger_sql:
                sql += " union all " + ledger_sql
                params += ledger_params
        with self.lock:
            rows = self.db.execute(sql, params).fetchall()
        statuses = {row[1]: StatusChange(*row[1:]) for row in rows if row[0] == "s"}
        counts = {row[1]: int(row[2]) for row in rows if row[0] == "m"}
        balances = evidence.balances([row[1:6] for row in rows if row[0] == "b"]) if balance is not None else None
        return GateView(statuses, counts if chat else None, balances)
