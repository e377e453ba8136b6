"""Slack's Web API and Socket Mode plumbing for the adapter: the client with its retries, log-safe
API errors, a one-line Socket Mode log, and acknowledging an envelope with Bolt's answer."""

from __future__ import annotations

import json
import logging
from typing import Any

from gatebot.settings import Settings
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("gatebot.slack")
PLATFORM = "slack"
INBOX_KEY = "gatebot_inbox_key"  # in a Bolt request's context: the inbox item it came from

# Errors with which Slack refuses a token: retrying cannot help.
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
                         "not_allowed_token_type", "invalid_token", "no_permission", "team_access_not_granted",
                         "ekm_access_denied", "missing_scope"})


class _NoTraceback(logging.Filter):
    """slack_sdk's Socket Mode client logs a full traceback for every failed (re)connection: one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()} [{type(exc).__name__}]"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


socket_log = logging.getLogger("gatebot.slack.socket")
socket_log.addFilter(_NoTraceback())

def web_client(settings: Settings, token: str | None = None) -> AsyncWebClient:
    """The Web API client: SLACK_API_URL as base_url, retrying rate limits, 5xx and connection errors."""
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=15,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def api_error(exc: Exception) -> str:
    """A log-safe description of a Web API failure (never the request headers or token)."""
    if isinstance(exc, SlackApiError):
        resp = exc.response
        data = getattr(resp, "data", None)  # a dict for JSON answers; text (an HTML error page) otherwise
        error = data.get("error", "") if isinstance(data, dict) else ""
        return f"{getattr(resp, 'status_code', '')} {error}".strip()
    return type(exc).__name__



def retry_headers(req: Any) -> dict[str, Any] | None:
    """The HTTP retry headers a Socket Mode request stands for, so listeners see retries alike."""
    headers: dict[str, Any] = {}
    if req.retry_attempt is not None:
        headers["x-slack-retry-num"] = str(req.retry_attempt)
    if req.retry_reason is not None:
        headers["x-slack-retry-reason"] = str(req.retry_reason)
    return headers or None


async def ack(client: Any, req: Any, response: Any) -> None:
    """Acknowledge a Socket Mode envelope with Bolt's answer (a JSON payload, text, or nothing)."""
    from slack_sdk.socket_mode.response import SocketModeResponse

    if response.status != 200:
        log.info("slack: socket mode request not handled (status %s)", response.status)
        return
    payload: dict[str, Any] | None = None
    if response.body:
        content_type = (response.headers.get("content-type") or [""])[0]
        payload = json.loads(response.body) if content_type.startswith("application/json") else {"text": response.body}
    await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id, payload=payload))
