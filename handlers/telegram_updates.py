"""How Telegram updates reach the adapter, and why none is lost.

Both ways in, long polling (PTB's Updater) and the webhook, end in PTB's update queue; the queue
here writes each update to the durable inbox before it is acknowledged. The webhook route checks
Telegram's secret header first. At start, what the previous run accepted but never answered is
queued again.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any

from aiohttp import web
from gatebot.inbox import Inbox
from telegram import Update
from telegram.ext import Application

PLATFORM = "telegram"
ALLOWED_UPDATES = ["message", "callback_query", "inline_query", "channel_post"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

log = logging.getLogger("gatebot.telegram")


class InboxQueue(asyncio.Queue):
    """PTB's update queue, writing each update to the inbox as it is queued.

    Both ways updates arrive put them here before they are acknowledged: the Updater queues a
    getUpdates batch before its next getUpdates confirms it (the offset), and the webhook handler
    queues an update before answering 200. An update already finished is not queued again.
    """

    def __init__(self, inbox: Inbox) -> None:
        super().__init__()
        self.inbox = inbox

    async def put(self, item: Any) -> None:
        if isinstance(item, Update) and item.inline_query is None:  # inline queries: telegram_inline.py
            status = self.inbox.accept(PLATFORM, str(item.update_id), item.to_json(), kind="update")
            if status not in ("new", "pending"):
                log.info("telegram: update %s already handled (%s)", item.update_id, status)
                return
        await super().put(item)

    def put_nowait(self, item: Any) -> None:  # PTB queues its stop signal this way; updates never come here
        super().put_nowait(item)


async def resume(inbox: Inbox, application: Application) -> None:
    """Queue again the updates an earlier run accepted but did not finish; an unreadable one is
    marked failed and the others still go."""
    items = inbox.resumable(PLATFORM)
    for item in items:
        try:
            update = Update.de_json(json.loads(item.payload), application.bot)
        except Exception as exc:  # noqa: BLE001 - one unreadable row must not stop the others
            inbox.finish(PLATFORM, item.key, ok=False, error=f"unreadable: {type(exc).__name__}")
            continue
        await application.update_queue.put(update)
    if items:
        log.info("telegram: resumed %d update(s) left unanswered by the previous run", len(items))


async def receive_webhook(request: web.Request, secret: str, accepting: bool,
                          application: Application) -> web.Response:
    """One webhook POST: 403 without the right secret header, 503 while not running (Telegram
    retries later), 400 for what is no update; else queued (so in the inbox) and 200."""
    given = request.headers.get(SECRET_HEADER, "")
    if not given or not hmac.compare_digest(given.encode(), secret.encode()):
        return web.Response(status=403, text="forbidden")
    if not accepting:
        return web.Response(status=503, text="not running")
    try:
        data = await request.json()
        update = Update.de_json(data, application.bot)
    except Exception:
        return web.Response(status=400, text="bad update")
    if update is None:
        return web.Response(status=400, text="bad update")
    await application.update_queue.put(update)
    return web.Response(status=200, text="ok")
