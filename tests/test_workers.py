"""Worker processes: each kind of job in its own process, within a time and a memory limit.

The jobs (worker_jobs.py) run in real spawned worker processes;
a job that runs too long is killed, one that wants too much memory is stopped, a process that dies
twice in one call is reported, and in every case the next job gets a fresh process.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import drive
import pytest
from gatebot import workers
from gatebot.reply import label
from gatebot.service import Message, Service
from gatebot.workers import Limits, WorkerError, run_cpu
from worker_jobs import die, die_once, hog, pid, spin

GATE1 = "ByteDance orders $5.6B of Ascend 950PR chips"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def kinds(monkeypatch) -> Iterator[None]:
    """Two job kinds of the tests' own, with small limits."""
    monkeypatch.setitem(workers.LIMITS, "slow", Limits(seconds=1.5, memory_mb=400))
    monkeypatch.setitem(workers.LIMITS, "quick", Limits(seconds=20.0, memory_mb=400))
    yield
    for kind in ("slow", "quick"):
        if kind in workers._SLOTS:
            workers._SLOTS.pop(kind).discard(kill=True)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


# --------------------------------------------------------------------------- limits


def test_a_job_over_its_time_is_killed_and_the_next_gets_a_new_process(kinds, caplog) -> None:
    caplog.set_level("INFO", logger="gatebot.workers")
    async def scenario() -> None:
        first = await run_cpu("slow", pid)
        with pytest.raises(WorkerError) as err:
            await run_cpu("slow", spin, 30.0)
        assert err.value.reason == "timeout" and err.value.kind == "slow"
        assert not Path(f"/proc/{first}").exists()  # the process that ran it is gone
        assert await run_cpu("slow", pid) != first

    started = time.monotonic()
    run(scenario())
    assert time.monotonic() - started < 25  # killed, not waited for (the job alone would take 30 s)
    assert any("ran over 1.5 s and was stopped" in r.getMessage() for r in caplog.records)


def test_a_job_over_its_memory_is_stopped(kinds) -> None:
    async def scenario() -> None:
        assert await run_cpu("slow", hog, 10) == 10 * 1024 * 1024
        with pytest.raises(WorkerError) as err:
            await run_cpu("slow", hog, 600)
        assert err.value.reason == "memory"
        assert await run_cpu("slow", hog, 10) == 10 * 1024 * 1024  # a fresh process serves the next

    run(scenario())


def test_a_process_that_dies_once_is_replaced_twice_is_reported(kinds, tmp_path: Path) -> None:
    async def scenario() -> None:
        assert await run_cpu("slow", die_once, str(tmp_path / "marker")) == "second life"
        with pytest.raises(WorkerError) as err:
            await run_cpu("slow", die)
        assert err.value.reason == "died"
        assert await run_cpu("slow", pid) > 0

    run(scenario())


def test_kinds_do_not_wait_for_each_other(kinds) -> None:
    async def scenario() -> None:
        await asyncio.gather(run_cpu("slow", pid), run_cpu("quick", pid))  # both processes up
        stuck = asyncio.create_task(run_cpu("slow", spin, 30.0))
        await asyncio.sleep(0.2)
        assert await run_cpu("quick", spin, 0.01) == "done"
        assert not stuck.done()  # the other kind's job ran while this one was still running
        with pytest.raises(WorkerError):
            await stuck

    run(scenario())


# --------------------------------------------------------------------------- /trend


def _kill_chart_workers(times: int, stop: threading.Event) -> threading.Thread:
    """Kill each chart worker process as soon as it appears, `times` times."""

    def killer() -> None:
        killed: set[int] = set()
        while len(killed) < times and not stop.is_set():
            for p in workers.slot("chart").pids():
                if p not in killed:
                    try:
                        os.kill(p, 9)
                    except ProcessLookupError:
                        pass
                    killed.add(p)
            time.sleep(0.005)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    return thread


def test_a_chart_worker_killed_twice_during_trend_still_gets_a_reply(service: Service, caplog) -> None:
    drive.say(service, Message("test", "c1", "u1", GATE1))
    workers.slot("chart").discard(kill=True)  # start from no process: every one that appears is this call's
    stop = threading.Event()
    killer = _kill_chart_workers(2, stop)
    try:
        reply = run(service.ahandle_command("test", "c1", "u1", "trend", "7d"))
    finally:
        stop.set()
        killer.join(5)
    assert reply.kind == "error" and reply.plain() == label("chart_err_died", "en")
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name == "gatebot.chart"]
    assert said == ["trend for test:c1: chart worker: died (the process died twice)"]
    assert "Traceback" not in caplog.text
    # and the next /trend draws again
    again = run(service.ahandle_command("test", "c1", "u1", "trend", "7d"))
    assert again.kind == "chart" and again.image[:4] == b"\x89PNG"


def test_trend_is_counted_off_the_event_loop_and_matches_the_store(service: Service, monkeypatch) -> None:
    from gatebot import chart
    from gatebot.storage import trends

    for text in (GATE1, "Huawei opens the CANN toolkit for Ascend developers", "昇腾CANN全面开源"):
        drive.say(service, Message("test", "c1", "u1", text))
    now = service.clock()
    inline = chart.trend_data(service.store, "test", "c1", 7, now, list(service.rules.gates), timezone.utc)
    threads: list[int] = []
    counted = trends.TrendRows.trend_rows

    def recorded(self, *args, **kwargs):
        threads.append(threading.get_ident())
        return counted(self, *args, **kwargs)

    monkeypatch.setattr(trends.TrendRows, "trend_rows", recorded)

    async def scenario():
        return await chart.aload_trend(service.store, service.rules, "test", "c1", 7, now), threading.get_ident()

    off, loop_thread = run(scenario())
    assert threads and loop_thread not in threads
    assert off.counts == inline.counts and off.pasted == inline.pasted == 3 and off.days == inline.days


def test_a_trend_count_over_its_time_is_stopped_and_said(service: Service, monkeypatch) -> None:
    from gatebot import chart
    from gatebot.storage import trends

    drive.say(service, Message("test", "c1", "u1", GATE1))
    monkeypatch.setattr(trends.TrendRows.trend_rows, "__defaults__", (0.0,))  # no time at all
    monkeypatch.setattr(trends, "PROGRESS_STEPS", 1)  # and a look at the clock at every step
    reply = run(chart.atrend(service.store, service.rules, "test", "c1", 30,
                             datetime.now(timezone.utc), "UTC", "zh"))
    assert reply.kind == "error" and reply.plain() == label("chart_err_count_slow", "zh")
