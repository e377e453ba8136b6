"""Pasted links (links.py, fetch.py, page.py): extraction, the address guard, fetching from local servers, the cache.

Every server here listens on 127.0.0.1, so tests that fetch use AddressGuard(allow_private=True)
(what GATEBOT_FETCH_ALLOW_PRIVATE=1 sets), except the guard tests, which use a stub resolver or
`trusted_hosts` to stand in for a public site.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from gatebot import fetch, links
from gatebot.address_guard import AddressGuard, address_problem, parse_ipv4_literal
from gatebot.fetch import LinkFetcher
from gatebot.fetch_errors import FetchTimeout, NotHTML, RefusedAddress, TooManyRedirects, UnsupportedScheme
from gatebot.links import LinkReader, extract_links
from gatebot.page import decode_html, parse_headline
from gatebot.reply import label
from gatebot.service import Message, Service

EN = "Huawei takes the fight to Nvidia CUDA by making its Ascend AI GPU software open source"
ZH = "字节跳动采购56亿美元昇腾950PR芯片"


# --------------------------------------------------------------------------- a local site


def page(title_html: str, body: str = "<p>story</p>", charset_meta: str = "") -> str:
    return f"<!doctype html><html><head>{charset_meta}{title_html}</head><body>{body}</body></html>"


class Site:
    """Routes: path -> (status, headers, body bytes, delay seconds)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes, float]] = {}
        self.hits: dict[str, int] = {}
        self.headers: dict[str, dict[str, str]] = {}  # path -> the last request's headers
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                with site.lock:
                    site.hits[self.path] = site.hits.get(self.path, 0) + 1
                    site.headers[self.path] = dict(self.headers.items())
                    route = site.routes.get(self.path)
                if route is None:
                    route = (404, {"Content-Type": "text/html"}, b"<title>not found</title>", 0.0)
                status, headers, body, delay = route
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def html(self, path: str, html: str | bytes, ctype: str = "text/html; charset=utf-8", delay: float = 0.0,
             headers: dict[str, str] | None = None) -> str:
        body = html.encode("utf-8") if isinstance(html, str) else html
        self.routes[path] = (200, {"Content-Type": ctype, **(headers or {})}, body, delay)
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        self.routes[path] = (status, {"Location": location}, b"", 0.0)
        return self.url(path)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    s = Site()
    s.thread.start()
    yield s
    s.server.shutdown()
    s.server.server_close()


OPEN = AddressGuard(allow_private=True)


@pytest.fixture
def bot(service: Service) -> Service:
    service.link_reader = LinkReader(guard=OPEN, timeout=2.0)
    return service


def ask(service: Service, text: str, chat: str = "c1", direct: bool = True, **kw):
    msg = Message("test", chat, "u1", text, is_direct=direct, **kw)
    return asyncio.run(service.ahandle_message(msg))


def quotes(reply) -> list[str]:
    return [b.text for b in reply.blocks if b.kind == "quote"]


def notes(reply) -> list[str]:
    return [b.text for b in reply.blocks if b.kind == "note"]


def said(reply, key: str) -> int:
    """How many notes give the reason LABELS[key], in the reply's language."""
    return sum(label(key, reply.lang) in n for n in notes(reply))


# --------------------------------------------------------------------------- reading pages through the service


def test_og_title_is_read_quoted_and_classified(bot: Service, site: Site) -> None:
    url = site.html("/og", page(f'<title>Site name</title><meta property="og:title" content="{EN}">'
                                '<meta property="og:description" content="The CANN toolkit goes open.">'))
    reply = ask(bot, f"look at this {url}")
    assert reply is not None and reply.verdict.gate == 3
    assert quotes(reply) == [EN]
    assert all(b.user_text for b in reply.blocks if b.kind == "quote")
    row = bot.store.db["link_cache"].get(url)
    assert row["ok"] == 1 and row["title"] == EN and row["description"] == "The CANN toolkit goes open."
    assert '"gate":3' in row["verdict"]


def test_title_only(bot: Service, site: Site) -> None:
    url = site.html("/title", page(f"<title>  {ZH}\n</title>"))
    reply = ask(bot, url)
    assert reply.verdict.gate == 1 and reply.lang == "zh"
    assert quotes(reply) == [ZH]


