"""Status proposals: the proposals made, the chats that receive them (`/proposals on`), one claimed
post per proposal and chat, and each gate's step on the ladder."""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import quote

from .base import Rows, iso

FIELDS = ("id", "gate", "direction", "from_step", "to_step", "created_at", "window_start", "window_end", "signals",
          "weight", "sources", "net", "evidence", "status", "decided_by", "decided_at")


class ProposalRows(Rows):
    """Queries on the store's connection and lock (`ProposalRows(store)`)."""

    def __init__(self, store: Rows) -> None:
        self.db, self.lock, self.clock = store.db, store.lock, store.clock
        self.path = str(getattr(store, "path", ":memory:"))

    # ------------------------------------------------------------------ the chats that receive them

    def proposal_chat(self, platform: str, chat_id: str) -> dict | None:
        with self.lock:
            rows = list(self.db.table("proposal_chats").rows_where(
                "platform = ? and chat_id = ?", [platform, str(chat_id)]))
        return rows[0] if rows else None

    def set_proposal_chat(self, platform: str, chat_id: str, enabled: bool, by: str) -> None:
        with self.lock, self.db.conn:
            self.db.table("proposal_chats").upsert(
                {"platform": platform, "chat_id": str(chat_id), "enabled": int(enabled), "updated_by": by,
                 "updated_at": iso(self.clock())}, pk=("platform", "chat_id"))

    def proposal_chats(self) -> list[tuple[str, str]]:
        """(platform, chat_id) of every chat that turned proposals on."""
        with self.lock:
            return [(p, c) for p, c in self.db.execute(
                "select platform, chat_id from proposal_chats where enabled = 1 order by platform, chat_id")]

    # ------------------------------------------------------------------ proposals

    def proposals(self, *, status: str | None = None, gate: int | None = None, limit: int = 1000) -> list[dict]:
        """Newest first."""
        where: list[str] = []
        params: list[object] = []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if gate is not None:
            where.append("gate = ?")
            params.append(gate)
        sql = f"select {', '.join(FIELDS)} from proposals {'where ' + ' and '.join(where) if where else ''} " \
              "order by created_at desc, id desc limit ?"
        with self.lock:
            rows = self.db.execute(sql, [*params, limit]).fetchall()
        return [dict(zip(FIELDS, row, strict=True)) for row in rows]

    def proposal(self, proposal_id: int) -> dict | None:
        with self.lock:
            row = self.db.execute(f"select {', '.join(FIELDS)} from proposals where id = ?", [proposal_id]).fetchone()
        return dict(zip(FIELDS, row, strict=True)) if row else None

    def add_proposal(self, row: dict[str, Any], quiet_since: str) -> int | None:
        """Record a proposal unless the gate already has a pending one or one made since `quiet_since`
        (checked in the same transaction, so two checks never both propose). Its id, or None."""
        with self.lock, self.db.conn:
            busy = self.db.execute(
                "select 1 from proposals where gate = ? and (status = 'pending' or created_at >= ?) limit 1",
                [row["gate"], quiet_since]).fetchone()
            if busy:
                return None
            cur = self.db.execute(
                f"insert into proposals ({', '.join(FIELDS[1:])}) values ({', '.join('?' * (len(FIELDS) - 1))})",
                [row.get(k) for k in FIELDS[1:]])
            return int(cur.lastrowid or 0)

    def lapse_proposals(self, created_before: str) -> list[int]:
        """Pending proposals made before `created_before` lapse (nobody decided them): their ids."""
        with self.lock, self.db.conn:
            ids = [int(r[0]) for r in self.db.execute(
                "select id from proposals where status = 'pending' and created_at < ?", [created_before])]
            if ids:
                self.db.execute(
                    f"update proposals set status = 'lapsed', decided_at = ? where id in ({', '.join('?' * len(ids))})",
                    [iso(self.clock()), *ids])
        return ids

    def decide_proposal(self, proposal_id: int, status: str, by: str) -> bool:
        """Mark a pending proposal accepted or dismissed; False when it was not pending (decided already)."""
        with self.lock, self.db.conn:
            cur = self.db.execute(
                "update proposals set status = ?, decided_by = ?, decided_at = ? where id = ? and status = 'pending'",
                [status, by, iso(self.clock()), proposal_id])
            return cur.rowcount == 1

    # ------------------------------------------------------------------ evidence, as the ladder weighs it

    def evidence_counts(self, windows: dict[int, tuple[str, str]]) -> dict[int, dict]:
        """For each gate's window [start, end), across every chat: distinct stories per (reading,
        confidence) (the ledger's every-chat count), and distinct sources per reading (every row,
        repeats included, as the ledger counts corroboration). Read on a connection of its own,
        read-only, so it can run on a thread while the store's connection serves chats (an
        in-memory store has no second connection: its own is used, under its lock)."""
        if self.path == ":memory:":
            with self.lock:
                return _evidence_counts(self.db.conn, windows)
        conn = sqlite3.connect(f"file:{quote(self.path)}?mode=ro", uri=True, timeout=5.0, check_same_thread=False)
        try:
            return _evidence_counts(conn, windows)
        finally:
            conn.close()

    # ------------------------------------------------------------------ the ladder

    def gate_step(self, gate: int) -> dict | None:
        """The gate's step as last moved by an accepted proposal (None: the checklist's placement)."""
        with self.lock:
            rows = list(self.db.table("gate_steps").rows_where("gate = ?", [gate]))
        return rows[0] if rows else None

    def set_gate_step(self, gate: int, step: int, since: str, by: str, proposal_id: int, signals: int) -> None:
        with self.lock, self.db.conn:
            self.db.table("gate_steps").upsert(
                {"gate": gate, "step": step, "since": since, "changed_by": by, "proposal_id": proposal_id,
                 "signals": signals}, pk="gate")

    # ------------------------------------------------------------------ posting, exactly once per chat

    def claim_post(self, proposal_id: int, platform: str, chat_id: str, run_id: str, max_attempts: int) -> int | None:
        """Claim a proposal's post to a chat before sending it: once, or again after a failed send
        while attempts remain. The attempt number, or None when there is nothing to send."""
        now = iso(self.clock())
        with self.lock, self.db.conn:
            cur = self.db.execute(
                "insert or ignore into proposal_posts (proposal_id, platform, chat_id, status, attempts, run_id, "
                "claimed_at) values (?, ?, ?, 'pending', 1, ?, ?)", [proposal_id, platform, str(chat_id), run_id, now])
            if cur.rowcount == 1:
                return 1
            cur = self.db.execute(
                "update proposal_posts set status = 'pending', attempts = attempts + 1, run_id = ?, claimed_at = ? "
                "where proposal_id = ? and platform = ? and chat_id = ? and status = 'failed' and attempts < ?",
                [run_id, now, proposal_id, platform, str(chat_id), max_attempts])
            if cur.rowcount != 1:
                return None
            return int(self.db.execute(
                "select attempts from proposal_posts where proposal_id = ? and platform = ? and chat_id = ?",
                [proposal_id, platform, str(chat_id)]).fetchone()[0])

    def finish_post(self, proposal_id: int, platform: str, chat_id: str, *, ok: bool, message_ref: str | None = None,
                    error: str = "") -> None:
        with self.lock, self.db.conn:
            self.db.execute(
                "update proposal_posts set status = ?, sent_at = ?, message_ref = ?, error = ? "
                "where proposal_id = ? and platform = ? and chat_id = ?",
                ["sent" if ok else "failed", iso(self.clock()) if ok else None, message_ref, error[:300],
                 proposal_id, platform, str(chat_id)])

    def interrupt_pending_posts(self, run_id: str) -> int:
        """Posts an earlier run left pending (it stopped mid-send) are not sent again: the chat may
        have received them, and a proposal must never arrive twice."""
        with self.lock, self.db.conn:
            return self.db.execute(
                "update proposal_posts set status = 'interrupted' where status = 'pending' and run_id != ?",
                [run_id]).rowcount

    def posts(self, proposal_id: int) -> list[tuple[str, str, str]]:
        """(platform, chat_id, status) of a proposal's posts."""
        with self.lock:
            return [tuple(r) for r in self.db.execute(
                "select platform, chat_id, status from proposal_posts where proposal_id = ? order by platform, chat_id",
                [proposal_id])]


def _evidence_counts(conn: sqlite3.Connection, windows: dict[int, tuple[str, str]]) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for gate, (start, end) in windows.items():
        stories = conn.execute(
            "select reading, confidence, count(*) from evidence where gate = ? and at >= ? and at < ? "
            "and in_all = 1 and reading in ('for', 'against') group by 1, 2", [gate, start, end]).fetchall()
        sources = conn.execute(
            "select reading, count(distinct source) from evidence where gate = ? and at >= ? and at < ? "
            "and reading in ('for', 'against') group by 1", [gate, start, end]).fetchall()
        out[gate] = {"stories": {(r, c): int(n) for r, c, n in stories}, "sources": {r: int(n) for r, n in sources}}
    return out
