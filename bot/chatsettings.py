"""Per-chat settings: how the bot behaves in one chat (table chat_settings, made by store.py's migrations).

An empty value means "the default": the mode `auto`, the rules' confidence floor
(rules/context.yaml thresholds.group_reply), the `full` format and the `auto` language. Only the
values someone chose are stored, so a changed default in the rules reaches every chat that never
chose its own floor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from .store import Store, iso

MODES = ("auto", "mention", "off")
FLOORS = ("low", "medium", "high")
FORMATS = ("full", "compact")
LANGS = ("auto", "en", "zh")
CHOICES: dict[str, tuple[str, ...]] = {"mode": MODES, "floor": FLOORS, "format": FORMATS, "lang": LANGS}
RANK = {"none": 0, "low": 1, "medium": 2, "high": 3}
MAX_QUIET = timedelta(days=7)  # a mistyped /quiet 100d must not silence a chat for months

_DURATION = re.compile(r"(\d{1,4})\s*(minutes?|mins?|m|hours?|hrs?|h|days?|d|分钟|小时|天)", re.IGNORECASE)


def clears(confidence: str, floor: str) -> bool:
    """Is a verdict of this confidence at least the floor? ("none" never is.)"""
    return RANK.get(confidence, 0) >= max(RANK.get(floor, 2), 1)


@dataclass(frozen=True)
class ChatSettings:
    mode: str = ""  # "" = auto
    floor: str = ""  # "" = the rules' group_reply threshold
    format: str = ""  # "" = full
    lang: str = ""  # "" = auto
    quiet_until: str = ""  # ISO time; unprompted replies are silenced until then
    updated_by: str = ""
    updated_at: str = ""

    def value(self, key: str, default_floor: str = "medium") -> str:
        """The effective value of a setting."""
        if key == "floor":
            return self.floor or default_floor
        return getattr(self, key) or CHOICES[key][0]

    def quiet(self, now: datetime) -> bool:
        return bool(self.quiet_until) and self.quiet_until > iso(now)


def parse_duration(text: str) -> timedelta | None:
    """"2h", "30m", "1d", "1h30m", "90 min", "2小时" -> a duration; None when it is not one."""
    text = text.strip()
    if not text:
        return None
    total, pos = timedelta(), 0
    for m in _DURATION.finditer(text):
        if text[pos:m.start()].strip():
            return None
        n, unit = int(m.group(1)), m.group(2).lower()
        if unit[0] == "m" or unit == "分钟":
            total += timedelta(minutes=n)
        elif unit[0] == "h" or unit == "小时":
            total += timedelta(hours=n)
        else:
            total += timedelta(days=n)
        pos = m.end()
    if pos == 0 or text[pos:].strip() or total <= timedelta():
        return None
    return total


def load(store: Store, platform: str, chat_id: str) -> ChatSettings:
    with store.lock:
        row = store.db.execute(
            "select mode, floor, format, lang, quiet_until, updated_by, updated_at from chat_settings "
            "where platform = ? and chat_id = ?", [platform, str(chat_id)]).fetchone()
    return ChatSettings(*(v or "" for v in row)) if row else ChatSettings()


def save(store: Store, platform: str, chat_id: str, user_id: str, **fields: str) -> ChatSettings:
    """Change some settings of a chat ("" puts one back to its default)."""
    unknown = set(fields) - {"mode", "floor", "format", "lang", "quiet_until"}
    if unknown:
        raise ValueError(f"unknown chat settings: {sorted(unknown)}")
    with store.lock, store.db.conn:
        current = load(store, platform, chat_id)
        row = {"platform": platform, "chat_id": str(chat_id), "mode": current.mode, "floor": current.floor,
               "format": current.format, "lang": current.lang, "quiet_until": current.quiet_until,
               **fields, "updated_by": str(user_id), "updated_at": iso(store.clock())}
        store.db.table("chat_settings").upsert(row, pk=("platform", "chat_id"))
    return load(store, platform, chat_id)
