"""Weekly charts: subscriptions (day, time, zone), and one claimed chart per chat and local date."""

from __future__ import annotations

from .base import Rows, iso


class WeeklyRows(Rows):
    def weekly(self, platform: str, chat_id: str) -> dict | None:
        with self.lock:
            rows = list(self.db.table("weekly").rows_where("platform = ? and chat_id = ?", [platform, str(chat_id)]))
        return rows[0] if rows else None

    def set_weekly(self, platform: str, chat_id: str, **fields: object) -> dict:
        row = dict(self.weekly(platform, chat_id) or {"platform": platform, "chat_id": str(chat_id), "enabled": 0,
                                                      "day": 0, "time": "", "tz": ""})
        row.update(fields)
        row["updated_at"] = iso(self.clock())
        with self.lock, self.db.conn:
            self.db.table("weekly").upsert(row, pk=("platform", "chat_id"))
        return row

    def enabled_weekly(self) -> list[dict]:
        with self.lock:
            return list(self.db.table("weekly").rows_where("enabled = 1"))

    def claim_weekly(self, platform: str, chat_id: str, local_date: str, run_id: str) -> bool:
        """Claim one chat's weekly chart for its local date, once ever (recorded before it is sent)."""
        with self.lock, self.db.conn:
            cur = self.db.execute(
                "insert or ignore into weekly_sent (platform, chat_id, local_date, status, run_id, claimed_at) "
                "values (?, ?, ?, 'pending', ?, ?)", [platform, str(chat_id), local_date, run_id, iso(self.clock())])
            return cur.rowcount == 1

    def finish_weekly(self, platform: str, chat_id: str, local_date: str, ok: bool, error: str = "") -> None:
        with self.lock, self.db.conn:
            self.db.execute(
                "update weekly_sent set status = ?, sent_at = ?, error = ? where platform = ? and chat_id = ? "
                "and local_date = ?", ["sent" if ok else "failed", iso(self.clock()) if ok else None, error[:300],
                                       platform, str(chat_id), local_date])

    def last_weekly(self, platform: str, chat_id: str) -> tuple | None:
        with self.lock:
            return self.db.execute(
                "select local_date, status from weekly_sent where platform = ? and chat_id = ? "
                "order by local_date desc limit 1", [platform, str(chat_id)]).fetchone()
