"""The living board (gate statuses and their history) and feedback votes on verdicts."""

from __future__ import annotations

from .base import Rows, StatusChange, iso


class StatusRows(Rows):
    def gate_status(self, gate: int) -> StatusChange | None:
        """The current status set through the store, or None while the checklist's stands."""
        with self.lock:
            rows = list(self.db.table("gate_status").rows_where("gate = ?", [gate]))
        return StatusChange(**rows[0]) if rows else None

    def status_history(self, gate: int) -> list[StatusChange]:
        """Every change for a gate, newest first."""
        with self.lock:
            rows = self.db.execute(
                "select gate, status_en, status_zh, since, changed_by, reason from gate_status_history "
                "where gate = ? order by since desc, id desc",
                [gate],
            ).fetchall()
        return [StatusChange(*row) for row in rows]

    def set_gate_status(self, gate: int, status_en: str, status_zh: str, changed_by: str, reason: str = "") -> StatusChange:
        change = StatusChange(gate, status_en, status_zh, iso(self.clock()), changed_by, reason)
        with self.lock, self.db.conn:
            self.db.table("gate_status").upsert(change.__dict__, pk="gate")
            self.db.table("gate_status_history").insert(change.__dict__)
        return change

    def status_changes_between(self, start: str, end: str) -> list[StatusChange]:
        with self.lock:
            rows = self.db.execute(
                "select gate, status_en, status_zh, since, changed_by, reason from gate_status_history "
                "where since >= ? and since < ? order by since, id", [start, end],
            ).fetchall()
        return [StatusChange(*row) for row in rows]

    def vote(self, message_id: int, user_id: str, choice: str, platform: str, chat_id: str) -> None:
        """One vote per user per verdict; a later vote replaces the earlier one."""
        with self.lock, self.db.conn:
            self.db.table("feedback").upsert(
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
        with self.lock:
            rows = self.db.execute(
                "select choice, count(*) from feedback where message_id = ? group by choice order by choice",
                [message_id],
            ).fetchall()
        return {choice: n for choice, n in rows}
