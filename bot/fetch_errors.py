"""Why a link or a feed could not be read: one small hierarchy under `LinkError`. Each error carries a
`code` that picks the reply's wording (LABELS link_err_<code>) and whether the failure is worth
retrying soon.
"""

from __future__ import annotations


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
