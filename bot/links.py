"""Pasted links: find them in a message, read the page behind each one safely, quote its headline.

What happens to a message with links (see `handle_with_links`):

1. `extract_links` finds at most 3 http(s) URLs: plain URLs, Slack's `<https://...|label>` form,
   and URLs the adapter passes from platform entities (Telegram url / text_link).
2. `LinkReader.read_many` reads them in parallel (asyncio.gather), each through the link cache
   (table link_cache, 24 h for pages read, shorter for transient failures) and an in-flight map, so
   one URL is fetched at most once at a time and at most once per 24 h.
3. The user's own text (URLs removed) and the headlines read are classified together; the reply
   quotes each headline and says, for each link that could not be read, why.

Safety. Every TCP connection, for the first request and for each redirect hop, goes through
`GuardedBackend`: the host is resolved with the event loop's getaddrinfo, *every* resolved address
is checked by `AddressGuard`, and the socket is opened to a checked address (not to the name), so a
DNS answer that changes between check and connect (rebinding) cannot reach the inside. Redirects
are followed by hand (at most 5) so each hop's scheme is checked too; proxies from the environment
are ignored (trust_env=False), since a proxy would make the address check meaningless.

HTML is parsed with the standard library's html.parser: no dependency, tolerant of broken markup,
maintained with CPython, and fast enough because parsing stops at <body> once a headline is found
(large documents are parsed in a worker thread so the event loop keeps serving other chats).
"""

from __future__ import annotations

import asyncio
import codecs
import ipaddress
import re
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpcore
import httpx

if TYPE_CHECKING:  # pragma: no cover
    from .reply import Reply
    from .service import Message, Service
    from .store import Store

MAX_LINKS = 3
MAX_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5
TOTAL_TIMEOUT = 5.0
CACHE_TTL = timedelta(hours=24)
CACHE_TTL_TRANSIENT = timedelta(minutes=10)  # timeouts, network errors, 5xx: worth another try soon
HTML_TYPES = ("text/html", "application/xhtml+xml")
USER_AGENT = (
    "Mozilla/5.0 (compatible; gatebot/0.1; link preview for a chat bot) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
)
THREAD_PARSE_BYTES = 256 * 1024  # documents larger than this are parsed off the event loop


# --------------------------------------------------------------------------- errors


class LinkError(Exception):
    """A link could not be read. `code` picks the reply wording (LABELS link_err_<code>)."""

    code = "failed"
    transient = False  # worth retrying before the 24 h cache runs out


class RefusedAddress(LinkError):
    code = "refused"


class UnsupportedScheme(LinkError):
    code = "scheme"


class TooManyRedirects(LinkError):
    code = "redirects"


class NotHTML(LinkError):
    code = "not_html"


class FetchTimeout(LinkError):
    code = "timeout"
    transient = True


class BadStatus(LinkError):
    code = "status"

    def __init__(self, status: int, url: str):
        super().__init__(f"{url} answered HTTP {status}")
        self.status = status
        self.transient = status >= 500 or status == 429


class NetworkError(LinkError):
    code = "network"
    transient = True


class NoHeadline(LinkError):
    code = "no_headline"


# --------------------------------------------------------------------------- the address guard

_V4_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")


