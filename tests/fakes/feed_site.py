"""A local web site serving feeds for tests and benchmarks: http.server on 127.0.0.1, a random port.

Routes map a path to a status, headers and body. A route with an ETag and/or Last-Modified answers
a conditional GET (If-None-Match / If-Modified-Since) with 304 and no body, like a real server.
Every request's path and headers are recorded. Builders make RSS 2.0, RSS 1.0 and Atom documents.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from email.utils import formatdate
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    etag: str = ""
    last_modified: str = ""


@dataclass(frozen=True)
class Item:
    title: str
    link: str = ""
    guid: str = ""
    summary: str = ""


def rss20(title: str, items: list[Item], raw_titles: bool = False) -> bytes:
    """An RSS 2.0 document; `raw_titles` puts titles in as given (markup in titles, broken XML)."""
    out = [f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{escape(title)}</title>'
           '<link>https://example.org/</link><description>test feed</description>']
    for it in items:
        t = it.title if raw_titles else escape(it.title)
        out.append(f"<item><title>{t}</title>")
        if it.link:
            out.append(f"<link>{escape(it.link)}</link>")
        if it.guid:
            out.append(f'<guid isPermaLink="false">{escape(it.guid)}</guid>')
        if it.summary:
            out.append(f"<description>{escape(it.summary)}</description>")
        out.append("<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate></item>")
    out.append("</channel></rss>")
    return "".join(out).encode("utf-8")


def atom(title: str, items: list[Item]) -> bytes:
    out = [f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"><title>{escape(title)}'
           '</title><id>urn:test:feed</id><updated>2026-11-23T08:00:00Z</updated>']
    for it in items:
        out.append(f"<entry><title type=\"html\">{escape(it.title)}</title><id>{escape(it.guid or it.link)}</id>"
                   f'<link rel="alternate" href="{escape(it.link)}"/><updated>2026-11-23T08:00:00Z</updated>'
                   f"<summary>{escape(it.summary)}</summary></entry>")
    out.append("</feed>")
    return "".join(out).encode("utf-8")


def rss10(title: str, items: list[Item]) -> bytes:
    out = ['<?xml version="1.0" encoding="utf-8"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
           'xmlns="http://purl.org/rss/1.0/"><channel rdf:about="https://example.org/"><title>'
           f'{escape(title)}</title><link>https://example.org/</link><description>d</description><items><rdf:Seq>']
    out += [f'<rdf:li resource="{escape(it.link)}"/>' for it in items]
    out.append("</rdf:Seq></items></channel>")
    for it in items:
        out.append(f'<item rdf:about="{escape(it.link)}"><title>{escape(it.title)}</title><link>{escape(it.link)}</link>'
                   f"<description>{escape(it.summary)}</description></item>")
    out.append("</rdf:RDF>")
    return "".join(out).encode("utf-8")


class FeedSite:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                headers = dict(self.headers.items())
                with site.lock:
                    site.requests.append((self.path, headers))
                    route = site.routes.get(self.path) or Route(404, {"Content-Type": "text/html"}, b"<title>no</title>")
                status, body, extra = route.status, route.body, dict(route.headers)
                if route.etag:
                    extra["ETag"] = route.etag
                if route.last_modified:
                    extra["Last-Modified"] = route.last_modified
                if status == 200 and ((route.etag and headers.get("If-None-Match") == route.etag) or (
                        route.last_modified and headers.get("If-Modified-Since") == route.last_modified)):
                    status, body = 304, b""
                self.send_response(status)
                for k, v in extra.items():
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

    def start(self) -> FeedSite:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def serve(self, path: str, body: bytes, ctype: str = "application/rss+xml; charset=utf-8", *,
              etag: bool = True, status: int = 200, headers: dict[str, str] | None = None) -> str:
        """Serve `body` at `path` with a fresh ETag and Last-Modified (a changed feed)."""
        with self.lock:
            n = len(self.requests) + len(self.routes) * 1000 + len(body)
            self.routes[path] = Route(status, {"Content-Type": ctype, **(headers or {})}, body,
                                      f'"v{n}"' if etag else "", formatdate(1_790_000_000 + n, usegmt=True) if etag else "")
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        self.routes[path] = Route(status, {"Location": location})
        return self.url(path)

    def gone(self, path: str, status: int = 404) -> None:
        self.routes[path] = Route(status, {"Content-Type": "text/html"}, b"<title>gone</title>")

    def hits(self, path: str) -> list[dict[str, str]]:
        with self.lock:
            return [h for p, h in self.requests if p == path]
