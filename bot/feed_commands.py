"""/follow, /unfollow and /feeds: a chat's followed feeds added, removed, listed and set to post or
to wait for the digest. Reading a feed is feeds.py's job; the tables are storage/feeds.py's.
"""

from __future__ import annotations

import re
from datetime import timedelta

from .feed_parse import FeedError, describe_note, feed_note
from .feeds import FeedReader, new_item
from .links import normalise_url
from .reply import LABELS, Block, Reply, label
from .storage.feeds import DEFAULT_FLOOR, DEFAULT_PER_HOUR, FLOORS, Feed
from .store import Store
from .workers import LIMITS

MAX_FEEDS_PER_CHAT = 20
MODES = ("post", "digest")


def _reply(lang: str, text: str, kind: str = "status", user_text: bool = False) -> Reply:
    return Reply(kind=kind, lang=lang, blocks=[Block(kind="text", text=text, user_text=user_text)])


def error_text(code: str, lang: str, status: int | None = None) -> str:
    key = f"feed_err_{code}" if f"feed_err_{code}" in LABELS else "feed_err_failed"
    limits = LIMITS["feed"]  # the wording names the limit that stopped it
    return label(key, lang, status=status or "?", seconds=f"{limits.seconds:g}", memory_mb=limits.memory_mb)


def _fmt(ts: str) -> str:
    return ts[:16].replace("T", " ") + " UTC" if ts else "—"


def _mode_text(mode: str, per_hour: int, floor: str, lang: str) -> str:
    if mode == "post":
        return label("feed_mode_post", lang, n=per_hour, floor=label(f"conf_{floor}", lang))
    return label("feed_mode_digest", lang)


async def follow(reader: FeedReader, store: Store, platform: str, chat_id: str, user_id: str, args: str,
                 lang: str, interval: timedelta, default_floor: str = DEFAULT_FLOOR) -> Reply:
    """/follow <url> [post|digest]: read the feed now and record its entries; new ones count from here.
    `default_floor`: the chat's feed floor when it chose none (the rules' floor for group replies)."""
    words = args.split()
    if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in MODES):
        return _reply(lang, label("follow_usage", lang), "error")
    url = normalise_url(_unwrap(words[0]))
    if url is None:
        return _reply(lang, label("follow_bad_url", lang, url=words[0][:80]), "error", True)
    mode = words[1].lower() if len(words) == 2 else ""
    if store.find_feed(platform, chat_id, url):
        return _reply(lang, label("follow_already", lang, url=url[:200]), "status", True)
    if store.count_feeds(platform, chat_id) >= MAX_FEEDS_PER_CHAT:
        return _reply(lang, label("follow_limit", lang, n=MAX_FEEDS_PER_CHAT), "error")
    try:
        read = await reader.read(url, discover=True)
    except FeedError as e:
        return _reply(lang, label("follow_failed", lang, url=url[:200], why=error_text(e.code, lang, e.status)),
                      "error", True)
    assert read.parsed is not None
    feed_url = read.feed_url
    if feed_url != url and store.find_feed(platform, chat_id, feed_url):
        return _reply(lang, label("follow_already", lang, url=feed_url[:200]), "status", True)
    parsed = read.parsed
    store.add_feed(platform, chat_id, url=url, feed_url=feed_url, title=parsed.title, mode=mode,
                   created_by=user_id, etag=read.doc.etag, last_modified=read.doc.last_modified,
                   next_poll_at=store.clock() + interval, note=feed_note(parsed, read.doc),
                   entries=[new_item(e) for e in parsed.entries])
    chat = store.feed_settings(platform, chat_id, default_floor)
    blocks = [Block(kind="text", text=label("follow_done", lang, title=parsed.title or feed_url, url=feed_url,
                                            n=len(parsed.entries)), user_text=True),
              Block(kind="text", text=label("feed_new_entries", lang,
                                            mode=_mode_text(mode or chat.mode, chat.per_hour, chat.floor, lang)))]
    for note in describe_note(feed_note(parsed, read.doc), lang):
        blocks.append(Block(kind="note", text=note))
    return Reply(kind="status", lang=lang, blocks=blocks)


def _unwrap(word: str) -> str:
    """A URL as typed, or as Slack sends it (`<https://...>` or `<https://...|label>`)."""
    word = word.strip()
    if word.startswith("<") and word.endswith(">"):
        word = word[1:-1].split("|", 1)[0]
    return word.replace("&amp;", "&") if "&amp;" in word else word


