"""Pasted links: find them in a message and read each one's headline through the cache.

1. `extract_links` finds at most 3 http(s) URLs: plain URLs, Slack's `<https://...|label>` form,
   and URLs the adapter passes from platform entities (Telegram url / text_link).
2. `LinkReader.read_many` reads them in parallel (asyncio.gather), each through the link cache
   (table link_cache, 24 h for pages read, shorter for transient failures) and an in-flight map, so
   one URL is fetched at most once at a time and at most once per 24 h.

Fetching and its safety rules live in fetch.py, headline parsing in page.py; what to answer for a
message with links is the service's business.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

from .address_guard import AddressGuard, Resolver, loop_resolve
from .fetch import MAX_BYTES, TOTAL_TIMEOUT, LinkFetcher
from .fetch_errors import LinkError
from .store import Store

MAX_LINKS = 3
MAX_URL_CHARS = 4096  # longer "links" are not read (nor cached under a 40,000-character key)
_COUNTED = 50  # distinct links told apart in one message (FoundLinks.more stops counting there)
CACHE_TTL = timedelta(hours=24)
CACHE_TTL_TRANSIENT = timedelta(minutes=10)  # timeouts, network errors, 5xx: worth another try soon


# --------------------------------------------------------------------------- finding links

# ASCII only: a Chinese sentence often runs straight on from a URL ("见https://a.cn/x今天发布").
_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+", re.IGNORECASE)
# No "<" inside a Slack link: an unclosed "<https://..." then fails at the next "<", so a message
# of many of them costs linear time, not a scan to the end of the text from each one.
_SLACK = re.compile(r"<(https?://[^|<>\s]+)(?:\|([^<>]*))?>", re.IGNORECASE)
_ANY_LINK = re.compile(f"{_SLACK.pattern}|{_URL.pattern}", re.IGNORECASE)
_TRAIL = ".,;:!?'\"*_~"
_PAIRS = {")": "(", "]": "[", "}": "{"}


def _trim(url: str) -> str:
    """Drop trailing punctuation, and closing brackets that close nothing opened in the URL."""
    end = len(url)
    counts = {c: url.count(c) for c in (*_PAIRS, *_PAIRS.values())}  # counted once: linear in the URL
    while end:
        last = url[end - 1]
        if last in _TRAIL:
            end -= 1
        elif last in _PAIRS and counts[last] > counts[_PAIRS[last]]:
            counts[last] -= 1
            end -= 1
        else:
            break
    return url[:end]


def _slack_unescape(s: str) -> str:
    return s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def normalise_url(url: str) -> str | None:
    """The URL to fetch and cache under (fragment dropped), or None if it is not http(s)."""
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        return None
    if "://" not in url[:12]:
        url = "http://" + url  # Telegram url entities can be "www.example.com"
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    netloc = parts.netloc.lower() if "@" not in parts.netloc else None
    if netloc is None:
        return None  # credentials in a pasted link: not ours to use
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


@dataclass(frozen=True)
class FoundLinks:
    urls: list[str]  # normalised, distinct, at most MAX_LINKS
    text: str  # the user's own words: plain URLs removed, Slack links replaced by their label
    more: int = 0  # links found beyond MAX_LINKS (not read)


def extract_links(text: str, extra: Iterable[str] = (), limit: int = MAX_LINKS) -> FoundLinks:
    """Links in a message: plain http(s) URLs, Slack `<url|label>`, plus `extra` entity URLs.

    `extra` is for adapters whose platform marks links itself (Telegram url / text_link entities,
    whose URL may not appear in the text at all).
    """
    found: dict[str, None] = {}  # ordered, with constant-time membership

    seen: set[str] = set()

    def add(raw: str) -> None:
        if len(found) >= _COUNTED or raw in seen:
            return  # enough to say "only the first 3 were read"; the rest is not worth parsing
        seen.add(raw)
        url = normalise_url(raw)
        if url:
            found.setdefault(url)

    def one(m: re.Match[str]) -> str:
        if m.group(1):  # Slack's <url|label>: keep the label as the user's words
            url = _slack_unescape(m.group(1))
            add(url)
            label = (m.group(2) or "").strip()
            return "" if not label or label in (url, m.group(1)) else _slack_unescape(label)
        url = _trim(m.group(0))
        add(url)
        return m.group(0)[len(url):]

    own = _ANY_LINK.sub(one, text or "")  # one pass, so links keep the order they were written in
    for raw in extra:
        if raw:
            add(raw)
    own = re.sub(r"[ \t]{2,}", " ", own).strip()
    urls = list(found)
    return FoundLinks(urls=urls[:limit], text=own, more=max(0, len(urls) - limit))


# --------------------------------------------------------------------------- reading with the cache


@dataclass
class LinkResult:
    url: str
    ok: bool
    title: str = ""
    description: str = ""
    error: str = ""  # LinkError code ("refused", "timeout", ...) when not ok
    detail: str = ""  # the error's message, for logs
    verdict_json: str = ""  # the verdict of the headline alone, as cached
    cached: bool = False

    @property
    def headline_text(self) -> str:
        return "\n".join(p for p in (self.title, self.description) if p)


@dataclass
class LinkReader:
    """Reads links for the service: guard, fetcher, 24 h cache and in-flight de-duplication.

    Build one per process with `LinkReader.from_settings(settings)` and set `service.link_reader`.
    """

    guard: AddressGuard = field(default_factory=AddressGuard)
    timeout: float = TOTAL_TIMEOUT
    max_bytes: int = MAX_BYTES
    resolver: Resolver = loop_resolve
    fetches: int = 0  # network fetches started (tests and the benchmark read it)
    _inflight: dict[str, asyncio.Task] = field(default_factory=dict, repr=False)

    @classmethod
    def from_settings(cls, settings, **kwargs) -> LinkReader:
        return cls(guard=AddressGuard(allow_private=bool(settings.gatebot_fetch_allow_private)), **kwargs)

    def fetcher(self) -> LinkFetcher:
        return LinkFetcher(self.guard, timeout=self.timeout, max_bytes=self.max_bytes, resolver=self.resolver)

    async def read_many(self, urls: Sequence[str], store: Store, classify=None) -> list[LinkResult]:
        """Read up to MAX_LINKS links in parallel; never raises; results in the order given."""
        return list(await asyncio.gather(*(self.read(u, store, classify) for u in urls[:MAX_LINKS])))

    async def read(self, url: str, store: Store, classify=None) -> LinkResult:
        cached = cache_get(store, url)
        if cached is not None:
            return cached
        task = self._inflight.get(url)
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.get_running_loop().create_task(self._read_fresh(url, store, classify))
            self._inflight[url] = task
            task.add_done_callback(functools.partial(self._forget, url))
        return await asyncio.shield(task)

    def _forget(self, url: str, task: asyncio.Task) -> None:
        """A read finished: later pastes of the URL go to the cache (unless a newer read took its place)."""
        if self._inflight.get(url) is task:
            self._inflight.pop(url, None)

    async def _read_fresh(self, url: str, store: Store, classify) -> LinkResult:
        self.fetches += 1
        try:
            page = await self.fetcher().fetch(url)
        except LinkError as e:
            result = LinkResult(url, ok=False, error=e.code, detail=str(e))
            cache_put(store, result, CACHE_TTL_TRANSIENT if e.transient else CACHE_TTL)
            return result
        except Exception as e:  # noqa: BLE001 - a link must never break the reply
            return LinkResult(url, ok=False, error="failed", detail=f"{type(e).__name__}: {e}")
        result = LinkResult(url, ok=True, title=page.title, description=page.description)
        if classify is not None:
            result.verdict_json = classify(result.headline_text).model_dump_json()
        cache_put(store, result, CACHE_TTL)
        return result


def cache_get(store: Store, url: str) -> LinkResult | None:
    """A fresh cached result for `url`, else None."""
    row = store.cached_link(url)
    if row is None:
        return None
    return LinkResult(url, ok=bool(row["ok"]), title=row["title"] or "", description=row["description"] or "",
                      error=row["error"] or "", detail=row["detail"] or "", verdict_json=row["verdict"] or "",
                      cached=True)


def cache_put(store: Store, result: LinkResult, ttl: timedelta) -> None:
    store.cache_link(result.url, ok=result.ok, title=result.title, description=result.description,
                     error=result.error, detail=result.detail, verdict=result.verdict_json, ttl=ttl)


# Kept for adapters: the same extraction the service uses, e.g. for Telegram entities.
def entity_urls(entities: Iterable[tuple[str, str | None, str]]) -> list[str]:
    """URLs from Telegram-style entities given as (type, url, text) triples.

    type "text_link" carries its URL in `url`; type "url" is a link written in the text itself
    (`text` is the entity's slice of the message). Other entity types are ignored.
    """
    out: list[str] = []
    for kind, url, text in entities:
        if kind == "text_link" and url:
            out.append(url)
        elif kind == "url" and text:
            out.append(text)
    return out