def test_gbk_page(bot: Service, site: Site) -> None:
    html = page(f"<title>{ZH}</title>", charset_meta='<meta http-equiv="Content-Type" content="text/html; charset=gb2312">')
    url = site.html("/gbk", html.encode("gbk"), ctype="text/html")
    reply = ask(bot, url)
    assert quotes(reply) == [ZH] and reply.verdict.gate == 1


def test_gbk_page_declared_in_header_only(bot: Service, site: Site) -> None:
    url = site.html("/gbk-header", page(f"<title>{ZH}</title>").encode("gb18030"), ctype="text/html; charset=GBK")
    assert quotes(ask(bot, url)) == [ZH]


def test_utf8_page_with_wrong_header_charset(bot: Service, site: Site) -> None:
    url = site.html("/wrong", page(f"<title>{ZH}</title>"), ctype="text/html; charset=gbk")
    assert quotes(ask(bot, url)) == [ZH]
    url = site.html("/wrong-latin", page(f"<title>{ZH}</title>"), ctype="text/html; charset=iso-8859-1")
    assert quotes(ask(bot, url)) == [ZH]


def test_three_megabyte_page_is_cut_and_still_classified(bot: Service, site: Site) -> None:
    filler = "<p>" + "x" * 1000 + "</p>\n"
    html = page(f"<title>{EN}</title>", body=filler * 3100)
    assert len(html) > 3_000_000
    url = site.html("/big", html)
    reply = ask(bot, url)
    assert reply.verdict.gate == 3 and quotes(reply) == [EN]
    page_ = asyncio.run(LinkFetcher(OPEN).fetch(url))
    assert page_.truncated and page_.size == fetch.HEAD_BYTES


def test_gzip_body_is_capped_after_decoding(site: Site) -> None:
    html = page(f"<title>{EN}</title>", body="<p>" + "y" * 5_000_000 + "</p>")
    url = site.html("/gz", gzip.compress(html.encode()), headers={"Content-Encoding": "gzip"})
    got = asyncio.run(LinkFetcher(OPEN).fetch(url))
    assert got.title == EN and got.truncated and got.size == fetch.HEAD_BYTES


def test_slow_page_times_out_and_the_reply_still_comes(service: Service, site: Site) -> None:
    service.link_reader = LinkReader(guard=OPEN, timeout=0.3)
    url = site.html("/slow", page(f"<title>{EN}</title>"), delay=1.5)
    started = time.monotonic()
    reply = ask(service, f"{ZH} {url}")
    assert time.monotonic() - started < 1.2
    assert reply is not None and reply.verdict.gate == 1  # the user's own text is classified
    assert quotes(reply) == []
    assert said(reply, "link_err_timeout")


def test_redirects_five_followed_six_refused(bot: Service, site: Site) -> None:
    site.html("/r/end", page(f"<title>{EN}</title>"))
    for i in range(6):
        site.redirect(f"/r/{i}", f"/r/{i + 1}" if i < 5 else "/r/end")
    assert asyncio.run(LinkFetcher(OPEN).fetch(site.url("/r/1"))).title == EN  # 5 redirects: fine
    with pytest.raises(TooManyRedirects):
        asyncio.run(LinkFetcher(OPEN).fetch(site.url("/r/0")))  # 6: refused
    reply = ask(bot, f"{ZH} {site.url('/r/0')}")
    assert reply.verdict.gate == 1 and said(reply, "link_err_redirects")


def test_non_html_is_refused(bot: Service, site: Site) -> None:
    url = site.html("/pdf", b"%PDF-1.4 ...", ctype="application/pdf")
    with pytest.raises(NotHTML, match="application/pdf"):
        asyncio.run(LinkFetcher(OPEN).fetch(url))
    reply = ask(bot, url)
    assert reply.verdict.gate == 0 and said(reply, "link_err_not_html")


def test_xhtml_is_read(site: Site) -> None:
    url = site.html("/x", page(f"<title>{EN}</title>"), ctype="application/xhtml+xml")
    assert asyncio.run(LinkFetcher(OPEN).fetch(url)).title == EN


