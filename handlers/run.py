"""`gatebot run`: the composition root. Starts every adapter whose credentials are set, in one
process and one event loop, sharing one aiohttp server for webhooks (Telegram) and events (Slack).

Each adapter module exposes `build(service, settings, web_app) -> Adapter`: it registers its HTTP
routes (if any) on the shared `web_app` while building, and does network work only in `start()`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Protocol

from aiohttp import web
from gatebot.reply import Reply
from gatebot.service import Service
from gatebot.settings import Settings

log = logging.getLogger("gatebot.run")


class Adapter(Protocol):
    name: str  # "telegram", "slack": the platform name used in the store
    uses_http: bool

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Post a reply unprompted (digests); return the platform's message id."""
        ...


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def build_adapters(service: Service, settings: Settings, web_app: web.Application) -> list[Adapter]:
    adapters: list[Adapter] = []
    if settings.telegram_bot_token:
        from gatebot.handlers import telegram

        adapters.append(telegram.build(service, settings, web_app))
    if settings.slack_bot_token:
        from gatebot.handlers import slack

        adapters.append(slack.build(service, settings, web_app))
    return adapters


async def serve(service: Service, settings: Settings, stop: asyncio.Event | None = None,
                ready: asyncio.Event | None = None) -> int:
    stop = stop or asyncio.Event()
    web_app = web.Application(client_max_size=1024 * 1024)
    web_app.router.add_get("/healthz", _health)
    web_app.router.add_get("/", _health)
    try:
        adapters = build_adapters(service, settings, web_app)
    except ValueError as exc:  # a setting that cannot work, e.g. Slack HTTP mode without a signing secret
        log.error("cannot start: %s", exc)
        return 2
    if not adapters:
        log.error("no adapter configured: set TELEGRAM_BOT_TOKEN and/or SLACK_BOT_TOKEN")
        return 2
    runner = None
    if any(a.uses_http for a in adapters):
        runner = web.AppRunner(web_app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, settings.gatebot_http_host, settings.gatebot_http_port).start()
        log.info("http listening on %s:%s", settings.gatebot_http_host, settings.gatebot_http_port)
    started: list[Adapter] = []
    background: list[asyncio.Task] = []
    try:
        for adapter in adapters:
            await adapter.start()
            started.append(adapter)
            log.info("%s adapter started", adapter.name)
        from gatebot.scheduler import run_scheduler  # one digest scheduler for every adapter
        from gatebot.weekly import run_weekly

        senders = {a.name: a for a in started}
        background.append(asyncio.create_task(
            run_scheduler(service, senders, stop, service.clock), name="digest-scheduler"))
        background.append(asyncio.create_task(run_weekly(service, senders, stop), name="weekly-charts"))
        if service.feeds is not None:  # one feed poller for every chat
            service.feeds.senders = senders
            background.append(asyncio.create_task(service.feeds.run(stop), name="feed-poller"))
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        for task in background:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        for adapter in reversed(started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("stopping %s failed", adapter.name)
        if runner is not None:
            await runner.cleanup()
    return 0


def run_adapters(service: Service, settings: Settings) -> int:
    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await serve(service, settings, stop)

    return asyncio.run(main())
