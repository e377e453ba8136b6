"""Hostile input: pages built to make parsers crawl, texts built to break or stall the service.

The time bounds here are hang guards, a hundred times above what the code needs (the figures are in
benchmarks/bench_hostile.py): html.parser took 9 s on 64 KB of "<a" and over a minute on 256 KB.
"""

from __future__ import annotations

import asyncio
import time

import drive
import pytest
from gatebot.address_guard import loop_resolve
from gatebot.fetch import HEAD_BYTES, LinkFetcher
from gatebot.fetch_errors import BadURL, RefusedPort, UnsupportedScheme
from gatebot.links import LinkReader, extract_links
from gatebot.page import HEAD_CHARS, parse_headline
from gatebot.reply import label
from gatebot.service import Message, Service, clean
from test_links import EN, OPEN, ZH, Site, ask, notes, quotes, said, site  # noqa: F401 - site is a fixture

SIZES = [16 * 1024, 256 * 1024, 2 * 1024 * 1024]
PATTERNS = {
    "open tags": "<a",
    "end tags": "</",
    "processing instructions": "<?",
    "comment openers": "<!--",
    "declarations": "<!x",
    "tags": "<a b>",
    "unclosed quote": "<meta content='",
    "unclosed attribute": '<meta name="description" content=',
    "meta without end": "<meta a=b ",
    "stray equals": "<meta ===",
    "svg": "<svg>",
    "lone <": "<",
    "titles": "<title>x</title>",
    "entities": "&amp;&#x1F600;&#99999999;&",
}


