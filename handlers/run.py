"""`gatebot run`: the composition root. Starts every adapter whose credentials are set, in one
process and one event loop, sharing one aiohttp server for webhooks (Telegram), events (Slack)
and GET /healthz, which is always served (polling and Socket Mode too).

Each adapter module exposes `build(service, settings, web_app) -> Adapter`: it registers its HTTP
routes (if any) on the shared `web_app` while building, and does network work only in `start()`.

Adapters start side by side, each retried with back-off while the network is down, so one that
cannot connect never holds up the others or the digest scheduler; a platform that refuses the
credentials stops the process at once (exit 2, one line). SIGTERM or SIGINT stops everything
within SHUTDOWN_LIMIT seconds: work still in hand stays in the durable inbox for the next start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from datetime import timedelta
from typing import Any, Protocol

from aiohttp import web
from gatebot.inbox import Inbox
from gatebot.reply import Reply
from gatebot.service import Service
from gatebot.settings import Settings

from .http_server import HttpServer, build_app
from .lifecycle import Health, install_repeat_filter, keep_starting

log = logging.getLogger("gatebot.run")

SHUTDOWN_LIMIT = 9.0  # seconds from SIGTERM to exit, whatever hangs (Docker sends SIGKILL at 10)
STOP_ADAPTERS = 6.0  # of which the adapters get this long to finish replies in flight


class Adapter(Protocol):
    name: str  # "telegram", "slack": the platform name used in the store
    uses_http: bool

    async def start(self) -> None:
        """Connect and start receiving; raise lifecycle.StartFailure when that cannot be done."""
        ...

    async def stop(self) -> None: ...

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Post a reply unprompted (digests); return the platform's message id."""
        ...


def build_adapters(service: Service, settings: Settings, web_app: web.Application) -> list[Adapter]:
    adapters: list[Adapter] = []
    if settings.telegram_bot_token:
        from gatebot.handlers import telegram

        adapters.append(telegram.build(service, settings, web_app))
    from gatebot.handlers.slack_oauth import oauth_config

    if settings.slack_bot_token or oauth_config(settings) is not None:  # one workspace, or Add to Slack
        from gatebot.handlers import slack

        adapters.append(slack.build(service, settings, web_app))
    return adapters


