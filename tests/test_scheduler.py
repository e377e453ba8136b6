"""The digest scheduler: due times across zones and DST, exactly once, catch-up, retries. No sleeping."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import drive
import pytest
from gatebot import scheduler as sched
from gatebot.scheduler import Scheduler, due_digests, run_scheduler
from gatebot.service import Message, Service
from gatebot.store import Store
from gatebot.timing import due_at, next_due, parse_hhmm, resolve_zone

UTC = timezone.utc


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


class FakeAdapter:
    def __init__(self, name: str = "telegram", fail: int = 0):
        self.name = name
        self.fail = fail  # fail this many sends first
        self.sent: list[tuple[str, object]] = []
        self.calls = 0

    async def send(self, chat_id, reply):
        self.calls += 1
        if self.calls <= self.fail:
            raise ConnectionError("network down")
        self.sent.append((chat_id, reply))
        return f"m{self.calls}"


def make_service(rules, classifier, path, clock) -> Service:
    service = Service(rules, Store(path, clock=clock), classifier, clock=clock)
    drive.chat_admins(service, "u1")  # digests are configured by a chat's admins (see test_permissions.py)
    return service


def subscribe(service: Service, chat: str, args: str, platform: str = "telegram") -> None:
    reply = drive.command(service, platform, chat, "u1", "digest", args)
    assert reply.kind == "status", reply.plain()


def run(coro):
    return asyncio.run(coro)


# ----------------------------------------------------------------------------- parsing and due times


def test_parse_hhmm():
    assert parse_hhmm("09:00") == (9, 0)
    assert parse_hhmm("9:05") == (9, 5)
    assert parse_hhmm("23:59") == (23, 59)
    for bad in ("24:00", "9", "09:60", "ab:cd", "", "09:00:00", "-1:00"):
        assert parse_hhmm(bad) is None


def test_resolve_zone():
    assert resolve_zone("Asia/Shanghai").key == "Asia/Shanghai"
    assert resolve_zone("europe/berlin").key == "Europe/Berlin"
    assert resolve_zone("UTC").key == "UTC"
    for bad in ("Mars/Base", "", "../etc/passwd", "Asia/Shanghai;rm", "x" * 100):
        assert resolve_zone(bad) is None


@pytest.mark.parametrize(
    "zone, day, hhmm, expected",
    [
        ("Asia/Shanghai", date(2026, 5, 1), (9, 0), datetime(2026, 5, 1, 1, 0, tzinfo=UTC)),
        ("UTC", date(2026, 5, 1), (9, 0), datetime(2026, 5, 1, 9, 0, tzinfo=UTC)),
        ("America/New_York", date(2026, 3, 7), (2, 30), datetime(2026, 3, 7, 7, 30, tzinfo=UTC)),  # EST
        # 02:30 does not exist on spring-forward day: it lands just after the gap (03:30 EDT).
        ("America/New_York", date(2026, 3, 8), (2, 30), datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),
        ("America/New_York", date(2026, 3, 9), (2, 30), datetime(2026, 3, 9, 6, 30, tzinfo=UTC)),  # EDT
        # 01:30 happens twice on fall-back day: the first one (EDT) counts.
        ("America/New_York", date(2026, 11, 1), (1, 30), datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
        ("Europe/Berlin", date(2026, 3, 29), (2, 30), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        ("Europe/Berlin", date(2026, 10, 25), (2, 30), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        ("Europe/Berlin", date(2026, 10, 26), (2, 30), datetime(2026, 10, 26, 1, 30, tzinfo=UTC)),
    ],
)
def test_due_at_across_zones_and_dst(zone, day, hhmm, expected):
    assert due_at(day, hhmm, ZoneInfo(zone)) == expected


@pytest.mark.parametrize(
    "zone, hhmm, start",
    [
        ("America/New_York", "02:30", datetime(2026, 3, 5, 12, 0, tzinfo=UTC)),  # spring forward Mar 8
        ("America/New_York", "01:30", datetime(2026, 10, 29, 12, 0, tzinfo=UTC)),  # fall back Nov 1
        ("Europe/Berlin", "02:30", datetime(2026, 3, 26, 12, 0, tzinfo=UTC)),  # Mar 29
        ("Europe/Berlin", "02:30", datetime(2026, 10, 22, 12, 0, tzinfo=UTC)),  # Oct 25
        ("Asia/Shanghai", "00:00", datetime(2026, 3, 26, 12, 0, tzinfo=UTC)),
    ],
)
def test_one_digest_per_local_day_across_dst(rules, classifier, tmp_path, zone, hhmm, start):
    clock = Clock(start)
    service = make_service(rules, classifier, tmp_path / "g.db", clock)
    subscribe(service, "c1", f"on {hhmm} {zone}")
    adapter = FakeAdapter()
    s = Scheduler(service, {"telegram": adapter}, clock)
    sent_dates = []
    for _ in range(6 * 24 * 4):  # six days in 15-minute ticks, bounded
        clock.advance(minutes=15)
        for _p, _c, local_date, outcome in run(s.tick()):
            assert outcome == "sent"
            sent_dates.append(local_date)
    assert len(sent_dates) == len(set(sent_dates)) == 6  # no day doubled
    days = [date.fromisoformat(d) for d in sent_dates]
    assert all((b - a).days == 1 for a, b in zip(days, days[1:], strict=False))  # no day skipped
    service.store.close()


def test_next_due_respects_when_subscribed():
    now = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    sub = {"time": "09:00", "tz": "Asia/Shanghai", "updated_at": "2026-05-01T02:00:00+00:00"}
    assert next_due(sub, now) == datetime(2026, 5, 2, 1, 0, tzinfo=UTC)
    sub = {"time": "11:00", "tz": "Asia/Shanghai", "updated_at": "2026-05-01T02:00:00+00:00"}
    assert next_due(sub, now) == datetime(2026, 5, 1, 3, 0, tzinfo=UTC)


# ----------------------------------------------------------------------------- exactly once


def test_exactly_once_across_restart(rules, classifier, tmp_path):
    clock = Clock(datetime(2026, 5, 1, 0, 0, tzinfo=UTC))
    path = tmp_path / "g.db"
    first = make_service(rules, classifier, path, clock)
    subscribe(first, "c1", "on 09:00 Asia/Shanghai")
    clock.advance(hours=1, minutes=1)  # 09:01 Shanghai
    adapter = FakeAdapter()
    assert [r[3] for r in run(Scheduler(first, {"telegram": adapter}, clock).tick())] == ["sent"]
    first.store.close()

    second = make_service(rules, classifier, path, clock)  # a restart: new instance, same database and clock
    adapter2 = FakeAdapter()
    s2 = Scheduler(second, {"telegram": adapter2}, clock)
    assert run(s2.tick()) == []
    clock.advance(hours=5)
    assert run(s2.tick()) == []
    assert adapter2.sent == [] and len(adapter.sent) == 1
    clock.advance(days=1)  # the next local day is sent again, once
    assert [r[3] for r in run(s2.tick())] == ["sent"]
    assert run(s2.tick()) == []
    second.store.close()


def test_interrupted_send_is_not_resent(rules, classifier, tmp_path):
    clock = Clock(datetime(2026, 5, 1, 0, 0, tzinfo=UTC))
    service = make_service(rules, classifier, tmp_path / "g.db", clock)
    subscribe(service, "c1", "on 09:00 Asia/Shanghai")
    clock.advance(hours=2)
    # An earlier run claimed the digest and stopped mid-send: the platform may have delivered it.
    assert service.store.claim_digest("telegram", "c1", "2026-05-01", "old-run", "a", "b", 5) == 1
    adapter = FakeAdapter()
    assert run(Scheduler(service, {"telegram": adapter}, clock, run_id="new").tick()) == []
    assert adapter.sent == []
    assert service.store.last_digest("telegram", "c1")[1] == "interrupted"
    service.store.close()


def test_claim_is_atomic(rules, classifier, tmp_path):
    clock = Clock(datetime(2026, 5, 1, tzinfo=UTC))
    store = Store(tmp_path / "g.db", clock=clock)
    assert store.claim_digest("slack", "C1", "2026-05-01", "r1", "a", "b", 5) == 1
    assert store.claim_digest("slack", "C1", "2026-05-01", "r2", "a", "b", 5) is None
    store.close()


def test_catch_up_after_downtime(rules, classifier, tmp_path):
    clock = Clock(datetime(2026, 4, 29, 0, 0, tzinfo=UTC))
    path = tmp_path / "g.db"
    service = make_service(rules, classifier, path, clock)
    subscribe(service, "c1", "on 09:00 Asia/Shanghai")
    service.store.close()
    clock.now = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)  # down for two days; 15:00 in Shanghai now
    service = make_service(rules, classifier, path, clock)
    adapter = FakeAdapter()
    s = Scheduler(service, {"telegram": adapter}, clock)
    results = run(s.tick())
    assert results == [("telegram", "c1", "2026-05-01", "sent")]  # today's, once; missed days are not replayed
    assert run(s.tick()) == []
    service.store.close()


def test_subscribing_after_todays_time_starts_tomorrow(rules, classifier, tmp_path):
    clock = Clock(datetime(2026, 5, 1, 2, 0, tzinfo=UTC))  # 10:00 Shanghai
    service = make_service(rules, classifier, tmp_path / "g.db", clock)
    subscribe(service, "c1", "on 09:00 Asia/Shanghai")
    adapter = FakeAdapter()
    s = Scheduler(service, {"telegram": adapter}, clock)
    assert run(s.tick()) == []
    clock.advance(hours=23)  # 09:00 next day
    assert [r[2] for r in run(s.tick())] == ["2026-05-02"]
    service.store.close()


def test_failed_send_is_retried_with_backoff(rules, classifier, tmp_path):
    clock = Clock(datetime(2026, 5, 1, 0, 0, tzinfo=UTC))
    service = make_service(rules, classifier, tmp_path / "g.db", clock)
    subscribe(service, "c1", "on 09:00 Asia/Shanghai")
    clock.advance(hours=1)
    adapter = FakeAdapter(fail=2)
    s = Scheduler(service, {"telegram": adapter}, clock)
    assert [r[3] for r in run(s.tick())] == ["failed"]
    clock.advance(seconds=30)
    assert run(s.tick()) == []  # backoff: 1 minute
    clock.advance(seconds=31)
    assert [r[3] for r in run(s.tick())] == ["failed"]
    clock.advance(minutes=1)
    assert run(s.tick()) == []  # backoff: 2 minutes
    clock.advance(minutes=1, seconds=1)
    assert [r[3] for r in run(s.tick())] == ["sent"]
    assert len(adapter.sent) == 1 and adapter.calls == 3
    clock.advance(hours=3)
    assert run(s.tick()) == []
    service.store.close()


def test_failed_send_retried_after_restart_and_bounded(rules, classifier, tmp_path):
    clock = Clock(datetime(2026, 5, 1, 0, 0, tzinfo=UTC))
    path = tmp_path / "g.db"
    service = make_service(rules, classifier, path, clock)
    subscribe(service, "c1", "on 09:00 Asia/Shanghai")
    clock.advance(hours=1)
    assert [r[3] for r in run(Scheduler(service, {"telegram": FakeAdapter(fail=99)}, clock).tick())] == ["failed"]
    service.store.close()
    service = make_service(rules, classifier, path, clock)  # restart: the failure is not lost
    adapter = FakeAdapter(fail=99)
    s = Scheduler(service, {"telegram": adapter}, clock)
    outcomes = []
    for _ in range(100):  # bounded
        clock.advance(minutes=5)
        outcomes += [r[3] for r in run(s.tick())]
    assert outcomes == ["failed"] * (sched.MAX_ATTEMPTS - 2) + ["gave_up"]
    assert service.store.last_digest("telegram", "c1")[1] == "gave_up"
    service.store.close()


def test_platform_without_adapter_is_left_alone(rules, classifier, tmp_path):
    clock = Clock(datetime(2026, 5, 1, 0, 0, tzinfo=UTC))
    service = make_service(rules, classifier, tmp_path / "g.db", clock)
    subscribe(service, "C1", "on 09:00 Asia/Shanghai", platform="slack")
    clock.advance(hours=2)
    assert run(Scheduler(service, {"telegram": FakeAdapter()}, clock).tick()) == []
    assert service.store.last_digest("slack", "C1") is None  # not claimed: a slack process can still send it
    slack = FakeAdapter("slack")
    assert [r[3] for r in run(Scheduler(service, {"slack": slack}, clock).tick())] == ["sent"]
    service.store.close()


def test_off_stops_digests(rules, classifier, tmp_path):
    clock = Clock(datetime(2026, 5, 1, 0, 0, tzinfo=UTC))
    service = make_service(rules, classifier, tmp_path / "g.db", clock)
    subscribe(service, "c1", "on 09:00 Asia/Shanghai")
    subscribe(service, "c1", "off")
    clock.advance(hours=2)
    assert due_digests(service.store, clock()) == []
    service.store.close()


def test_second_digest_covers_since_the_first(rules, classifier, tmp_path):
    from gatebot.service import Message

    clock = Clock(datetime(2026, 5, 1, 0, 0, tzinfo=UTC))
    service = make_service(rules, classifier, tmp_path / "g.db", clock)
    subscribe(service, "c1", "on 09:00 UTC")
    clock.advance(hours=9)
    adapter = FakeAdapter()
    s = Scheduler(service, {"telegram": adapter}, clock)
    run(s.tick())
    clock.advance(hours=1)
    drive.say(service, Message("telegram", "c1", "u1", "Alibaba orders 10,000 Ascend 910C chips"))
    clock.advance(hours=23)
    run(s.tick())
    assert len(adapter.sent) == 2
    second = adapter.sent[1][1].plain()
    assert "2026-05-01 09:00 UTC → 2026-05-02 09:00 UTC" in second
    assert "Alibaba orders" in second
    service.store.close()


def test_run_scheduler_loop_is_bounded_and_stops(rules, classifier, tmp_path):
    clock = Clock(datetime(2026, 5, 1, 0, 0, tzinfo=UTC))
    service = make_service(rules, classifier, tmp_path / "g.db", clock)
    subscribe(service, "c1", "on 09:00 UTC")
    clock.advance(hours=10)
    adapter = FakeAdapter()

    async def main():
        stop = asyncio.Event()
        await run_scheduler(service, {"telegram": adapter}, stop, clock, tick_seconds=0, max_ticks=3)
        stop.set()
        await run_scheduler(service, {"telegram": adapter}, stop, clock, tick_seconds=0)  # returns at once

    asyncio.run(asyncio.wait_for(main(), 10))
    assert len(adapter.sent) == 1
    service.store.close()


def test_serve_runs_one_scheduler_for_all_adapters(rules, classifier, tmp_path, monkeypatch):
    from gatebot.handlers import run as run_mod

    clock = Clock(datetime(2026, 5, 1, 0, 0, tzinfo=UTC))
    service = make_service(rules, classifier, tmp_path / "g.db", clock)
    subscribe(service, "c1", "on 09:00 UTC", platform="telegram")
    subscribe(service, "C1", "on 09:00 UTC", platform="slack")
    clock.advance(hours=10)

    class Adapter(FakeAdapter):
        uses_http = False

        async def start(self):
            pass

        async def stop(self):
            pass

    adapters = [Adapter("telegram"), Adapter("slack")]
    monkeypatch.setattr(run_mod, "build_adapters", lambda *a: adapters)

    async def main():
        stop, ready = asyncio.Event(), asyncio.Event()
        from gatebot.settings import Settings
        from test_slack import free_port

        settings = Settings(gatebot_http_port=free_port(), telegram_bot_token=None, slack_bot_token=None)
        task = asyncio.create_task(run_mod.serve(service, settings, stop, ready))
        await ready.wait()
        for _ in range(50):  # bounded: let the scheduler's first tick run
            if all(a.sent for a in adapters):
                break
            await asyncio.sleep(0)
        stop.set()
        return await task

    assert asyncio.run(asyncio.wait_for(main(), 10)) == 0
    assert [len(a.sent) for a in adapters] == [1, 1]
    service.store.close()


def test_a_fake_clock_drives_a_day_of_digest_ticks_without_sleeping(rules, classifier, tmp_path):
    from drive import FakeClock
    from gatebot.jobs import Job, run_jobs

    clock = FakeClock(datetime(2026, 5, 1, 0, 0, tzinfo=UTC))
    service = make_service(rules, classifier, tmp_path / "g.db", clock)
    subscribe(service, "c1", "on 09:00 UTC")
    drive.say(service, Message("telegram", "c1", "u1", "Alibaba orders 10,000 Ascend 910C chips"))
    adapter = FakeAdapter()
    sent_at: list[datetime] = []
    original = adapter.send

    async def send(chat_id, reply):
        sent_at.append(clock.now)
        return await original(chat_id, reply)

    adapter.send = send
    beats: list[datetime] = []

    async def main():
        stop = asyncio.Event()

        async def heartbeat() -> None:  # a second job on the same clock
            beats.append(clock.now)
            if clock.now >= datetime(2026, 5, 2, 0, 0, tzinfo=UTC):
                stop.set()

        await asyncio.gather(
            run_scheduler(service, {"telegram": adapter}, stop, clock, tick_seconds=600, wait=clock.wait),
            run_jobs([Job("heartbeat", heartbeat, 3600)], stop, wait=clock.wait))

    asyncio.run(asyncio.wait_for(main(), 20))
    # once, on the first tick at or after 09:00 (ticks every 10 minutes)
    assert len(sent_at) == 1
    assert datetime(2026, 5, 1, 9, 0, tzinfo=UTC) <= sent_at[0] <= datetime(2026, 5, 1, 9, 10, tzinfo=UTC)
    assert len(beats) >= 24  # both jobs ran through the simulated day
    service.store.close()
