"""A fake Slack Web API for tests and benchmarks: aiohttp on 127.0.0.1, random port.

- POST /api/<method>: records the call (method, params, auth header) and answers like Slack:
  auth.test, chat.postMessage, chat.update, chat.postEphemeral, apps.connections.open, and
  {"ok": true} for anything else.
- POST /response/<id>: a response_url; records what the app posted there.
- files_upload_v2's three steps: files.getUploadURLExternal hands out POST /upload/<file id>, which
  keeps the bytes (`uploads`), and files.completeUploadExternal checks each file was uploaded whole.
- GET /ws: a Socket Mode websocket (apps.connections.open points here); `push_envelope` sends an
  envelope, `socket_acks` records the app's acks.
- `fail(method, status=429, retry_after=0, times=1)` makes the next calls fail (429 with
  Retry-After, or a 5xx) before answering normally again.
- `delays[method] = seconds` holds each answer back (in-flight work at shutdown).
- `tokens`: when set, a call whose bearer token is not in it gets Slack's {"ok": false,
  "error": "invalid_auth"} (HTTP 200, as Slack answers).
- users.info answers from `users` (id -> extra fields such as {"is_admin": True}); unknown ids get
  user_not_found.
- `errors[method] = "not_in_channel"`: that method answers Slack's {"ok": false, "error": ...}.
- views.publish keeps each published view in `views` (user id -> the view).
- `wait_for(method, n, timeout)` polls the record with a bounded wait.
- Add to Slack: `oauth_app(client_id, secret)` registers the app; GET /oauth/v2/authorize (Slack's
  authorize page, `authorize_url`) sends the browser straight back to the redirect URI with a
  one-time code for the workspace being installed (`?team=` names one of `workspaces`, else
  `installing`); oauth.v2.access exchanges the code (the client id and secret as HTTP Basic auth)
  for that workspace's bot token; auth.test answers each workspace's token with its own ids;
  `revoke(token)` makes a token answer token_revoked, as Slack does after an uninstall.

Use as `async with FakeSlackAPI() as fake:`; point SLACK_API_URL at `fake.base_url`.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import WSMsgType, web

BOT_USER_ID = "UBOT0001"
BOT_ID = "BBOT0001"
TEAM_ID = "T0000001"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    auth: str
    at: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class Workspace:
    """A workspace that can install the app: its ids and the bot token Slack hands out for it."""

    team_id: str
    name: str
    bot_token: str
    bot_user_id: str
    bot_id: str
    installer: str = "U0INSTALL"


class FakeSlackAPI:
    def __init__(self, tokens: set[str] | None = None) -> None:
        self.tokens = tokens
        self.calls: list[Call] = []
        self.responses: list[Call] = []  # posts to response_url
        self.socket_acks: list[dict[str, Any]] = []
        self.upload_requests: dict[str, dict[str, Any]] = {}  # file id -> files.getUploadURLExternal's params
        self.uploads: dict[str, bytes] = {}  # file id -> the bytes posted to its upload URL
        self._failures: dict[str, list[tuple[int, int | None]]] = {}
        self.delays: dict[str, float] = {}  # method -> seconds to wait before answering
        self.errors: dict[str, str] = {}  # method -> the error Slack answers with (HTTP 200, ok false)
        self.views: dict[str, dict[str, Any]] = {}  # user id -> the Home view views.publish last set
        self.users: dict[str, dict[str, Any]] = {}  # user id -> users.info fields (is_admin, is_owner, ...)
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._sockets: list[web.WebSocketResponse] = []
        self.port = 0
        self.socket_connected = asyncio.Event()
        self.client_id = ""
        self.client_secret = ""
        self.workspaces: dict[str, Workspace] = {}  # team id -> workspace
        self.installing: Workspace | None = None  # installed when the authorize page names no team
        self.authorize_requests: list[dict[str, str]] = []
        self._codes: dict[str, tuple[Workspace, str]] = {}  # one-time code -> (workspace, redirect uri)
        self.revoked: set[str] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeSlackAPI:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # slack_sdk reads some methods (users.info) with GET
        app.router.add_post("/response/{rid}", self._response_url)
        app.router.add_get("/ws", self._ws)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/oauth/v2/authorize", self._authorize)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlackAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, rid: str = "1") -> str:
        return f"http://127.0.0.1:{self.port}/response/{rid}"

    # ------------------------------------------------------------------ control

    @property
    def authorize_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/oauth/v2/authorize"

    def oauth_app(self, client_id: str, client_secret: str, *workspaces: Workspace) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.workspaces.update({w.team_id: w for w in workspaces})

    def revoke(self, token: str) -> None:
        self.revoked.add(token)

    def used(self, token: str) -> list[Call]:
        """Every API call made with `token` as the bearer."""
        return [c for c in self.calls if c.auth == f"Bearer {token}"]

    def fail(self, method: str, status: int = 429, retry_after: int | None = 0, times: int = 1) -> None:
        self._failures.setdefault(method, []).extend([(status, retry_after)] * times)

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, n: int = 1, timeout: float = 5.0) -> list[Call]:
        """The first n recorded calls of `method` (or response_url posts for "response_url")."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.responses if method == "response_url" else self.of(method)
            if len(found) >= n:
                return found[:n]
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method}: {len(found)} of {n} calls after {timeout}s")
            await asyncio.sleep(0.01)

    async def push_envelope(self, payload: dict[str, Any], kind: str = "events_api",
                            envelope_id: str = "env-1", timeout: float = 5.0) -> None:
        await asyncio.wait_for(self.socket_connected.wait(), timeout)
        await self._sockets[-1].send_str(json.dumps({
            "envelope_id": envelope_id, "type": kind, "payload": payload,
            "accepts_response_payload": kind != "events_api", "retry_attempt": 0, "retry_reason": "",
        }))

    # ------------------------------------------------------------------ handlers

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        raw = await request.text()
        if request.content_type == "application/json" and raw:
            data = json.loads(raw)
        else:
            data = dict(parse_qsl(raw, keep_blank_values=True))
            data.update(request.query)
        for key in ("blocks", "attachments"):
            if isinstance(data.get(key), str):
                try:
                    data[key] = json.loads(data[key])
                except ValueError:
                    pass
        return data

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        call = Call(method, params, request.headers.get("Authorization", ""))
        self.calls.append(call)
        if self.delays.get(method):
            await asyncio.sleep(self.delays[method])
        if method == "oauth.v2.access":
            return web.json_response(self._exchange(params, call.auth))
        if call.auth.removeprefix("Bearer ") in self.revoked:
            return web.json_response({"ok": False, "error": "token_revoked"})
        if self.tokens is not None and call.auth.removeprefix("Bearer ") not in self.tokens:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if self.errors.get(method):
            return web.json_response({"ok": False, "error": self.errors[method]})
        queue = self._failures.get(method)
        if queue:
            status, retry_after = queue.pop(0)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            error = "ratelimited" if status == 429 else "internal_error"
            return web.json_response({"ok": False, "error": error}, status=status, headers=headers)
        return web.json_response(self._answer(method, params, call.auth))

    def _answer(self, method: str, params: dict[str, Any], auth: str = "") -> dict[str, Any]:
        installed = next((w for w in self.workspaces.values() if auth == f"Bearer {w.bot_token}"), None)
        if method == "auth.test" and installed is not None:
            return {"ok": True, "url": f"https://{installed.name.lower()}.slack.test/", "team": installed.name,
                    "user": "gatebot", "team_id": installed.team_id, "user_id": installed.bot_user_id,
                    "bot_id": installed.bot_id, "is_enterprise_install": False}
        if method == "auth.test":
            return {"ok": True, "url": "https://fake.slack.test/", "team": "Fake", "user": "gatebot",
                    "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}
        if method == "chat.postMessage":
            ts = f"{1700000000 + next(self._ts)}.000100"
            return {"ok": True, "channel": params.get("channel"), "ts": ts,
                    "message": {"type": "message", "text": params.get("text"), "ts": ts, "bot_id": BOT_ID}}
        if method == "chat.update":
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts"), "text": params.get("text")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{1700000000 + next(self._ts)}.000200"}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):08d}"
            self.upload_requests[file_id] = {"filename": params.get("filename"), "length": int(params.get("length", 0))}
            return {"ok": True, "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = json.loads(params.get("files") or "[]")
            for f in files:
                data = self.uploads.get(f.get("id"))
                if data is None:
                    return {"ok": False, "error": "file_not_found"}
                if len(data) != self.upload_requests[f["id"]]["length"]:
                    return {"ok": False, "error": "file_upload_size_mismatch"}
            if not params.get("channel_id") and not params.get("channels"):
                return {"ok": False, "error": "invalid_channel"}
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title", ""), "name":
                                           self.upload_requests[f["id"]]["filename"]} for f in files]}
        if method == "users.info":
            user = params.get("user")
            if user not in self.users:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": user, "team_id": TEAM_ID, "name": f"user-{user}", "deleted": False,
                                         "is_bot": False, "is_admin": False, "is_owner": False,
                                         "is_primary_owner": False, **self.users[user]}}
        if method == "views.publish":
            view = params.get("view")
            view = json.loads(view) if isinstance(view, str) else view
            if not params.get("user_id") or not isinstance(view, dict) or view.get("type") != "home":
                return {"ok": False, "error": "invalid_arguments"}
            if len(view.get("blocks") or []) > 100:
                return {"ok": False, "error": "invalid_blocks"}
            self.views[str(params["user_id"])] = view
            return {"ok": True, "view": {"id": "V0000001", "type": "home", **view}}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/ws"}
        return {"ok": True}

    async def _authorize(self, request: web.Request) -> web.Response:
        """Slack's authorize page, the installer saying yes at once: back to the app with a code."""
        query = dict(request.query)
        self.authorize_requests.append(query)
        workspace = self.workspaces.get(query.get("team", "")) or self.installing
        redirect = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or workspace is None or not redirect:
            return web.Response(status=400, text="bad authorize request")
        code = secrets.token_hex(8)
        self._codes[code] = (workspace, redirect)
        back = urlencode({"code": code, "state": query.get("state", "")})
        return web.Response(status=302, headers={"Location": f"{redirect}?{back}"})

    def _exchange(self, params: dict[str, Any], auth: str) -> dict[str, Any]:
        """oauth.v2.access: a one-time code, from this app (HTTP Basic auth), for a bot token."""
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if not self.client_id or auth != f"Basic {expected}":
            return {"ok": False, "error": "invalid_client_id"}
        found = self._codes.pop(str(params.get("code", "")), None)
        if found is None:
            return {"ok": False, "error": "invalid_code"}
        workspace, redirect = found
        if params.get("redirect_uri", redirect) != redirect:
            return {"ok": False, "error": "bad_redirect_uri"}
        scope = self.authorize_requests[-1].get("scope", "") if self.authorize_requests else ""
        return {"ok": True, "app_id": "A0000001", "authed_user": {"id": workspace.installer}, "scope": scope,
                "token_type": "bot", "access_token": workspace.bot_token, "bot_user_id": workspace.bot_user_id,
                "team": {"id": workspace.team_id, "name": workspace.name}, "enterprise": None,
                "is_enterprise_install": False}

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload URL files.getUploadURLExternal hands out (files_upload_v2's second step)."""
        file_id = request.match_info["file_id"]
        if file_id not in self.upload_requests:
            return web.Response(status=404, text="unknown upload")
        self.uploads[file_id] = await request.read()
        return web.Response(text=f"OK - {len(self.uploads[file_id])}")

    async def _response_url(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        self.responses.append(Call("response_url", params, request.headers.get("Authorization", "")))
        return web.Response(text="ok")

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1,
                                      "connection_info": {"app_id": "A0000001"}}))
        self.socket_connected.set()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        self.socket_acks.append(json.loads(msg.data))
                    except ValueError:
                        pass
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
        return ws