def test_redirect_from_allowed_host_to_loopback_is_refused(service: Service, site: Site) -> None:
    # "localhost" stands in for a public site (trusted_hosts); it redirects to 127.0.0.1: refused.
    guard = AddressGuard(allow_private=False, trusted_hosts=frozenset({"localhost"}), ports=None)
    site.html("/inside", page("<title>admin panel</title>"))
    site.redirect("/out", site.url("/inside"))
    start = site.url("/out", host="localhost")
    with pytest.raises(RefusedAddress, match="loopback"):
        asyncio.run(LinkFetcher(guard).fetch(start))
    service.link_reader = LinkReader(guard=guard)
    reply = ask(service, f"{ZH} {start}")
    assert reply.verdict.gate == 1 and quotes(reply) == []
    assert said(reply, "link_err_refused")
    assert site.hits.get("/inside") is None


def test_production_guard_refuses_loopback_directly(site: Site) -> None:
    url = site.html("/direct", page("<title>x</title>"))
    before = site.hits.get("/direct", 0)
    for u in (url, url.replace("127.0.0.1", "2130706433"), url.replace("127.0.0.1", "0x7f.1"),
              url.replace("127.0.0.1", "[::ffff:127.0.0.1]")):
        with pytest.raises(RefusedAddress):
            asyncio.run(LinkFetcher(AddressGuard(ports=None)).fetch(u))
    assert site.hits.get("/direct", 0) == before  # refused before any connection


def test_resolved_address_is_checked_and_pinned(site: Site) -> None:
    """A name that resolves to loopback is refused; and the socket goes to the address checked."""
    calls: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["93.184.216.34", "127.0.0.1"] if host == "rebind.test" else ["127.0.0.1"]

    url = site.html("/pinned", page(f"<title>{EN}</title>"))
    with pytest.raises(RefusedAddress, match="rebind.test"):  # one bad address in the answer is enough
        asyncio.run(LinkFetcher(AddressGuard(ports=None), resolver=resolver).fetch(
            url.replace("127.0.0.1", "rebind.test")))
    # With the check lifted, "pinned.test" (unknown to real DNS) is reached through the stub's answer.
    got = asyncio.run(LinkFetcher(OPEN, resolver=resolver).fetch(url.replace("127.0.0.1", "pinned.test")))
    assert got.title == EN and calls == ["rebind.test", "pinned.test"]


def test_only_http_and_https(site: Site) -> None:
    site.redirect("/to-ftp", "ftp://example.com/file")
    with pytest.raises(UnsupportedScheme):
        asyncio.run(LinkFetcher(OPEN).fetch(site.url("/to-ftp")))
    assert extract_links("ftp://example.com file:///etc/passwd javascript:alert(1)").urls == []


def test_cache_hit_does_not_refetch(bot: Service, site: Site) -> None:
    url = site.html("/cached", page(f"<title>{EN}</title>"))
    first = ask(bot, url, chat="a")
    second = ask(bot, f"again {url}", chat="b")
    assert quotes(first) == quotes(second) == [EN]
    assert site.hits["/cached"] == 1 and bot.link_reader.fetches == 1


def test_cache_expires_after_24_hours(bot: Service, site: Site) -> None:
    from datetime import timedelta

    url = site.html("/expire", page(f"<title>{EN}</title>"))
    ask(bot, url)
    clock = bot.store.clock
    bot.store.clock = lambda: clock() + timedelta(hours=24, minutes=1)
    ask(bot, url)
    assert site.hits["/expire"] == 2


def test_same_link_in_two_chats_at_once_is_fetched_once(bot: Service, site: Site) -> None:
    url = site.html("/once", page(f"<title>{EN}</title>"), delay=0.2)

    async def both():
        return await asyncio.gather(*(bot.ahandle_message(Message("t", c, "u", url, is_direct=True)) for c in "xy"))

    replies = asyncio.run(both())
    assert [quotes(r) for r in replies] == [[EN], [EN]] and site.hits["/once"] == 1


def test_three_links_in_parallel_and_verdicts_combined(bot: Service, site: Site) -> None:
    a = site.html("/p/a", page(f"<title>{EN}</title>"), delay=0.4)
    b = site.html("/p/b", page(f"<title>{ZH}</title>"), delay=0.4)
    c = site.html("/p/c", b"{}", ctype="application/json", delay=0.4)
    d = site.html("/p/d", page("<title>never read</title>"))
    started = time.monotonic()
    reply = ask(bot, f"{a} {b}\n{c} {d}")
    assert time.monotonic() - started < 1.0  # in parallel, not 3 x 0.4 s
    assert quotes(reply) == [EN, ZH]
    assert reply.verdict.gate in (1, 3) and {g.gate for g in reply.verdict.gates} >= {1, 3}
    assert said(reply, "link_err_not_html") == 1
    assert site.hits.get("/p/d") is None


