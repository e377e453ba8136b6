"""One digest scheduler for every adapter.

Digests are keyed by (platform, chat_id, local date) and each local date has exactly one due
moment (see timing.py), so a day is never doubled and none is skipped.

Exactly once: a digest row is claimed in the database (status pending) before the send, then
marked sent, or failed with a retry time (bounded attempts, exponential backoff). A restart reads
the same rows: a sent day is never resent; a failed one is retried; one left pending by a process
that stopped mid-send is marked interrupted and not resent (the platform may have delivered it;
sending twice is the worse failure). After downtime, today's digest is sent on the first tick if
its time has passed; earlier missed days are not (a digest covers up to 7 days anyway).

A subscription turned on (or changed) after today's time starts tomorrow.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .digest import build_digest, digest_window
from .jobs import Job, Wait, run_job, wait_or_stop
from .maintenance import purge_steps
from .store import iso, utcnow
from .timing import due_at, local_date_of, parse_hhmm, resolve_zone

log = logging.getLogger("gatebot.scheduler")

MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(minutes=30)
SEND_TIMEOUT = 60.0  # seconds
RETENTION_EVERY = timedelta(days=1)  # how often the retention purge runs when GATEBOT_RETENTION_DAYS is set


def backoff(attempt: int) -> timedelta:
    return min(BACKOFF_BASE * (2 ** max(attempt - 1, 0)), BACKOFF_MAX)


@dataclass(frozen=True)
class Due:
    platform: str
    chat_id: str
    local_date: str
    due: datetime
    retry: bool


def due_digests(store, now: datetime) -> list[Due]:
    """Every subscription whose digest for its current local day should be sent (or retried) now."""
    candidates: list[Due] = []
    for platform, chat_id, hhmm_text, tz, _lang, updated_at in store.enabled_subscriptions():
        hhmm, zone = parse_hhmm(hhmm_text or ""), resolve_zone(tz or "")
        if hhmm is None or zone is None:
            continue
        day = local_date_of(now, zone)
        due = due_at(day, hhmm, zone)
        if now < due or (updated_at and iso(due) < updated_at):
            continue  # not yet, or turned on after today's time: starts tomorrow
        candidates.append(Due(platform, chat_id, day.isoformat(), due, False))
    if not candidates:
        return []
    rows = store.digest_rows_for_dates(sorted({c.local_date for c in candidates}))
    now_text = iso(now)
    out = []
    for c in candidates:
        row = rows.get((c.platform, c.chat_id, c.local_date))
        if row is None:
            out.append(c)
        elif row[0] == "failed" and row[1] < MAX_ATTEMPTS and (row[2] is None or row[2] <= now_text):
            out.append(Due(c.platform, c.chat_id, c.local_date, c.due, True))
    return out


class Scheduler:
    """Sends due digests through the adapters; `tick()` does one bounded pass."""

    def __init__(self, service, adapters_by_platform: Mapping[str, Any],
                 clock: Callable[[], datetime] | None = None, run_id: str | None = None):
        self.service = service
        self.adapters = adapters_by_platform  # a live view: an adapter that starts later is used from then on
        self.clock: Callable[[], datetime] = clock or getattr(service, "clock", None) or utcnow
        self.run_id = run_id or uuid.uuid4().hex
        self._started = False
        self._last_purge: datetime | None = None

    def start(self) -> None:
        if not self._started:
            n = self.service.store.interrupt_pending_digests(self.run_id)
            if n:
                log.warning("%d digest(s) were interrupted mid-send by an earlier run; not resending", n)
            self._started = True

    async def tick(self) -> list[tuple[str, str, str, str]]:
        """Send everything due now; returns (platform, chat_id, local_date, outcome) per attempt."""
        self.start()
        store = self.service.store
        now = self.clock()
        results = []
        for item in due_digests(store, now):
            adapter = self.adapters.get(item.platform)
            if adapter is None:
                continue  # that platform is not running in this process
            start, end = digest_window(self.service, item.platform, item.chat_id, now)
            attempt = store.claim_digest(item.platform, item.chat_id, item.local_date, self.run_id,
                                         iso(start), iso(end), MAX_ATTEMPTS)
            if attempt is None:
                continue  # someone else claimed it, or nothing left to retry
            try:
                reply = build_digest(self.service, item.platform, item.chat_id, now=now)
                ref = await asyncio.wait_for(adapter.send(item.chat_id, reply), SEND_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - any send failure is retried
                give_up = attempt >= MAX_ATTEMPTS
                store.finish_digest(item.platform, item.chat_id, item.local_date, ok=False,
                                    error=f"{type(exc).__name__}: {exc}", give_up=give_up,
                                    next_attempt_at=None if give_up else iso(now + backoff(attempt)))
                log.warning("digest to %s:%s failed (attempt %d): %s", item.platform, item.chat_id, attempt, exc)
                results.append((item.platform, item.chat_id, item.local_date, "gave_up" if give_up else "failed"))
                continue
            store.finish_digest(item.platform, item.chat_id, item.local_date, ok=True,
                                message_ref=None if ref is None else str(ref))
            results.append((item.platform, item.chat_id, item.local_date, "sent"))
        await self.apply_retention(now)
        return results

    async def apply_retention(self, now: datetime) -> bool:
        """Purge chatter past the retention period: on the first tick, then once a day. True if it ran."""
        days = getattr(self.service, "retention_days", 0) or 0
        if days <= 0 or (self._last_purge is not None and now - self._last_purge < RETENTION_EVERY):
            return False
        self._last_purge = now
        steps = purge_steps(self.service.store, timedelta(days=days), now=now)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                result = done.value
                break
            await asyncio.sleep(0)  # one short transaction at a time; chats are served in between
        if result.messages or result.events or result.links or result.judgements:
            log.info("retention (%d days): removed %d chatter message(s), %d event id(s), %d expired link(s), "
                     "%d cached model answer(s)", days, result.messages, result.events, result.links,
                     result.judgements)
        return True


async def run_scheduler(service, adapters_by_platform: Mapping[str, Any], stop_event: asyncio.Event,
                        clock: Callable[[], datetime] | None = None, tick_seconds: float = 30.0,
                        max_ticks: int | None = None, on_tick: Callable[[], None] | None = None,
                        wait: Wait = wait_or_stop) -> None:
    """The digest job: tick until `stop_event` is set (or `max_ticks` passes). A failing tick is logged,
    not fatal; `on_tick` is called after every tick (the health report's heartbeat); `wait` is the
    pause between ticks (a fake clock's in tests)."""
    scheduler = Scheduler(service, adapters_by_platform, clock)
    job = Job("digests", scheduler.tick, tick_seconds, on_tick)
    await run_job(job, stop_event, wait=wait, max_ticks=max_ticks)
