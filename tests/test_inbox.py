"""The durable inbox (bot/inbox.py) and its use by the adapters; the log-flood filter.

The end-to-end proof (kill -9 in a burst, then every message answered once) is in test_process.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta, timezone

from fakes.telegram_api import FakeTelegram
from gatebot.handlers.lifecycle import RepeatFilter
from gatebot.handlers.run import serve
from gatebot.inbox import Inbox
from gatebot.store import Store
from test_telegram import GROUP, HEADLINE, free_port, reply_to, run, settings_for


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def test_accept_begin_finish(tmp_path) -> None:
    store = Store(tmp_path / "g.db")
    inbox = Inbox(store)
    assert inbox.accept("telegram", "1", "{}") == "new"
    assert inbox.accept("telegram", "1", "{}") == "pending"  # a re-delivery before it was answered
    assert inbox.begin("telegram", "1") and not inbox.begin("telegram", "1")  # never in hand twice
    inbox.finish("telegram", "1")
    assert inbox.accept("telegram", "1", "{}") == "done" and not inbox.begin("telegram", "1")
    assert inbox.accept("slack", "1", "{}") == "new"  # keys are per platform
    assert inbox.counts() == {"done": 1, "pending": 1}
    assert Inbox(Store(tmp_path / "empty.db")).counts() == {"pending": 0}
    store.close()


def test_resume_skips_items_older_than_max_age_and_what_is_in_hand(tmp_path) -> None:
    clock = Clock()
    store = Store(tmp_path / "g.db", clock=clock)
    inbox = Inbox(store, max_age=timedelta(hours=1), clock=clock)
    inbox.accept("telegram", "old", '{"n": 1}')
    clock.now += timedelta(minutes=50)
    inbox.accept("telegram", "recent", '{"n": 2}')
    inbox.accept("telegram", "busy", '{"n": 3}')
    inbox.accept("telegram", "answered", '{"n": 4}')
    inbox.finish("telegram", "answered")
    assert inbox.begin("telegram", "busy")
    clock.now += timedelta(minutes=15)  # "old" is 65 minutes old now
    assert [(i.key, json.loads(i.payload)["n"]) for i in inbox.resumable("telegram")] == [("recent", 2)]
    assert Inbox(store).status("telegram", "old") == "expired"
    inbox.release("telegram", "busy")  # stopped mid-way: resumable again
    assert [i.key for i in inbox.resumable("telegram")] == ["recent", "busy"]
    clock.now += timedelta(days=3)
    inbox.resumable("telegram")  # finished items are forgotten after two days
    assert Inbox(store).status("telegram", "answered") is None and Inbox(store).status("telegram", "old") is None
    store.close()


def test_claim_keeps_a_key_for_its_owner(tmp_path) -> None:
    store = Store(tmp_path / "g.db")
    assert store.claim("slack", "msg:C1:1.0", "sig:a")
    assert not store.claim("slack", "msg:C1:1.0", "sig:b")  # the same message through another event
    assert store.claim("slack", "msg:C1:1.0", "sig:a")  # the same item handled again after a restart
    assert store.claim("slack", "msg:C1:2.0", "") and not store.claim("slack", "msg:C1:2.0", "")
    store.close()


def test_webhook_update_is_written_before_200_and_finished_after_the_reply(service) -> None:
    secret = "s3cret-Token_1"

    async def scenario() -> None:
        async with FakeTelegram() as fake:
            port = free_port()
            settings = settings_for(fake, telegram_webhook_url=f"http://127.0.0.1:{port}/tg/hook",
                                    telegram_webhook_secret=secret, gatebot_http_port=port)
            stop, ready = asyncio.Event(), asyncio.Event()
            task = asyncio.create_task(serve(service, settings, stop, ready))
            await asyncio.wait_for(ready.wait(), 10)
            fake.delays["sendMessage"] = 0.5  # the reply is held back by "Telegram"
            update = fake.make_update(fake.message(GROUP, HEADLINE))
            assert await fake.post_webhook(update, secret=secret) == 200
            key = str(update["update_id"])
            assert Inbox(service.store).status("telegram", key) == "pending"  # written before the 200
            await fake.wait_calls("sendMessage")
            assert Inbox(service.store).status("telegram", key) == "pending"  # the send is not confirmed yet
            await reply_to(fake, update)
            await fake.wait_for(lambda f: Inbox(service.store).status("telegram", key) == "done", 5)
            assert await fake.post_webhook(update, secret=secret) == 200  # a re-delivery: not answered again
            await asyncio.sleep(0.2)
            assert len(fake.calls_to("sendMessage")) == 1
            stop.set()
            assert await asyncio.wait_for(task, 15) == 0

    run(scenario())


def test_repeat_filter_lets_a_few_through_then_counts() -> None:
    now = [0.0]
    repeat = RepeatFilter(burst=3, window=60, clock=lambda: now[0])

    def record(msg: str, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord("asyncio", level, __file__, 1, msg, None, None)

    passed = [repeat.filter(record("socket.accept() out of system resource")) for _ in range(1000)]
    assert passed.count(True) == 3
    assert repeat.filter(record("another message"))
    assert all(repeat.filter(record("info is never held", logging.INFO)) for _ in range(100))
    now[0] = 61
    first = record("socket.accept() out of system resource")
    assert repeat.filter(first) and "997 more like this" in first.getMessage()
