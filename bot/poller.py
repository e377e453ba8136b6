"""One feed poller for every chat, beside the digest scheduler in `gatebot run`.

Every tick it polls the feeds that are due (GATEBOT_FEED_INTERVAL apart, longer after failures),
at most CONCURRENCY at a time. For each entry a feed has not had before:

1. a repeat is skipped: the same link or headline from another feed of the chat, or pasted there;
2. the rest is judged like a pasted headline (title + summary, through the service's `ajudge`) and
   stored as a message of the chat, with its link and its feed as source (digest, board, charts);
3. in `post` mode an entry whose verdict clears the chat's confidence floor is posted, at most N
   per hour, unless the chat is quiet (/quiet) or takes commands only (/settings mode off); the post
   is recorded before it is sent, so a restart never posts it twice. Everything else waits for the
   daily digest.

The first fetch of a feed posts nothing: /follow records what is there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from . import chatsettings
from .feed_parse import Entry, feed_note
from .feeds import FeedReader, backoff, check_feed, new_item
from .jobs import Job, Wait, run_job, wait_or_stop
from .models import Verdict
from .reply import Reply
from .storage.feeds import FLOORS, MIN_TITLE_MATCH, Feed
from .store import Store, text_key, utcnow

log = logging.getLogger("gatebot.feeds")

CONCURRENCY = 8
SEND_TIMEOUT = 60.0
DEFAULT_INTERVAL = timedelta(minutes=15)
MIN_INTERVAL = timedelta(minutes=5)
RATE_WINDOW = timedelta(hours=1)
YIELD_EVERY = 8  # entries judged and stored between two turns of the event loop (~0.5 ms each)


class Service(Protocol):
    """What the poller needs of the service above it."""

    store: Store
    default_floor: str  # the chat's confidence floor when it chose none (the rules')

    def clock(self) -> datetime: ...

    async def ajudge(self, text: str) -> tuple[Verdict, Any]: ...  # the verdict, and the judges' account

    def entry_reply(self, verdict: Verdict, title: str, source: str, link: str, message_id: int,
                    decision: Any = None) -> Reply: ...


class Sender(Protocol):
    async def send(self, chat_id: str, reply: Reply) -> str | None: ...


def interval_from_settings(settings) -> timedelta:
    """GATEBOT_FEED_INTERVAL in minutes: 15 by default, never below 5."""
    minutes = getattr(settings, "gatebot_feed_interval", None) or 15
    return max(timedelta(minutes=minutes), MIN_INTERVAL)


def _quoted(entry: Entry, pasted: list[str]) -> bool:
    """Was the entry's link, or its headline (if not too short to tell), in a message pasted lately?"""
    title = entry.title if len(entry.title) >= MIN_TITLE_MATCH else ""
    return any((entry.link and entry.link in text) or (title and title in text) for text in pasted)


def clears(confidence: str, floor: str) -> bool:
    return confidence in FLOORS and FLOORS.index(confidence) >= FLOORS.index(floor)


@dataclass
class PollResult:
    feed: Feed
    new: int = 0  # entries not seen before in this feed
    repeats: int = 0  # of those, already in the chat from another feed or pasted
    posted: int = 0
    digested: int = 0  # with a gate, left for the digest (digest mode, below the floor, or capped)
    capped: int = 0
    failed: int = 0  # posts that could not be sent
    error: str = ""  # the fetch's error code
    unchanged: bool = False
    replies: list[Reply] = field(default_factory=list)  # posts for a chat with no sender (terminal)


