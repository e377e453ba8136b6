"""Workspaces that added the bot (Add to Slack): one bot token per workspace or org, the one-time
states that tie an install to the browser that started it, and which workspace each chat is in (so
a digest posted unprompted goes out with that workspace's token).

Kept in the bot's own database, beside everything else it knows; uninstalling a workspace deletes its
row, and with it the only copy of its token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from .base import Rows, iso

STATE_SECONDS = 600  # an install must come back from the authorize page within ten minutes
STATE_KEEP = 10_000  # states on file at most: past this, expired ones go, then the oldest


@dataclass(frozen=True)
class Installation:
    """The bot's grant in one workspace (team) or, installed org-wide, one enterprise (team_id "")."""

    enterprise_id: str
    team_id: str
    bot_token: str
    bot_user_id: str
    bot_id: str = ""
    scopes: str = ""  # comma-separated, as granted
    team_name: str = ""
    enterprise_name: str = ""
    app_id: str = ""
    installer_id: str = ""  # who clicked Add to Slack
    is_enterprise_install: bool = False
    installed_at: str = ""

    def __repr__(self) -> str:  # never the token, whoever prints it
        return (f"Installation(enterprise_id={self.enterprise_id!r}, team_id={self.team_id!r}, "
                f"bot_user_id={self.bot_user_id!r}, installed_at={self.installed_at!r})")


_COLUMNS = ("enterprise_id", "team_id", "bot_token", "bot_user_id", "bot_id", "scopes", "team_name",
            "enterprise_name", "app_id", "installer_id", "is_enterprise_install", "installed_at")


class Installations(Rows):
    """Reads and writes of installations and install states, on the store's connection and lock."""

    def __init__(self, rows: Rows):
        self.db, self.lock, self.clock = rows.db, rows.lock, rows.clock

    # ------------------------------------------------------------------ installations

    def save_installation(self, inst: Installation) -> Installation:
        """Keep a workspace's grant; installing again replaces the earlier one (a new token)."""
        saved = Installation(**{**{c: getattr(inst, c) for c in _COLUMNS},
                                "installed_at": inst.installed_at or iso(self.clock())})
        row = {c: getattr(saved, c) for c in _COLUMNS}
        row["is_enterprise_install"] = int(saved.is_enterprise_install)
        with self.lock, self.db.conn:
            self.db.table("installations").upsert(row, pk=("enterprise_id", "team_id"))
        return saved

    def find_installation(self, enterprise_id: str, team_id: str) -> Installation | None:
        with self.lock:
            row = self.db.execute(
                f"select {', '.join(_COLUMNS)} from installations where enterprise_id = ? and team_id = ?",
                [enterprise_id, team_id]).fetchone()
        if row is None:
            return None
        values = dict(zip(_COLUMNS, row, strict=True))
        values = {k: ("" if v is None else v) for k, v in values.items()}
        values["is_enterprise_install"] = bool(values["is_enterprise_install"])
        return Installation(**values)

    def delete_installation(self, enterprise_id: str, team_id: str) -> bool:
        """Forget a workspace's grant (and so its token); True if there was one."""
        with self.lock, self.db.conn:
            cur = self.db.execute("delete from installations where enterprise_id = ? and team_id = ?",
                                  [enterprise_id, team_id])
        return cur.rowcount > 0

    def count_installations(self) -> int:
        with self.lock:
            return int(self.db.execute("select count(*) from installations").fetchone()[0])

    # ------------------------------------------------------------------ chats

    def note_chat(self, chat_id: str, enterprise_id: str, team_id: str) -> None:
        """Remember which workspace a chat is in (the latest one seen wins)."""
        with self.lock, self.db.conn:
            self.db.execute(
                "insert into installation_chats (chat_id, enterprise_id, team_id, seen_at) values (?, ?, ?, ?) "
                "on conflict (chat_id) do update set enterprise_id = excluded.enterprise_id, "
                "team_id = excluded.team_id, seen_at = excluded.seen_at",
                [chat_id, enterprise_id, team_id, iso(self.clock())])

    def chat_workspace(self, chat_id: str) -> tuple[str, str] | None:
        """(enterprise id, team id) of the workspace a chat was last seen in."""
        with self.lock:
            row = self.db.execute("select enterprise_id, team_id from installation_chats where chat_id = ?",
                                  [chat_id]).fetchone()
        return (row[0] or "", row[1] or "") if row else None

    # ------------------------------------------------------------------ states

    def issue_state(self, seconds: int = STATE_SECONDS) -> str:
        """A new one-time state for an install starting now, valid for `seconds`."""
        state = secrets.token_urlsafe(24)
        now = self.clock()
        with self.lock, self.db.conn:
            count = self.db.execute("select count(*) from oauth_states").fetchone()[0]
            if count >= STATE_KEEP:  # anyone can ask for a state: the table stays bounded
                self.db.execute("delete from oauth_states where expires_at <= ?", [iso(now)])
                self.db.execute("delete from oauth_states where state in (select state from oauth_states "
                                "order by expires_at limit max(0, (select count(*) from oauth_states) - ?))",
                                [STATE_KEEP - 1])
            self.db.execute("insert into oauth_states (state, expires_at) values (?, ?)",
                            [state, iso(now + timedelta(seconds=seconds))])
        return state

    def consume_state(self, state: str) -> bool:
        """True once for a state this bot issued that has not expired; it cannot be used again."""
        if not state or len(state) > 200:
            return False
        with self.lock, self.db.conn:
            cur = self.db.execute("delete from oauth_states where state = ? and expires_at > ?",
                                  [state, iso(self.clock())])
        return cur.rowcount == 1


__all__ = ["Installation", "Installations", "STATE_SECONDS"]