def _pick(store: Store, platform: str, chat_id: str, which: str) -> Feed | None:
    feeds = store.feeds(platform, chat_id)
    which = _unwrap(which)
    if which.isdigit():
        n = int(which)
        return feeds[n - 1] if 1 <= n <= len(feeds) else None
    url = normalise_url(which) or which
    return next((f for f in feeds if url in (f.url, f.feed_url)), None)


def unfollow(store: Store, platform: str, chat_id: str, args: str, lang: str) -> Reply:
    """/unfollow <url|number>"""
    which = args.strip()
    if not which or len(which.split()) != 1:
        return _reply(lang, label("unfollow_usage", lang), "error")
    feed = _pick(store, platform, chat_id, which)
    if feed is None:
        return _reply(lang, label("unfollow_unknown", lang, which=which[:80]), "error", True)
    store.remove_feed(feed.id)
    return _reply(lang, label("unfollow_done", lang, title=feed.name[:200]), "status", True)


def feeds_list(store: Store, platform: str, chat_id: str, lang: str, default_floor: str = DEFAULT_FLOOR) -> Reply:
    """/feeds: every feed with its last fetch, entries seen, mode and last error or note."""
    feeds = store.feeds(platform, chat_id)
    chat = store.feed_settings(platform, chat_id, default_floor)
    if not feeds:
        return _reply(lang, label("feeds_none", lang))
    blocks = [Block(kind="heading", text=label("feeds_title", lang, n=len(feeds), max=MAX_FEEDS_PER_CHAT)),
              Block(kind="field", label=label("feeds_new", lang),
                    text=_mode_text(chat.mode, chat.per_hour, chat.floor, lang))]
    items = []
    for i, f in enumerate(feeds, 1):
        line = label("feeds_line", lang, i=i, title=f.name[:120], url=f.feed_url[:200], last=_fmt(f.last_fetch_at),
                     n=f.items_seen)
        if f.mode and f.mode != chat.mode:
            line += label("feeds_line_mode", lang, mode=label(f"feed_mode_word_{f.mode}", lang))
        if f.error_code:
            line += label("feeds_line_error", lang, why=error_text(f.error_code, lang, _status_of(f.error_detail)),
                          next=_fmt(f.next_poll_at))
        for note in describe_note(f.note, lang):
            line += f" · {note}"
        items.append(line)
    blocks.append(Block(kind="list", items=items, user_text=True))
    blocks.append(Block(kind="note", text=label("feeds_hint", lang)))
    return Reply(kind="status", lang=lang, blocks=blocks)


def _status_of(detail: str) -> int | None:
    m = re.search(r"answered HTTP (\d{3})", detail or "")
    return int(m.group(1)) if m else None


def feeds_settings(store: Store, platform: str, chat_id: str, args: str, lang: str,
                   default_floor: str = DEFAULT_FLOOR) -> Reply | None:
    """/feeds post [N] · /feeds digest · /feeds floor low|medium|high · /feeds <number> post|digest.
    None when `args` is none of these (the caller answers with the list or the usage)."""
    words = args.lower().split()
    if not words:
        return None
    if words[0] == "post" and len(words) <= 2:
        per_hour = DEFAULT_PER_HOUR
        if len(words) == 2:
            if not words[1].isdigit() or not 1 <= int(words[1]) <= 60:
                return _reply(lang, label("feeds_bad_rate", lang), "error")
            per_hour = int(words[1])
        chat = store.set_feed_settings(platform, chat_id, default_floor, mode="post", per_hour=per_hour)
    elif words == ["digest"]:
        chat = store.set_feed_settings(platform, chat_id, default_floor, mode="digest")
    elif words[0] == "floor" and len(words) == 2 and words[1] in (*FLOORS, "default"):
        # "default": follow the chat's /settings floor again
        chat = store.set_feed_settings(platform, chat_id, default_floor, floor="" if words[1] == "default" else words[1])
    elif len(words) == 2 and words[0].isdigit() and words[1] in (*MODES, "default"):
        feed = _pick(store, platform, chat_id, words[0])
        if feed is None:
            return _reply(lang, label("unfollow_unknown", lang, which=words[0]), "error", True)
        mode = "" if words[1] == "default" else words[1]
        store.set_feed_mode(feed.id, mode)
        chat = store.feed_settings(platform, chat_id, default_floor)
        return _reply(lang, label("feeds_mode_one", lang, title=feed.name[:200],
                                  mode=_mode_text(mode or chat.mode, chat.per_hour, chat.floor, lang)), "status", True)
    else:
        return None
    return _reply(lang, label("feeds_mode_all", lang, mode=_mode_text(chat.mode, chat.per_hour, chat.floor, lang)))