class FeedPoller:
    def __init__(self, service: Service, reader: FeedReader, interval: timedelta = DEFAULT_INTERVAL,
                 concurrency: int = CONCURRENCY, clock: Callable[[], datetime] | None = None):
        self.service = service
        self.reader = reader
        self.interval = max(interval, timedelta(seconds=1))
        self.store = service.store
        self.clock: Callable[[], datetime] = clock or getattr(service, "clock", None) or utcnow
        self.senders: dict[str, Sender] = {}
        self.tick = 30.0  # seconds between looks for due feeds in `run`
        self.concurrency = concurrency
        self._slots: asyncio.Semaphore | None = None  # fetches in flight
        self._handle_lock: asyncio.Lock | None = None  # one feed's entries judged and stored at a time
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        self._busy: set[int] = set()  # feeds being polled right now
        self._claimed: set[tuple[str, str, str]] = set()  # (chat, kind, key) of entries being handled now

    def _semaphore(self) -> asyncio.Semaphore:
        self._for_loop()
        assert self._slots is not None
        return self._slots

    def _handling(self) -> asyncio.Lock:
        self._for_loop()
        assert self._handle_lock is not None
        return self._handle_lock

    def _for_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:  # one set per event loop (tests run several)
            self._slots, self._slots_loop = asyncio.Semaphore(self.concurrency), loop
            self._handle_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, service: Service, settings, **kwargs: Any) -> FeedPoller:
        return cls(service, FeedReader.from_settings(settings), interval_from_settings(settings), **kwargs)

    # ------------------------------------------------------------------ cycles

    async def cycle(self) -> list[PollResult]:
        """Poll every feed that is due now, CONCURRENCY at a time."""
        due = [f for f in self.store.due_feeds(self.clock()) if f.id not in self._busy]
        return list(await asyncio.gather(*(self.poll(f) for f in due)))

    async def refresh(self, platform: str, chat_id: str) -> list[PollResult]:
        """/feeds refresh: poll this chat's feeds now, whatever their schedule."""
        feeds = [f for f in self.store.feeds(platform, chat_id) if f.id not in self._busy]
        return list(await asyncio.gather(*(self.poll(f, collect=platform not in self.senders) for f in feeds)))

    async def run(self, stop: asyncio.Event, tick: float | None = None, max_cycles: int | None = None,
                  wait: Wait = wait_or_stop) -> None:
        """The feed job: poll until `stop` is set. A failing cycle is logged, never fatal."""
        await run_job(Job("feeds", self._cycle_logged, self.tick if tick is None else tick), stop, wait=wait,
                      max_ticks=max_cycles)

    async def _cycle_logged(self) -> None:
        results = await self.cycle()
        if results:
            log.info("feeds: %d polled, %d new entries, %d posted, %d failed",
                     len(results), sum(r.new for r in results), sum(r.posted for r in results),
                     sum(1 for r in results if r.error))

    # ------------------------------------------------------------------ one feed

    async def poll(self, feed: Feed, collect: bool = False) -> PollResult:
        """Poll one feed, judge and store its new entries, post what should be posted."""
        self._busy.add(feed.id)
        try:
            async with self._semaphore():
                checked = await check_feed(self.reader, self.store, feed, self.interval)
            result = PollResult(feed, error=checked.error.code if checked.error else "", unchanged=checked.unchanged)
            if checked.read is None or checked.read.parsed is None:
                return result
            # Judging and storing is CPU and SQLite on the event loop: one feed at a time, in short
            # stretches, so the chats this loop serves never wait long (fetches go on meanwhile).
            async with self._handling():
                try:
                    return await self._handle(feed, checked.new, checked.read, result, collect)
                except Exception as exc:  # noqa: BLE001 - e.g. the database is locked: back off, keep going
                    log.exception("feeds: handling %s failed", feed.feed_url)
                    self.store.record_feed_failure(feed.id, "failed", f"{type(exc).__name__}: {exc}",
                                                   backoff(self.interval, feed.errors + 1))
                    result.error = "failed"
                    return result
        finally:
            self._busy.discard(feed.id)

    async def _handle(self, feed: Feed, new: list[Entry], read, result: PollResult, collect: bool) -> PollResult:
        parsed = read.parsed
        chat = self.store.feed_settings(feed.platform, feed.chat_id, self.service.default_floor)
        mode = feed.mode or chat.mode
        # A chat that is quiet, or answers commands only (/settings mode off), gets no posts
        # meanwhile: they wait in the digest.
        manners = chatsettings.load(self.service.store, feed.platform, feed.chat_id)
        held = manners.quiet(self.clock()) or manners.value("mode") == "off"
        source = parsed.title or feed.title or (urlsplit(feed.feed_url).hostname or feed.feed_url)
        result.new = len(new)
        items = []
        pasted = self.store.recent_pasted(feed.platform, feed.chat_id) if feed.primed and new else []
        to_post: list[tuple[Entry, Verdict, int, Any]] = []
        claimed: list[tuple[str, str, str]] = []
        try:
            for i, entry in enumerate(new):
                if not feed.primed:  # the first fetch records, never posts
                    items.append(new_item(entry))
                    continue
                title_key = text_key(entry.title)
                keys = [(f"{feed.platform}:{feed.chat_id}", "title", title_key)]
                if entry.link:
                    keys.append((f"{feed.platform}:{feed.chat_id}", "link", entry.link))
                if (any(k in self._claimed for k in keys) or self.store.seen_in_chat(feed, title_key, entry.link)
                        or _quoted(entry, pasted)):
                    result.repeats += 1
                    items.append(new_item(entry, post="repeat"))
                    continue
                self._claimed.update(keys)
                claimed.extend(keys)
                verdict, decision = await self.service.ajudge(entry.text)
                store = self.service.store
                message_id, _ = store.add_message(
                    platform=feed.platform, chat_id=feed.chat_id, user_id=f"feed:{feed.id}", text=entry.title,
                    verdict=verdict, source=source[:120], link=entry.link or None)
                if decision is not None:  # a model judge was configured: keep both judges' answers
                    store.record_judges(message_id, decision.judge, decision.verdicts())
                # Posting is speaking unprompted: never on the model's word alone (Decision.unprompted).
                unprompted = getattr(decision, "unprompted", True)
                if (verdict.gate and mode == "post" and not held and unprompted
                        and clears(verdict.confidence, chat.floor)):
                    to_post.append((entry, verdict, message_id, decision))
                    post = "queued"
                else:
                    post = "digest" if verdict.gate else "none"
                    result.digested += bool(verdict.gate)
                items.append(new_item(entry, message_id, post))
                if i % YIELD_EVERY == YIELD_EVERY - 1:
                    await asyncio.sleep(0)  # let the chats served by this loop get a word in
            self.store.record_feed_poll(feed, title=parsed.title, etag=read.doc.etag, last_modified=read.doc.last_modified,
                                        note=feed_note(parsed, read.doc), wait=self.interval, items=items)
        finally:
            self._claimed.difference_update(claimed)
        for entry, verdict, message_id, decision in to_post:
            await self._post(feed, chat.per_hour, entry, verdict, source, message_id, result, collect, decision)
        return result

    async def _post(self, feed: Feed, per_hour: int, entry: Entry, verdict: Verdict, source: str, message_id: int,
                    result: PollResult, collect: bool, decision: Any = None) -> None:
        sender = self.senders.get(feed.platform)
        if sender is None and not collect:
            result.digested += 1  # that platform is not running here: the digest will carry it
            return
        if not self.store.claim_feed_post(feed.id, entry.key, feed.platform, feed.chat_id, self.clock() - RATE_WINDOW,
                                  per_hour):
            result.capped += 1
            result.digested += 1
            return
        reply = self.service.entry_reply(verdict, entry.title, source, entry.link, message_id, decision)
        if sender is None:
            result.replies.append(reply)
            self.store.finish_feed_post(feed.id, entry.key, ok=True)
            result.posted += 1
            return
        try:
            await asyncio.wait_for(sender.send(feed.chat_id, reply), SEND_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - the entry stays in the digest
            log.warning("feeds: posting to %s:%s failed: %s", feed.platform, feed.chat_id, type(exc).__name__)
            self.store.finish_feed_post(feed.id, entry.key, ok=False)
            result.failed += 1
            return
        self.store.finish_feed_post(feed.id, entry.key, ok=True)
        result.posted += 1
