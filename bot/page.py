"""A fetched page's headline: decode the bytes as real sites serve them, then read <title> and metas.

The headline scanner reads only what a headline needs (the <title> and the og:/twitter:/description
metas) from the first HEAD_CHARS characters, in one forward pass: every step moves past what it
looked at (`str.find` for the next `<`, `>`, `-->`, `</script`, a closing quote), so the work is
linear in the window whatever the markup (`<a` repeated, `</`, `<?`, `<!--` and quotes left open
cost no more than plain text), and bounded by the window. Unclosed constructs end the scan the way
a browser would: an unclosed comment or quote swallows the rest of the document.
"""

from __future__ import annotations

import codecs
import html
import re

HEAD_CHARS = 96 * 1024  # characters of a document scanned for its headline
_KEEP = 4000  # characters kept from a <title> or a meta's content (headline and description are cut later)
_META_CHARSET = re.compile(rb"""<meta[^<>]{0,512}?charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]{1,40})""", re.IGNORECASE)
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
    """Decode or None; an incomplete sequence at the very end (the read was cut) is dropped."""
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


# --------------------------------------------------------------------------- the headline scanner

_ATTR_NAME = re.compile(r"[^\s/>=][^\s/>=]*")  # a lone "=" or "/" before a name is skipped, as browsers do
_UNQUOTED = re.compile(r"[^\s>]*")
_SPACE = re.compile(r"[\s/]*")
_RAW_TEXT = ("script", "style", "textarea", "xmp", "noscript", "iframe", "noembed", "noframes")
MAX_TAGS = 1000  # tags, comments and raw-text elements looked at in one document
MAX_ATTRIBUTES = 32  # attributes read from one <meta>
_NEXT = re.compile(  # lookaheads on the first letters let the C engine drop most "<" at once
    r"<(?:!--|/(?=[hHsS])(svg|head)(?=[\s/>])|(?=[bilmnstxBILMNSTX])(meta|link|title|svg|body|" + "|".join(_RAW_TEXT)
    + r")(?=[\s/>]))", re.IGNORECASE)
_CLOSERS = {name: re.compile(f"</{name}", re.IGNORECASE) for name in (*_RAW_TEXT, "title")}
_META_KEYS = ("og:title", "twitter:title", "og:description", "twitter:description", "description")
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml", "text/xml")
MAX_FEED_LINKS = 20


