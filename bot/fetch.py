"""Fetching a pasted link's page, or a feed, safely: through the address guard, with size and time caps.

Connections go through address_guard.py's transport (every resolved address checked, connected to
by address). Redirects are followed by hand (at most 5) so each hop's scheme and port are checked
too.

Only the first HEAD_BYTES of a pasted link's page are read: the headline sits in its <head>, and
page.py scans a bounded window in linear time, on the event loop, inside the same time budget as
the fetch. Documents (feeds) are read up to MAX_BYTES. Failures are fetch_errors.py's `LinkError`s.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from .address_guard import AddressGuard, GuardedTransport, Resolver, loop_resolve
from .fetch_errors import (
    BadStatus,
    BadURL,
    FetchTimeout,
    LinkError,
    NetworkError,
    NoHeadline,
    NotHTML,
    TooManyRedirects,
    UnsupportedScheme,
    WrongType,
)
from .page import decode_html, parse_headline

MAX_BYTES = 2 * 1024 * 1024  # bytes of a document read at most (feeds)
HEAD_BYTES = 256 * 1024  # bytes of a pasted link's page read: its head, with room for multi-byte text
MAX_REDIRECTS = 5
TOTAL_TIMEOUT = 5.0
HTML_TYPES = ("text/html", "application/xhtml+xml")
USER_AGENT = (
    "Mozilla/5.0 (compatible; gatebot/0.1; link preview for a chat bot) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
)
T = TypeVar("T")


# --------------------------------------------------------------------------- fetching


_BAD_HOST = re.compile(r"[\s\x00-\x1f\x7f<>\"{}|\\^`%/?#@]|\.\.")  # never part of a real host name


def _short(url: str) -> str:
    return url if len(url) <= 200 else url[:199] + "…"


@dataclass
class Page:
    url: str  # as asked
    final_url: str  # after redirects
    title: str
    description: str
    codec: str
    size: int  # bytes read (at most HEAD_BYTES)
    truncated: bool


@dataclass
class Document:
    """A fetched resource's raw body (feeds); empty when the server says it has not changed (304)."""

    url: str  # as asked
    final_url: str  # after redirects
    status: int  # 200, or 304 (not modified)
    content_type: str
    body: bytes  # at most MAX_BYTES, content encoding undone
    truncated: bool
    etag: str = ""
    last_modified: str = ""


class _Redirect(Exception):
    """A redirect, raised from the response hook before httpx parses the Location itself (it would
    raise its own InvalidURL for "javascript:..." or "http://[::1"): the fetch loop checks it."""

    def __init__(self, location: str):
        super().__init__(location)
        self.location = location


async def _stop_at_redirect(response: httpx.Response) -> None:
    location = response.headers.get("location", "").strip()
    if response.status_code in (301, 302, 303, 307, 308) and location:
        raise _Redirect(location)