def parse_ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 host in any form inet_aton accepts (decimal, octal, hex, 1-4 parts), else None.

    "2130706433", "0x7f000001", "0177.0.0.1", "127.1" and "0x7f.1" all mean 127.0.0.1 to the C
    library, so they are normalised before any check. Anything else (a name) gives None.
    """
    host = host.strip().rstrip(".")
    if not host or len(host) > 64:
        return None
    parts = host.split(".")
    if len(parts) > 4 or not all(_V4_PART.match(p) for p in parts):
        return None
    values = []
    for p in parts:
        if p[:2].lower() == "0x":
            values.append(int(p[2:] or "0", 16))
        elif len(p) > 1 and p[0] == "0":
            values.append(int(p, 8))
        else:
            values.append(int(p))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    n = 0
    for v in head:
        n = (n << 8) | v
    n = (n << (8 * (4 - len(head)))) | last
    return ipaddress.IPv4Address(n)


def parse_ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
    return parse_ipv4_literal(host)


def _v4_forbidden(ip: ipaddress.IPv4Address) -> str | None:
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"  # 169.254.0.0/16, cloud metadata at 169.254.169.254
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not public"  # 100.64.0.0/10 shared address space, benchmarking ranges, ...
    return None


def address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | str) -> str | None:
    """Why this address must not be fetched ("loopback", "private", ...), or None if public."""
    if isinstance(ip, str):
        parsed = parse_ip_literal(ip)
        if parsed is None:
            return "not an IP address"
        ip = parsed
    if isinstance(ip, ipaddress.IPv4Address):
        return _v4_forbidden(ip)
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped IPv6"  # never legitimate in DNS; ::ffff:127.0.0.1 reaches loopback
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_site_local:
        return "site-local"
    # Addresses that embed an IPv4 address: 6to4, NAT64 (64:ff9b::/96), IPv4-compatible (::a.b.c.d).
    embedded = None
    if ip.sixtofour is not None:
        embedded = ip.sixtofour
    elif ip in ipaddress.IPv6Network("64:ff9b::/96") or ip in ipaddress.IPv6Network("::/96"):
        embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if embedded is not None:
        inner = _v4_forbidden(embedded)
        if inner:
            return f"embeds a {inner} IPv4 address"
    if ip.teredo is not None:
        return "Teredo"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global and embedded is None:
        return "not public"
    return None


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def loop_resolve(host: str, port: int) -> list[str]:
    """All addresses for a host, via the event loop's getaddrinfo (runs in its executor)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        addr = str(sockaddr[0]).split("%", 1)[0]
        if addr not in seen:
            seen.append(addr)
    return seen


@dataclass(frozen=True)
class AddressGuard:
    """Decides which addresses may be connected to.

    allow_private: GATEBOT_FETCH_ALLOW_PRIVATE, lifts the check (intranet sites, tests).
    trusted_hosts: host names whose addresses are not checked. Empty in production; tests use it to
    stand in for "a public site" while every test server listens on 127.0.0.1.
    """

    allow_private: bool = False
    trusted_hosts: frozenset[str] = frozenset()

    def check(self, host: str, addresses: Sequence[str]) -> None:
        if self.allow_private or host.lower().rstrip(".") in self.trusted_hosts:
            return
        if not addresses:
            raise NetworkError(f"{host} has no address")
        for addr in addresses:
            problem = address_problem(addr)
            if problem:
                shown = host if addr == host else f"{host} ({addr})"
                raise RefusedAddress(f"{shown} is not a public address: {problem}")


