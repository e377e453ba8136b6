"""Fetching a pasted link's page safely: the address guard, a guarded transport, size and time caps.

Every TCP connection, for the first request and for each redirect hop, goes through
`GuardedBackend`: the host is resolved with the event loop's getaddrinfo, *every* resolved address
is checked by `AddressGuard`, and the socket is opened to a checked address (not to the name), so a
DNS answer that changes between check and connect (rebinding) cannot reach the inside. Redirects
are followed by hand (at most 5) so each hop's scheme is checked too; proxies from the environment
are ignored (trust_env=False), since a proxy would make the address check meaningless.

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
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from .page import decode_html, parse_headline

MAX_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5
TOTAL_TIMEOUT = 5.0
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

    # ------------------------------------------------------------------ raw documents (feeds)

    async def fetch_document(self, url: str, *, accept: Sequence[str],
                             headers: Mapping[str, str] | None = None) -> Document:
        """Read the body at `url` if its type is one of `accept`; raise a LinkError saying why not.

        The same guard, caps and hop-by-hop redirect checks as `fetch`. `headers` go with the request
        (If-None-Match / If-Modified-Since for a conditional GET); a 304 answer gives an empty body.
        """
        try:
            async with asyncio.timeout(self.timeout):
                async with self.client() as client:
                    return await self._fetch_document(client, url, tuple(accept), dict(headers or {}))
        except TimeoutError as e:
            raise FetchTimeout(f"{url} took longer than {self.timeout:g} s") from e
        except LinkError:
            raise
        except httpx.TimeoutException as e:
            raise FetchTimeout(f"{url} took longer than {self.timeout:g} s") from e
        except (httpx.HTTPError, httpx.InvalidURL, httpcore.NetworkError, OSError, zlib.error) as e:
            raise NetworkError(f"{url}: {type(e).__name__}: {e}") from e

    async def _fetch_document(self, client: httpx.AsyncClient, url: str, accept: tuple[str, ...],
                              headers: dict[str, str]) -> Document:
        current = url
        for hop in range(self.max_redirects + 1):
            scheme = urlsplit(current).scheme.lower()
            if scheme not in ("http", "https"):
                raise UnsupportedScheme(f"{current}: only http and https links are read")
            async with client.stream("GET", current, headers=headers) as resp:
                if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get("location"):
                    if hop == self.max_redirects:
                        raise TooManyRedirects(f"{url}: more than {self.max_redirects} redirects")
                    current = urljoin(current, resp.headers["location"].strip())
                    continue
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
            return Document(url, current, resp.status_code, ctype, data, truncated, etag, modified)
        raise TooManyRedirects(f"{url}: more than {self.max_redirects} redirects")  # pragma: no cover
