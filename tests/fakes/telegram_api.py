"""A fake Telegram Bot API server for tests and benchmarks.

aiohttp on 127.0.0.1, a random port. Serves the methods gatebot uses in the Bot API's real JSON
shapes ({"ok": true, "result": ...} / {"ok": false, "error_code", "description", "parameters"}),
at `<base_url><token>/<method>` like api.telegram.org, so python-telegram-bot talks to it through
its `base_url` (TELEGRAM_API_BASE_URL). It records every call, queues updates for getUpdates (long
polling, bounded by the request's timeout), can post updates to a webhook, validates sent HTML the
way Telegram does (known tags only, balanced, text <= 4096 after parsing), and can inject failures
(429 with retry_after, 5xx). sendPhoto takes a multipart upload and checks it is an image.
Inline queries: `push_inline` queues one; answerInlineQuery is checked like Telegram checks it
(a known, unanswered query id; 1-50 results with unique ids of at most 64 bytes; each article's
title and HTML message text) and recorded in `inline_answers`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Callable

import aiohttp
from aiohttp import web

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijkl"
BOT_ID = 123456789
BOT_USERNAME = "gatebot_test_bot"

ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
                "code", "pre", "blockquote", "tg-emoji"}
JSON_PARAMS = {"results", "reply_markup", "reply_parameters", "commands", "allowed_updates", "scope", "entities",
               "link_preview_options", "caption_entities"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.perf_counter() when the request arrived


@dataclass
class Failure:
    status: int
    retry_after: int | None
    description: str


class HTMLCheck(HTMLParser):
    """Telegram's HTML parse mode, roughly: known tags, balanced, only the four named entities."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.text_len = 0
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in ALLOWED_TAGS:
            self.errors.append(f"unsupported start tag \"{tag}\"")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unmatched end tag \"{tag}\"")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            self.errors.append("unescaped < or >")
        self.text_len += len(data.encode("utf-16-le")) // 2

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self.errors.append(f"unsupported entity &{name};")
        self.text_len += 1

    def handle_charref(self, name: str) -> None:
        self.text_len += 1


def check_html(text: str) -> str | None:
    """None if Telegram would accept `text` in HTML parse mode, else the error description."""
    parser = HTMLCheck()
    parser.feed(text)
    parser.close()
    if re.search(r"&(?!(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)", text):
        parser.errors.append("unescaped &")
    if parser.stack:
        parser.errors.append(f"unclosed tag \"{parser.stack[-1]}\"")
    if parser.errors:
        return f"Bad Request: can't parse entities: {parser.errors[0]}"
    if parser.text_len > 4096:
        return "Bad Request: message is too long"
    if parser.text_len == 0:
        return "Bad Request: message text is empty"
    return None


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def entities_for(text: str) -> list[dict[str, Any]]:
    """bot_command at the start and @mentions, with UTF-16 offsets like Telegram sends them."""
    out = []
    m = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
    if m:
        out.append({"type": "bot_command", "offset": 0, "length": utf16_len(m.group(0))})
    for m in re.finditer(r"(?<![\w/])@[A-Za-z0-9_]{5,32}", text):
        out.append({"type": "mention", "offset": utf16_len(text[:m.start()]), "length": utf16_len(m.group(0))})
    return out


