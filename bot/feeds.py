"""Feeds a chat follows: read them safely, parse them off the event loop, find what is new.

- `FeedReader` fetches through the same guarded fetcher as pasted links (every address rule, 5 s,
  2 MB, hop-by-hop redirects), with a conditional GET (ETag / Last-Modified).
- `parse_document` turns the bytes into a `ParsedFeed` with feedparser (RSS 0.9x/1.0/2.0, Atom), or
  lists the feeds an HTML page links with `<link rel="alternate">`. It is CPU-bound: `parse_off_loop`
  runs it in the worker process (workers.py), after `trim_entries` has cut a huge document down to the first
  MAX_ENTRIES entries, so a 2 MB feed costs milliseconds rather than seconds.
- `follow`, `unfollow`, `feeds_list` and `feeds_settings` answer /follow, /unfollow and /feeds.
- `check_feed` polls one followed feed and returns its entries not seen before; classifying,
  storing and posting them is the poller's job (poller.py).

feedparser only ever gets bytes, never a URL: it must not fetch anything itself.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import xml.parsers.expat
import xml.sax
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urljoin, urlsplit

from .feedstore import DEFAULT_PER_HOUR, FLOORS, Feed, FeedStore, NewItem
from .fetch import (
    MAX_BYTES,
    TOTAL_TIMEOUT,
    AddressGuard,
    BadStatus,
    Document,
    LinkError,
    LinkFetcher,
    Resolver,
    loop_resolve,
)
from .links import normalise_url
from .page import HEAD_CHARS, decode_html, feed_links
from .reply import LABELS, Block, Reply, label
from .store import text_key
from .workers import LIMITS, WorkerError, run_cpu

log = logging.getLogger("gatebot.feeds")

MAX_FEEDS_PER_CHAT = 20
MAX_ENTRIES = 200  # entries read per poll, first in the document (feeds list the newest first)
MAX_TITLE = 300
MAX_SUMMARY = 1000
# What the parser reads of a feed (bound_document): a feed nests 4-6 elements deep (inline XHTML
# content a few more) and 200 rich entries hold a few thousand elements; feedparser spends ~15 µs
# per element, and nested unclosed tags cost it far more.
MAX_DEPTH = 32
MAX_ELEMENTS = 20_000
MAX_UTF16_BYTES = 512 * 1024
FAILED_REMEMBERED = 256  # documents the feed worker was stopped on, remembered by their hash
BACKOFF_MAX = timedelta(hours=6)
HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = (
    "application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml", "text/xml",
    "application/x-rss+xml", "application/x-atom+xml", "application/feed+xml", "text/rss+xml", "text/atom+xml",
    "text/plain", "application/octet-stream", "binary/octet-stream", "",  # servers that mislabel feeds
    *HTML_TYPES,  # a page that links its feed
)
ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.9, "
          "text/xml;q=0.9, text/html;q=0.5, */*;q=0.1")
MODES = ("post", "digest")



# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Entry:
    key: str  # identity within its feed: the entry's id, else its link, else its title (hashed)
    title: str  # plain text (markup removed)
    summary: str
    link: str  # http(s) only, else ""

    @property
    def text(self) -> str:
        """What gets classified: the headline and its summary, like a pasted headline and its page."""
        return "\n".join(p for p in (self.title, self.summary) if p)


@dataclass
class ParsedFeed:
    kind: str  # "feed", "html" (a page: see alternates) or "other" (neither)
    title: str = ""
    version: str = ""  # feedparser's: rss20, atom10, rss10, ...
    entries: list[Entry] = field(default_factory=list)
    alternates: list[str] = field(default_factory=list)  # feed URLs an HTML page links
    malformed: bool = False  # the XML was broken; what could be read was read
    trimmed: bool = False  # more than MAX_ENTRIES entries: only the first were read
    duplicates: int = 0  # entries repeating an earlier entry's id with different content (the first is kept)
    markup_titles: int = 0  # titles that carried HTML markup (shown as plain text)
    problem: str = ""  # why there is nothing to read: "not_feed" or "malformed"
    cut: str = ""  # read only in part (bound_document): "depth", "elements", "loose" or "bytes"


_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ENTRY_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s/>]", re.IGNORECASE)
_ENTRY_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>", re.IGNORECASE)
_XMLISH = re.compile(rb"^\s*(?:\xef\xbb\xbf)?\s*<(?:\?xml|rss|feed|rdf:RDF|channel)", re.IGNORECASE)
_HTMLISH = re.compile(rb"^\s*(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)", re.IGNORECASE | re.DOTALL)


def plain(text: str, limit: int) -> tuple[str, bool]:
    """Text as a chat shows it: markup removed, entities decoded, spaces collapsed; and whether markup was there."""
    text = text or ""
    had_markup = bool(_TAG.search(text))
    if had_markup:
        text = html.unescape(_TAG.sub(" ", text))
    text = _SPACE.sub(" ", _CONTROL.sub("", text)).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text, had_markup


def _http_link(base: str, link: str) -> str:
    link = (link or "").strip()
    if not link:
        return ""
    try:
        absolute = urljoin(base, link)
        parts = urlsplit(absolute)
    except ValueError:
        return ""
    return absolute[:1000] if parts.scheme.lower() in ("http", "https") and parts.hostname else ""


def _key(kind: str, value: str) -> str:
    return hashlib.sha1(f"{kind}:{value}".encode("utf-8", "replace")).hexdigest()


class _Stop(Exception):
    """Ends the bounding scan at a cut point."""


@dataclass(frozen=True)
class Bounded:
    data: bytes  # what the parser gets: the document, or a well-formed prefix of it
    trimmed: bool = False  # cut after MAX_ENTRIES entries
    cut: str = ""  # why it was cut short elsewhere: "depth", "elements" or "loose" (broken XML, cut by tags)


def _closers(stack: list[str]) -> bytes:
    return "".join(f"</{name}>" for name in reversed(stack)).encode("latin-1", "replace")


def _is_entry(name: str) -> bool:
    return name.rsplit(":", 1)[-1].lower() in ("item", "entry")


def bound_document(data: bytes, limit: int = MAX_ENTRIES) -> Bounded:
    """The part of a feed the parser reads: the first `limit` entries, at most MAX_DEPTH elements deep
    and MAX_ELEMENTS elements in all, cut at an element boundary with the elements left open closed,
    so it stays well-formed. One linear pass of expat (C), stopped at the first cut.

    Bytes are read as Latin-1 (markup is ASCII in every encoding a feed uses but UTF-16, and the
    bytes go back unchanged), entities a DTD would define are skipped, nothing external is read.
    A document that is not well-formed XML (feedparser still reads what it can) is cut before its
    MAX_ELEMENTS-th tag instead; UTF-16 is cut by bytes."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:200]:
        # UTF-16: closing tags in ASCII would break it; a byte cap (even, so no character is split) bounds it
        return Bounded(data[:MAX_UTF16_BYTES], cut="bytes" if len(data) > MAX_UTF16_BYTES else "")
    parser = xml.parsers.expat.ParserCreate(encoding="iso-8859-1")
    parser.UseForeignDTD(True)  # undefined entities (&nbsp;) are skipped, not errors
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.ExternalEntityRefHandler = lambda *args: 1  # never read: neither the DTD nor entities
    stack: list[str] = []
    counts = {"elements": 0, "entries": 0}
    where: dict[str, object] = {}

    def start(name: str, attrs: object) -> None:
        counts["elements"] += 1
        why = ("depth" if len(stack) >= MAX_DEPTH else "elements" if counts["elements"] > MAX_ELEMENTS
               else "entries" if counts["entries"] >= limit and _is_entry(name) else "")
        if why:
            where.update(at=parser.CurrentByteIndex, why=why)
            raise _Stop
        stack.append(name)

    def end(name: str) -> None:
        if stack:
            stack.pop()
        if _is_entry(name):
            counts["entries"] += 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, False)
    except _Stop:
        why = str(where["why"])
        return Bounded(data[: int(where["at"])] + _closers(stack),  # type: ignore[call-overload]
                       trimmed=why == "entries", cut="" if why == "entries" else why)
    except xml.parsers.expat.ExpatError:
        return _bound_loose(data)
    return Bounded(data)  # whole (a truncated document stays truncated: the parser says it is broken)