class _Scan:
    """One forward pass over a document's head, collecting the title and the headline metas.

    Only the constructs a headline depends on are tokenized (comments, meta, title, svg, body,
    </head> and the raw-text elements whose content must be skipped); the regex that finds the
    next one runs in C, and at most MAX_TAGS of them are looked at.
    """

    def __init__(self, doc: str) -> None:
        self.doc = doc
        self.meta: dict[str, str] = {}
        self.feeds: list[str] = []  # <link rel="alternate" type="application/rss+xml" href> and friends
        self.title: str | None = None
        self.svg = 0  # inside <svg>: its <title> is not the page's
        self.feeds_only = False  # reading a page for its feed links: the head is enough

    def run(self) -> None:
        doc, pos = self.doc, 0
        for _ in range(MAX_TAGS):
            m = _NEXT.search(doc, pos)
            if m is None:
                return
            if m.group() == "<!--":
                end = doc.find("-->", m.end())
                if end < 0:
                    return  # an unclosed comment runs to the end of the document
                pos = end + 3
            elif m.group(1):
                end = doc.find(">", m.end())
                if end < 0 or self.end_tag(m.group(1).lower()):
                    return
                pos = end + 1
            else:
                pos = self.start_tag(m.group(2).lower(), m.end())
                if pos < 0:
                    return

    def start_tag(self, name: str, pos: int) -> int:
        """Handle a start tag whose name ends at `pos`; return where scanning resumes, -1 to stop."""
        doc = self.doc
        if name == "link":
            attrs, pos = self.attributes(pos)
            if pos < 0:
                return -1
            rels = attrs.get("rel", "").lower().split()
            kind = attrs.get("type", "").lower().split(";")[0].strip()
            href = html.unescape(attrs.get("href", "").strip()[:_KEEP])
            if "alternate" in rels and kind in FEED_TYPES and href and len(self.feeds) < MAX_FEED_LINKS:
                self.feeds.append(href)
            return pos
        if name == "meta":
            attrs, pos = self.attributes(pos)
            if pos < 0:
                return -1
            key = (attrs.get("property") or attrs.get("name") or "").strip().lower()
            if key in _META_KEYS and key not in self.meta:
                content = attrs.get("content", "").strip()
                if content:
                    self.meta[key] = html.unescape(content[:_KEEP])
            return pos
        end = doc.find(">", pos)
        if end < 0:
            return -1
        pos = end + 1
        if name == "svg" and doc[end - 1] != "/":
            self.svg += 1
        elif name == "title" and not self.svg and self.title is None:
            close = _CLOSERS["title"].search(doc, pos)
            raw = doc[pos:close.start() if close else pos + _KEEP]  # unclosed: what follows
            self.title = html.unescape(raw[:_KEEP])
            return close.end() if close else -1
        elif name in _RAW_TEXT:
            close = _CLOSERS[name].search(doc, pos)
            return close.end() if close else -1
        elif name == "body" and (self.headline() or self.feeds_only):
            return -1
        return pos

    def end_tag(self, name: str) -> bool:
        """Handle an end tag; True when the scan can stop."""
        if name == "svg" and self.svg:
            self.svg -= 1
        return name == "head" and bool(self.headline() or self.feeds_only)

    def attributes(self, pos: int) -> tuple[dict[str, str], int]:
        """Attributes up to the tag's ">" (quoted values may hold ">"); (attrs, position after it).

        The position is -1 when the tag never closes (an unclosed quote swallows the document).
        """
        doc, n = self.doc, len(self.doc)
        attrs: dict[str, str] = {}
        for _ in range(MAX_ATTRIBUTES):
            space = _SPACE.match(doc, pos)
            assert space is not None  # the pattern matches the empty string
            pos = space.end()
            if pos >= n:
                return attrs, -1
            if doc[pos] == ">":
                return attrs, pos + 1
            m = _ATTR_NAME.match(doc, pos)
            if m is None:  # a stray "=": skip it
                pos += 1
                continue
            key, pos = m.group().lower(), m.end()
            while pos < n and doc[pos] in " \t\n\r\f":
                pos += 1
            value = ""
            if pos < n and doc[pos] == "=":
                pos += 1
                while pos < n and doc[pos] in " \t\n\r\f":
                    pos += 1
                if pos < n and doc[pos] in "\"'":
                    close = doc.find(doc[pos], pos + 1)
                    if close < 0:
                        return attrs, -1
                    value, pos = doc[pos + 1:close], close + 1
                else:
                    m = _UNQUOTED.match(doc, pos)
                    assert m is not None  # the pattern matches the empty string
                    value, pos = m.group(), m.end()
            attrs.setdefault(key, value)
        end = doc.find(">", pos)  # more attributes than any real meta has: skip the rest
        return attrs, -1 if end < 0 else end + 1

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


def parse_headline(doc: str, limit: int = HEAD_CHARS) -> tuple[str, str]:
    """(headline, description) of an HTML document, read from its first `limit` characters."""
    scan = _Scan(doc[:limit])
    scan.run()
    return scan.headline()[:500], scan.description()[:1000]


def feed_links(doc: str, limit: int = HEAD_CHARS) -> list[str]:
    """The feed addresses a page announces in its head (`<link rel="alternate" type=...rss+xml>`), as written."""
    scan = _Scan(doc[:limit])
    scan.feeds_only = True
    scan.run()
    return scan.feeds
