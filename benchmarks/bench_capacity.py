"""Capacity of one gatebot process, for docs/operations.md.

Everything goes through the real Service and Store (SQLite file, WAL, synchronous=NORMAL), one
thread, as `gatebot run` handles messages on its event loop:

1. fill: N messages (default 100,000) in 100 group chats, spread over 365 days; 60% chatter (stored,
   no answer), 40% headlines (answered); one event id per message, as the Telegram adapter records.
   Prints messages/s and per-message latency, first and last 10,000.
2. replies: 10,000 direct messages on the filled database, every one answered, each reply also
   rendered to Telegram HTML: replies/s and latency.
3. growth: file size after a checkpoint, bytes per message, extrapolated to 1,000,000 messages.
4. backup while writing: `gatebot backup`'s VACUUM INTO on the live file while another thread
   keeps handling messages: backup time and size, the writer's worst latency meanwhile.
5. purge: `gatebot purge --older-than 180d`: rows removed, time, longest single transaction.
6. where the platforms' limits bind, from the measured replies/s.

    .venv/bin/python benchmarks/bench_capacity.py [--messages 100000] [--replies 10000] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gatebot.classifier import Classifier  # noqa: E402
from gatebot.handlers.telegram_render import render_chunks  # noqa: E402
from gatebot.maintenance import backup, purge_steps  # noqa: E402
from gatebot.ruleset import load_rules  # noqa: E402
from gatebot.service import Message, Service  # noqa: E402
from gatebot.store import Store  # noqa: E402

HEADLINES = [
    "ByteDance orders $5.6B of Ascend 950PR chips",
    "Alibaba orders 10,000 Ascend 910C chips",
    "China Mobile orders 8,000 Ascend servers",
    "昇腾CANN全面开源",
    "字节跳动采购昇腾950PR芯片",
    "Huawei open-sources CANN for Ascend",
    "DeepSeek model trained on a 10,000-card Ascend cluster goes into production",
    "Cambricon revenue jumps as data centers deploy its chips",
    "SMEs hesitate to migrate off CUDA",
    "智算中心上线运营,国产算力集群投入推理服务",
]
CHATTER = ["lunch at noon?", "anyone seen the new phone?", "ok, thanks!", "明天开会吗?", "see you tomorrow",
           "haha", "I'll send the slides later", "收到"]

TELEGRAM_PER_BOT = 30  # messages/s a bot may send in total (Telegram Bot API FAQ)
TELEGRAM_PER_GROUP = 20 / 60  # messages/s into one group
SLACK_PER_CHANNEL = 1  # chat.postMessage, per channel (Slack's special rate limit, short bursts allowed)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def lat(values_ms: list[float]) -> str:
    return f"p50 {statistics.median(values_ms):.2f} ms, p99 {pct(values_ms, 99):.2f} ms, max {max(values_ms):.1f} ms"


def file_size(path: Path) -> int:
    return sum(os.path.getsize(p) for p in (str(path), f"{path}-wal") if os.path.exists(p))


def say(service: Service, msg: Message):
    """A pasted message down the adapters' async path (the service has no other), on a loop of its own
    (for the writer beside a backup; the fill and reply phases run on one loop, as `gatebot run` does)."""
    return asyncio.run(service.ahandle_message(msg))


async def fill(service: Service, clock: Clock, n: int, start: datetime, rng: random.Random) -> list[float]:
    step = timedelta(days=365) / n
    times = []
    for i in range(n):
        clock.now = start + step * i
        chat = f"-100{rng.randrange(100)}"
        if rng.random() < 0.6:
            text = f"{rng.choice(CHATTER)} {i}"
        else:
            text = f"{rng.choice(HEADLINES)} #{i}"
        t = time.perf_counter()
        service.store.first_time("telegram", str(10_000_000 + i))
        await service.ahandle_message(Message("telegram", chat, f"u{rng.randrange(300)}", text, message_ref=str(i)))
        times.append((time.perf_counter() - t) * 1000)
    return times


async def replies(service: Service, n: int, rng: random.Random) -> tuple[float, list[float]]:
    times = []
    t0 = time.perf_counter()
    for i in range(n):
        text = f"{rng.choice(HEADLINES + CHATTER)} r{i}"
        t = time.perf_counter()
        reply = await service.ahandle_message(Message("telegram", f"{rng.randrange(1000)}", "u1", text, is_direct=True))
        render_chunks(reply)
        times.append((time.perf_counter() - t) * 1000)
    return n / (time.perf_counter() - t0), times


def backup_while_writing(rules, classifier, path: Path, dest: Path, clock: Clock) -> tuple:
    stop = threading.Event()
    during: list[float] = []
    written = [0]
    timing = {"start": 0.0, "end": 0.0}

    def writer() -> None:
        store = Store(path, clock=clock)
        svc = Service(rules, store, classifier, clock=clock)
        i = 0
        while not stop.is_set():
            t = time.perf_counter()
            say(svc, Message("telegram", "-1001", "u1", f"{HEADLINES[i % len(HEADLINES)]} w{i}"))
            done = time.perf_counter()
            if timing["start"] and (not timing["end"] or t < timing["end"]):
                during.append((done - t) * 1000)
                written[0] += 1
            i += 1
        store.close()

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(0.3)
    timing["start"] = time.perf_counter()
    result = backup(path, dest)
    timing["end"] = time.perf_counter()
    time.sleep(0.1)
    stop.set()
    thread.join()
    return result, during, written[0]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000, help="messages stored in the fill phase")
    ap.add_argument("--replies", type=int, default=10_000, help="direct messages answered in the reply phase")
    ap.add_argument("--keep", action="store_true", help="keep the database files")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPU(s), {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"load average {os.getloadavg()[0]:.1f} (other work on the machine slows every figure)")
    tmp = Path(tempfile.mkdtemp(prefix="gatebot-capacity-"))
    path = tmp / "gatebot.db"
    rules = load_rules(None)
    classifier = Classifier(rules)
    rng = random.Random(13)
    start = datetime.now(timezone.utc) - timedelta(days=365)
    clock = Clock(start)
    store = Store(path, clock=clock)
    service = Service(rules, store, classifier, clock=clock)

    # 1. fill
    t0 = time.perf_counter()
    times = asyncio.run(fill(service, clock, args.messages, start, rng))
    elapsed = time.perf_counter() - t0
    k = min(10_000, len(times))
    print(f"fill: {args.messages:,} messages (60% chatter, 40% headlines, 100 groups) in {elapsed:.1f} s = "
          f"{args.messages / elapsed:,.0f} messages/s; first {k:,}: {lat(times[:k])}; last {k:,}: {lat(times[-k:])}")

    # 2. replies
    clock.now = start + timedelta(days=365)
    rate, times = asyncio.run(replies(service, args.replies, rng))
    print(f"replies: {args.replies:,} direct messages, each answered and rendered to Telegram HTML: "
          f"{rate:,.0f} replies/s; {lat(times)}")

    # 3. growth
    n_stored = store.count_messages()
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = file_size(path)
    per_message = size / n_stored
    print(f"growth: {n_stored:,} messages -> {size / 1e6:.1f} MB = {per_message:,.0f} bytes/message "
          f"-> {per_message * 1e6 / 1e9:.2f} GB per 1,000,000 messages")
    for gated, n, avg in store.db.execute("select gate > 0, count(*), avg(length(text) + length(verdict)) "
                                          "from messages group by gate > 0 order by 1"):
        print(f"  {'headlines with a gate' if gated else 'chatter (gate 0)'}: {n:,} rows, "
              f"text + verdict JSON {avg:,.0f} bytes on average")

    # 4. backup while another thread writes
    result, during, written = backup_while_writing(rules, classifier, path, tmp / "backup.db", clock)
    print(f"backup (VACUUM INTO) of {result.messages:,} messages: {result.seconds:.2f} s, {result.bytes / 1e6:.1f} MB "
          f"-> about {result.seconds * 1e6 / result.messages:.1f} s per 1,000,000 messages; "
          f"meanwhile the bot stored {written:,} messages, " + (lat(during) if during else "none"))

    # 5. purge chatter older than 180 days
    before = store.count_messages()
    steps = purge_steps(store, timedelta(days=180), now=clock.now)
    batch_ms = []
    t0 = time.perf_counter()
    last = t0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            purged = done.value
            break
        now = time.perf_counter()
        batch_ms.append((now - last) * 1000)
        last = now
    elapsed = time.perf_counter() - t0
    free = store.db.execute("PRAGMA freelist_count").fetchone()[0] * store.db.execute("PRAGMA page_size").fetchone()[0]
    print(f"purge --older-than 180d: removed {purged.messages:,} of {before:,} messages and {purged.events:,} event "
          f"ids in {elapsed:.2f} s; longest transaction {max(batch_ms or [elapsed * 1000]):.0f} ms; "
          f"kept {purged.kept_messages:,} older messages with a gate; {free / 1e6:.1f} MB now free inside the file")
    store.close()

    # 6. where the platforms bind
    print(f"limits: Telegram {TELEGRAM_PER_BOT}/s per bot = {TELEGRAM_PER_BOT / rate:.1%} of this process; "
          f"a group gets {TELEGRAM_PER_GROUP * 60:.0f}/min; Slack chat.postMessage {SLACK_PER_CHANNEL}/s per channel; "
          f"1,000 digests take >= {1000 / TELEGRAM_PER_BOT:.0f} s on Telegram")
    if not args.keep:
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()
    else:
        print(f"kept {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
