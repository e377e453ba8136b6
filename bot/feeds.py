"""Feeds a chat follows, read: fetched safely, parsed by feed_parse, and what is new in one found.

- `FeedReader` fetches through the same guarded fetcher as pasted links (every address rule, 5 s,
  2 MB, hop-by-hop redirects), with a conditional GET (ETag / Last-Modified), and has the document
  parsed off the event loop (feed_parse.py); with `discover`, a web page leads to the feed it links.
- `check_feed` polls one followed feed and returns its entries not seen before; classifying,
  storing and posting them is the poller's job (poller.py). /follow, /unfollow and /feeds are
  answered in feed_commands.py.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta

from .address_guard import AddressGuard, Resolver, loop_resolve
from .feed_parse import HTML_TYPES, Entry, FeedError, ParsedFeed, parse_off_loop
from .fetch import MAX_BYTES, TOTAL_TIMEOUT, Document, LinkFetcher
from .fetch_errors import BadStatus, LinkError
from .storage.feeds import Feed, NewItem
from .store import Store, text_key

FAILED_REMEMBERED = 256  # documents the feed worker was stopped on, remembered by their hash
BACKOFF_MAX = timedelta(hours=6)
FEED_TYPES = (
    "application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml", "text/xml",
    "application/x-rss+xml", "application/x-atom+xml", "application/feed+xml", "text/rss+xml", "text/atom+xml",
    "text/plain", "application/octet-stream", "binary/octet-stream", "",  # servers that mislabel feeds
    *HTML_TYPES,  # a page that links its feed
)
ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.9, "
          "text/xml;q=0.9, text/html;q=0.5, */*;q=0.1")


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


async def check_feed(reader: FeedReader, store: Store, feed: Feed, interval: timedelta) -> Checked:
    """Poll one feed: record a failure or "not modified" here; return the entries it has not had before."""
    try:
        read = await reader.read(feed.feed_url, feed.etag, feed.last_modified)
    except FeedError as e:
        store.record_feed_failure(feed.id, e.code, e.detail, backoff(interval, feed.errors + 1))
        return Checked(feed, error=e)
    except Exception as e:  # noqa: BLE001 - one feed must never stop the others
        err = FeedError("failed", f"{type(e).__name__}: {e}")
        store.record_feed_failure(feed.id, err.code, err.detail, backoff(interval, feed.errors + 1))
        return Checked(feed, error=err)
    if read.parsed is None:
        store.record_feed_unchanged(feed.id, interval)
        return Checked(feed, read=read, unchanged=True)
    entries = read.parsed.entries
    known = store.known_feed_keys(feed.id, [e.key for e in entries])
    new = [e for e in entries if e.key not in known]
    new.reverse()  # feeds list the newest first: handle (and post) the oldest first
    return Checked(feed, new=new, read=read)


def new_item(entry: Entry, message_id: int | None = None, post: str = "") -> NewItem:
    return NewItem(entry.key, text_key(entry.title), entry.link, message_id, post)