class GuardedBackend(httpcore.AnyIOBackend):
    """httpcore network backend that resolves, checks, then connects to the checked address."""

    def __init__(self, guard: AddressGuard, resolver: Resolver = loop_resolve):
        self.guard = guard
        self.resolver = resolver

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        host = host.decode("ascii") if isinstance(host, bytes) else str(host)
        host = host.strip("[]")
        literal = parse_ip_literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = await self.resolver(host, port)
            except OSError as e:
                raise NetworkError(f"cannot resolve {host}: {e}") from e
        self.guard.check(host, addresses)
        last: Exception | None = None
        for addr in addresses[:4]:  # connect to what was checked, never to the name again
            try:
                return await super().connect_tcp(addr, port, timeout=timeout, local_address=local_address,
                                                 socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                last = e
        raise NetworkError(f"cannot connect to {host}: {last}")


_SSL_CONTEXT: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    """One verified TLS context for the process (building one loads the CA bundle: ~20 ms)."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = httpx.create_ssl_context()
    return _SSL_CONTEXT


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool built on GuardedBackend (no proxies)."""

    def __init__(self, guard: AddressGuard, resolver: Resolver = loop_resolve):
        ctx = _ssl_context()
        super().__init__(verify=ctx, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ctx,
            max_connections=20,
            max_keepalive_connections=0,
            network_backend=GuardedBackend(guard, resolver),
        )


# --------------------------------------------------------------------------- finding links

# ASCII only: a Chinese sentence often runs straight on from a URL ("见https://a.cn/x今天发布").
_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+", re.IGNORECASE)
_SLACK = re.compile(r"<(https?://[^|>\s]+)(?:\|([^>]*))?>", re.IGNORECASE)
_ANY_LINK = re.compile(f"{_SLACK.pattern}|{_URL.pattern}", re.IGNORECASE)
_TRAIL = ".,;:!?'\"*_~"
_PAIRS = {")": "(", "]": "[", "}": "{"}


def _trim(url: str) -> str:
    while url:
        last = url[-1]
        if last in _TRAIL:
            url = url[:-1]
        elif last in _PAIRS and url.count(last) > url.count(_PAIRS[last]):
            url = url[:-1]
        else:
            break
    return url


def _slack_unescape(s: str) -> str:
    return s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def normalise_url(url: str) -> str | None:
    """The URL to fetch and cache under (fragment dropped), or None if it is not http(s)."""
    url = url.strip()
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
    found: list[str] = []

    def add(raw: str) -> None:
        url = normalise_url(raw)
        if url and url not in found:
            found.append(url)

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
    return FoundLinks(urls=found[:limit], text=own, more=max(0, len(found) - limit))


# --------------------------------------------------------------------------- charset and HTML

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
_LATINISH = {"latin-1", "iso8859-1", "ascii", "cp1252"}


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().strip("\"'").lower()
    if name in ("gb2312", "gbk", "x-gbk", "gb_2312-80", "cp936", "euc-cn"):
        return "gb18030"  # the superset: GB2312/GBK-labelled pages use its characters freely
    if name in ("iso-8859-1", "latin1", "us-ascii", "ascii"):
        return "cp1252"  # what browsers do with these labels
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def header_charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return _codec(value)
    return None


def _strict(data: bytes, codec: str) -> str | None:
    """Decode or None; an incomplete sequence at the very end (cut at 2 MB) is dropped."""
    try:
        return codecs.getincrementaldecoder(codec)(errors="strict").decode(data, final=False)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_html(data: bytes, content_type: str = "") -> tuple[str, str]:
    """Decode a page as real sites serve it; return (text, codec used).

    Order: a BOM; then UTF-8 if the bytes are valid UTF-8 (that is very rarely an accident, and it
    rescues UTF-8 pages whose header names another charset); then the declared charsets (header,
    <meta charset> / http-equiv; meta first when the header only says latin-1, a common server
    default); then GB18030, then cp1252. The first that decodes without error wins.
    """
    for bom, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace"), codec
    text = _strict(data, "utf-8")
    if text is not None:
        return text, "utf-8"
    declared_header = header_charset(content_type)
    m = _META_CHARSET.search(data[:8192])
    declared_meta = _codec(m.group(1).decode("ascii", "ignore")) if m else None
    order = [declared_header, declared_meta]
    if declared_header in _LATINISH and declared_meta:
        order = [declared_meta, declared_header]
    candidates = [c for c in dict.fromkeys([*order, "gb18030", "cp1252"]) if c and c != "utf-8"]
    for codec in candidates:
        text = _strict(data, codec)
        if text is not None:
            return text, codec
    codec = candidates[0]
    return data.decode(codec, errors="replace"), codec


class _StopParsing(Exception):
    pass


class HeadlineParser(HTMLParser):
    """Collects <title> and the og:/twitter:/description metas; stops at <body> once it has a title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title_parts: list[str] | None = None
        self.title: str | None = None
        self._skip = 0  # inside <svg>: its <title> is not the page's

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            a = {k.lower(): (v or "") for k, v in attrs}
            key = (a.get("property") or a.get("name") or "").strip().lower()
            if key in ("og:title", "twitter:title", "og:description", "twitter:description", "description"):
                content = a.get("content", "").strip()
                if content and key not in self.meta:
                    self.meta[key] = content
        elif tag == "svg":
            self._skip += 1
        elif tag == "title" and not self._skip and self.title is None:
            self.title_parts = []
        elif tag == "body" and self.headline():
            raise _StopParsing

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg" and self._skip:
            self._skip -= 1
        elif tag == "title" and self.title_parts is not None:
            self.title = "".join(self.title_parts)
            self.title_parts = None
        elif tag == "head" and self.headline():
            raise _StopParsing

    def handle_data(self, data: str) -> None:
        if self.title_parts is not None:
            self.title_parts.append(data)

    def headline(self) -> str:
        for value in (self.meta.get("og:title"), self.meta.get("twitter:title"), self.title):
            value = _squash(value or "")
            if value:
                return value
        return ""

    def description(self) -> str:
        for key in ("og:description", "description", "twitter:description"):
            value = _squash(self.meta.get(key, ""))
            if value:
                return value
        return ""


def _squash(s: str) -> str:
    return " ".join(s.split())


def parse_headline(html: str) -> tuple[str, str]:
    """(headline, description) of an HTML document; empty strings when absent."""
    parser = HeadlineParser()
    try:
        step = 64 * 1024
        for i in range(0, len(html), step):
            parser.feed(html[i:i + step])
        parser.close()
    except _StopParsing:
        pass
    if parser.title is None and parser.title_parts:  # unclosed <title>
        parser.title = "".join(parser.title_parts)[:1000]
    return parser.headline()[:500], parser.description()[:1000]


# --------------------------------------------------------------------------- fetching


@dataclass
class Page:
    url: str  # as asked
    final_url: str  # after redirects
    title: str
    description: str
    codec: str
    size: int  # bytes read (at most MAX_BYTES)
    truncated: bool


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
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
                "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8",
                "Accept-Encoding": "gzip, deflate",
            },
        )

    async def fetch(self, url: str) -> Page:
        """Read the page at `url`; raise a LinkError saying why not."""
        try:
            async with asyncio.timeout(self.timeout):
                async with self.client() as client:
                    return await self._fetch(client, url)
        except TimeoutError as e:
            raise FetchTimeout(f"{url} took longer than {self.timeout:g} s") from e
        except LinkError:
            raise
        except httpx.TimeoutException as e:
            raise FetchTimeout(f"{url} took longer than {self.timeout:g} s") from e
        except (httpx.HTTPError, httpcore.NetworkError, OSError, zlib.error) as e:
            raise NetworkError(f"{url}: {type(e).__name__}: {e}") from e

    async def _fetch(self, client: httpx.AsyncClient, url: str) -> Page:
        current = url
        for hop in range(self.max_redirects + 1):
            scheme = urlsplit(current).scheme.lower()
            if scheme not in ("http", "https"):
                raise UnsupportedScheme(f"{current}: only http and https links are read")
            async with client.stream("GET", current) as resp:
                if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get("location"):
                    if hop == self.max_redirects:
                        raise TooManyRedirects(f"{url}: more than {self.max_redirects} redirects")
                    current = urljoin(current, resp.headers["location"].strip())
                    continue
                if resp.status_code >= 400:
                    raise BadStatus(resp.status_code, current)
                ctype = resp.headers.get("content-type", "")
                mime = ctype.split(";", 1)[0].strip().lower()
                if mime not in HTML_TYPES:
                    raise NotHTML(f"{current} is {mime or 'of no stated type'}, not an HTML page")
                data, truncated = await self._read(resp)
            html, codec = decode_html(data, ctype)
            if len(data) > THREAD_PARSE_BYTES:
                title, description = await asyncio.to_thread(parse_headline, html)
            else:
                title, description = parse_headline(html)
            if not title:
                raise NoHeadline(f"{current} has no title")
            return Page(url, current, title, description, codec, len(data), truncated)
        raise TooManyRedirects(f"{url}: more than {self.max_redirects} redirects")  # pragma: no cover

    async def _read(self, resp: httpx.Response) -> tuple[bytes, bool]:
        encoding = resp.headers.get("content-encoding", "").strip().lower()
        if encoding in ("", "identity"):
            encoding = ""
        elif encoding not in ("gzip", "x-gzip", "deflate"):
            raise NetworkError(f"unsupported content encoding {encoding!r}")
        inflater = _Inflater(encoding)
        buf = bytearray()
        async for chunk in resp.aiter_raw():
            out, more = inflater.feed(chunk, self.max_bytes - len(buf))
            buf += out
            if more or len(buf) >= self.max_bytes:
                return bytes(buf[: self.max_bytes]), True  # 2 MB is plenty for a <head>: stop here
        return bytes(buf), False


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
            task.add_done_callback(lambda t, u=url: self._inflight.pop(u, None) if self._inflight.get(u) is t else None)
        return await asyncio.shield(task)

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


# --------------------------------------------------------------------------- the service side


def _short(url: str, n: int = 80) -> str:
    return url if len(url) <= n else url[: n - 1] + "…"


async def handle_with_links(service: Service, msg: Message, *, always: bool = False) -> Reply | None:
    """Service.ahandle_message (and /classify) for a message that may hold links.

    Without links, or without a link reader, this is the plain handling. With links: read them,
    classify the user's own text together with the headlines read, store the message (its text
    followed by the headlines, so the digest can list the item with its link), and build the
    verdict reply with the headlines quoted and a note for each link that could not be read.
    """
    from .reply import Block, label
    from .service import clean

    reader: LinkReader | None = getattr(service, "link_reader", None)
    raw = clean(msg.text)
    found = extract_links(raw, extra=getattr(msg, "links", ()) or ())
    if reader is None or not found.urls:
        if always:
            return service.classify_command(msg)
        return service.handle_message(msg)
    results = await reader.read_many(found.urls, service.store, service.classifier.classify)
    read = [r for r in results if r.ok]
    combined = "\n".join(p for p in [found.text, *(r.headline_text for r in read)] if p)
    verdict = service.classifier.classify(combined)
    stored = "\n".join([raw, *(r.title for r in read)])
    message_id, earlier = service.store.add_message(
        platform=msg.platform, chat_id=msg.chat_id, user_id=msg.user_id, text=stored,
        verdict=verdict, message_ref=msg.message_ref,
    )
    if verdict.gate == 0 and not (always or msg.is_direct or msg.addressed):
        return None
    reply = service._verdict_reply(verdict, combined, message_id, earlier)
    lang = reply.lang
    top: list[Block] = []
    if always and found.text:
        top.append(Block(kind="quote", text=found.text[:300] + ("…" if len(found.text) > 300 else ""), user_text=True))
    for r in read:
        top.append(Block(kind="quote", text=r.title[:300], user_text=True))
    for r in results:
        if not r.ok:
            why = label(f"link_err_{r.error}" if f"link_err_{r.error}" in _labels() else "link_err_failed", lang)
            top.append(Block(kind="note", text=label("link_unreadable", lang, url=_short(r.url), why=why), user_text=True))
    if found.more:
        top.append(Block(kind="note", text=label("link_more", lang, n=MAX_LINKS)))
    reply.blocks[0:0] = top
    return reply


def _labels() -> dict:
    from .reply import LABELS

    return LABELS


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


__all__ = [
    "AddressGuard", "BadStatus", "FetchTimeout", "FoundLinks", "GuardedBackend", "LinkError", "LinkFetcher",
    "LinkReader", "LinkResult", "NetworkError", "NoHeadline", "NotHTML", "Page", "RefusedAddress",
    "TooManyRedirects", "UnsupportedScheme", "address_problem", "decode_html", "entity_urls", "extract_links",
    "handle_with_links", "parse_headline", "parse_ipv4_literal",
]