async def serve(service: Service, settings: Settings, stop: asyncio.Event | None = None,
                ready: asyncio.Event | None = None) -> int:
    """Run until `stop` is set; 0 after a clean stop, 2 when the configuration cannot work.

    `ready` is set once every adapter has started.
    """
    stop = stop or asyncio.Event()
    health = Health()
    if service.inbox is None:
        service.inbox = Inbox(service.store, max_age=timedelta(seconds=settings.gatebot_inbox_max_age))
    inbox = service.inbox
    health.extra = lambda: {"inbox": inbox.counts()}
    web_app = build_app(lambda: (200 if health.healthy else 503, health.report()), settings.gatebot_http_timeout)
    try:
        adapters = build_adapters(service, settings, web_app)
    except ValueError as exc:  # a setting that cannot work, e.g. Slack HTTP mode without a signing secret
        log.error("cannot start: %s", exc)
        return 2
    if not adapters:
        log.error("no adapter configured: set TELEGRAM_BOT_TOKEN and/or SLACK_BOT_TOKEN "
                  "(or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for Add to Slack)")
        return 2

    http = HttpServer(web_app, settings.gatebot_http_host, settings.gatebot_http_port,
                      settings.gatebot_http_timeout, settings.gatebot_http_max_connections)
    try:
        await http.start()
    except OSError as exc:
        where = f"{settings.gatebot_http_host}:{settings.gatebot_http_port}"
        if any(a.uses_http for a in adapters):
            log.error("cannot start: cannot listen on %s (%s)", where, exc.strerror or exc)
            return 2
        log.warning("no /healthz: cannot listen on %s (%s); the adapters run without it", where, exc.strerror or exc)

    loop = asyncio.get_running_loop()
    live: dict[str, Any] = {}  # adapters that run: the scheduler sends through these only
    fatal: asyncio.Future = loop.create_future()
    for adapter in adapters:
        health.set(adapter.name, "starting")
    starters = [asyncio.create_task(keep_starting(a, health, live, stop, fatal), name=f"start-{a.name}")
                for a in adapters]
    from gatebot.proposals import run_proposals
    from gatebot.scheduler import run_scheduler  # one digest scheduler for every adapter
    from gatebot.weekly import run_weekly

    scheduler_task = asyncio.create_task(
        run_scheduler(service, live, stop, service.clock, on_tick=health.tick), name="digest-scheduler")
    health.scheduler.state = "running"
    background = [scheduler_task, asyncio.create_task(run_weekly(service, live, stop), name="weekly-charts"),
                  asyncio.create_task(run_proposals(service, live, stop), name="status-proposals")]
    if service.feeds is not None:  # one feed poller for every chat
        service.feeds.senders = live
        background.append(asyncio.create_task(service.feeds.run(stop), name="feed-poller"))

    async def announce_ready() -> None:
        await asyncio.gather(*starters, return_exceptions=True)
        if ready is not None and len(live) == len(adapters):
            ready.set()

    announcer = asyncio.create_task(announce_ready())
    stopped = asyncio.create_task(stop.wait())
    code = 0
    try:
        await asyncio.wait([stopped, fatal], return_when=asyncio.FIRST_COMPLETED)
        if fatal.done():
            log.error("cannot start: %s", fatal.result())
            code = 2
    finally:
        health.stopping = True
        stop.set()
        for task in (*starters, announcer, *background, stopped):
            task.cancel()
        await asyncio.gather(*starters, announcer, *background, stopped, return_exceptions=True)
        health.scheduler.state = "stopped"
        await _stop_adapters(adapters, health)
        await http.stop()
    return code


async def _stop_adapters(adapters: list[Adapter], health: Health) -> None:
    """Stop every adapter side by side, within STOP_ADAPTERS seconds in all."""

    async def one(adapter: Adapter) -> None:
        health.set(adapter.name, "stopping")
        try:
            await adapter.stop()
        except Exception as exc:  # noqa: BLE001
            log.warning("stopping %s failed: %s: %s", adapter.name, type(exc).__name__, exc)
        health.set(adapter.name, "stopped")

    tasks = [asyncio.create_task(one(a)) for a in adapters]
    done, late = await asyncio.wait(tasks, timeout=STOP_ADAPTERS)
    for task in late:
        task.cancel()
    if late:
        log.warning("%d adapter(s) did not stop within %.0f s; unanswered work stays in the inbox",
                    len(late), STOP_ADAPTERS)
        await asyncio.wait(late, timeout=1.0)


def _exit_if_stuck(code_box: list[int | None]) -> None:
    """Runs on its own thread after the first signal: a stuck lookup or thread must not outlive the limit."""
    code = code_box[0]
    logging.getLogger("gatebot.run").error("shutdown took longer than %.0f s; exiting now", SHUTDOWN_LIMIT)
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # noqa: BLE001
            pass
    sys.stderr.flush()
    os._exit(code if code is not None else 1)


def run_adapters(service: Service, settings: Settings) -> int:
    install_repeat_filter()
    code_box: list[int | None] = [None]

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        watchdog: list[threading.Timer] = []

        def arm_watchdog() -> None:
            if not watchdog:
                timer = threading.Timer(SHUTDOWN_LIMIT, _exit_if_stuck, args=(code_box,))
                timer.daemon = True
                timer.start()
                watchdog.append(timer)

        def on_signal() -> None:
            stop.set()
            arm_watchdog()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        code = await serve(service, settings, stop)
        code_box[0] = code
        arm_watchdog()  # the executors' threads are joined at exit: a lookup stuck in one must not hang it
        return code

    return asyncio.run(main())
