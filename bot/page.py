"""A fetched page's headline: decode the bytes as real sites serve them, then read <title> and metas.

HTML is parsed with the standard library's html.parser: no dependency, tolerant of broken markup,
maintained with CPython; parsing stops at <body> once a headline is found.
"""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser

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