class FakeTelegram:
    def __init__(self, token: str = TOKEN, bot_id: int = BOT_ID, username: str = BOT_USERNAME,
                 max_poll_wait: float = 2.0) -> None:
        self.token = token
        self.bot = {"id": bot_id, "is_bot": True, "first_name": "gatebot", "username": username,
                    "can_join_groups": True, "can_read_all_group_messages": False,
                    "supports_inline_queries": True}
        self.max_poll_wait = max_poll_wait  # a long poll never waits longer than this
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []  # not yet confirmed by getUpdates' offset
        self.served_at: dict[int, float] = {}  # update_id -> when it was first handed to the bot
        self.failures: dict[str, list[Failure]] = {}
        self.delays: dict[str, float] = {}  # method -> seconds to hold each answer (in-flight tests)
        self.webhook: dict[str, Any] | None = None
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, message id) -> message
        self.members: dict[tuple[int, int], str] = {}  # (chat, user) -> "creator" | "administrator"; else "member"
        self.inline_queries: dict[str, dict[str, Any]] = {}  # id -> the query, until answered
        self.inline_answers: dict[str, dict[str, Any]] = {}  # query id -> answerInlineQuery's params
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count] = {}
        self._cond: asyncio.Condition | None = None
        self._new_update: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0
        self.closing = False

    # ------------------------------------------------------------------ server

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self, port: int = 0) -> "FakeTelegram":
        """Listen on `port` (0: any free one; a fixed one lets a test bring "Telegram" up late)."""
        self._cond = asyncio.Condition()
        self._new_update = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self.closing = True
        if self._new_update:
            self._new_update.set()
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> "FakeTelegram":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ recording

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, predicate: Callable[["FakeTelegram"], Any], timeout: float = 5.0) -> Any:
        """Wait (bounded) until predicate(self) is truthy; return its value or raise TimeoutError.

        Re-checked on every recorded call and at least every 20 ms (for state outside the fake)."""
        assert self._cond is not None
        deadline = time.monotonic() + timeout
        async with self._cond:
            while True:
                value = predicate(self)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"condition not met in {timeout}s; calls: {[c.method for c in self.calls]}")
                try:
                    await asyncio.wait_for(self._cond.wait(), min(left, 0.02))
                except asyncio.TimeoutError:
                    pass

    async def wait_calls(self, method: str, n: int = 1, timeout: float = 5.0) -> list[Call]:
        return await self.wait_for(lambda f: len(f.calls_to(method)) >= n and f.calls_to(method), timeout)

    def fail_next(self, method: str, status: int = 429, retry_after: int | None = 1, times: int = 1,
                  description: str | None = None) -> None:
        if description is None:
            description = (f"Too Many Requests: retry after {retry_after}" if status == 429
                           else {502: "Bad Gateway", 500: "Internal Server Error"}.get(status, "Error"))
        self.failures.setdefault(method, []).extend(
            Failure(status, retry_after if status == 429 else None, description) for _ in range(times))

    # ------------------------------------------------------------------ updates

    def user(self, user_id: int = 1001, first_name: str = "Ann", language_code: str | None = "en",
             is_bot: bool = False, username: str | None = None) -> dict[str, Any]:
        u: dict[str, Any] = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        if language_code:
            u["language_code"] = language_code
        if username:
            u["username"] = username
        return u

    def chat(self, chat_id: int, chat_type: str | None = None) -> dict[str, Any]:
        chat_type = chat_type or ("private" if chat_id > 0 else "supergroup")
        if chat_type == "private":
            return {"id": chat_id, "type": "private", "first_name": "Ann"}
        return {"id": chat_id, "type": chat_type, "title": f"group {chat_id}"}

    def next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def message(self, chat_id: int, text: str, *, user: dict[str, Any] | None = None,
                chat_type: str | None = None, caption: bool = False, media: str = "photo",
                reply_to: dict[str, Any] | None = None,
                forward_from_channel: dict[str, Any] | None = None) -> dict[str, Any]:
        """A Message object as a user would send it (not queued; see push). `caption`: the text is
        the caption of a `media` ("photo", "video" or "document"); `forward_from_channel`: a
        channel Chat ({"id", "type": "channel", "title", "username"?}) the post was forwarded from."""
        msg: dict[str, Any] = {
            "message_id": self.next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self.chat(chat_id, chat_type),
            "from": user or self.user(),
        }
        ents = entities_for(text)
        if caption:
            msg["caption"] = text
            msg.update(self._media(media))
            if ents:
                msg["caption_entities"] = ents
        else:
            msg["text"] = text
            if ents:
                msg["entities"] = ents
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
        if forward_from_channel is not None:
            msg["forward_origin"] = {"type": "channel", "date": msg["date"] - 60, "chat": forward_from_channel,
                                     "message_id": 77}
        self.messages[(chat_id, msg["message_id"])] = msg
        return msg

    @staticmethod
    def _media(kind: str) -> dict[str, Any]:
        if kind == "photo":
            return {"photo": [{"file_id": "AgADfake", "file_unique_id": "fake1", "width": 90, "height": 90}]}
        if kind == "video":
            return {"video": {"file_id": "BAADfake", "file_unique_id": "fake2", "width": 640, "height": 360,
                              "duration": 12}}
        if kind == "document":
            return {"document": {"file_id": "BQADfake", "file_unique_id": "fake3", "file_name": "report.pdf",
                                 "mime_type": "application/pdf"}}
        raise ValueError(f"unknown media {kind!r}")

    def channel_post(self, chat_id: int, text: str, *, caption: bool = False, username: str | None = None) -> dict[str, Any]:
        """A post in a channel as its admins make it: no `from`, the channel itself as sender_chat."""
        msg = self.message(chat_id, text, chat_type="channel", caption=caption)
        del msg["from"]
        if username:
            msg["chat"]["username"] = username
        msg["sender_chat"] = msg["chat"]
        return msg

    def push_channel_post(self, chat_id: int, text: str, **kw: Any) -> dict[str, Any]:
        return self.push(self.channel_post(chat_id, text, **kw), kind="channel_post")

    def inline_query(self, query: str, *, user: dict[str, Any] | None = None) -> dict[str, Any]:
        """An InlineQuery as Telegram sends it when someone types `@bot query` in any chat."""
        query_id = str(next(self._update_ids) * 104729)
        payload = {"id": query_id, "from": user or self.user(), "query": query, "offset": "", "chat_type": "sender"}
        self.inline_queries[query_id] = payload
        return payload

    def push_inline(self, query: str, **kw: Any) -> dict[str, Any]:
        return self.push(self.inline_query(query, **kw), kind="inline_query")

    def push(self, payload: dict[str, Any], kind: str = "message") -> dict[str, Any]:
        """Queue an update (for getUpdates); returns it with its update_id."""
        update = {"update_id": next(self._update_ids), kind: payload}
        self.updates.append(update)
        if self._new_update:
            self._new_update.set()
        return update

    def push_message(self, chat_id: int, text: str, **kw: Any) -> dict[str, Any]:
        return self.push(self.message(chat_id, text, **kw))

    def callback(self, chat_id: int, message_id: int, data: str, *, user: dict[str, Any] | None = None) -> dict[str, Any]:
        message = self.messages.get((chat_id, message_id)) or {
            "message_id": message_id, "date": int(time.time()), "chat": self.chat(chat_id),
            "from": self.bot, "text": "?"}
        return {"id": str(next(self._update_ids) * 7919), "from": user or self.user(),
                "chat_instance": f"ci{chat_id}", "message": message, "data": data}

    def push_callback(self, chat_id: int, message_id: int, data: str, **kw: Any) -> dict[str, Any]:
        return self.push(self.callback(chat_id, message_id, data, **kw), kind="callback_query")

    def make_update(self, payload: dict[str, Any], kind: str = "message") -> dict[str, Any]:
        """An update for a webhook post (not queued for getUpdates)."""
        return {"update_id": next(self._update_ids), kind: payload}

    async def post_webhook(self, update: dict[str, Any], secret: str | None = None, url: str | None = None) -> int:
        """POST an update to the registered webhook (or `url`) like Telegram does; return the status."""
        target = url or (self.webhook or {}).get("url")
        assert target, "no webhook registered"
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self.served_at.setdefault(update["update_id"], time.perf_counter())
        async with self._session.post(target, data=json.dumps(update), headers=headers) as resp:
            await resp.read()
            return resp.status

    # ------------------------------------------------------------------ the API

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            body = await request.read()
            return json.loads(body) if body else {}
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):  # multipart uploads (sendPhoto): keep the bytes
                params[key] = value.file.read()
                params[f"{key}_filename"] = value.filename
                continue
            value = str(value)
            if key in JSON_PARAMS:
                value = json.loads(value)
            params[key] = value
        return params

    async def _dispatch(self, request: web.Request) -> web.Response:
        at = time.perf_counter()
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await self._params(request)
        assert self._cond is not None
        async with self._cond:
            self.calls.append(Call(method, params, at))
            self._cond.notify_all()
        if self.delays.get(method):
            await asyncio.sleep(self.delays[method])
        queue = self.failures.get(method)
        if queue:
            failure = queue.pop(0)
            body: dict[str, Any] = {"ok": False, "error_code": failure.status, "description": failure.description}
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return web.json_response(body, status=failure.status)
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        result = await handler(params)
        if isinstance(result, tuple):  # (status, description): an API error
            return web.json_response({"ok": False, "error_code": result[0], "description": result[1]}, status=result[0])
        return web.json_response({"ok": True, "result": result})

    async def api_getMe(self, p: dict[str, Any]) -> Any:
        return self.bot

    async def api_getUpdates(self, p: dict[str, Any]) -> Any:
        assert self._new_update is not None
        offset = int(p.get("offset", 0) or 0)
        limit = int(p.get("limit", 100) or 100)
        wait = min(float(p.get("timeout", 0) or 0), self.max_poll_wait)
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + wait
        while not self.updates and not self.closing:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), left)
            except asyncio.TimeoutError:
                break
        batch = self.updates[:limit]
        now = time.perf_counter()
        for u in batch:
            self.served_at.setdefault(u["update_id"], now)
        return batch

    async def api_deleteWebhook(self, p: dict[str, Any]) -> Any:
        self.webhook = None
        return True

    async def api_setWebhook(self, p: dict[str, Any]) -> Any:
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            return 400, "Bad Request: secret token contains unallowed characters"
        self.webhook = dict(p)
        return True

    async def api_getWebhookInfo(self, p: dict[str, Any]) -> Any:
        return {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False, "pending_update_count": 0}

    async def api_setMyCommands(self, p: dict[str, Any]) -> Any:
        for c in p.get("commands", []):
            if not re.fullmatch(r"[a-z0-9_]{1,32}", c["command"]) or not 1 <= len(c["description"]) <= 256:
                return 400, "Bad Request: BOT_COMMAND_INVALID"
        return True

    async def api_close(self, p: dict[str, Any]) -> Any:
        return True

    async def api_logOut(self, p: dict[str, Any]) -> Any:
        return True

    def _sent(self, chat_id: int, message_id: int, text: str, markup: Any) -> dict[str, Any]:
        msg: dict[str, Any] = {"message_id": message_id, "date": int(time.time()), "chat": self.chat(chat_id),
                               "from": self.bot, "text": text}
        if markup:
            msg["reply_markup"] = markup
        self.messages[(chat_id, message_id)] = msg
        return msg

    async def api_sendMessage(self, p: dict[str, Any]) -> Any:
        text = p.get("text", "")
        if p.get("parse_mode") == "HTML":
            problem = check_html(text)
            if problem:
                return 400, problem
        elif len(text) > 4096:
            return 400, "Bad Request: message is too long"
        chat_id = int(p["chat_id"])
        return self._sent(chat_id, self.next_message_id(chat_id), text, p.get("reply_markup"))

    async def api_editMessageText(self, p: dict[str, Any]) -> Any:
        text = p.get("text", "")
        if p.get("parse_mode") == "HTML":
            problem = check_html(text)
            if problem:
                return 400, problem
        chat_id, message_id = int(p["chat_id"]), int(p["message_id"])
        old = self.messages.get((chat_id, message_id))
        if old is None:
            return 400, "Bad Request: message to edit not found"
        if old.get("text") == text and old.get("reply_markup") == p.get("reply_markup"):
            return 400, ("Bad Request: message is not modified: specified new message content and reply "
                         "markup are exactly the same as a current content and reply markup of the message")
        return self._sent(chat_id, message_id, text, p.get("reply_markup"))

    async def api_answerInlineQuery(self, p: dict[str, Any]) -> Any:
        query_id = str(p.get("inline_query_id", ""))
        if query_id not in self.inline_queries:
            return 400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
        results = p.get("results")
        if isinstance(results, str):
            results = json.loads(results)
        if not isinstance(results, list) or len(results) > 50:
            return 400, "Bad Request: RESULTS_TOO_MUCH"
        ids = [str(r.get("id", "")) for r in results]
        if len(set(ids)) != len(ids) or any(not 1 <= len(i.encode()) <= 64 for i in ids):
            return 400, "Bad Request: RESULT_ID_INVALID"
        for r in results:
            content = r.get("input_message_content") or {}
            if r.get("type") != "article" or not r.get("title") or not content.get("message_text"):
                return 400, "Bad Request: RESULT_INVALID"
            if content.get("parse_mode") == "HTML":
                problem = check_html(content["message_text"])
                if problem:
                    return 400, problem
        del self.inline_queries[query_id]
        personal = p.get("is_personal", False)  # form-encoded: "true"
        self.inline_answers[query_id] = {**p, "results": results,
                                         "is_personal": personal is True or str(personal).lower() == "true"}
        return True

    async def api_answerCallbackQuery(self, p: dict[str, Any]) -> Any:
        return True

    async def api_getChatMember(self, p: dict[str, Any]) -> Any:
        """A ChatMember in the Bot API's shape: the status set in `members`, else an ordinary member."""
        chat_id, user_id = int(p["chat_id"]), int(p["user_id"])
        if chat_id > 0 and chat_id != user_id:
            return 400, "Bad Request: member not found"
        user = {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}
        status = self.members.get((chat_id, user_id), "member")
        if status == "creator":
            return {"status": "creator", "user": user, "is_anonymous": False}
        if status == "administrator":
            rights = dict.fromkeys(("can_manage_chat", "can_delete_messages", "can_manage_video_chats",
                                    "can_restrict_members", "can_change_info", "can_invite_users",
                                    "can_post_stories", "can_edit_stories", "can_delete_stories"), True)
            return {"status": "administrator", "user": user, "can_be_edited": False, "is_anonymous": False,
                    "can_promote_members": False, **rights}
        return {"status": "member", "user": user}

    async def api_sendPhoto(self, p: dict[str, Any]) -> Any:
        """A photo upload: the bytes must be a PNG or JPEG of at most 10 MB; the caption at most 1024."""
        photo = p.get("photo")
        if not isinstance(photo, bytes):
            return 400, "Bad Request: there is no photo in the request"
        if not (photo.startswith(b"\x89PNG\r\n\x1a\n") or photo.startswith(b"\xff\xd8")):
            return 400, "Bad Request: IMAGE_PROCESS_FAILED"
        if len(photo) > 10 * 1024 * 1024:
            return 400, "Bad Request: PHOTO_TOO_BIG"
        caption = p.get("caption", "")
        if caption:
            if p.get("parse_mode") == "HTML":
                problem = check_html(caption)
                if problem:
                    return 400, problem.replace("message", "caption")
            if utf16_len(caption) > 1024:
                return 400, "Bad Request: message caption is too long"
        chat_id = int(p["chat_id"])
        msg = self._sent(chat_id, self.next_message_id(chat_id), "", None)
        del msg["text"]
        msg["photo"] = [{"file_id": f"photo{msg['message_id']}", "file_unique_id": f"u{msg['message_id']}",
                         "width": 900, "height": 750, "file_size": len(photo)}]
        if caption:
            msg["caption"] = caption
        return msg


def sent_texts(fake: FakeTelegram, chat_id: int | None = None) -> list[str]:
    return [c.params.get("text", "") for c in fake.calls_to("sendMessage")
            if chat_id is None or int(c.params["chat_id"]) == chat_id]
