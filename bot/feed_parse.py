"""A fetched feed document read safely: bounded, parsed off the event loop, described for /feeds.

`parse_document` turns the bytes into a `ParsedFeed` with feedparser (RSS 0.9x/1.0/2.0, Atom), or
lists the feeds an HTML page links with `<link rel="alternate">`. It is CPU-bound: `parse_off_loop`
runs it in the worker process (workers.py), after `bound_document` has cut a huge or deeply nested
document down to the first MAX_ENTRIES entries, so a 2 MB feed costs milliseconds rather than seconds.

feedparser only ever gets bytes, never a URL: it must not fetch anything itself.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import xml.parsers.expat
import xml.sax
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from .fetch import Document
from .page import HEAD_CHARS, decode_html, feed_links
from .reply import LABELS, label
from .workers import WorkerError, run_cpu

log = logging.getLogger("gatebot.feeds")

MAX_ENTRIES = 200  # entries read per poll, first in the document (feeds list the newest first)
MAX_TITLE = 300
MAX_SUMMARY = 1000
# What the parser reads of a feed (bound_document): a feed nests 4-6 elements deep (inline XHTML
# content a few more) and 200 rich entries hold a few thousand elements; feedparser spends ~15 µs
# per element, and nested unclosed tags cost it far more.
MAX_DEPTH = 32
MAX_ELEMENTS = 20_000
MAX_UTF16_BYTES = 512 * 1024
HTML_TYPES = ("text/html", "application/xhtml+xml")


class FeedError(Exception):
    """A feed could not be read; `code` picks the wording (LABELS feed_err_<code>)."""

    def __init__(self, code: str, detail: str = "", status: int | None = None):
        super().__init__(detail or code)
        self.code = code
        self.detail = detail or code
        self.status = status


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
