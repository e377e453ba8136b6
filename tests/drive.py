"""Drive the service from a synchronous test the way adapters do: the same async entry points
(`ahandle_message`, `ahandle_command`, `apress`), each run to completion with asyncio.run."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import datetime, timedelta

from gatebot.reply import Reply
from gatebot.service import Message, Service, VoteResult


def say(service: Service, msg: Message) -> Reply | None:
    return asyncio.run(service.ahandle_message(msg))


def command(
    service: Service,
    platform: str,
    chat_id: str,
    user_id: str,
    name: str,
    args: str = "",
    lang_hint: str | None = None,
    message_ref: str | None = None,
    is_direct: bool = False,
) -> Reply:
    return asyncio.run(
        service.ahandle_command(platform, chat_id, user_id, name, args, lang_hint, message_ref, is_direct)
    )


def press(
    service: Service,
    platform: str,
    chat_id: str,
    user_id: str,
    target: int | str,
    choice: str,
    *,
    is_direct: bool = False,
) -> VoteResult:
    return asyncio.run(service.apress(platform, chat_id, user_id, target, choice, is_direct=is_direct))


def chat_admins(service: Service, *user_ids: str, platforms: tuple[str, ...] = ("test", "telegram", "slack")) -> None:
    """Make these users administrators of every chat, as the platform's own admin check would say."""
    admins = set(user_ids)

    async def check(chat_id: str, user_id: str) -> bool:
        return user_id in admins

    for platform in platforms:
        service.admin_checks[platform] = check


class FakeClock:
    """One clock for every periodic job in a test. `wait` sleeps in simulated time: each call wakes the
    job whose wake-up comes first and moves `now` to it, so jobs interleave as they would in real time,
    and a simulated day takes as long as its ticks."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._stops: set[asyncio.Event] = set()

    def __call__(self) -> datetime:
        return self.now

    async def wait(self, seconds: float, stop: asyncio.Event) -> None:
        if stop.is_set():
            return
        self._stops.add(stop)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + timedelta(seconds=seconds), next(self._seq), future))
        asyncio.get_running_loop().call_soon(self._wake_next)
        await future

    def _wake_next(self) -> None:
        if any(stop.is_set() for stop in self._stops):  # stopping: nobody sleeps on
            while self._sleepers:
                heapq.heappop(self._sleepers)[2].set_result(None)
            return
        if self._sleepers:
            wake_at, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake_at)
            future.set_result(None)
