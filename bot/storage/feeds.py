"""Followed feeds: each chat's feeds, the entries seen in them (and which were posted, within the
chat's hourly cap), and the chat's feed settings. Tables made by schema.py's migrations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .base import Rows, iso

FLOORS = ("low", "medium", "high")
DEFAULT_PER_HOUR = 6
DEFAULT_FLOOR = "medium"
DEFAULT_MODE = "digest"
PASTED_MATCH_WINDOW = timedelta(days=7)  # how far back a pasted message can make a feed entry a repeat
MIN_TITLE_MATCH = 12  # titles shorter than this are not searched for inside pasted messages


@dataclass(frozen=True)
class Feed:
    id: int
    platform: str
    chat_id: str
    url: str
    feed_url: str
    title: str
    mode: str
    etag: str
    last_modified: str
    last_fetch_at: str
    last_ok_at: str
    error_code: str
    error_detail: str
    errors: int
    note: str
    next_poll_at: str
    items_seen: int
    primed: bool

    @property
    def name(self) -> str:
        return self.title or self.feed_url


@dataclass(frozen=True)
class ChatFeedSettings:
    mode: str = DEFAULT_MODE  # post | digest
    per_hour: int = DEFAULT_PER_HOUR
    floor: str = DEFAULT_FLOOR  # the least confidence an entry needs to be posted
    floor_chosen: bool = False  # set with /feeds floor (else the chat's /settings floor, else the rules')


@dataclass(frozen=True)
class NewItem:
    entry_key: str
    title_key: str
    link: str
    message_id: int | None = None
    post: str = ""


_FEED_COLUMNS = ("id, platform, chat_id, url, feed_url, title, mode, etag, last_modified, last_fetch_at, last_ok_at, "
                 "error_code, error_detail, errors, note, next_poll_at, items_seen, primed")


def _feed(row: Sequence) -> Feed:
    values = list(row)
    for i in range(5, len(values)):
        if values[i] is None:
            values[i] = 0 if i in (13, 16, 17) else ""
    values[17] = bool(values[17])
    return Feed(*values)


class FeedRows(Rows):
    # ------------------------------------------------------------------ feeds

    def feeds(self, platform: str, chat_id: str) -> list[Feed]:
        """A chat's feeds, in the order they were followed (their numbers in /feeds)."""
        with self.lock:
            rows = self.db.execute(f"select {_FEED_COLUMNS} from feeds where platform = ? and chat_id = ? order by id",
                                   [platform, str(chat_id)]).fetchall()
        return [_feed(r) for r in rows]

    def feed(self, feed_id: int) -> Feed | None:
        with self.lock:
            row = self.db.execute(f"select {_FEED_COLUMNS} from feeds where id = ?", [feed_id]).fetchone()
        return _feed(row) if row else None

    def due_feeds(self, now: datetime, limit: int = 1000) -> list[Feed]:
        with self.lock:
            rows = self.db.execute(
                f"select {_FEED_COLUMNS} from feeds where next_poll_at <= ? order by next_poll_at limit ?",
                [iso(now), limit]).fetchall()
        return [_feed(r) for r in rows]

    def count_feeds(self, platform: str, chat_id: str) -> int:
        with self.lock:
            return self.db.execute("select count(*) from feeds where platform = ? and chat_id = ?",
                                   [platform, str(chat_id)]).fetchone()[0]

    def find_feed(self, platform: str, chat_id: str, url: str) -> Feed | None:
        with self.lock:
            row = self.db.execute(
                f"select {_FEED_COLUMNS} from feeds where platform = ? and chat_id = ? and (feed_url = ? or url = ?) "
                "limit 1", [platform, str(chat_id), url, url]).fetchone()
        return _feed(row) if row else None

    def add_feed(self, platform: str, chat_id: str, *, url: str, feed_url: str, title: str, mode: str,
                 created_by: str, etag: str, last_modified: str, next_poll_at: datetime, note: str,
                 entries: Iterable[NewItem]) -> int:
        """Follow a feed, recording the entries it has now as seen (the first fetch posts nothing)."""
        now = iso(self.clock())
        items = list(entries)
        with self.lock, self.db.conn:
            feed_id = self.db.table("feeds").insert({
                "platform": platform, "chat_id": str(chat_id), "url": url, "feed_url": feed_url, "title": title[:300],
                "mode": mode, "created_by": str(created_by), "created_at": now, "etag": etag,
                "last_modified": last_modified, "last_fetch_at": now, "last_ok_at": now, "error_code": "",
                "error_detail": "", "errors": 0, "note": note, "next_poll_at": iso(next_poll_at),
                "items_seen": len(items), "primed": 1,
            }).last_pk
            assert feed_id is not None  # an insert always has a key
            self._insert_feed_items(int(feed_id), platform, str(chat_id), items, now)
        return int(feed_id)

    def remove_feed(self, feed_id: int) -> None:
        """Unfollow: the feed and its seen entries go; entries already classified stay in the chat's history."""
        with self.lock, self.db.conn:
            self.db.execute("delete from feed_items where feed_id = ?", [feed_id])
            self.db.execute("delete from feeds where id = ?", [feed_id])

    def set_feed_mode(self, feed_id: int, mode: str) -> None:
        with self.lock, self.db.conn:
            self.db.table("feeds").update(feed_id, {"mode": mode})

    def schedule_feeds(self, platform: str, chat_id: str, when: datetime) -> None:
        with self.lock, self.db.conn:
            self.db.execute("update feeds set next_poll_at = ? where platform = ? and chat_id = ?",
                            [iso(when), platform, str(chat_id)])

    # The next poll is `wait` after the fetch as recorded: one clock reading for both.
    def record_feed_failure(self, feed_id: int, code: str, detail: str, wait: timedelta) -> None:
        now = self.clock()
        with self.lock, self.db.conn:
            self.db.execute(
                "update feeds set last_fetch_at = ?, error_code = ?, error_detail = ?, errors = errors + 1, "
                "next_poll_at = ? where id = ?",
                [iso(now), code, detail[:300], iso(now + wait), feed_id])

    def record_feed_unchanged(self, feed_id: int, wait: timedelta) -> None:
        now = self.clock()
        with self.lock, self.db.conn:
            self.db.execute(
                "update feeds set last_fetch_at = ?, last_ok_at = ?, error_code = '', error_detail = '', errors = 0, "
                "next_poll_at = ? where id = ?", [iso(now), iso(now), iso(now + wait), feed_id])

    def record_feed_poll(self, feed: Feed, *, title: str, etag: str, last_modified: str, note: str, wait: timedelta,
                         items: Sequence[NewItem]) -> None:
        """A good poll: the feed's headers and note, and its new entries as seen (one transaction)."""
        at = self.clock()
        now, next_poll_at = iso(at), at + wait
        with self.lock, self.db.conn:
            self.db.execute(
                "update feeds set title = ?, etag = ?, last_modified = ?, note = ?, last_fetch_at = ?, last_ok_at = ?, "
                "error_code = '', error_detail = '', errors = 0, next_poll_at = ?, items_seen = items_seen + ?, "
                "primed = 1 where id = ?",
                [(title or feed.title)[:300], etag, last_modified, note, now, now, iso(next_poll_at), len(items),
                 feed.id])
            self._insert_feed_items(feed.id, feed.platform, feed.chat_id, items, now)

    def _insert_feed_items(self, feed_id: int, platform: str, chat_id: str, items: Iterable[NewItem], now: str) -> None:
        self.db.conn.executemany(
            "insert or ignore into feed_items (feed_id, entry_key, platform, chat_id, title_key, link, seen_at, "
            "message_id, post, posted_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(feed_id, i.entry_key, platform, chat_id, i.title_key, i.link, now, i.message_id, i.post,
              now if i.post == "pending" else None) for i in items])

    # ------------------------------------------------------------------ entries

    def known_feed_keys(self, feed_id: int, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self.lock:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start:start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self.db.execute(
                    f"select entry_key from feed_items where feed_id = ? and entry_key in ({marks})",
                    [feed_id, *chunk]).fetchall()
                found.update(r[0] for r in rows)
        return found

    def seen_in_chat(self, feed: Feed, title_key: str, link: str) -> bool:
        """Has this chat had this entry already: the same link or headline from any of its feeds (this one
        too, under another id), or the headline pasted?"""
        platform, chat_id = feed.platform, feed.chat_id
        with self.lock:
            if self.db.execute("select 1 from feed_items where platform = ? and chat_id = ? and title_key = ? "
                               "limit 1", [platform, chat_id, title_key]).fetchone():
                return True
            if link and self.db.execute("select 1 from feed_items where platform = ? and chat_id = ? and link = ? "
                                        "limit 1", [platform, chat_id, link]).fetchone():
                return True
            return self.db.execute("select 1 from messages where platform = ? and chat_id = ? and text_key = ? limit 1",
                                   [platform, chat_id, title_key]).fetchone() is not None

    def recent_pasted(self, platform: str, chat_id: str, limit: int = 500) -> list[str]:
        """The texts pasted in a chat lately (not feed entries): a feed entry whose link or headline is
        in one of them is a repeat."""
        since = iso(self.clock() - PASTED_MATCH_WINDOW)
        with self.lock:
            rows = self.db.execute(
                "select text from messages where platform = ? and chat_id = ? and created_at >= ? and source is null "
                "order by created_at desc limit ?", [platform, str(chat_id), since, limit]).fetchall()
        return [r[0] for r in rows]

    def feed_posts_since(self, platform: str, chat_id: str, since: datetime) -> int:
        """Feed entries posted (or being posted) to a chat since `since` (the hourly cap)."""
        with self.lock:
            return self.db.execute(
                "select count(*) from feed_items where platform = ? and chat_id = ? and posted_at >= ? "
                "and post in ('pending', 'sent', 'failed')", [platform, str(chat_id), iso(since)]).fetchone()[0]

    def claim_feed_post(self, feed_id: int, entry_key: str, platform: str, chat_id: str, since: datetime,
                   per_hour: int) -> bool:
        """Mark an entry as being posted if the chat's hourly cap allows; False means capped."""
        now = iso(self.clock())
        with self.lock, self.db.conn:
            n = self.db.execute(
                "select count(*) from feed_items where platform = ? and chat_id = ? and posted_at >= ? "
                "and post in ('pending', 'sent', 'failed')", [platform, str(chat_id), iso(since)]).fetchone()[0]
            if n >= per_hour:
                self.db.execute("update feed_items set post = 'capped' where feed_id = ? and entry_key = ?",
                                [feed_id, entry_key])
                return False
            self.db.execute("update feed_items set post = 'pending', posted_at = ? where feed_id = ? and entry_key = ?",
                            [now, feed_id, entry_key])
            return True

    def finish_feed_post(self, feed_id: int, entry_key: str, ok: bool) -> None:
        with self.lock, self.db.conn:
            self.db.execute("update feed_items set post = ? where feed_id = ? and entry_key = ?",
                            ["sent" if ok else "failed", feed_id, entry_key])

    def feed_item_posts(self, feed_id: int) -> dict[str, str]:
        with self.lock:
            return dict(self.db.execute("select entry_key, post from feed_items where feed_id = ?", [feed_id]).fetchall())

    # ------------------------------------------------------------------ per-chat settings

    def feed_settings(self, platform: str, chat_id: str, default_floor: str = DEFAULT_FLOOR) -> ChatFeedSettings:
        """The chat's feed settings, in one statement. The floor: /feeds floor, else the chat's
        /settings floor, else `default_floor` (the service passes the rules' floor for unprompted
        group replies)."""
        with self.lock:
            mode, per_hour, floor, chat_floor = self.db.execute(
                "select f.mode, f.per_hour, f.floor, c.floor from (select ? as platform, ? as chat_id) as k "
                "left join feed_chats as f using (platform, chat_id) "
                "left join chat_settings as c using (platform, chat_id)", [platform, str(chat_id)]).fetchone()
        chosen = floor in FLOORS
        if not chosen:
            floor = chat_floor
        return ChatFeedSettings(mode or DEFAULT_MODE, DEFAULT_PER_HOUR if per_hour is None else int(per_hour),
                                floor if floor in FLOORS else default_floor, chosen)

    def set_feed_settings(self, platform: str, chat_id: str, default_floor: str = DEFAULT_FLOOR,
                          **fields: object) -> ChatFeedSettings:
        with self.lock, self.db.conn:
            current = self.feed_settings(platform, chat_id, default_floor)
            row = {"platform": platform, "chat_id": str(chat_id), "mode": current.mode, "per_hour": current.per_hour,
                   "floor": current.floor if current.floor_chosen else "", **fields, "updated_at": iso(self.clock())}
            self.db.table("feed_chats").upsert(row, pk=("platform", "chat_id"))
        return self.feed_settings(platform, chat_id, default_floor)