def hostile(pattern: str, size: int, head: str = "") -> str:
    return "<!doctype html><html><head>" + head + pattern * (size // len(pattern))


@pytest.mark.parametrize("size", SIZES, ids=["16KB", "256KB", "2MB"])
@pytest.mark.parametrize("name", list(PATTERNS))
def test_hostile_markup_parses_fast(name: str, size: int) -> None:
    pattern = PATTERNS[name]
    started = time.perf_counter()
    got = parse_headline(hostile(pattern, size, head=f"<title>{EN}</title>"))
    after = parse_headline(hostile(pattern, size) + f"<title>{ZH}</title>")
    assert time.perf_counter() - started < 2.0
    assert got[0] == EN  # a title before the junk is still read
    if size > HEAD_CHARS:
        assert ZH not in after[0]  # one after that much junk is beyond what is read


def test_real_world_shapes_still_parse() -> None:
    assert parse_headline('<html><head><meta charset=gbk><title>  a\n b </title><meta property="og:title" '
                          'content="og &amp; t"></head>') == ("og & t", "")
    assert parse_headline("<HTML><HEAD><TITLE>Upper</TITLE></HEAD>") == ("Upper", "")
    assert parse_headline("<title>t</title><svg><title>icon</title></svg><meta name=description content=d>") == (
        "t", "d")
    assert parse_headline("<svg><title>icon</title></svg><title>real</title>") == ("real", "")
    assert parse_headline("<script>var s = '<title>fake</title>';</script><title>real</title>") == ("real", "")
    assert parse_headline("<!-- <title>old</title> --><title>new</title>") == ("new", "")
    assert parse_headline('<meta content="c > d" property="og:title">') == ("c > d", "")
    assert parse_headline("<meta property=og:title content=unquoted><title>t</title>") == ("unquoted", "")
    assert parse_headline("<title>unclosed\n<p>body text") == ("unclosed <p>body text", "")
    assert parse_headline('<title></title><meta name="twitter:title" content="tw">') == ("tw", "")
    assert parse_headline("<body><h1>x</h1><title>late title</title>") == ("late title", "")  # found in the body too


def test_hostile_page_through_the_fetcher_and_service(bot: Service, site: Site) -> None:  # noqa: F811
    url = site.html("/hostile", hostile("<a", 2 * 1024 * 1024, head=f"<title>{EN}</title>"))
    started = time.perf_counter()
    page = asyncio.run(LinkFetcher(OPEN).fetch(url))
    assert time.perf_counter() - started < 3.0
    assert page.title == EN and page.truncated and page.size == HEAD_BYTES
    reply = ask(bot, f"{ZH} {site.html('/hostile2', hostile('</', 2 * 1024 * 1024, head=f'<title>{EN}</title>'))}")
    assert quotes(reply) == [EN]


@pytest.fixture
def bot(service: Service) -> Service:
    service.link_reader = LinkReader(guard=OPEN, timeout=3.0)
    return service


# --------------------------------------------------------------------------- malformed URLs and ports


@pytest.mark.parametrize("location", ["http://[::1", "//[::1/x", "http://exa mple.com/", "http://a.cn:99999/",
                                      "http://a.cn:x/", "https://", "http://:80/", "http://%zz/", "http://a..b/"])
def test_malformed_redirect_is_a_link_error_and_cached(bot: Service, site: Site, location: str) -> None:  # noqa: F811
    url = site.redirect(f"/bad-{abs(hash(location))}", location)
    with pytest.raises(BadURL):
        asyncio.run(LinkFetcher(OPEN).fetch(url))
    reply = ask(bot, f"{ZH} {url}")
    assert reply.verdict.gate == 1 and said(reply, "link_err_bad_url")
    row = bot.store.db["link_cache"].get(url)
    assert row["ok"] == 0 and row["error"] == "bad_url"


@pytest.mark.parametrize("location", ["data:text/html,<title>x</title>", "javascript:alert(1)", "file:///etc/passwd"])
def test_redirect_to_other_schemes_is_refused_and_cached(bot: Service, site: Site, location: str) -> None:  # noqa: F811
    url = site.redirect(f"/scheme-{location[:4]}", location)
    with pytest.raises(UnsupportedScheme):
        asyncio.run(LinkFetcher(OPEN).fetch(url))
    reply = ask(bot, f"{ZH} {url}")
    assert said(reply, "link_err_scheme") and bot.store.db["link_cache"].get(url)["error"] == "scheme"


def test_only_web_ports_are_fetched(service: Service, site: Site) -> None:  # noqa: F811
    from gatebot.address_guard import AddressGuard

    # "localhost" stands in for a public host; its page is on a random port, not a web port
    guard = AddressGuard(trusted_hosts=frozenset({"localhost"}))
    url = site.html("/port", f"<title>{EN}</title>").replace("127.0.0.1", "localhost")
    hits = site.hits.get("/port", 0)
    with pytest.raises(RefusedPort, match="not a web port"):
        asyncio.run(LinkFetcher(guard).fetch(url))
    assert site.hits.get("/port", 0) == hits  # refused before connecting
    service.link_reader = LinkReader(guard=guard)
    reply = ask(service, f"{ZH} {url}")
    assert said(reply, "link_err_port") and label("link_err_port", "zh") in " ".join(notes(reply))
    # a redirect from a web port to another port is refused the same way (checked on every hop)
    with pytest.raises(RefusedPort):
        asyncio.run(LinkFetcher(guard).fetch("http://localhost:25/"))
    assert asyncio.run(LinkFetcher(OPEN).fetch(site.url("/port"))).title == EN  # intranet mode: any port


def test_link_dns_does_not_use_the_default_executor() -> None:
    """The platform clients resolve on the loop's default executor: links must not be able to fill it."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        release = threading.Event()
        blocked = loop.run_in_executor(None, release.wait)  # the only default thread is busy
        try:
            return await asyncio.wait_for(loop_resolve("localhost", 80), 5)
        finally:
            release.set()
            await blocked

    assert asyncio.run(main())


# --------------------------------------------------------------------------- hostile text


SCRIPTS = {
    "latin": "Lorem ipsum dolor sit amet, consectetur ",
    "han": "今天天气很好我们去公园散步吧",
    "cyrillic": "Съешь же ещё этих мягких французских булок ",
    "arabic": "نص حكيم له سر قاطع وذو شأن عظيم ",
    "devanagari": "ऋषियों को सताने वाले दुष्ट राक्षसों ",
    "thai": "เป็นมนุษย์สุดประเสริฐเลิศคุณค่า",
    "hangul": "키스의 고유조건은 입술끼리 만나야 하고 ",
    "emoji": "🚀🔥💻🇨🇳👩‍👩‍👧‍👦",
    "combining": "e\u0301\u0302\u0303\u0304\u0305\u0306\u0307",
    "zero-width and bidi": "\u200b\u200c\u200d\u2060\u202e\u2066abc\u2069",
    "NUL and controls": "\x00\x01\x1b[31m\x7f",
    "lone surrogates": "\ud800\udfff\udbff",
    "fullwidth": "ＡＳＣＥＮＤ　９１０Ｂ",
    "links": "<http://a.cn/x|y> http://b.cn/( <https://c",
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_long_repetitive_text_in_every_script(service: Service, name: str) -> None:
    text = (SCRIPTS[name] * (40_000 // len(SCRIPTS[name]) + 1))[:40_000]
    reply = asyncio.run(service.ahandle_message(Message("test", "c", "u", text, is_direct=True)))
    assert reply is not None and reply.kind in ("verdict", "no_gate")
    stored = service.store.db["messages"].get(reply.message_id)["text"]
    assert "\x00" not in stored and not any("\ud800" <= ch <= "\udfff" for ch in stored)
    stored.encode("utf-8")  # storable, sendable, loggable


def test_cue_dense_repetitive_text_is_answered(service: Service) -> None:
    for text in ("昇腾" * 2_000, "Ascend chips order " * 200):
        reply = asyncio.run(service.ahandle_message(Message("test", "c", "u", text, is_direct=True)))
        assert reply is not None and reply.verdict is not None


def test_clean_replaces_lone_surrogates_and_keeps_pairs() -> None:
    assert clean("a\ud800b\x00c") == "a\ufffdbc"
    assert clean("\ud83d\ude80 go") == "🚀 go"  # a pair written as two code points is one character
    assert clean("\udfff\ud800") == "\ufffd\ufffd"


@pytest.mark.parametrize("text", ["<http://a" * 5_000, "<https://a|b" * 4_000, "http://a" + ")" * 40_000,
                                  "".join(f"http://a{i}.cn " for i in range(5_000)), "http://" + "x" * 40_000])
def test_link_extraction_is_linear(text: str) -> None:
    started = time.perf_counter()
    found = extract_links(text)
    assert time.perf_counter() - started < 1.0  # was 6.7 s for the first one
    assert len(found.urls) <= 3


@pytest.mark.parametrize("size", SIZES, ids=["16KB", "256KB", "2MB"])
@pytest.mark.parametrize("name", [*PATTERNS, "links"])
def test_feed_discovery_reads_hostile_pages_with_the_same_bounded_scan(name: str, size: int) -> None:
    from gatebot.feed_parse import alternate_feeds

    pattern = PATTERNS.get(name, '<link rel="alternate" ')
    feed = '<link rel="alternate" type="application/rss+xml" href="/feed.xml">'
    started = time.perf_counter()
    before = alternate_feeds(hostile(pattern, size, head=feed).encode(), "https://news.example.cn/")
    after = alternate_feeds((hostile(pattern, size) + feed).encode(), "https://news.example.cn/")
    assert time.perf_counter() - started < 2.0
    assert before == ["https://news.example.cn/feed.xml"]  # a feed link before the junk is still found
    if size > HEAD_CHARS:
        assert after == []  # one after that much junk is beyond what is read


# --------------------------------------------------------------------------- hostile feeds

FEED_HEAD = b"<rss><channel><title>Hostile</title><item><title>x</title><description>"
HOSTILE_FEEDS = {
    "nested open tags": (FEED_HEAD + b"<a>" * (700_000), "depth"),
    "sibling elements": (FEED_HEAD + b"<a/>" * (500_000), "elements"),
    "broken, then nested": (FEED_HEAD + b"<b></i>" + b"<a>" * (700_000), "loose"),
    "broken, then siblings": (FEED_HEAD + b"&<" + b"<a/>" * (500_000), "loose"),
}


@pytest.mark.parametrize("name", list(HOSTILE_FEEDS))
def test_hostile_feeds_are_cut_to_a_bounded_prefix(name: str) -> None:
    from gatebot.feed_parse import MAX_DEPTH, MAX_ELEMENTS, bound_document, parse_document

    doc, cut = HOSTILE_FEEDS[name]
    bounded = bound_document(doc)
    assert bounded.cut == cut and doc.startswith(bounded.data[:len(bounded.data) // 2])
    assert bounded.data.count(b"<") <= 2 * MAX_ELEMENTS + MAX_DEPTH + 5
    if cut != "loose":  # a well-formed document stays well-formed: the elements left open are closed
        import xml.dom.minidom

        xml.dom.minidom.parseString(bounded.data)
        assert bounded.data.endswith(b"</description></item></channel></rss>")
    parsed = parse_document(doc, "application/rss+xml", "https://hostile.example/")
    assert parsed.kind == "feed" and [e.title for e in parsed.entries] == ["x"] and parsed.cut == cut


def test_feed_bounding_keeps_real_feeds_whole() -> None:
    from fakes.feed_site import Item, atom, rss20
    from gatebot.feed_parse import bound_document, parse_document

    entries = [Item(f"昇腾 order {i}", f"https://n.example/{i}", f"id-{i}", "summary &amp; more") for i in range(50)]
    for doc in (rss20("W", entries), atom("W", entries)):
        assert bound_document(doc).data == doc
    gbk = ('<?xml version="1.0" encoding="gb2312"?><rss version="2.0"><channel><title>中文</title>'
           '<item><title>昇腾采购&nbsp;订单</title><link>https://n.example/1</link></item></channel></rss>').encode("gbk")
    assert bound_document(gbk).data == gbk
    assert [e.title for e in parse_document(gbk, "text/xml", "").entries] == ["昇腾采购 订单"]


def test_a_feed_the_worker_is_stopped_on_is_reported_backed_off_and_not_parsed_again(
        service: Service, monkeypatch) -> None:
    from fakes.feed_site import FeedSite, Item, rss20
    from gatebot import workers
    from gatebot.feed_commands import error_text
    from gatebot.feeds import FeedReader
    from gatebot.poller import FeedPoller
    from test_feeds import OPEN as FEED_OPEN

    feeds = FeedSite().start()
    service.feeds = FeedPoller(service, FeedReader(guard=FEED_OPEN, timeout=2.0))
    drive.chat_admins(service, "u1")  # feeds are configured by a chat's admins
    try:
        url = feeds.serve("/f.xml", rss20("Wire", [Item("Huawei ships Ascend chips", "https://n.example/1", "1")]))
        assert "Following" in asyncio.run(service.ahandle_command("test", "c1", "u1", "follow", url)).plain()
        # from now on no feed job may take any time at all: every parse is stopped at its limit
        monkeypatch.setitem(workers.LIMITS, "feed", workers.Limits(seconds=0.0, memory_mb=320))
        workers.slot("feed").discard(kill=True)
        workers._SLOTS.pop("feed")
        feeds.serve("/f.xml", FEED_HEAD + b"<a>" * 1000)
        fs = service.store
        for round_ in (1, 2):
            fs.schedule_feeds("test", "c1", service.clock())
            (result,) = asyncio.run(service.feeds.cycle())
            feed = fs.feeds("test", "c1")[0]
            assert result.error == "too_slow" and feed.errors == round_ and feed.error_code == "too_slow"
        assert service.feeds.reader.parses == 2  # the follow and the first poll: the same bytes were not parsed again
        listing = asyncio.run(service.ahandle_command("test", "c1", "u1", "feeds")).plain()
        assert error_text("too_slow", "en") in listing
    finally:
        feeds.stop()
        workers.slot("feed").discard(kill=True)
        workers._SLOTS.pop("feed")
