"""Daily digests: subscriptions, one claimed digest per chat and local day, and what a digest counts."""

from __future__ import annotations

from .base import Rows, iso


class DigestRows(Rows):
    def get_subscription(self, platform: str, chat_id: str) -> dict | None:
        with self.lock:
            rows = list(self.db.table("subscriptions").rows_where(
                "platform = ? and chat_id = ?", [platform, str(chat_id)]))
        return rows[0] if rows else None

    def set_subscription(self, platform: str, chat_id: str, **fields: object) -> dict:
        """Create or update a chat's digest settings (enabled, time, tz, lang)."""
        now = iso(self.clock())
        with self.lock, self.db.conn:
            current = self.get_subscription(platform, chat_id)
            row = dict(current) if current else {
                "platform": platform, "chat_id": str(chat_id), "enabled": 0, "time": "", "tz": "",
                "lang": "", "created_at": now,
            }
            row.update(fields)
            row["updated_at"] = now
            self.db.table("subscriptions").upsert(row, pk=("platform", "chat_id"))
        return row

    def enabled_subscriptions(self) -> list[tuple]:
        """(platform, chat_id, time, tz, lang, updated_at) of every enabled subscription."""
        with self.lock:
            return self.db.execute(
                "select platform, chat_id, time, tz, lang, updated_at from subscriptions where enabled = 1"
            ).fetchall()

    def digest_rows_for_dates(self, dates: list[str]) -> dict[tuple[str, str, str], tuple]:
        """(platform, chat_id, local_date) -> (status, attempts, next_attempt_at) for the given dates."""
        if not dates:
            return {}
        marks = ",".join("?" * len(dates))
        with self.lock:
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
        with self.lock, self.db.conn:
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
        with self.lock, self.db.conn:
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
        with self.lock, self.db.conn:
            cur = self.db.execute(
                "update digests_sent set status = 'interrupted' where status = 'pending' and run_id != ?", [run_id])
            return cur.rowcount

    def last_digest(self, platform: str, chat_id: str) -> tuple | None:
        """(local_date, status, window_end, sent_at) of the chat's latest digest row."""
        with self.lock:
            return self.db.execute(
                "select local_date, status, window_end, sent_at from digests_sent where platform = ? and chat_id = ? "
                "order by local_date desc limit 1", [platform, str(chat_id)],
            ).fetchone()

    def last_sent_window_end(self, platform: str, chat_id: str) -> str | None:
        with self.lock:
            row = self.db.execute(
                "select max(window_end) from digests_sent where platform = ? and chat_id = ? and status = 'sent'",
                [platform, str(chat_id)],
            ).fetchone()
        return row[0] if row else None

    def signal_counts(self, platform: str, chat_id: str, start: str, end: str,
                      exclude: int | None = None) -> dict[int, int]:
        """Messages per gate (gate > 0) a chat saw in [start, end), without message `exclude`."""
        with self.lock:
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
        with self.lock:
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

    def corrections(self, platform: str, chat_id: str, start: str, end: str, limit: int = 5) -> list[tuple]:
        """(text, bot_gate, choice, votes) of feedback in [start, end) that disagreed with the bot."""
        with self.lock:
            return self.db.execute(
                "select substr(m.text, 1, 2000), m.gate, f.choice, count(*) as n from feedback f "
                "join messages m on m.id = f.message_id where f.platform = ? and f.chat_id = ? "
                "and f.created_at >= ? and f.created_at < ? and f.choice != 'right' "
                "and f.choice != cast(m.gate as text) group by m.id, f.choice "
                "order by n desc, max(f.created_at) desc limit ?",
                [platform, str(chat_id), start, end, limit],
            ).fetchall()
