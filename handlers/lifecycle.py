"""Keeping `gatebot run` alive and honest: adapter start-up with back-off, the health report, and
logs that cannot flood.

- An adapter's `start()` raises `StartFailure`: fatal (credentials or configuration the platform
  refuses: the process stops with one line and exit code 2) or transient (network trouble: the
  adapter is retried with exponential back-off, up to a minute apart, while everything else runs).
- `Health` is what `/healthz` reports: each adapter's state and the digest scheduler's.
- `RepeatFilter` lets a repeated warning or error through a few times a minute and then counts it,
  so a failure that repeats thousands of times a second ("Too many open files") cannot fill a disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger("gatebot.run")

RETRY_FIRST = 1.0  # seconds before the first retry of an adapter that could not start
RETRY_MAX = 60.0


class StartFailure(RuntimeError):
    """An adapter could not start. `fatal`: retrying cannot help (a rejected token)."""

    def __init__(self, message: str, fatal: bool):
        super().__init__(message)
        self.fatal = fatal


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Part:
    state: str  # starting | running | retrying | failed | stopping | stopped
    detail: str = ""
    since: str = field(default_factory=_now)


class Health:
    """The states `/healthz` reports; healthy when every adapter and the scheduler run."""

    def __init__(self) -> None:
        self.adapters: dict[str, Part] = {}
        self.scheduler = Part("starting")
        self.last_tick: str | None = None
        self.stopping = False
        self.extra: Callable[[], dict[str, Any]] | None = None  # e.g. inbox counts

    def set(self, name: str, state: str, detail: str = "") -> None:
        current = self.adapters.get(name)
        if current is None or current.state != state or current.detail != detail:
            self.adapters[name] = Part(state, detail[:300])

    def tick(self) -> None:
        self.last_tick = _now()

    @property
    def healthy(self) -> bool:
        return (not self.stopping and self.scheduler.state == "running"
                and bool(self.adapters) and all(p.state == "running" for p in self.adapters.values()))

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": self.healthy,
            "status": "stopping" if self.stopping else ("ok" if self.healthy else "degraded"),
            "adapters": {name: vars(p) for name, p in self.adapters.items()},
            "scheduler": {**vars(self.scheduler), "last_tick": self.last_tick},
        }
        if self.extra is not None:
            try:
                out.update(self.extra())
            except Exception as exc:  # noqa: BLE001 - the report must not fail with the database
                out["error"] = type(exc).__name__
        return out


async def keep_starting(adapter: Any, health: Health, live: MutableMapping[str, Any], stop: asyncio.Event,
                        fatal: asyncio.Future) -> None:
    """Start one adapter, retrying transient failures with back-off until it runs or `stop` is set.

    A fatal failure sets `fatal` (the process stops); the adapter joins `live` once it runs.
    """
    delay = RETRY_FIRST
    while not stop.is_set():
        try:
            await adapter.start()
        except StartFailure as exc:
            if exc.fatal:
                health.set(adapter.name, "failed", str(exc))
                if not fatal.done():
                    fatal.set_result(f"{adapter.name}: {exc}")
                return
            problem = str(exc)
        except Exception as exc:  # noqa: BLE001 - anything else at start is treated as passing trouble
            problem = f"{type(exc).__name__}: {exc}"
        else:
            live[adapter.name] = adapter
            health.set(adapter.name, "running")
            log.info("%s adapter started", adapter.name)
            return
        health.set(adapter.name, "retrying", problem)
        log.warning("%s adapter could not start (%s); retrying in %.0f s", adapter.name, problem[:300], delay)
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except asyncio.TimeoutError:
            pass
        delay = min(delay * 2, RETRY_MAX)


class RepeatFilter(logging.Filter):
    """At most `burst` records per `window` seconds for each repeated warning/error message.

    The first record after a quiet spell says how many were held back. INFO and below pass.
    """

    def __init__(self, burst: int = 5, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.burst = burst
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[str, str], list[float]] = {}  # key -> [window start, count, held back]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg)[:200])
        now = self.clock()
        entry = self._seen.get(key)
        if entry is None or now - entry[0] >= self.window:
            held = int(entry[2]) if entry else 0
            self._seen[key] = [now, 1, 0]
            if len(self._seen) > 1000:  # many distinct messages: forget the old ones
                for old in [k for k, v in self._seen.items() if now - v[0] >= self.window]:
                    del self._seen[old]
            if held:
                record.msg = f"{record.getMessage()} ({held} more like this in the last {self.window:.0f} s)"
                record.args = None
            return True
        entry[1] += 1
        if entry[1] <= self.burst:
            return True
        entry[2] += 1
        return False


def install_repeat_filter(logger: logging.Logger | None = None) -> RepeatFilter:
    """Put one RepeatFilter on every handler of the root logger (filters on handlers see all records)."""
    repeat = RepeatFilter()
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(repeat)
    return repeat
