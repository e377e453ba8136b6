"""What a person's own page (Slack's App Home) reads: their latest verdicts and the chats whose
settings differ from the defaults."""

from __future__ import annotations

from .base import Rows


class HomeRows(Rows):
    def recent_verdicts_of(self, platform: str, user_id: str, lookback: int, limit: int) -> list[tuple]:
        """(created_at, gate, text) of the person's latest pasted messages that had a gate or an answer,
        newest first, among the last `lookback` messages stored (a bounded look, not a scan)."""
        with self.lock:
            return self.db.execute(
                "select created_at, gate, text from messages where id > (select coalesce(max(id), 0) from messages) "
                "- ? and platform = ? and user_id = ? and source is null and (gate > 0 or reply_ref is not null) "
                "order by id desc limit ?", [lookback, platform, user_id, limit]).fetchall()

    def customised_chats(self, platform: str, now_iso: str, limit: int) -> list[tuple]:
        """(chat_id, mode, floor, format, lang, quiet_until) of the platform's chats with a setting of
        their own ("" = default; a /quiet already over counts as none), latest change first."""
        with self.lock:
            return self.db.execute(
                "select chat_id, coalesce(mode, ''), coalesce(floor, ''), coalesce(format, ''), coalesce(lang, ''), "
                "coalesce(quiet_until, '') from chat_settings where platform = ? and (coalesce(mode, '') != '' "
                "or coalesce(floor, '') != '' or coalesce(format, '') != '' or coalesce(lang, '') != '' "
                "or coalesce(quiet_until, '') > ?) order by updated_at desc limit ?",
                [platform, now_iso, limit]).fetchall()