def test_slack_link_form(bot: Service, site: Site) -> None:
    url = site.html("/slack?a=1&b=2", page(f"<title>{EN}</title>"))
    slack = url.replace("&", "&amp;")
    reply = ask(bot, f"see <{slack}|this story>", )
    assert quotes(reply) == [EN] and site.hits["/slack?a=1&b=2"] == 1


def test_telegram_entity_urls_are_read(bot: Service, site: Site) -> None:
    url = site.html("/tg", page(f"<title>{EN}</title>"))
    msg = Message("telegram", "c", "u", "this story", is_direct=True)
    object.__setattr__(msg, "links", (url,))  # what an adapter passes once Message has `links`
    reply = asyncio.run(bot.ahandle_message(msg))
    assert quotes(reply) == [EN]
    assert links.entity_urls([("text_link", url, "this story"), ("url", None, "www.a.cn"), ("bold", None, "x")]) == [
        url, "www.a.cn"]


def test_classify_command_reads_links(bot: Service, site: Site) -> None:
    url = site.html("/cmd", page(f"<title>{EN}</title>"))
    reply = asyncio.run(bot.ahandle_command("test", "c", "u", "classify", f"note {url}"))
    assert reply.verdict.gate == 3 and quotes(reply) == ["note", EN]
    assert asyncio.run(bot.ahandle_command("test", "c", "u", "help")).kind == "help"


def test_group_chatter_with_unrelated_link_stays_silent(bot: Service, site: Site) -> None:
    url = site.html("/cat", page("<title>My cat video</title>"))
    assert ask(bot, url, direct=False) is None


def test_without_link_reader_links_are_not_read(service: Service, site: Site) -> None:
    url = site.html("/off", page(f"<title>{EN}</title>"))
    reply = asyncio.run(service.ahandle_message(Message("t", "c", "u", url, is_direct=True)))
    assert reply is not None and quotes(reply) == [] and site.hits.get("/off") is None


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    "text, urls, own",
    [
        ("read https://a.cn/x?y=1. now", ["https://a.cn/x?y=1"], "read . now"),
        ("(see https://en.wikipedia.org/wiki/Ascend_(chip))", ["https://en.wikipedia.org/wiki/Ascend_(chip)"], "(see )"),
        ("见https://a.cn/news/1今天发布", ["https://a.cn/news/1"], "见今天发布"),
        ("<https://a.cn/1|标题> and <https://a.cn/2>", ["https://a.cn/1", "https://a.cn/2"], "标题 and"),
        ("HTTPS://A.CN/Path#frag https://a.cn/Path", ["https://a.cn/Path"], ""),
        ("http://1.cn http://2.cn http://3.cn http://4.cn", ["http://1.cn/", "http://2.cn/", "http://3.cn/"], ""),
        ("http://user:pw@a.cn/", [], ""),
        ("http://b.cn <https://a.cn/1|x>", ["http://b.cn/", "https://a.cn/1"], "x"),  # order as written
    ],
)
def test_extract_links(text: str, urls: list[str], own: str) -> None:
    found = extract_links(text)
    assert found.urls == urls and found.text == own


def test_extract_links_counts_what_it_left() -> None:
    assert extract_links("http://1.cn http://2.cn http://3.cn http://4.cn", extra=["http://5.cn"]).more == 2


