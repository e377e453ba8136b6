"""Worker processes for CPU-bound work on untrusted input: parsing feeds, rendering charts.

A thread would share the GIL with the event loop that serves every chat: each time the loop let
go of it (any socket or SQLite call) it would wait up to 5 ms to get it back, and a poll cycle over
many feeds stalled the chats by hundreds of milliseconds. A process has a GIL of its own.

Each kind of job has a process of its own (a feed cannot hold up a chart, nor a chart a feed) and
hard limits: an address-space cap set in the child (`RLIMIT_AS`: a job that wants more gets a
MemoryError) and a wall-clock limit enforced from here (the process is killed). Jobs of one kind
run one at a time, so a job's clock starts when it starts, not while it waits for the one before.
A job that breaks its limits, or whose process dies twice in one call, raises `WorkerError`, and
the caller says so in the chat; the next job gets a fresh process.

Processes are started with "spawn" (a fresh interpreter, not a fork of a process that has threads)
on first use. Where no process can be started a thread is used instead (no limits then).
Functions and arguments cross by pickle: module-level functions, plain data.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import multiprocessing
import os
import resource
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger("gatebot.workers")
T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    seconds: float  # wall clock per job, from the moment it starts
    memory_mb: int  # address space of the worker process (RLIMIT_AS), imports included
    preload: tuple[str, ...] = ()  # modules a new process imports before its first job (START_SECONDS)


# A feed is parsed in milliseconds once bounded (feed_parse.bound_document); 10 s is a stuck parser.
# A chart renders in 0.2-0.5 s; numpy and matplotlib alone take ~200 MB of address space.
LIMITS: dict[str, Limits] = {
    "feed": Limits(seconds=10.0, memory_mb=320, preload=("feedparser",)),
    "chart": Limits(seconds=20.0, memory_mb=640,
                    preload=("matplotlib.figure", "matplotlib.backends.backend_agg")),
}
START_SECONDS = 60.0  # a new process: interpreter, imports (the job's clock starts after them)


class WorkerError(Exception):
    """A job did not finish. `reason`: "timeout" (killed at its time limit), "memory" (over its
    memory limit) or "died" (its process died twice in one call)."""

    def __init__(self, kind: str, reason: str, detail: str = ""):
        super().__init__(f"{kind} worker: {reason}" + (f" ({detail})" if detail else ""))
        self.kind = kind
        self.reason = reason


def _ready(modules: tuple[str, ...]) -> int:
    """A new worker's first call: import what its jobs need, so their time limit is theirs alone."""
    for name in modules:
        importlib.import_module(name)
    return os.getpid()


def _limit_child(memory_bytes: int) -> None:
    """Runs first in each worker process: the memory cap, and one thread per numeric library (their
    thread pools reserve address space per thread and the machine's cores serve the chats)."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    if memory_bytes > 0:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        except (ValueError, OSError):  # a lower hard limit already set by the operator wins
            pass


class _Slot:
    """One kind's worker process, replaced whenever it dies or is killed."""

    def __init__(self, kind: str, limits: Limits):
        self.kind = kind
        self.limits = limits
        self.pool: Executor | None = None
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:  # a lock belongs to one event loop
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock

    def executor(self) -> Executor:
        if self.pool is None:
            try:
                self.pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_limit_child, initargs=(self.limits.memory_mb * 1024 * 1024,))
            except (OSError, NotImplementedError, ImportError) as exc:
                log.warning("no worker process (%s); %s work runs on a thread, without limits", exc, self.kind)
                self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"gatebot-{self.kind}")
        return self.pool

    async def start(self, modules: tuple[str, ...]) -> None:
        """A new process, its imports done (within START_SECONDS; WorkerError "died" if it cannot)."""
        try:
            async with asyncio.timeout(START_SECONDS):
                await asyncio.wrap_future(self.executor().submit(_ready, modules))
        except (TimeoutError, MemoryError, ImportError) as exc:  # a dying process: BrokenProcessPool, as for a job
            self.discard(kill=True)
            log.warning("%s worker: a new process could not start (%s)", self.kind, type(exc).__name__)
            raise WorkerError(self.kind, "died", f"could not start: {type(exc).__name__}") from None

    def pids(self) -> list[int]:
        processes = getattr(self.pool, "_processes", None) or {}  # ProcessPoolExecutor keeps no public list
        return [p.pid for p in list(processes.values()) if p.pid]

    def discard(self, kill: bool) -> None:
        """Forget this process (the next job starts another); `kill`: end it now, mid-job."""
        pool, self.pool = self.pool, None
        if pool is None:
            return
        if kill and isinstance(pool, ProcessPoolExecutor):
            processes = getattr(pool, "_processes", None) or {}
            for process in list(processes.values()):
                try:
                    process.kill()
                    process.join(1.0)  # reaped at once (SIGKILL cannot be ignored): no zombie left
                except (OSError, AttributeError, ValueError, AssertionError):
                    pass
        try:
            pool.shutdown(wait=False, cancel_futures=True)
        except Exception:  # noqa: BLE001 - a pool that broke while shutting down is gone all the same
            pass


_SLOTS: dict[str, _Slot] = {}


def slot(kind: str) -> _Slot:
    if kind not in _SLOTS:
        _SLOTS[kind] = _Slot(kind, LIMITS[kind])
    return _SLOTS[kind]


async def run_cpu(kind: str, func: Callable[..., T], *args: Any) -> T:
    """`func(*args)` in the `kind` worker process ("feed" or "chart"), awaited without blocking the
    event loop, within that kind's limits (`WorkerError` when it breaks them)."""
    s = slot(kind)
    limits = s.limits
    async with s.lock():
        for attempt in (1, 2):
            clock: asyncio.Timeout | None = None
            try:
                if s.pool is None:
                    await s.start((*limits.preload, getattr(func, "__module__", "") or "builtins"))
                future = asyncio.wrap_future(s.executor().submit(func, *args))
                async with asyncio.timeout(limits.seconds) as clock:
                    return await future
            except TimeoutError:
                if clock is None or not clock.expired():  # the job's own TimeoutError: an answer like any other failure
                    raise
                s.discard(kill=True)
                # INFO: the caller says it once, as a WARNING with what the job was for
                log.info("%s worker: a job ran over %g s and was stopped (%s)", kind, limits.seconds,
                            getattr(func, "__name__", "job"))
                raise WorkerError(kind, "timeout", f"over {limits.seconds:g} s") from None
            except MemoryError:
                s.discard(kill=True)  # what is left of its heap is not worth keeping
                log.info("%s worker: a job needed more than %d MB and was stopped (%s)", kind,
                            limits.memory_mb, getattr(func, "__name__", "job"))
                raise WorkerError(kind, "memory", f"over {limits.memory_mb} MB") from None
            except BrokenProcessPool:
                s.discard(kill=True)
                if attempt == 2:
                    log.info("%s worker: the process died twice in one job (%s)", kind,
                                getattr(func, "__name__", "job"))
                    raise WorkerError(kind, "died", "the process died twice") from None
                log.warning("%s worker: the process died; starting a new one", kind)
    raise AssertionError("unreachable")

