"""One runner for the periodic jobs (digests, feeds, weekly charts) and one clock to drive them.

A job is a tick (an async function) and the seconds between two ticks. The runner ticks until the
stop event is set; a failing tick is logged, never fatal. Time comes from a clock (`() -> datetime`)
and the pause between ticks from a `wait`, both injectable: a test drives every job with a fake
clock whose wait moves time on instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

log = logging.getLogger("gatebot.jobs")

Clock = Callable[[], datetime]
Wait = Callable[[float, asyncio.Event], Awaitable[None]]


async def wait_or_stop(seconds: float, stop: asyncio.Event) -> None:
    """The real pause: `seconds`, or less when the stop event is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass


@dataclass(frozen=True)
class Job:
    name: str  # for the log ("digests", "feeds", "weekly charts")
    tick: Callable[[], Awaitable[object]]
    every: float  # seconds between the end of one tick and the start of the next
    on_tick: Callable[[], None] | None = None  # after every tick, failed or not (a heartbeat)


async def run_job(job: Job, stop: asyncio.Event, *, wait: Wait = wait_or_stop, max_ticks: int | None = None) -> int:
    """Tick until `stop` is set (or `max_ticks` have run); how many ticks ran."""
    ticks = 0
    while not stop.is_set():
        try:
            await job.tick()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one failed tick must not end the job
            log.exception("%s: tick failed", job.name)
        if job.on_tick is not None:
            job.on_tick()
        ticks += 1
        if max_ticks is not None and ticks >= max_ticks:
            break
        await wait(job.every, stop)
    return ticks


async def run_jobs(jobs: list[Job], stop: asyncio.Event, *, wait: Wait = wait_or_stop) -> None:
    """Every job in its own task, so a slow one (a feed that takes its time) never delays another."""
    await asyncio.gather(*(run_job(job, stop, wait=wait) for job in jobs))