class _Inflater:
    """Content-Encoding gzip/deflate with a cap on the *decoded* size (no zip bombs)."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        self.d = zlib.decompressobj(47 if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS) if encoding else None
        self.raw_deflate_tried = False

    def feed(self, chunk: bytes, room: int) -> tuple[bytes, bool]:
        """Decoded bytes (at most `room`) and whether more would have come out."""
        if self.d is None:
            return chunk[:room], len(chunk) > room
        try:
            out = self.d.decompress(chunk, room)
        except zlib.error:
            if self.encoding == "deflate" and not self.raw_deflate_tried:  # raw deflate, no zlib header
                self.raw_deflate_tried = True
                self.d = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self.d.decompress(chunk, room)
            else:
                raise
        return out, bool(self.d.unconsumed_tail)


class LinkFetcher:
    """Fetches one page's head safely. Stateless apart from its guard and settings."""

    def __init__(
        self,
        guard: AddressGuard,
        *,
        timeout: float = TOTAL_TIMEOUT,
        max_bytes: int = MAX_BYTES,
        max_redirects: int = MAX_REDIRECTS,
        resolver: Resolver = loop_resolve,
    ):
        self.guard = guard
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.resolver = resolver

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=GuardedTransport(self.guard, self.resolver),
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            trust_env=False,
            event_hooks={"response": [_stop_at_redirect]},
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
                "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8",
                "Accept-Encoding": "gzip, deflate",
            },
        )

    async def fetch(self, url: str) -> Page:
        """Read the page at `url`; raise a LinkError saying why not."""
        return await self._guarded(url, lambda client: self._fetch(client, url))

    async def _guarded(self, url: str, work: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
        """Run a fetch within the time budget; every failure becomes a LinkError."""
        try:
            async with asyncio.timeout(self.timeout):
                async with self.client() as client:
                    return await work(client)
        except TimeoutError as e:
            raise FetchTimeout(f"{url} took longer than {self.timeout:g} s") from e
        except LinkError:
            raise
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, UnicodeError) as e:
            # a malformed address, pasted or in a redirect's Location (bad port, brackets, spaces)
            raise BadURL(f"{url}: {type(e).__name__}: {e}") from e
        except httpx.TimeoutException as e:
            raise FetchTimeout(f"{url} took longer than {self.timeout:g} s") from e
        except httpx.RemoteProtocolError as e:
            if "location header" in str(e).lower():  # httpx checks a redirect's Location before we see it
                raise BadURL(f"{url}: {e}") from e
            raise NetworkError(f"{url}: {type(e).__name__}: {e}") from e
        except (httpx.HTTPError, httpcore.NetworkError, OSError, zlib.error) as e:
            raise NetworkError(f"{url}: {type(e).__name__}: {e}") from e

    def _check_hop(self, current: str) -> None:
        """What every URL is checked for before a request, the first one and each redirect's."""
        parts = urlsplit(current)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise UnsupportedScheme(f"{_short(current)}: only http and https links are read")
        if not parts.hostname or _BAD_HOST.search(parts.hostname):
            raise BadURL(f"{_short(current)}: no usable host name")
        self.guard.check_port(_short(current), parts.port or (443 if scheme == "https" else 80))

    async def _fetch(self, client: httpx.AsyncClient, url: str) -> Page:
        current = url
        for hop in range(self.max_redirects + 1):
            self._check_hop(current)
            try:
                async with client.stream("GET", current) as resp:
                    if resp.status_code >= 400:
                        raise BadStatus(resp.status_code, current)
                    ctype = resp.headers.get("content-type", "")
                    mime = ctype.split(";", 1)[0].strip().lower()
                    if mime not in HTML_TYPES:
                        raise NotHTML(f"{current} is {mime or 'of no stated type'}, not an HTML page")
                    data, truncated = await self._read(resp, min(self.max_bytes, HEAD_BYTES))
            except _Redirect as hop_to:
                if hop == self.max_redirects:
                    raise TooManyRedirects(f"{url}: more than {self.max_redirects} redirects") from None
                current = urljoin(current, hop_to.location)  # checked at the top of the loop, like the first URL
                continue
            # Decoding a bounded read and scanning a bounded window: a few ms at worst, so inline.
            html, codec = decode_html(data, ctype)
            title, description = parse_headline(html)
            if not title:
                raise NoHeadline(f"{current} has no title")
            return Page(url, current, title, description, codec, len(data), truncated)
        raise TooManyRedirects(f"{url}: more than {self.max_redirects} redirects")  # pragma: no cover

    async def _read(self, resp: httpx.Response, limit: int | None = None) -> tuple[bytes, bool]:
        limit = self.max_bytes if limit is None else limit
        encoding = resp.headers.get("content-encoding", "").strip().lower()
        if encoding in ("", "identity"):
            encoding = ""
        elif encoding not in ("gzip", "x-gzip", "deflate"):
            raise NetworkError(f"unsupported content encoding {encoding!r}")
        inflater = _Inflater(encoding)
        buf = bytearray()
        async for chunk in resp.aiter_raw():
            out, more = inflater.feed(chunk, limit - len(buf))
            buf += out
            if more or len(buf) >= limit:
                return bytes(buf[:limit]), True  # enough: stop reading here
        return bytes(buf), False

    # ------------------------------------------------------------------ raw documents (feeds)

    async def fetch_document(self, url: str, *, accept: Sequence[str],
                             headers: Mapping[str, str] | None = None) -> Document:
        """Read the body at `url` if its type is one of `accept`; raise a LinkError saying why not.

        The same guard, caps and hop-by-hop redirect checks as `fetch`. `headers` go with the request
        (If-None-Match / If-Modified-Since for a conditional GET); a 304 answer gives an empty body.
        """
        return await self._guarded(url, lambda client: self._fetch_document(client, url, tuple(accept),
                                                                            dict(headers or {})))

    async def _fetch_document(self, client: httpx.AsyncClient, url: str, accept: tuple[str, ...],
                              headers: dict[str, str]) -> Document:
        current = url
        for hop in range(self.max_redirects + 1):
            self._check_hop(current)
            try:
                async with client.stream("GET", current, headers=headers) as resp:
                    etag = resp.headers.get("etag", "")[:200]
                    modified = resp.headers.get("last-modified", "")[:100]
                    ctype = resp.headers.get("content-type", "")
                    if resp.status_code == 304:
                        return Document(url, current, 304, ctype, b"", False, etag, modified)
                    if resp.status_code >= 400:
                        raise BadStatus(resp.status_code, current)
                    mime = ctype.split(";", 1)[0].strip().lower()
                    if mime not in accept:
                        raise WrongType(f"{current} is {mime or 'of no stated type'}")
                    data, truncated = await self._read(resp)
            except _Redirect as hop_to:
                if hop == self.max_redirects:
                    raise TooManyRedirects(f"{url}: more than {self.max_redirects} redirects") from None
                current = urljoin(current, hop_to.location)
                continue
            return Document(url, current, resp.status_code, ctype, data, truncated, etag, modified)
        raise TooManyRedirects(f"{url}: more than {self.max_redirects} redirects")  # pragma: no cover