def _bound_loose(data: bytes) -> Bounded:
    """Broken XML goes to feedparser's lenient parser whole, up to its MAX_ELEMENTS-th tag (that
    parser spends ~15 µs per tag and reads a cut document like any broken one)."""
    at, n = 0, 0
    while n < MAX_ELEMENTS:
        at = data.find(b"<", at + 1)
        if at < 0:
            return Bounded(data)
        n += 1
    return Bounded(data[:at], cut="loose")


def trim_entries(data: bytes, limit: int = MAX_ENTRIES) -> tuple[bytes, bool]:
    """A feed cut to its bounded, well-formed prefix (bound_document), and whether entries were left out."""
    bounded = bound_document(data, limit)
    return bounded.data, bounded.trimmed


def alternate_feeds(data: bytes, base_url: str, limit: int = 5) -> list[str]:
    """Feeds a page links to in its head: one linear, bounded scan (page.py), whatever the markup."""
    out: list[str] = []
    for href in feed_links(decode_html(data[:HEAD_CHARS * 4])[0]):
        url = _http_link(base_url, href)
        if url and url not in out:
            out.append(url)
    return out[:limit]


def parse_document(data: bytes, content_type: str = "", base_url: str = "") -> ParsedFeed:
    """What a fetched document holds: a feed's entries, a page's feed links, or neither. CPU-bound."""
    import feedparser  # imported here: only the poller's worker thread pays for it

    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in HTML_TYPES or (not _XMLISH.match(data[:1024]) and _HTMLISH.match(data[:4096])):
        return ParsedFeed(kind="html", alternates=alternate_feeds(data, base_url))
    bounded = bound_document(data)
    data, trimmed = bounded.data, bounded.trimmed
    headers = {"content-type": content_type or "application/xml"}
    if base_url:
        headers["content-location"] = base_url
    parsed = feedparser.parse(data, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    broken = bool(parsed.get("bozo")) and isinstance(parsed.get("bozo_exception"), xml.sax.SAXException)
    raw_entries = parsed.get("entries") or []
    if not parsed.get("version") and not raw_entries:
        return ParsedFeed(kind="other", problem="malformed" if _XMLISH.match(data[:1024]) else "not_feed",
                          malformed=broken)
    feed_title, _ = plain((parsed.get("feed") or {}).get("title", ""), MAX_TITLE)
    out = ParsedFeed(kind="feed", title=feed_title, version=parsed.get("version") or "", malformed=broken,
                     trimmed=trimmed or len(raw_entries) > MAX_ENTRIES, cut=bounded.cut)
    seen: dict[str, tuple[str, str]] = {}
    for raw in raw_entries[:MAX_ENTRIES]:
        title, marked = plain(raw.get("title", ""), MAX_TITLE)
        summary, _ = plain(raw.get("summary", ""), MAX_SUMMARY)
        if not title:
            title = plain(summary, 200)[0]
        if not title:
            continue  # nothing to show or classify
        link = _http_link(base_url, raw.get("link", ""))
        ident = (raw.get("id") or "").strip()
        key = _key("id", ident) if ident else _key("link", link) if link else _key("title", title)
        if key in seen:
            if seen[key] != (title, summary):
                out.duplicates += 1
            continue
        seen[key] = (title, summary)
        out.markup_titles += marked
        out.entries.append(Entry(key, title, summary, link))
    if broken and not out.entries:
        return ParsedFeed(kind="other", problem="malformed", malformed=True)
    return out


async def parse_off_loop(data: bytes, content_type: str, base_url: str) -> ParsedFeed:
    """parse_document in the feed worker process (never on the event loop, never sharing its GIL),
    within its time and memory limits: FeedError "too_slow", "too_big" or "worker" when it broke them."""
    try:
        return await run_cpu("feed", parse_document, data, content_type, base_url)
    except WorkerError as e:
        code = {"timeout": "too_slow", "memory": "too_big"}.get(e.reason, "worker")
        log.warning("feed %s: parsing stopped (%s)", base_url[:200], e)
        raise FeedError(code, str(e)) from None


def feed_note(parsed: ParsedFeed, doc: Document) -> str:
    """What /feeds says about a feed that was read, as LABELS keys with counts: "key:n key:n"."""
    parts = []
    if doc.truncated:
        parts.append("big:0")
    if parsed.trimmed:
        parts.append(f"trimmed:{MAX_ENTRIES}")
    if parsed.cut:
        parts.append("cut:0")
    if parsed.malformed:
        parts.append(f"malformed:{len(parsed.entries)}")
    if parsed.duplicates:
        parts.append(f"duplicates:{parsed.duplicates}")
    if parsed.markup_titles:
        parts.append(f"markup:{parsed.markup_titles}")
    return " ".join(parts)


def describe_note(note: str, lang: str) -> list[str]:
    out = []
    for part in (note or "").split():
        key, _, n = part.partition(":")
        if f"feed_note_{key}" in LABELS:
            out.append(label(f"feed_note_{key}", lang, n=n))
    return out


# --------------------------------------------------------------------------- fetching


class FeedError(Exception):
    """A feed could not be read; `code` picks the wording (LABELS feed_err_<code>)."""

    def __init__(self, code: str, detail: str = "", status: int | None = None):
        super().__init__(detail or code)
        self.code = code
        self.detail = detail or code
        self.status = status


def _fetch_error(e: LinkError) -> FeedError:
    if isinstance(e, BadStatus):
        code = "gone" if e.status in (404, 410) else "status"
        return FeedError(code, str(e), e.status)
    return FeedError(e.code, str(e))


@dataclass
class FeedRead:
    doc: Document
    parsed: ParsedFeed | None  # None when the server said "not modified"
    feed_url: str  # where the feed was found (a page's alternate link when discovered)


@dataclass
class FeedReader:
    """Fetches and parses feeds for the poller and /follow. One per process."""

    guard: AddressGuard = field(default_factory=AddressGuard)
    timeout: float = TOTAL_TIMEOUT
    max_bytes: int = MAX_BYTES
    resolver: Resolver = loop_resolve
    fetches: int = 0
    parses: int = 0  # documents sent to the feed worker
    _failed: OrderedDict[str, FeedError] = field(default_factory=OrderedDict, repr=False)  # body sha1 -> why

    @classmethod
    def from_settings(cls, settings, **kwargs) -> FeedReader:
        return cls(guard=AddressGuard(allow_private=bool(settings.gatebot_fetch_allow_private)), **kwargs)

    def fetcher(self) -> LinkFetcher:
        return LinkFetcher(self.guard, timeout=self.timeout, max_bytes=self.max_bytes, resolver=self.resolver)

    async def fetch(self, url: str, etag: str = "", last_modified: str = "") -> Document:
        headers = {"Accept": ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        self.fetches += 1
        try:
            return await self.fetcher().fetch_document(url, accept=FEED_TYPES, headers=headers)
        except LinkError as e:
            raise _fetch_error(e) from e

    async def parse(self, doc: Document) -> ParsedFeed:
        """The document parsed in the feed worker. A document the worker was stopped on is not
        parsed again: the same bytes fetched later fail at once, the same way (and the feed backs off)."""
        digest = hashlib.sha1(doc.body).hexdigest()
        failed = self._failed.get(digest)
        if failed is not None:
            raise FeedError(failed.code, failed.detail)
        self.parses += 1
        try:
            return await parse_off_loop(doc.body, doc.content_type, doc.final_url)
        except FeedError as e:
            self._failed[digest] = e
            while len(self._failed) > FAILED_REMEMBERED:
                self._failed.popitem(last=False)
            raise

    async def read(self, url: str, etag: str = "", last_modified: str = "", *, discover: bool = False) -> FeedRead:
        """Fetch and parse a feed; with `discover`, an HTML page leads to the first feed it links."""
        doc = await self.fetch(url, etag, last_modified)
        if doc.status == 304:
            return FeedRead(doc, None, url)
        parsed = await self.parse(doc)
        if parsed.kind == "html":
            if not discover:
                raise FeedError("not_feed", f"{url} is a web page now, not a feed")
            if not parsed.alternates:
                raise FeedError("no_feed_link", f"{url} links no feed")
            feed_url = parsed.alternates[0]
            doc = await self.fetch(feed_url)
            parsed = await self.parse(doc)
            if parsed.kind == "html":
                raise FeedError("not_feed", f"{feed_url} is a web page, not a feed")
            url = feed_url
        if parsed.kind != "feed":
            raise FeedError(parsed.problem or "not_feed", f"{url}: {parsed.problem or 'not a feed'}")
        return FeedRead(doc, parsed, url)


def backoff(interval: timedelta, errors: int) -> timedelta:
    """How long a failing feed rests: twice the interval per consecutive failure, at most 6 hours."""
    return min(interval * (2 ** max(errors, 1)), BACKOFF_MAX)


# --------------------------------------------------------------------------- polling one feed


@dataclass
class Checked:
    feed: Feed
    new: list[Entry] = field(default_factory=list)  # not seen in this feed before, oldest first
    read: FeedRead | None = None
    error: FeedError | None = None
    unchanged: bool = False


async def check_feed(reader: FeedReader, fs: FeedStore, feed: Feed, interval: timedelta) -> Checked:
    """Poll one feed: record a failure or "not modified" here; return the entries it has not had before."""
    now = fs.now()
    try:
        read = await reader.read(feed.feed_url, feed.etag, feed.last_modified)
    except FeedError as e:
        fs.record_failure(feed.id, e.code, e.detail, now + backoff(interval, feed.errors + 1))
        return Checked(feed, error=e)
    except Exception as e:  # noqa: BLE001 - one feed must never stop the others
        err = FeedError("failed", f"{type(e).__name__}: {e}")
        fs.record_failure(feed.id, err.code, err.detail, now + backoff(interval, feed.errors + 1))
        return Checked(feed, error=err)
    if read.parsed is None:
        fs.record_unchanged(feed.id, now + interval)
        return Checked(feed, read=read, unchanged=True)
    entries = read.parsed.entries
    known = fs.known_keys(feed.id, [e.key for e in entries])
    new = [e for e in entries if e.key not in known]
    new.reverse()  # feeds list the newest first: handle (and post) the oldest first
    return Checked(feed, new=new, read=read)


def new_item(entry: Entry, message_id: int | None = None, post: str = "") -> NewItem:
    return NewItem(entry.key, text_key(entry.title), entry.link, message_id, post)


# --------------------------------------------------------------------------- commands


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


async def follow(reader: FeedReader, fs: FeedStore, platform: str, chat_id: str, user_id: str, args: str,
                 lang: str, interval: timedelta) -> Reply:
    """/follow <url> [post|digest]: read the feed now and record its entries; new ones count from here."""
    words = args.split()
    if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in MODES):
        return _reply(lang, label("follow_usage", lang), "error")
    url = normalise_url(_unwrap(words[0]))
    if url is None:
        return _reply(lang, label("follow_bad_url", lang, url=words[0][:80]), "error", True)
    mode = words[1].lower() if len(words) == 2 else ""
    if fs.find(platform, chat_id, url):
        return _reply(lang, label("follow_already", lang, url=url[:200]), "status", True)
    if fs.count_feeds(platform, chat_id) >= MAX_FEEDS_PER_CHAT:
        return _reply(lang, label("follow_limit", lang, n=MAX_FEEDS_PER_CHAT), "error")
    try:
        read = await reader.read(url, discover=True)
    except FeedError as e:
        return _reply(lang, label("follow_failed", lang, url=url[:200], why=error_text(e.code, lang, e.status)),
                      "error", True)
    assert read.parsed is not None
    feed_url = read.feed_url
    if feed_url != url and fs.find(platform, chat_id, feed_url):
        return _reply(lang, label("follow_already", lang, url=feed_url[:200]), "status", True)
    parsed = read.parsed
    fs.add_feed(platform, chat_id, url=url, feed_url=feed_url, title=parsed.title, mode=mode,
                created_by=user_id, etag=read.doc.etag, last_modified=read.doc.last_modified,
                next_poll_at=fs.now() + interval, note=feed_note(parsed, read.doc),
                entries=[new_item(e) for e in parsed.entries])
    chat = fs.chat_settings(platform, chat_id)
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


def _pick(fs: FeedStore, platform: str, chat_id: str, which: str) -> Feed | None:
    feeds = fs.feeds(platform, chat_id)
    which = _unwrap(which)
    if which.isdigit():
        n = int(which)
        return feeds[n - 1] if 1 <= n <= len(feeds) else None
    url = normalise_url(which) or which
    return next((f for f in feeds if url in (f.url, f.feed_url)), None)


def unfollow(fs: FeedStore, platform: str, chat_id: str, args: str, lang: str) -> Reply:
    """/unfollow <url|number>"""
    which = args.strip()
    if not which or len(which.split()) != 1:
        return _reply(lang, label("unfollow_usage", lang), "error")
    feed = _pick(fs, platform, chat_id, which)
    if feed is None:
        return _reply(lang, label("unfollow_unknown", lang, which=which[:80]), "error", True)
    fs.remove_feed(feed.id)
    return _reply(lang, label("unfollow_done", lang, title=feed.name[:200]), "status", True)


def feeds_list(fs: FeedStore, platform: str, chat_id: str, lang: str) -> Reply:
    """/feeds: every feed with its last fetch, entries seen, mode and last error or note."""
    feeds = fs.feeds(platform, chat_id)
    chat = fs.chat_settings(platform, chat_id)
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


def feeds_settings(fs: FeedStore, platform: str, chat_id: str, args: str, lang: str) -> Reply | None:
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
        chat = fs.set_chat_settings(platform, chat_id, mode="post", per_hour=per_hour)
    elif words == ["digest"]:
        chat = fs.set_chat_settings(platform, chat_id, mode="digest")
    elif words[0] == "floor" and len(words) == 2 and words[1] in (*FLOORS, "default"):
        # "default": follow the chat's /settings floor again
        chat = fs.set_chat_settings(platform, chat_id, floor="" if words[1] == "default" else words[1])
    elif len(words) == 2 and words[0].isdigit() and words[1] in (*MODES, "default"):
        feed = _pick(fs, platform, chat_id, words[0])
        if feed is None:
            return _reply(lang, label("unfollow_unknown", lang, which=words[0]), "error", True)
        mode = "" if words[1] == "default" else words[1]
        fs.set_mode(feed.id, mode)
        chat = fs.chat_settings(platform, chat_id)
        return _reply(lang, label("feeds_mode_one", lang, title=feed.name[:200],
                                  mode=_mode_text(mode or chat.mode, chat.per_hour, chat.floor, lang)), "status", True)
    else:
        return None
    return _reply(lang, label("feeds_mode_all", lang, mode=_mode_text(chat.mode, chat.per_hour, chat.floor, lang)))
