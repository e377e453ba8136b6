"""One worker process for CPU-bound work: parsing feeds, rendering charts.

A thread would share the GIL with the event loop that serves every chat: each time the loop let
go of it (any socket or SQLite call) it would wait up to 5 ms to get it back, and a poll cycle over
many feeds stalled the chats by hundreds of milliseconds. A process has a GIL of its own. It is
started with "spawn" (a fresh interpreter, not a fork of a process that has threads) on first use;
if it dies it is replaced once per call; where no process can be started a thread is used instead.
Functions and arguments cross by pickle: module-level functions, plain data.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger("gatebot.workers")
T = TypeVar("T")

_POOL: Executor | None = None


def _pool() -> Executor:
    global _POOL
    if _POOL is None:
        try:
            _POOL = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        except (OSError, NotImplementedError, ImportError) as exc:
            log.warning("no worker process (%s); CPU-bound work runs on a thread", exc)
            _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gatebot-worker")
    return _POOL


async def run_cpu(func: Callable[..., T], *args: Any) -> T:
    """`func(*args)` in the worker process, awaited without blocking the event loop."""
    global _POOL
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_pool(), func, *args)
    except BrokenProcessPool:  # the worker died (killed, out of memory): start another, try once more
        log.warning("the worker process died; starting a new one")
        _POOL = None
        return await loop.run_in_executor(_pool(), func, *args)
