"""The Slack adapter (slack-bolt AsyncApp): channels, threads, DMs, slash commands, feedback buttons.

Modes:
- Socket Mode when SLACK_APP_TOKEN is set (no HTTP endpoint needed);
- otherwise HTTP mode: Events API, slash commands and interactivity all arrive at
  POST /slack/events on the shared aiohttp server, verified with SLACK_SIGNING_SECRET
  (bad/missing signature or a timestamp older than 5 minutes -> 401, nothing processed).

Workspaces: the one whose bot token is SLACK_BOT_TOKEN, or, with Add to Slack (SLACK_CLIENT_ID and
SLACK_CLIENT_SECRET instead, handlers/slack_oauth.py), every workspace that installed the bot, each
answered with its own token.

Conversation rules (the service decides what to say; this module decides when to ask it):
- messages from bots (this one included), edits, deletions and every other subtype are ignored;
- each message is handled once: Slack's retries (same event_id) and a mention's second delivery
  (as `message` and as `app_mention`) are deduped by channel+ts in the store (survives restarts);
- every request (HTTP) and envelope (Socket Mode) is written to the durable inbox before it is
  acknowledged, finished when its listener is done, and dispatched again after a restart if it
  never was; a signed request replayed with the same signature is acknowledged and not run again;
- at start the bot token is checked (auth.test; with Add to Slack, each workspace's on its first
  request) and, in Socket Mode, the app token (apps.connections.open): a token Slack rejects stops
  the process, network trouble is retried;
- a mention of the bot, a DM, or a message in a thread the bot answered in is "addressed";
- replies always go into the thread of the pasted message;
- who is a workspace admin (for /settings) is asked of Slack with users.info.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from time import monotonic
from typing import Any

import aiohttp
from aiohttp import web
from gatebot.inbox import Inbox
from gatebot.reply import Reply
from gatebot.service import Message, Service
from gatebot.settings import Settings
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from .lifecycle import StartFailure
from .slack_render import (
    ACTION_PREFIX,
    escape,
    fallback_text,
    parse_vote_value,
    render_blocks,
    unescape,
)

EVENTS_PATH = "/slack/events"
DRAIN_TIMEOUT = 5.0  # seconds listeners get to finish at shutdown (the rest stays in the inbox)
from . import slack_reach
from .slack_api import INBOX_KEY, PLATFORM, api_error, web_client
from .slack_http import HttpReceiver, SocketReceiver, checked, connect_socket, resumable
from .slack_oauth import SlackOAuth, oauth_config
from .slack_reach import SHORTCUT_ID, THREAD_ACTION

log = logging.getLogger("gatebot.slack")
# The client of the workspace whose request is being answered (Add to Slack: each has its own token).
_workspace: ContextVar[AsyncWebClient | None] = ContextVar("gatebot_slack_workspace", default=None)


class SlackAdapter:
    name = PLATFORM

    def __init__(self, service: Service, settings: Settings):
        config = oauth_config(settings)
        if settings.slack_bot_token is None and config is None:
            raise ValueError("set SLACK_BOT_TOKEN, or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for Add to Slack")
        self.service = service
        self.settings = settings
        self.socket_mode = settings.slack_app_token is not None
        self.oauth = SlackOAuth(config, settings, service.store) if config is not None else None
        self.uses_http = not self.socket_mode or self.oauth is not None
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
        if not self.socket_mode and not secret:
            raise ValueError("SLACK_SIGNING_SECRET is required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)")
        self._verifier = SignatureVerifier(secret) if secret else None
        if self.oauth is not None:
            self.app_client = self.oauth.client()  # no token: each request gets its workspace's
            multi: dict[str, Any] = {"oauth_settings": self.oauth.oauth_settings, "authorize": self.oauth.authorize}
        else:
            assert settings.slack_bot_token is not None
            self.app_client, multi = web_client(settings, settings.slack_bot_token.get_secret_value()), {}
        self.app = AsyncApp(
            client=self.app_client,
            **multi,
            # The HTTP handler below verifies signatures itself (so malformed bodies can be told
            # apart from forged ones); Socket Mode has no signatures.
            request_verification_enabled=False,
            process_before_response=False,
            # our listeners ignore the bot's own messages themselves, and so finish their inbox item
            ignoring_self_events_enabled=False,
            logger=logging.getLogger("gatebot.slack.bolt"),
        )
        self.inbox = service.inbox or Inbox(service.store)
        self._session: aiohttp.ClientSession | None = None
        self._socket: Any = None  # slack_sdk's Socket Mode client while connected
        self._inflight: set[asyncio.Task] = set()
        self._stopping = False
        self._http = HttpReceiver(self._verifier, self.inbox, self._dispatch, lambda: self._stopping)
        self._on_socket_request = SocketReceiver(self.inbox, self._dispatch)
        self.home_clock: Callable[[], float] = monotonic  # when App Home was last published, per user
        self._home_seen: dict[str, float] = {}
        self._register()
        service.admin_checks[PLATFORM] = self.is_workspace_admin

    @property
    def client(self) -> AsyncWebClient:
        """The Web API client for the workspace being answered (with one bot token: always the same)."""
        return _workspace.get() or self.app_client

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Check the tokens, connect (Socket Mode), and dispatch what an earlier run left unanswered.

        Raises StartFailure: fatal when Slack rejects a token, transient for network trouble.
        """
        self._stopping = False
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self.app_client.session = self._session
        try:
            if self.oauth is None:
                await checked(self.app_client.auth_test(), "SLACK_BOT_TOKEN")
            else:
                log.info("slack: Add to Slack, %d workspace(s) installed", self.oauth.installations.count_installations())
            if self.socket_mode:
                self._socket = await connect_socket(self.settings, self._on_socket_request)
        except StartFailure:
            await self._close_connections()
            raise
        self._resume()

    async def _close_connections(self) -> None:
        if self._socket is not None:
            try:
                await asyncio.wait_for(self._socket.close(), 3)
            except Exception as exc:  # noqa: BLE001
                log.warning("slack: closing socket mode failed: %s", type(exc).__name__)
            self._socket = None
        if self._session is not None:
            await self._session.close()
            self._session = None
            self.app_client.session = None

    async def stop(self) -> None:
        """Stop taking new work, finish what is in flight (bounded), close connections."""
        self._stopping = True
        if self._socket is not None:
            self._socket.auto_reconnect_enabled = False
            try:
                await asyncio.wait_for(self._socket.close(), 3)
            except Exception as exc:  # noqa: BLE001
                log.warning("slack: closing socket mode failed: %s", type(exc).__name__)
            self._socket = None
        await self.drain(timeout=DRAIN_TIMEOUT)
        await self._close_connections()

    async def drain(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """Wait (bounded) for listeners still running."""
        pending = {t for t in self._inflight if not t.done() and t is not asyncio.current_task()}
        if pending:
            done, still = await asyncio.wait(pending, timeout=timeout)
            if still:
                log.warning("slack: %d handlers still running at shutdown", len(still))

    # ------------------------------------------------------------------ the inbox

    def _resume(self) -> None:
        items = resumable(self.inbox)
        for key, request in items:
            task = asyncio.create_task(self._dispatch(key, request))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        if items:
            log.info("slack: resumed %d request(s) left unanswered by the previous run", len(items))

    async def _dispatch(self, key: str | None, request: AsyncBoltRequest) -> Any:
        """Bolt's dispatch; an item no listener takes (or that fails in Bolt) is finished here."""
        try:
            response = await self.app.async_dispatch(request)
        except Exception as exc:
            if key:
                self.inbox.finish(PLATFORM, key, ok=False, error=f"dispatch: {type(exc).__name__}")
            raise
        if key and response.status >= 400:
            self.inbox.finish(PLATFORM, key, ok=False, error=f"status {response.status}")
        elif key and self.oauth is not None and request.context.authorize_result is None:
            self.inbox.finish(PLATFORM, key, ok=False, error="no installation")  # e.g. uninstalled: no token
        return response

    async def _as_job(self, context: Any, work: Callable[[], Awaitable[None]]) -> None:
        """Run a listener's work once per inbox item, and finish the item when it is done."""
        key = context.get(INBOX_KEY) if context is not None else None
        if key and not self.inbox.begin(PLATFORM, key):
            return
        if self.oauth is not None and context is not None:
            _workspace.set(context.client)  # this listener's task only: bolt's client with the workspace's token
            self.oauth.note_chat(context)
        try:
            await work()
        except asyncio.CancelledError:
            if key:
                self.inbox.release(PLATFORM, key)  # shutdown mid-way: dispatched again after the next start
            raise
        except Exception as exc:
            if key:
                self.inbox.finish(PLATFORM, key, ok=False, error=type(exc).__name__)
            raise
        if key:
            self.inbox.finish(PLATFORM, key)

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Post a reply unprompted (digests) at the top level of a channel; return its ts."""
        if self.oauth is not None and _workspace.get() is None:
            scope = _workspace.set(self.oauth.client_for_chat(chat_id))
            try:
                return await self.send(chat_id, reply)
            finally:
                _workspace.reset(scope)
        if reply.image:
            return await self._upload(chat_id, reply)
        resp = await self.client.chat_postMessage(
            channel=chat_id, text=fallback_text(reply), blocks=render_blocks(reply),
            unfurl_links=False, unfurl_media=False,
        )
        ts = resp.get("ts")
        if ts and reply.message_id is not None:
            self.service.store.set_reply_ref(reply.message_id, ts)
        return ts

    async def _upload(self, channel: str, reply: Reply, thread_ts: str | None = None) -> str | None:
        """A chart: files_upload_v2 (getUploadURLExternal, upload, completeUploadExternal), text as its comment."""
        kwargs: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        resp = await self.client.files_upload_v2(
            channel=channel, file=reply.image, filename=reply.image_name or "chart.png",
            title=reply.blocks[0].text[:200] if reply.blocks else "chart", initial_comment=fallback_text(reply),
            **kwargs)
        return (resp.get("file") or {}).get("id")

    # ------------------------------------------------------------------ HTTP

    async def handle_http(self, request: web.Request) -> web.Response:
        """POST /slack/events (handlers/slack_http.py)."""
        return await self._http(request)

    # ------------------------------------------------------------------ listeners

    def _register(self) -> None:
        app = self.app

        async def nothing() -> None:
            return None

        @app.event("message")
        async def on_message(body: dict, event: dict, context: Any) -> None:
            self._track()
            await self._as_job(context, lambda: self._on_event(body, event, context, mention=False))

        @app.event("app_mention")
        async def on_mention(body: dict, event: dict, context: Any) -> None:
            self._track()
            await self._as_job(context, lambda: self._on_event(body, event, context, mention=True))

        @app.event("app_home_opened")
        async def on_home_opened(event: dict, context: Any) -> None:
            self._track()
            await self._as_job(context, lambda: slack_reach.home_opened(self, event, context))

        if self.oauth is not None:  # before the catch-all below: bolt runs the first listener that matches
            self.oauth.register_revocations(app, self._as_job)

        @app.event(re.compile(".*"))
        async def on_other_event(body: dict, context: Any) -> None:
            log.debug("slack: ignoring event %s", (body.get("event") or {}).get("type"))
            await self._as_job(context, nothing)

        @app.command(re.compile(r"^/.+"))
        async def on_command(ack: Any, body: dict, respond: Any, context: Any) -> None:
            await ack()
            self._track()
            await self._as_job(context, lambda: self._on_command(body, respond))

        @app.action(re.compile("^" + re.escape(ACTION_PREFIX)))
        async def on_vote(ack: Any, body: dict, respond: Any, context: Any) -> None:
            await ack()
            self._track()
            await self._as_job(context, lambda: self._on_vote(body, respond))

        @app.shortcut(SHORTCUT_ID)
        async def on_which_gate(ack: Any, body: dict, respond: Any, context: Any) -> None:
            await ack()
            self._track()
            await self._as_job(context, lambda: slack_reach.which_gate(self, body, respond))

        @app.action(THREAD_ACTION)
        async def on_post_in_thread(ack: Any, body: dict, respond: Any, context: Any) -> None:
            await ack()
            self._track()
            await self._as_job(context, lambda: slack_reach.post_in_thread(self, body, respond))

        @app.action(re.compile(".*"))
        async def on_other_action(ack: Any, body: dict, context: Any) -> None:
            await ack()
            log.info("slack: ignoring unknown action %s", _first_action_id(body))
            await self._as_job(context, nothing)

        @app.shortcut(re.compile(".*"))
        async def on_shortcut(ack: Any, context: Any) -> None:
            await ack()
            await self._as_job(context, nothing)

        @app.view(re.compile(".*"))
        async def on_view(ack: Any, context: Any) -> None:
            await ack()
            await self._as_job(context, nothing)

    # events

    def _bot_thread(self, channel: str, thread_ts: str) -> bool:
        """Did the bot answer in this thread? (its reply_ref is stored for the thread's root message)"""
        try:
            return self.service.store.replied_to(PLATFORM, channel, thread_ts)
        except Exception:  # noqa: BLE001
            return False

    async def _on_event(self, body: dict, event: dict, context: Any, mention: bool) -> None:
        try:
            await self._handle_event(body, event, context, mention)
        except Exception:  # noqa: BLE001
            log.exception("slack: handling an event failed")

    async def _handle_event(self, body: dict, event: dict, context: Any, mention: bool) -> None:
        store = self.service.store
        if event.get("bot_id") or event.get("bot_profile") or event.get("subtype"):
            return
        user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
        bot_user = context.get("bot_user_id")
        if not user or not channel or not ts or user == bot_user:
            return
        text = event.get("text") or ""
        addressed = mention
        if bot_user:
            pattern = re.compile(r"<@" + re.escape(bot_user) + r"(?:\|[^<>]*)?>")
            if pattern.search(text):
                addressed = True
                text = pattern.sub(" ", text)
        text = unescape(text)  # the service escapes what it echoes: Slack's escaping must go first
        thread_ts = event.get("thread_ts")
        if thread_ts and thread_ts != ts and not addressed:
            addressed = event.get("parent_user_id") == bot_user or self._bot_thread(channel, thread_ts)
        is_direct = event.get("channel_type") == "im" or channel.startswith("D")
        # Exactly once, durably (the store survives restarts): a retried event (same event_id,
        # X-Slack-Retry-Num) and a mention's second delivery (message + app_mention, two event_ids)
        # name the same message, so one key per channel+ts dedupes both with one write.
        # The inbox item that claims a key keeps it: handled again after a restart, it still answers.
        owner = context.get(INBOX_KEY) or ""
        event_id = body.get("event_id")
        if event_id and not store.claim(PLATFORM, f"event:{event_id}", owner):
            log.info("slack: event %s already handled (retry %s)", event_id, context.get("retry_num"))
            return
        if not store.claim(PLATFORM, f"msg:{channel}:{ts}", owner):
            log.info("slack: already handled %s (event %s, retry %s)", ts, body.get("event_id"),
                     context.get("retry_num"))
            return
        reply = await self.service.ahandle_message(Message(
            platform=PLATFORM, chat_id=channel, user_id=user, text=text,
            is_direct=is_direct, addressed=addressed, message_ref=ts,
        ))
        if reply is None:
            return
        reply_thread = thread_ts or ts
        try:
            resp = await self.client.chat_postMessage(
                channel=channel, thread_ts=reply_thread, text=fallback_text(reply), blocks=render_blocks(reply),
                unfurl_links=False, unfurl_media=False,
            )
        except Exception as exc:  # noqa: BLE001
            log.error("slack: chat.postMessage failed: %s", api_error(exc))
            return
        if reply.message_id is not None and resp.get("ts"):
            store.set_reply_ref(reply.message_id, resp["ts"])

    # slash commands

    async def _on_command(self, body: dict, respond: Any) -> None:
        try:
            name = str(body.get("command") or "").lstrip("/")
            channel = str(body.get("channel_id") or "")
            reply = await self.service.ahandle_command(
                PLATFORM, channel, str(body.get("user_id") or ""), name, unescape(str(body.get("text") or "")), None,
                is_direct=channel.startswith("D") or body.get("channel_name") == "directmessage",
            )
            in_channel = not reply.ephemeral
            if reply.image:  # a chart goes to the channel as a file; a response_url takes no files
                try:
                    await self._upload(str(body.get("channel_id") or ""), reply)
                    return
                except Exception as exc:  # noqa: BLE001 - e.g. not_in_channel: say so to the asker
                    log.warning("slack: files_upload_v2 failed: %s", api_error(exc))
                    in_channel = False
            await respond(
                text=fallback_text(reply), blocks=render_blocks(reply),
                response_type="in_channel" if in_channel else "ephemeral",
            )
        except Exception:  # noqa: BLE001
            log.exception("slack: slash command %s failed", str(body.get("command"))[:40])

    # feedback buttons

    async def _on_vote(self, body: dict, respond: Any) -> None:
        try:
            actions = body.get("actions") or []
            action = actions[0] if actions and isinstance(actions[0], dict) else {}
            parsed = parse_vote_value(action.get("value"))
            user = (body.get("user") or {}).get("id")
            container = body.get("container") or {}
            channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
            if parsed is None or not user or not channel:
                log.info("slack: malformed vote payload ignored (action %s)", action.get("action_id"))
                return
            message_id, choice = parsed
            result = await self.service.apress(PLATFORM, channel, user, message_id, choice,
                                               is_direct=channel.startswith("D"))
            if not result.ok or result.reply is None:
                await self._notify(channel, user, result.notice, container)
                return
            reply = result.reply
            text, blocks = fallback_text(reply), render_blocks(reply)
            ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
            if not container.get("is_ephemeral") and ts:
                try:
                    await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
                    return
                except Exception as exc:  # noqa: BLE001 - e.g. a response_url message: replace it instead
                    log.info("slack: chat.update failed (%s), replacing via response_url", api_error(exc))
            if body.get("response_url"):
                await respond(text=text, blocks=blocks, replace_original=True)
        except Exception:  # noqa: BLE001
            log.exception("slack: handling a vote failed")

    async def is_workspace_admin(self, channel: str, user: str) -> bool:
        """users.info: workspace admins and owners may change a channel's settings (needs users:read)."""
        try:
            resp = await self.client.users_info(user=user)
        except Exception as exc:  # noqa: BLE001 - e.g. missing_scope, user_not_found: not an admin
            status = getattr(getattr(exc, "response", None), "status_code", "")
            log.info("slack: users.info failed: %s %s", type(exc).__name__, status)
            return False
        info = resp.get("user") or {}
        return bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))

    async def _notify(self, channel: str, user: str, notice: str, container: dict) -> None:
        try:
            kwargs: dict[str, Any] = {}
            if container.get("thread_ts"):
                kwargs["thread_ts"] = container["thread_ts"]
            await self.client.chat_postEphemeral(channel=channel, user=user, text=escape(notice), **kwargs)
        except Exception as exc:  # noqa: BLE001
            log.info("slack: ephemeral notice failed: %s", api_error(exc))


def _first_action_id(body: dict) -> str:
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        return str(actions[0].get("action_id"))[:80]
    return "?"


def build(service: Service, settings: Settings, web_app: web.Application) -> SlackAdapter:
    """Build the adapter; register POST /slack/events (HTTP mode) and the Add to Slack pages."""
    adapter = SlackAdapter(service, settings)
    if not adapter.socket_mode:
        web_app.router.add_post(EVENTS_PATH, adapter.handle_http)
    if adapter.oauth is not None:
        adapter.oauth.add_routes(web_app, adapter.app.oauth_flow)
    log.info("slack: %s mode%s", "socket" if adapter.socket_mode else f"http ({EVENTS_PATH})",
             ", Add to Slack" if adapter.oauth is not None else "")
    return adapter


__all__ = ["SlackAdapter", "build", "web_client", "EVENTS_PATH"]
