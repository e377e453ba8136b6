"""Slack's HTTP mode: POST /slack/events (Events API, slash commands, interactivity) on the shared
aiohttp server.

Not Bolt's own aiohttp adapter (slack_bolt.adapter.aiohttp.async_handler): that one dispatches at
once, while here the signature is checked first (401, nothing parsed), the request is written to
the durable inbox before Slack hears 200, a re-delivery is recognised by its signature, and a
signed but malformed body gets 200 and a log line instead of an error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from gatebot.inbox import Inbox
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from .slack_api import INBOX_KEY, PLATFORM

log = logging.getLogger("gatebot.slack")


@dataclass
class HttpReceiver:
    verifier: SignatureVerifier | None  # None in Socket Mode: the endpoint answers 404
    inbox: Inbox
    dispatch: Callable[[str | None, AsyncBoltRequest], Awaitable[Any]]  # to Bolt, finishing failed items
    stopping: Callable[[], bool]  # shutting down: 503, Slack retries later

    async def __call__(self, request: web.Request) -> web.Response:
        """Verify, parse, write to the inbox, dispatch to Bolt; never a 5xx for a bad payload."""
        raw = await request.read()
        if self.verifier is None:
            return web.Response(status=404, text="socket mode")
        try:
            valid = self.verifier.is_valid_request(raw, request.headers)
        except (ValueError, TypeError, OverflowError):  # e.g. a timestamp that is not a number
            valid = False
        if not valid:
            log.warning("slack: rejected a request with a bad or stale signature")
            return web.Response(status=401, text="invalid request")
        body = raw.decode("utf-8", errors="replace")
        if self.stopping():
            return web.Response(status=503, text="shutting down")  # Slack retries; dedupe covers it
        key = "sig:" + request.headers.get("X-Slack-Signature", "")
        try:
            bolt_req = AsyncBoltRequest(body=body, query=request.query_string, headers=dict(request.headers),
                                        context={INBOX_KEY: key})
            if not isinstance(bolt_req.body, dict):
                raise ValueError("body is not an object")
        except Exception as exc:  # noqa: BLE001 - malformed but signed: log, 200, nothing processed
            log.warning("slack: malformed request body ignored (%s)", type(exc).__name__)
            return web.Response(status=200, text="")
        kind = str(bolt_req.body.get("type") or ("command" if "command" in bolt_req.body else "other"))
        if kind not in ("url_verification", "ssl_check"):  # handshakes are not work
            stored = json.dumps({"mode": "http", "body": body, "query": request.query_string,
                                 "content_type": request.headers.get("Content-Type", "")})
            known = self.inbox.accept(PLATFORM, key, stored, kind=kind)  # written before Slack hears 200
            if known != "new":
                log.warning("slack: a request seen before (same signature, %s) was acknowledged, not run again", known)
                return web.Response(status=200, text="")
        else:
            bolt_req.context.pop(INBOX_KEY, None)
        try:
            bolt_resp = await self.dispatch(bolt_req.context.get(INBOX_KEY), bolt_req)
        except Exception:  # noqa: BLE001
            log.exception("slack: dispatch failed")
            return web.Response(status=200, text="")
        status = bolt_resp.status
        if status >= 400:
            # unhandled or failed payloads: acknowledge so Slack does not retry a hopeless request
            log.warning("slack: request not handled (status %s, type %s)", status, bolt_req.body.get("type"))
            return web.Response(status=200, text="")
        headers = bolt_resp.first_headers_without_set_cookie()
        ctype = headers.pop("content-type", None) or (
            "application/json" if bolt_resp.body.startswith("{") else "text/plain")
        headers.pop("Content-Type", None)
        return web.Response(status=status, body=bolt_resp.body.encode("utf-8"),
                            headers=headers, content_type=ctype.split(";")[0])
