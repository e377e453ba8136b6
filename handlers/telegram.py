"""The Telegram adapter (python-telegram-bot 22).

`build(service, settings, web_app)` returns a `TelegramAdapter`. Long polling by default (PTB's
Updater, started in `start()`; we own the event loop, so no run_polling). With
TELEGRAM_WEBHOOK_URL set it registers a POST route at that URL's path on the shared aiohttp app
(the secret header checked, updates queued: telegram_updates.py, with the inbox they are kept in).

What the bot answers:
- groups/supergroups: what the service decides to answer (a gate headline at the group's confidence
  floor, as its /settings allow), messages that mention the bot or reply to it, and commands
  (/gates, /gates@thisbot; /cmd@otherbot is left alone). Chatter: silence.
- direct chats: always; a post forwarded from a channel is answered naming the channel.
- captions (photos, videos, documents) are read like text.
- channel posts, where the bot is an admin of the channel: judged and stored (they count in the
  channel's digest); a reply is posted in the channel only after its admins chose `/settings mode
  auto` there (a command posted in the channel is an admin's: only admins post in a channel).
- messages from bots, itself included, are ignored; every command goes to the service as is.
- inline keyboard under each verdict (or a compact reply's "Why?", or the settings page's); a press
  goes to `service.apress`, is answered with answerCallbackQuery and the message is edited.
- `@bot headline` in any chat (inline mode): one verdict result, see telegram_inline.py.
- who administers a group (for /settings) is asked of Telegram with getChatMember.

Sending goes through AIORateLimiter (group and overall limits, RetryAfter retried `max_retries`
times) and our own bounded backoff for network errors. The token never reaches the logs: httpx,
which logs request URLs (they contain the token) at INFO, is raised to WARNING, and a filter
redacts the token from the records of the loggers we know.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import secrets
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

from aiohttp import web
from gatebot.commands import menu
from gatebot.context import decide_language, words_language
from gatebot.inbox import Inbox
from gatebot.links import entity_urls
from gatebot.reply import Block, Reply, label
from gatebot.service import Message, Service
from gatebot.settings import Settings
from telegram import (
    BotCommand,
    CallbackQuery,
    InlineQuery,
    LinkPreviewOptions,
    MessageOriginChannel,
    ReplyParameters,
    Update,
)
from telegram import (
    Message as TgMessage,
)
from telegram.constants import ChatMemberStatus, ChatType, MessageEntityType, ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import AIORateLimiter, Application, BaseRateLimiter, ContextTypes, TypeHandler

from .lifecycle import StartFailure
from .telegram_inline import CACHE_SECONDS, TokenBucket, article, slow_down
from .telegram_logs import quiet_token_loggers, redact
from .telegram_render import keyboard, parse_callback, render_chunks, render_single
from .telegram_updates import ALLOWED_UPDATES, PLATFORM, InboxQueue, receive_webhook, resume

CAPTION_LIMIT = 1024  # a photo's caption
ANONYMOUS_ADMIN = "1087968824"  # @GroupAnonymousBot: the sender of an anonymous admin's messages
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+(.*))?$", re.DOTALL)

log = logging.getLogger("gatebot.telegram")
T = TypeVar("T")


def command_menu(lang: str) -> list[BotCommand]:
    """The command list for setMyCommands, from the command table."""
    return [BotCommand(name, description[:256]) for name, description in menu(lang)]


def forwarded_channel(msg: TgMessage) -> str:
    """The channel a forwarded post came from, as the reply names it ("title (@username)"); "" if
    it was not forwarded from a channel."""
    origin = msg.forward_origin
    if not isinstance(origin, MessageOriginChannel):
        return ""
    title, username = origin.chat.title or "", origin.chat.username or ""
    if title and username:
        return f"{title} (@{username})"
    return title or (f"@{username}" if username else "")


class TelegramAdapter:
    name = PLATFORM

    def __init__(self, service: Service, settings: Settings, web_app: web.Application | None = None,
                 rate_limiter: BaseRateLimiter | None = None, retry_base: float = 0.5,
                 max_attempts: int = 5, inline_bucket: TokenBucket | None = None) -> None:
        if settings.telegram_bot_token is None:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        self.service = service
        self.settings = settings
        self._token = settings.telegram_bot_token.get_secret_value()
        quiet_token_loggers(self._token)  # before anything can log; again below with the webhook secret
        self.webhook_url = settings.telegram_webhook_url or None
        self.uses_http = bool(self.webhook_url)
        self.retry_base = retry_base  # network-error backoff: retry_base * 2**attempt, capped at 8 s
        self.max_attempts = max_attempts
        self.inline_bucket = TokenBucket() if inline_bucket is None else inline_bucket
        secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
        if self.uses_http and not secret:
            # Without a configured secret we make one per run; setWebhook registers it at every start.
            log.warning("TELEGRAM_WEBHOOK_SECRET is not set: using a random secret for this run")
            secret = secrets.token_urlsafe(32)
        if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET may only contain A-Z, a-z, 0-9, _ and - (1-256 chars)")
        self._secret = secret
        quiet_token_loggers(self._token, secret)
        self.inbox = service.inbox or Inbox(service.store)
        builder = (
            Application.builder()
            .update_queue(InboxQueue(self.inbox))
            .token(self._token)
            .base_url(settings.telegram_api_base_url)
            .rate_limiter(rate_limiter or AIORateLimiter(max_retries=5))
            .concurrent_updates(64)
            .connect_timeout(10)
            .read_timeout(15)
            .write_timeout(15)
            .pool_timeout(10)
            .connection_pool_size(64)
        )
        if self.uses_http:
            builder = builder.updater(None)
        self.application: Application = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        service.admin_checks[PLATFORM] = self.is_chat_admin
        self.application.add_error_handler(self._on_error)
        self.username: str = ""
        self.bot_id: int = 0
        self._accepting = False
        if self.uses_http:
            if web_app is None:
                raise ValueError("webhook mode needs the shared aiohttp web_app")
            self.webhook_path = urlparse(str(self.webhook_url)).path or "/"
            web_app.router.add_post(self.webhook_path, self._webhook)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connect, register, start receiving, and hand back what an earlier run left unanswered.

        Raises StartFailure: fatal when Telegram refuses the configuration (a rejected token, a
        webhook URL it will not take), transient for network trouble (the caller retries).
        """
        failure: StartFailure | None = None
        try:
            await self._start()
        except (InvalidToken, Forbidden) as exc:
            failure = StartFailure(f"Telegram rejected the bot token ({type(exc).__name__})", fatal=True)
        except BadRequest as exc:  # e.g. setWebhook refusing the URL; a NetworkError subclass in PTB
            failure = StartFailure(f"Telegram refused the setup: {type(exc).__name__}: "
                                   f"{redact(str(exc), self._token)}", fatal=True)
        except (NetworkError, TimedOut, RetryAfter, Conflict) as exc:
            failure = StartFailure(f"{type(exc).__name__}: {redact(str(exc), self._token)}", fatal=False)
        except TelegramError as exc:
            # the message may contain the token: raised again without it (and outside the except
            # block, so the original isn't even kept as __context__)
            failure = StartFailure(f"{type(exc).__name__}: {redact(str(exc), self._token)}", fatal=False)
        if failure is not None:
            with contextlib.suppress(Exception):
                await self.stop()
            raise failure
        await resume(self.inbox, self.application)

    async def _start(self) -> None:
        app = self.application
        await app.initialize()  # getMe
        self.username = app.bot.username or ""
        self.bot_id = app.bot.id
        await self._register_commands()
        if self.uses_http:
            await self._retry(lambda: app.bot.set_webhook(
                url=self.webhook_url, secret_token=self._secret, allowed_updates=ALLOWED_UPDATES))
            await app.start()
            self._accepting = True
            log.info("telegram: webhook mode as @%s at path %s", self.username, self.webhook_path)
        else:
            assert app.updater is not None
            await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES, timeout=30,
                                            bootstrap_retries=3, error_callback=self._polling_error)
            await app.start()
            log.info("telegram: long polling as @%s", self.username)

    async def stop(self) -> None:
        """Stop fetching, let in-flight replies finish (Application.stop waits for them), shut down."""
        app = self.application
        self._accepting = False
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()

    def _polling_error(self, exc: TelegramError) -> None:
        log.warning("telegram: getUpdates failed (%s), retrying with backoff", type(exc).__name__)

    async def _register_commands(self) -> None:
        bot = self.application.bot
        try:
            await bot.set_my_commands(command_menu("en"))
            await bot.set_my_commands(command_menu("zh"), language_code="zh")
        except TelegramError as exc:
            log.warning("telegram: setMyCommands failed: %s", exc)

    # ------------------------------------------------------------------ webhook

    async def _webhook(self, request: web.Request) -> web.Response:
        return await receive_webhook(request, self._secret, self._accepting, self.application)

    # ------------------------------------------------------------------ sending

    async def _retry(self, call: Callable[[], Awaitable[T]]) -> T:
        """Retry network errors with exponential backoff; RetryAfter is the rate limiter's job."""
        for attempt in range(self.max_attempts):
            try:
                return await call()
            except (BadRequest, Forbidden, InvalidToken, RetryAfter):
                raise
            except NetworkError as exc:
                if attempt + 1 >= self.max_attempts:
                    raise
                delay = min(self.retry_base * 2 ** attempt, 8.0)
                log.warning("telegram: %s (%s); retry %d in %.1fs", type(exc).__name__, exc, attempt + 1, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _send_reply(self, chat_id: int | str, reply: Reply, reply_to: int | None = None,
                          thread_id: int | None = None) -> TgMessage | None:
        if reply.image:
            return await self._send_photo(chat_id, reply, reply_to, thread_id)
        markup = keyboard(reply)
        chunks = [render_single(reply)] if markup else render_chunks(reply)
        sent: TgMessage | None = None
        bot = self.application.bot
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            params: dict[str, Any] = {
                "chat_id": chat_id,
                "text": chunk,
                "parse_mode": ParseMode.HTML,
                "link_preview_options": LinkPreviewOptions(is_disabled=True),
                "reply_markup": markup if last else None,
            }
            if reply_to is not None and i == 0:
                params["reply_parameters"] = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if thread_id is not None:
                params["message_thread_id"] = thread_id
            sent = await self._retry(functools.partial(bot.send_message, **params))
        if sent is not None and reply.message_id is not None:
            self.service.store.set_reply_ref(reply.message_id, str(sent.message_id))
        return sent

    async def _send_photo(self, chat_id: int | str, reply: Reply, reply_to: int | None,
                          thread_id: int | None) -> TgMessage:
        """A chart: sendPhoto with the reply's text as its caption (cut to Telegram's 1024)."""
        params: dict[str, Any] = {
            "chat_id": chat_id,
            "photo": reply.image,
            "filename": reply.image_name or "chart.png",
            "caption": render_single(reply, limit=CAPTION_LIMIT),
            "parse_mode": ParseMode.HTML,
        }
        if reply_to is not None:
            params["reply_parameters"] = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
        if thread_id is not None:
            params["message_thread_id"] = thread_id
        bot = self.application.bot
        return await self._retry(lambda: bot.send_photo(**params))

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Post a reply unprompted (digests); the id of the (last) message sent."""
        sent = await self._send_reply(chat_id, reply)
        return str(sent.message_id) if sent is not None else None

    # ------------------------------------------------------------------ updates

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.inline_query is not None:  # not in the inbox: it expires in seconds
            await self._on_inline(update.inline_query)
            return
        key = str(update.update_id)
        if not self.inbox.begin(PLATFORM, key):
            return  # a re-delivered update: answered already, or being answered right now
        try:
            if update.callback_query is not None:
                await self._on_callback(update.callback_query)
            elif update.message is not None:
                await self._on_message(update.message, update)
            elif update.channel_post is not None:
                await self._on_message(update.channel_post, update)
        except asyncio.CancelledError:
            self.inbox.release(PLATFORM, key)  # stopped mid-way: answered after the next start
            raise
        except Exception as exc:
            self.inbox.finish(PLATFORM, key, ok=False, error=f"{type(exc).__name__}: {redact(str(exc), self._token)}")
            raise  # to the error handler, which logs it
        self.inbox.finish(PLATFORM, key)

    def _from_bot(self, msg: TgMessage) -> bool:
        user = msg.from_user
        if user is None:
            return msg.sender_chat is None or msg.sender_chat.id != msg.chat.id
        if user.id == self.bot_id:
            return True
        if user.is_bot:
            # Anonymous group admins post as the group itself (from = @GroupAnonymousBot): keep those.
            return not (msg.sender_chat is not None and msg.sender_chat.id == msg.chat.id)
        return False

    def _addressed(self, msg: TgMessage, text_is_caption: bool) -> bool:
        reply_to = msg.reply_to_message
        if reply_to is not None and reply_to.from_user is not None and reply_to.from_user.id == self.bot_id:
            return True
        entities = msg.parse_caption_entities() if text_is_caption else msg.parse_entities()
        me = f"@{self.username}".lower()
        for entity, value in entities.items():
            if entity.type == MessageEntityType.MENTION and value.lower() == me:
                return True
            if entity.type == MessageEntityType.TEXT_MENTION and entity.user and entity.user.id == self.bot_id:
                return True
        return False

    def _strip_mention(self, text: str) -> str:
        if not self.username:
            return text
        return re.sub(rf"(?i)@{re.escape(self.username)}\b", "", text).strip()

    async def _on_message(self, msg: TgMessage, update: Update) -> None:
        if self._from_bot(msg):
            return
        is_caption = msg.text is None
        text = msg.text if msg.text is not None else (msg.caption or "")
        if not text.strip():
            return  # stickers, joins, photos without caption...
        chat = msg.chat
        is_direct = chat.type == ChatType.PRIVATE
        chat_id = str(chat.id)
        user = msg.from_user
        user_id = str(user.id) if user is not None else str(msg.sender_chat.id if msg.sender_chat else chat.id)
        reply_to = None if is_direct else msg.message_id
        thread_id = msg.message_thread_id if msg.is_topic_message else None
        ref = str(msg.message_id)

        m = _COMMAND.match(text.strip())
        if m:
            name, target, args = m.group(1), m.group(2), m.group(3) or ""
            if target and target.lower() != self.username.lower():
                return  # /cmd@otherbot
            lang_hint = user.language_code if user is not None else None
            reply = await self.service.ahandle_command(PLATFORM, chat_id, user_id, name.lower(), args,
                                                       lang_hint=lang_hint, message_ref=ref, is_direct=is_direct)
            if not is_direct and not target and reply.kind == "unknown":
                return  # an unknown bare /cmd in a group is probably for another bot
        else:
            addressed = self._addressed(msg, is_caption)
            # Links Telegram recognised, including text_link entities whose URL is not in the text.
            entities = (msg.parse_caption_entities if is_caption else msg.parse_entities)(
                [MessageEntityType.URL, MessageEntityType.TEXT_LINK])
            links = tuple(entity_urls((e.type, e.url, value) for e, value in entities.items()))
            reply = await self.service.ahandle_message(Message(
                PLATFORM, chat_id, user_id, self._strip_mention(text), is_direct=is_direct,
                addressed=addressed, message_ref=ref, links=links))
        if reply is None:
            return
        if not m and chat.type == ChatType.CHANNEL and self.service.chat_settings(PLATFORM, chat_id).mode != "auto":
            return  # judged and stored for the digest; a channel hears about it only if it chose /settings mode auto
        channel = forwarded_channel(msg) if is_direct else None
        if channel:
            reply.blocks.insert(0, Block(kind="field", label=label("forwarded_from", reply.lang), text=channel,
                                         user_text=True))
        await self._send_reply(chat.id, reply, reply_to=reply_to, thread_id=thread_id)

    async def _on_inline(self, query: InlineQuery) -> None:
        """One result for `@bot headline`: the verdict, or a hint; one answerInlineQuery call."""
        locale = query.from_user.language_code
        if self.inline_bucket.allow(str(query.from_user.id)):
            answer = await self.service.ainline(query.query, locale=locale)
            result = article(answer, query.query)
        else:
            lang = decide_language(words=words_language(query.query), locale=locale)
            result = slow_down(label("inline_slow_title", lang), label("inline_slow_desc", lang))
        try:
            await query.answer([result], cache_time=CACHE_SECONDS, is_personal=True)
        except BadRequest as exc:  # the query expired (the asker typed on) or was answered already
            log.info("telegram: answerInlineQuery failed: %s", exc)

    async def _on_callback(self, query: CallbackQuery) -> None:
        message_id, choice = parse_callback(query.data)
        message = query.message
        chat_id = str(message.chat.id) if message is not None else ""
        is_direct = message is not None and message.chat.type == ChatType.PRIVATE
        result = await self.service.apress(PLATFORM, chat_id, str(query.from_user.id), message_id, choice,
                                           is_direct=is_direct)
        try:
            await self._retry(lambda: query.answer(result.notice[:200] or None, show_alert=not result.ok))
        except BadRequest as exc:  # e.g. the query is too old to answer
            log.info("telegram: answerCallbackQuery failed: %s", exc)
        if not result.ok or result.reply is None or message is None or not isinstance(message, TgMessage):
            return
        try:
            await self._retry(lambda: self.application.bot.edit_message_text(
                render_single(result.reply), chat_id=message.chat.id, message_id=message.message_id,
                parse_mode=ParseMode.HTML, reply_markup=keyboard(result.reply),
                link_preview_options=LinkPreviewOptions(is_disabled=True)))
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise

    async def is_chat_admin(self, chat_id: str, user_id: str) -> bool:
        """getChatMember: the chat's creator and administrators (and anonymous admins) may change its settings."""
        if user_id in (ANONYMOUS_ADMIN, chat_id):  # only administrators post as the group or channel itself
            return True
        try:
            member = await self._retry(lambda: self.application.bot.get_chat_member(int(chat_id), int(user_id)))
        except (BadRequest, Forbidden, ValueError) as exc:  # e.g. a user who left, a chat the bot left
            log.info("telegram: getChatMember failed: %s", type(exc).__name__)
            return False
        return member.status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)

    # ------------------------------------------------------------------ errors

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        error = context.error
        if error is None:
            log.error("telegram: update %s failed", update_id)
            return
        trace = redact("".join(traceback.format_exception(error)), self._token)
        log.error("telegram: update %s failed: %s: %s\n%s", update_id, type(error).__name__,
                  redact(str(error), self._token), trace)


def build(service: Service, settings: Settings, web_app: web.Application | None = None,
          **kwargs: Any) -> TelegramAdapter:
    return TelegramAdapter(service, settings, web_app, **kwargs)
