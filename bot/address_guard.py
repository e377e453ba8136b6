"""Which addresses a pasted link may reach, and the transport that holds every connection to that.

Every TCP connection, for the first request and for each redirect hop, goes through
`GuardedBackend`: the host is resolved (getaddrinfo on a thread pool of its own, so a slow or
hostile name server can only hold up other links, never the chat platforms' own lookups), *every*
resolved address is checked by `AddressGuard` against an explicit table of special-purpose ranges
(the same on every Python version), and the socket is opened to a checked address (not to the
name), so a DNS answer that changes between check and connect (rebinding) cannot reach the inside.
Only the web's ports (80, 443, 8080, 8443) are fetched, so a pasted link cannot make the bot talk
to mail, database or other services on public hosts. Proxies from the environment are ignored
(trust_env=False), since a proxy would make the address check meaningless.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpcore
import httpx

from .fetch_errors import NetworkError, RefusedAddress, RefusedPort

WEB_PORTS = frozenset({80, 443, 8080, 8443})  # the ports pasted links may use (any port with allow_private)

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
