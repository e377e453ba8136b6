"""Benchmark: one poll cycle over many followed feeds, what a chat feels meanwhile, and chart rendering.

    .venv/bin/python benchmarks/bench_feeds.py [--feeds 200] [--entries 50] [--chats 20] [--big 10]

A local aiohttp site (its own process, on 127.0.0.1) serves RSS 2.0 feeds with ETags. Measured in
the bot's process:

1. follow: `--feeds` feeds followed through /follow (each fetched, parsed, recorded), 16 at a time;
2. cycle: every feed has `--entries` new entries; one poll cycle reads, parses (on the worker
   thread), dedupes, judges and stores them all. Wall time, CPU time, the event loop's lag (a
   5 ms ticker) and a chat's message -> reply latency (one headline every 20 ms) meanwhile;
3. unchanged: the next cycle, every feed answering 304 (conditional GET);
4. big feeds: `--big` feeds of 10,000 entries (2 MB each, cut to the first 200 entries) in a cycle,
   with the same lag and latency probes;
5. charts: /trend's PNG for 7 and 30 days over the stored entries, cold (first render, matplotlib
   imported) and warm, rendered in this process; then four /trend commands through the service
   (rendered in the worker process) with the lag and latency probes;
and the peak RSS of the bot's process (ru_maxrss; the site runs in another process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEADLINES = [
    "ByteDance orders $5.6B of Ascend 950PR chips",
    "Huawei takes the fight to Nvidia CUDA by making its Ascend AI GPU software open source",
    "字节跳动采购56亿美元昇腾950PR芯片",
    "昇腾CANN全面开源",
    "China Mobile puts 10,000 Ascend cards into production inference",
    "SMEs hesitate to migrate off CUDA",
    "Quarterly results of a food delivery company",
    "工信部提出2025年算力目标 银行提早布局",
]


# --------------------------------------------------------------------------- the site (child process)


def feed_xml(feed: int, generation: int, entries: int) -> bytes:
    from html import escape

    parts = [f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {feed}</title>'
             f"<link>https://feeds.example/{feed}</link><description>bench</description>"]
    for k in range(entries):
        title = f"{HEADLINES[(feed + k) % len(HEADLINES)]} · {feed}-{generation}-{k}"
        parts.append(f"<item><title>{escape(title)}</title><link>https://news.example/{feed}/{generation}/{k}</link>"
                     f"<guid>f{feed}-g{generation}-{k}</guid><description>{escape('Summary: ' + title)}</description>"
                     "<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate></item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def serve() -> None:
    from aiohttp import web

    state = {"generation": 0}
    cache: dict[tuple, bytes] = {}

    async def feed(request: web.Request) -> web.Response:
        i, entries = int(request.match_info["i"]), int(request.query.get("n", "50"))
        g = state["generation"]
        etag = f'"{i}-{g}-{entries}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        key = (i, g, entries)
        if key not in cache:
            cache[key] = feed_xml(i, g, entries)
        return web.Response(body=cache[key], content_type="application/rss+xml", headers={"ETag": etag})

    async def bump(request: web.Request) -> web.Response:
        state["generation"] += 1
        cache.clear()
        return web.Response(text=str(state["generation"]))

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/f/{i}", feed)
        app.router.add_post("/bump", bump)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
        await asyncio.sleep(3600)  # killed by the parent long before

    asyncio.run(main())


# --------------------------------------------------------------------------- probes


def ms(values: list[float], p: float) -> float:
    xs = sorted(values)
    return round(xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))] * 1000, 1) if xs else 0.0


class Probes:
    """Loop lag (a 5 ms ticker's overshoot) and a chat's message -> reply latency, while something runs."""

    def __init__(self, service) -> None:
        self.service = service
        self.lags: list[float] = []
        self.replies: list[float] = []
        self.running = True

    async def ticker(self) -> None:
        loop = asyncio.get_running_loop()
        while self.running:
            t0 = loop.time()
            await asyncio.sleep(0.005)
            self.lags.append(max(0.0, loop.time() - t0 - 0.005))

    async def chat(self) -> None:
        from gatebot.service import Message

        k = 0
        while self.running:
            t0 = time.perf_counter()
            reply = await self.service.ahandle_message(Message("bench", "probe-chat", "u", HEADLINES[k % 4],
                                                               is_direct=True))
            assert reply is not None
            self.replies.append(time.perf_counter() - t0)
            k += 1
            await asyncio.sleep(0.02)

    async def around(self, work):
        tasks = [asyncio.create_task(self.ticker()), asyncio.create_task(self.chat())]
        await asyncio.sleep(0.05)
        try:
            return await work
        finally:
            self.running = False
            await asyncio.gather(*tasks)

    def figures(self) -> dict:
        return {"loop_lag_p50_ms": ms(self.lags, 50), "loop_lag_p99_ms": ms(self.lags, 99),
                "loop_lag_max_ms": ms(self.lags, 100), "chat_reply_p50_ms": ms(self.replies, 50),
                "chat_reply_p99_ms": ms(self.replies, 99), "chat_reply_max_ms": ms(self.replies, 100),
                "chat_replies": len(self.replies)}


class Recorder:
    """Stands in for a chat adapter: posts are counted, not sent anywhere."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, chat_id: str, reply) -> str:
        self.sent += 1
        return str(self.sent)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# --------------------------------------------------------------------------- the bot side


async def bench(port: int, n_feeds: int, entries: int, chats: int, big: int) -> list[dict]:
    import aiohttp
    from gatebot.address_guard import AddressGuard
    from gatebot.chart import gate_names, trend_data, trend_reply
    from gatebot.classifier import Classifier
    from gatebot.feeds import FeedReader
    from gatebot.poller import FeedPoller
    from gatebot.ruleset import load_rules
    from gatebot.service import Service
    from gatebot.store import Store

    tmp = tempfile.mkdtemp(prefix="bench-feeds-")
    rules = load_rules(ROOT / "rules")
    store = Store(Path(tmp) / "gatebot.db")
    service = Service(rules, store, Classifier(rules))
    service.feeds = poller = FeedPoller(service, FeedReader(guard=AddressGuard(allow_private=True)))
    recorder = Recorder()
    poller.senders = {"bench": recorder}
    fs = store
    base = f"http://127.0.0.1:{port}"
    results = []

    async def bump() -> None:
        async with aiohttp.ClientSession() as http, http.post(base + "/bump") as resp:
            await resp.read()

    async def follow_all(first: int, count: int, n: int, chat_prefix: str) -> float:
        slots = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with slots:
                reply = await service.ahandle_command("bench", f"{chat_prefix}{i % chats}", "u", "follow",
                                                      f"{base}/f/{i}?n={n}")
                assert "Following" in reply.plain(), reply.plain()

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(first, first + count)))
        return time.perf_counter() - t0

    for c in range(chats):  # half the chats get posts (6 an hour), half only digests
        if c % 2 == 0:
            fs.set_feed_settings("bench", f"chat{c}", mode="post", per_hour=6)

    wall = await follow_all(0, n_feeds, entries, "chat")
    results.append({"phase": f"follow {n_feeds} feeds of {entries} entries (16 at a time)", "wall_s": round(wall, 2),
                    "entries_recorded": store.db["feed_items"].count})

    await bump()
    fs_due = service.clock() - timedelta(seconds=1)
    for c in range(chats):
        fs.schedule_feeds("bench", f"chat{c}", fs_due)
    probes = Probes(service)
    c0, t0 = cpu(), time.perf_counter()
    polled = await probes.around(poller.cycle())
    wall, used = time.perf_counter() - t0, cpu() - c0
    assert len(polled) == n_feeds and not any(r.error for r in polled), [r.error for r in polled if r.error][:3]
    results.append({"phase": f"one cycle: {n_feeds} feeds x {entries} new entries", "wall_s": round(wall, 2),
                    "cpu_s": round(used, 2), "new_entries": sum(r.new for r in polled),
                    "stored_messages": store.count_messages() - len(probes.replies) - 1,
                    "posted": recorder.sent, "for_digest": sum(r.digested for r in polled),
                    "repeats": sum(r.repeats for r in polled)} | probes.figures())

    for c in range(chats):
        fs.schedule_feeds("bench", f"chat{c}", service.clock() - timedelta(seconds=1))
    probes = Probes(service)
    t0 = time.perf_counter()
    polled = await probes.around(poller.cycle())
    results.append({"phase": f"next cycle, all {n_feeds} unchanged (304)", "wall_s": round(time.perf_counter() - t0, 2),
                    "unchanged": sum(r.unchanged for r in polled)} | probes.figures())

    if big:
        await follow_all(10_000, big, 10_000, "big")
        await bump()
        for c in range(chats):
            fs.schedule_feeds("bench", f"big{c}", service.clock() - timedelta(seconds=1))
        probes = Probes(service)
        c0, t0 = cpu(), time.perf_counter()
        polled = await probes.around(poller.cycle())
        wall, used = time.perf_counter() - t0, cpu() - c0
        results.append({"phase": f"one cycle: {big} feeds of 10,000 entries (~2 MB each, first 200 read)",
                        "wall_s": round(wall, 2), "cpu_s": round(used, 2), "feeds": len(polled),
                        "new_entries": sum(r.new for r in polled)} | probes.figures())

    now = service.clock()
    for days in (7, 30):
        times = []
        for k in range(6):
            t0 = time.perf_counter()
            trend = trend_data(store, "bench", "chat0", days, now, list(rules.gates), timezone.utc)
            reply = trend_reply(trend, gate_names(rules), "zh" if k % 2 else "en")
            times.append(time.perf_counter() - t0)
            assert reply.image and reply.image[:4] == b"\x89PNG"
        results.append({"phase": f"chart, {days} days", "first_ms": round(times[0] * 1000),
                        "warm_p50_ms": round(statistics.median(times[1:]) * 1000),
                        "warm_max_ms": round(max(times[1:]) * 1000), "png_bytes": len(reply.image)})
    async def trends() -> None:
        for days in ("7d", "30d", "7d", "30d"):
            reply = await service.ahandle_command("bench", "chat0", "u", "trend", days)
            assert reply.image and reply.image[:4] == b"\x89PNG"

    probes = Probes(service)
    t0 = time.perf_counter()
    await probes.around(trends())
    results.append({"phase": "4 x /trend through the service (rendered in the worker process)",
                    "wall_s": round(time.perf_counter() - t0, 2)} | probes.figures())
    store.close()
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--entries", type=int, default=50)
    ap.add_argument("--chats", type=int, default=20)
    ap.add_argument("--big", type=int, default=10)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve()
        return
    child = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(child.stdout.readline())  # type: ignore[union-attr]
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        results = asyncio.run(asyncio.wait_for(bench(port, args.feeds, args.entries, args.chats, args.big), 600))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        child.terminate()
        child.wait(timeout=10)
    for row in results:
        print(json.dumps(row, ensure_ascii=False))
    print(json.dumps({"peak_rss_mb": round(peak / 1024, 1), "rss_at_start_mb": round(rss_before / 1024, 1)}))


if __name__ == "__main__":
    main()
