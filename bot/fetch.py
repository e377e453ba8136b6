"""Fetching a pasted link's page safely: the address guard, a guarded transport, size and time caps.

Every TCP connection, for the first request and for each redirect hop, goes through
`GuardedBackend`: the host is resolved (getaddrinfo on a thread pool of its own, so a slow or
hostile name server can only hold up other links, never the chat platforms' own lookups), *every*
resolved address is checked by `AddressGuard` against an explicit table of special-purpose ranges
(the same on every Python version), and the socket is opened to a checked address (not to the
name), so a DNS answer that changes between check and connect (rebinding) cannot reach the inside.
Redirects are followed by hand (at most 5) so each hop's scheme and port are checked too: only
the web's ports (80, 443, 8080, 8443) are fetched, so a pasted link cannot make the bot talk to
mail, database or other services on public hosts. Proxies from the environment are ignored
(trust_env=False), since a proxy would make the address check meaningless.

Only the first HEAD_BYTES of a pasted link's page are read: the headline sits in its <head>, and
page.py scans a bounded window in linear time, on the event loop, inside the same time budget as
the fetch. Documents (feeds) are read up to MAX_BYTES.

Errors form one small hierarchy under `LinkError`; each carries a `code` that picks the reply's
wording (LABELS link_err_<code>) and whether the failure is worth retrying soon.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

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
WEB_PORTS = frozenset({80, 443, 8080, 8443})  # the ports pasted links may use (any port with allow_private)


# --------------------------------------------------------------------------- errors


class LinkError(Exception):
    """A link could not be read. `code` picks the reply wording (LABELS link_err_<code>)."""

    code = "failed"
    transient = False  # worth retrying before the 24 h cache runs out


class RefusedAddress(LinkError):
    code = "refused"


class RefusedPort(LinkError):
    code = "port"


class BadURL(LinkError):
    """A URL (pasted, or a redirect's Location) that is not a well-formed http(s) address."""

    code = "bad_url"


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


class WrongType(LinkError):
    """The resource is not of a type the caller accepts (a feed URL that serves an image, ...)."""

    code = "type"


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


def _nets(*pairs: tuple[str, str]) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]:
    return tuple((ipaddress.ip_network(net), why) for net, why in pairs)


# IANA's special-purpose registries, written out rather than read from `ipaddress` flags, whose
# answers change between Python versions (3.11 calls 192.0.0.8 global). First match wins.
V4_DENY = _nets(
    ("0.0.0.0/8", "unspecified"),  # "this network"; 0.0.0.0 reaches the local host on Linux
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space"),  # carrier-grade NAT
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),  # cloud metadata at 169.254.169.254
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),  # 192.0.0.8, DS-Lite, NAT64 discovery...
    ("192.0.2.0/24", "documentation"),
    ("192.31.196.0/24", "AS112"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("192.175.48.0/24", "AS112"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # includes 255.255.255.255, limited broadcast
)
V6_DENY = _nets(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", "IPv4-mapped IPv6"),  # never legitimate in DNS; ::ffff:127.0.0.1 reaches loopback
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing"),
    ("fc00::/7", "private"),  # unique local addresses
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")  # everything else in IPv6 is unassigned or special
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.ip_network("::/96")
_TEREDO = ipaddress.ip_network("2001::/32")
_IETF_V6 = ipaddress.ip_network("2001::/23")


def _v4_forbidden(ip: ipaddress.IPv4Address) -> str | None:
    for net, why in V4_DENY:
        if ip in net:
            return why
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
    for net, why in V6_DENY:
        if ip in net:
            return why
    # Addresses that embed an IPv4 address: NAT64 (64:ff9b::/96), IPv4-compatible (::a.b.c.d), 6to4.
    if ip in _NAT64 or ip in _V4_COMPATIBLE:
        inner = _v4_forbidden(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        return f"embeds a {inner} IPv4 address" if inner else None
    if ip.sixtofour is not None:
        inner = _v4_forbidden(ip.sixtofour)
        return f"embeds a {inner} IPv4 address" if inner else None
    if ip in _TEREDO:
        return "Teredo"
    if ip in _IETF_V6:
        return "IETF protocol assignments"
    if ip not in _GLOBAL_UNICAST:
        return "reserved"
    return None


Resolver = Callable[[str, int], Awaitable[list[str]]]


# getaddrinfo blocks a thread for as long as the name server takes (a hostile one: seconds, and
# the link's time budget cannot interrupt it). Pasted links resolve on these threads, never on the
# event loop's default executor, which the Telegram and Slack clients use for their own lookups.
_DNS_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="gatebot-link-dns")


async def loop_resolve(host: str, port: int) -> list[str]:
    """All addresses for a host (getaddrinfo on the link resolver's own threads)."""
    loop = asyncio.get_running_loop()
    infos = await loop.run_in_executor(_DNS_POOL, lambda: socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP))
    seen: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        addr = str(sockaddr[0]).split("%", 1)[0]
        if addr not in seen:
            seen.append(addr)
    return seen


@dataclass(frozen=True)
class AddressGuard:
    """Decides which addresses may be connected to.

    allow_private: GATEBOT_FETCH_ALLOW_PRIVATE, lifts the check and the port rule (intranet sites, tests).
    trusted_hosts: host names whose addresses are not checked. Empty in production; tests use it to
    stand in for "a public site" while every test server listens on 127.0.0.1.
    ports: the ports a link may use (WEB_PORTS); None allows any.
    """

    allow_private: bool = False
    trusted_hosts: frozenset[str] = frozenset()
    ports: frozenset[int] | None = WEB_PORTS  # None: any port

    def check_port(self, url: str, port: int) -> None:
        if self.allow_private or self.ports is None or port in self.ports:
            return
        raise RefusedPort(f"{url}: port {port} is not a web port (only {', '.join(map(str, sorted(self.ports)))})")

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