@pytest.mark.parametrize(
    "addr, bad",
    [
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "shared address space"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.0.8", "IETF protocol assignments"),  # global to Python 3.11's ipaddress
        ("192.0.0.170", "IETF protocol assignments"),  # NAT64 discovery
        ("198.18.0.1", "benchmarking"),
        ("192.0.2.1", "documentation"),
        ("192.88.99.1", "6to4 relay anycast"),
        ("1.1.1.1", None),
        ("2130706433", "loopback"),  # decimal
        ("0x7f000001", "loopback"),  # hex
        ("0177.0.0.1", "loopback"),  # octal
        ("0x7f.1", "loopback"),
        ("127.1", "loopback"),
        ("0xa9.0xfe.0xa9.0xfe", "link-local"),
        ("3232235777", "private"),  # 192.168.1.1
        ("134744072", None),  # 8.8.8.8
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("fec0::1", "site-local"),
        ("::ffff:127.0.0.1", "IPv4-mapped IPv6"),
        ("::ffff:169.254.169.254", "IPv4-mapped IPv6"),
        ("::ffff:8.8.8.8", "IPv4-mapped IPv6"),
        ("[::ffff:7f00:1]", "IPv4-mapped IPv6"),
        ("64:ff9b::a9fe:a9fe", "embeds a link-local IPv4 address"),
        ("2002:7f00:1::", "embeds a loopback IPv4 address"),
        ("::127.0.0.1", "embeds a loopback IPv4 address"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("64:ff9b:1::1", "local-use NAT64"),
        ("100::1", "discard-only"),
        ("2001::1", "Teredo"),
        ("2001:2::1", "IETF protocol assignments"),
        ("4000::1", "reserved"),  # outside global unicast 2000::/3
        ("64:ff9b::808:808", None),  # NAT64 of 8.8.8.8
        ("2002:808:808::1", None),  # 6to4 of 8.8.8.8
        ("2001:4860:4860::8888", None),
        ("2400:cb00:2049::1", None),
        ("example.com", "not an IP address"),
    ],
)
def test_address_guard_table(addr: str, bad: str | None) -> None:
    assert address_problem(addr) == bad


@pytest.mark.parametrize(
    "host, ip",
    [("2130706433", "127.0.0.1"), ("0x7F000001", "127.0.0.1"), ("017700000001", "127.0.0.1"),
     ("127.0.1", "127.0.0.1"), ("1.2.3.4.", "1.2.3.4"), ("256.1.1.1", None), ("1.2.3.4.5", None),
     ("08.1.1.1", None), ("a.cn", None), ("0x", "0.0.0.0"), ("4294967296", None)],
)
def test_ipv4_literal_forms(host: str, ip: str | None) -> None:
    got = parse_ipv4_literal(host)
    assert (str(got) if got else None) == ip


def test_guard_needs_every_address_clean() -> None:
    guard = AddressGuard()
    guard.check("a.cn", ["8.8.8.8"])
    with pytest.raises(RefusedAddress):
        guard.check("a.cn", ["8.8.8.8", "10.0.0.1"])
    AddressGuard(allow_private=True).check("a.cn", ["10.0.0.1"])
    assert isinstance(ipaddress.ip_address("::ffff:1.2.3.4").ipv4_mapped, ipaddress.IPv4Address)


def test_decode_html_charsets() -> None:
    zh = page(f"<title>{ZH}</title>")
    assert decode_html(zh.encode("utf-8"), "text/html; charset=gbk") == (zh, "utf-8")
    assert decode_html(zh.encode("gb18030"), "text/html")[0] == zh
    meta = page(f"<title>{ZH}</title>", charset_meta='<meta charset="gbk">')
    assert decode_html(meta.encode("gbk"), "text/html; charset=ISO-8859-1") == (meta, "gb18030")
    cut = zh.encode("utf-8")[: zh.encode("utf-8").index(ZH[1].encode()) + 1]  # cut inside a character
    assert decode_html(cut, "")[1] == "utf-8"


def test_parse_headline_preferences() -> None:
    html = page('<title>plain</title><meta name="twitter:title" content="tw"><meta name="description" content=" d  x">')
    assert parse_headline(html) == ("tw", "d x")
    assert parse_headline(page('<title>t &amp; u</title><svg><title>icon</title></svg>')) == ("t & u", "")
    assert parse_headline("<html><body><h1>no title</h1>") == ("", "")
    assert parse_headline("<title>unclosed") == ("unclosed", "")


def test_user_agent_names_gatebot(site: Site) -> None:
    url = site.html("/ua", page("<title>x</title>"))
    assert asyncio.run(LinkFetcher(OPEN).fetch(url)).title == "x"
    ua = site.headers["/ua"]["User-Agent"]
    assert ua.startswith("Mozilla/5.0") and "gatebot" in ua


def test_timeout_is_a_clear_error(site: Site) -> None:
    url = site.html("/slow2", page("<title>x</title>"), delay=1.0)
    with pytest.raises(FetchTimeout, match="longer than 0.2 s"):
        asyncio.run(LinkFetcher(OPEN, timeout=0.2).fetch(url))
