"""How Slack's requests reach Bolt: POST /slack/events (Events API, slash commands, interactivity)
on the shared aiohttp server, Socket Mode envelopes, and what an earlier run left in the inbox.

Not Bolt's own aiohttp adapter (slack_bolt.adapter.aiohttp.async_handler): that one dispatches at
once, while here the signature is checked first (401, nothing parsed), the request is written to
the durable inbox before Slack hears 200, a re-delivery is recognised by its signature, and a
signed but malformed body gets 200 and a log line instead of an error. A Socket Mode envelope is
written to the inbox the same way before it is acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import time
from typing import Any

import aiohttp
from aiohttp import web
from gatebot.inbox import Inbox
from gatebot.settings import Settings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from .lifecycle import StartFailure
from .slack_api import AUTH_ERRORS, INBOX_KEY, PLATFORM, ack, retry_headers, socket_log, web_client

Dispatch = Callable[[str | None, AsyncBoltRequest], Awaitable[Any]]  # to Bolt, finishing failed items

log = logging.getLogger("gatebot.slack")
SOCKET_CONNECT_TIMEOUT = 15.0


@dataclass
class HttpReceiver:
    verifier: SignatureVerifier | None  # None in Socket Mode: the endpoint answers 404
    inbox: Inbox
    dispatch: Dispatch
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
        if bolt_resp.status >= 400:
            # unhandled or failed payloads: acknowledge so Slack does not retry a hopeless request
            log.warning("slack: request not handled (status %s, type %s)", bolt_resp.status, bolt_req.body.get("type"))
            return web.Response(status=200, text="")
        return web_response(bolt_resp)


def web_response(bolt_resp: BoltResponse) -> web.Response:
    """Bolt's answer as aiohttp's, cookies included (the OAuth pages set and clear one)."""
    headers = bolt_resp.first_headers_without_set_cookie()
    ctype = headers.pop("content-type", None) or (
        "application/json" if bolt_resp.body.startswith("{") else "text/plain")
    headers.pop("Content-Type", None)
    mime = ctype.split(";")[0].strip()
    response = web.Response(status=bolt_resp.status, body=bolt_resp.body.encode("utf-8"), headers=headers,
                            content_type=mime, charset="utf-8" if mime == "text/html" else None)
    for cookie in bolt_resp.headers.get("set-cookie", []):
        response.headers.add("Set-Cookie", cookie)
    return response


@dataclass
class SocketReceiver:
    """A Socket Mode envelope: into the inbox, then to Bolt, then acked (Bolt's own order otherwise)."""

    inbox: Inbox
    dispatch: Dispatch

    async def __call__(self, client: Any, req: Any) -> None:
        from slack_sdk.socket_mode.response import SocketModeResponse

        started = time()
        key = f"env:{req.envelope_id}"
        known = self.inbox.accept(PLATFORM, key, json.dumps({"mode": "socket_mode", "body": req.payload}),
                                  kind=str(req.type))
        if known != "new":
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        request = AsyncBoltRequest(mode="socket_mode", body=req.payload, headers=retry_headers(req),
                                   context={INBOX_KEY: key})
        response = await self.dispatch(key, request)
        await ack(client, req, response)
        log.debug("slack: socket mode request answered in %d ms", (time() - started) * 1000)


def resumable(inbox: Inbox) -> list[tuple[str, AsyncBoltRequest]]:
    """What an earlier run accepted and never finished, as Bolt requests again (unreadable rows are
    finished as failed, so one cannot stop the others)."""
    requests = []
    for item in inbox.resumable(PLATFORM):
        try:
            data = json.loads(item.payload)
            context = {INBOX_KEY: item.key}
            if data.get("mode") == "socket_mode":
                request = AsyncBoltRequest(mode="socket_mode", body=data["body"], context=context)
            else:
                request = AsyncBoltRequest(body=data["body"], query=data.get("query") or "", context=context,
                                           headers={"content-type": [data.get("content_type") or ""]})
        except Exception as exc:  # noqa: BLE001
            inbox.finish(PLATFORM, item.key, ok=False, error=f"unreadable: {type(exc).__name__}")
            continue
        requests.append((item.key, request))
    return requests


async def checked(call: Awaitable[Any], which: str) -> Any:
    """A start-up call's answer; StartFailure, fatal when Slack rejects the token `which` names."""
    try:
        return await call
    except SlackApiError as exc:
        error = str(exc.response.get("error") or exc.response.status_code)
        if error in AUTH_ERRORS:
            raise StartFailure(f"Slack rejected {which} ({error})", fatal=True) from None
        raise StartFailure(f"Slack answered {error}", fatal=False) from None
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        raise StartFailure(f"cannot reach Slack: {type(exc).__name__}: {exc}", fatal=False) from None


async def connect_socket(settings: Settings, on_request: Callable[[Any, Any], Awaitable[None]]) -> Any:
    """A connected Socket Mode client handing each envelope to `on_request`; StartFailure (and the
    client closed again) when it cannot connect."""
    from slack_sdk.socket_mode.aiohttp import SocketModeClient

    assert settings.slack_app_token is not None
    app_token = settings.slack_app_token.get_secret_value()
    client = SocketModeClient(app_token=app_token, logger=socket_log, web_client=web_client(settings),
                              ping_interval=10)
    client.socket_mode_request_listeners.append(on_request)
    try:
        opened = await checked(client.web_client.apps_connections_open(app_token=app_token), "SLACK_APP_TOKEN")
        client.wss_uri = opened["url"]
        try:  # slack_sdk's connect() retries forever by itself: bounded here, retried by our caller
            await asyncio.wait_for(client.connect(), SOCKET_CONNECT_TIMEOUT)
        except asyncio.TimeoutError:
            raise StartFailure(f"the Socket Mode connection did not open within {SOCKET_CONNECT_TIMEOUT:.0f} s",
                               fatal=False) from None
    except BaseException:
        try:
            await asyncio.wait_for(client.close(), 3)
        except Exception as exc:  # noqa: BLE001
            log.warning("slack: closing socket mode failed: %s", type(exc).__name__)
        raise
    log.info("slack: socket mode connected")
    return client
