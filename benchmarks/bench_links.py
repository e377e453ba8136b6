"""Benchmark: pasted links, message to reply with the fetch included.

    .venv/bin/python benchmarks/bench_links.py [--links 100] [--delay 0.02] [--slow 2.0]

A local aiohttp site (its own process, on 127.0.0.1) serves distinct ~150 KB news pages, each with
an og:title taken from real headlines, after `--delay` seconds. Measured, in the bot's process:

1. sequential: N messages with one new link each, one after another (p50/p99 message -> reply);
2. burst: N more messages with new links, all at once (p50/p99, and wall time);
3. cached: the first N links again (served from link_cache, no fetch);
4. head-of-line: N messages whose pages take `--slow` seconds, all at once, while other chats send
   plain headlines every 10 ms: those replies must not wait for the slow fetches;
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEADLINES = [
    "ByteDance orders $5.6B of Ascend 950PR chips",
    "Huawei takes the fight to Nvidia CUDA by making its Ascend AI GPU software open source",
    "字节跳动采购56亿美元昇腾950PR芯片",
    "昇腾CANN全面开源",
    "“国芯一号”上线周年交卷 鄂西北数字经济浪潮再起",
    "工信部提出2025年算力目标 银行提早布局",
]


# --------------------------------------------------------------------------- the site (child process)


def serve() -> None:
    from aiohttp import web

    filler = ("<p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20 + "</p>\n") * 130

    async def article(request: web.Request) -> web.Response:
        i = int(request.match_info["i"])
        delay = float(request.query.get("delay", "0"))
        if delay:
            await asyncio.sleep(delay)
        title = f"{HEADLINES[i % len(HEADLINES)]} ({i})"
        html = (f'<!doctype html><html><head><meta charset="utf-8"><title>Site | {i}</title>'
                f'<meta property="og:title" content="{title}">'
                f'<meta property="og:description" content="Story number {i}."></head>'
                f"<body><h1>{title}</h1>{filler}</body></html>")
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/a/{i}", article)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(port, flush=True)
        await asyncio.sleep(3600)  # killed by the parent long before

    asyncio.run(main())


# --------------------------------------------------------------------------- the bot side


def pct(values: list[float], p: float) -> float:
    xs = sorted(values)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))] * 1000


def summary(name: str, values: list[float]) -> dict:
    return {"phase": name, "n": len(values), "p50_ms": round(pct(values, 50), 1), "p99_ms": round(pct(values, 99), 1),
            "max_ms": round(max(values) * 1000, 1), "mean_ms": round(statistics.mean(values) * 1000, 1)}


async def bench(port: int, n: int, delay: float, slow: float) -> list[dict]:
    from gatebot.address_guard import AddressGuard
    from gatebot.classifier import Classifier
    from gatebot.links import LinkReader
    from gatebot.ruleset import load_rules
    from gatebot.service import Message, Service
    from gatebot.store import Store

    tmp = tempfile.mkdtemp(prefix="bench-links-")
    rules = load_rules(ROOT / "rules")
    store = Store(Path(tmp) / "gatebot.db")
    service = Service(rules, store, Classifier(rules))
    service.link_reader = reader = LinkReader(guard=AddressGuard(allow_private=True))
    base = f"http://127.0.0.1:{port}/a"

    async def one(chat: str, text: str) -> tuple[float, object]:
        t0 = time.perf_counter()
        reply = await service.ahandle_message(Message("bench", chat, "u", text, is_direct=True))
        return time.perf_counter() - t0, reply

    results = []
    # warm-up: TLS context, classifier, sqlite pages (not measured)
    await one("warm", f"warm up {base}/999999")

    seq = []
    for i in range(n):
        dt, reply = await one(f"s{i}", f"look {base}/{i}?delay={delay}")
        assert reply is not None and any(b.kind == "quote" for b in reply.blocks), reply
        seq.append(dt)
    results.append(summary(f"sequential, new link, site delay {delay * 1000:.0f} ms", seq))

    t0 = time.perf_counter()
    burst = await asyncio.gather(*(one(f"b{i}", f"look {base}/{n + i}?delay={delay}") for i in range(n)))
    wall = time.perf_counter() - t0
    assert all(any(b.kind == "quote" for b in r.blocks) for _, r in burst)
    results.append(summary(f"burst of {n} at once, new links", [dt for dt, _ in burst]) | {"wall_ms": round(wall * 1000)})

    fetches = reader.fetches
    cached = [(await one(f"c{i}", f"again {base}/{i}?delay={delay}"))[0] for i in range(n)]
    assert reader.fetches == fetches, "cached links were fetched again"
    results.append(summary("cached link (no fetch)", cached))

    # head-of-line: slow fetches in flight, other chats keep talking
    slow_tasks = [asyncio.create_task(one(f"slow{i}", f"slow {base}/{2 * n + i}?delay={slow}")) for i in range(n)]
    await asyncio.sleep(0.05)  # let every slow fetch start
    others = []
    deadline = time.perf_counter() + slow * 0.8
    k = 0
    while time.perf_counter() < deadline and k < 1000:
        dt, reply = await one(f"other{k % 7}", HEADLINES[k % len(HEADLINES)])
        assert reply is not None
        others.append(dt)
        k += 1
        await asyncio.sleep(0.01)
    pending = sum(not t.done() for t in slow_tasks)
    slow_done = await asyncio.gather(*slow_tasks)
    results.append(summary(f"other chats while {n} fetches wait {slow:g} s", others)
                   | {"slow_fetches_still_pending_at_end": pending})
    results.append(summary(f"the {n} slow link messages", [dt for dt, _ in slow_done]))
    store.close()
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--links", type=int, default=100)
    ap.add_argument("--delay", type=float, default=0.02)
    ap.add_argument("--slow", type=float, default=2.0)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve()
        return
    child = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(child.stdout.readline())  # type: ignore[union-attr]
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        results = asyncio.run(asyncio.wait_for(bench(port, args.links, args.delay, args.slow), timeout=300))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        child.terminate()
        child.wait(timeout=10)
    for row in results:
        print(json.dumps(row, ensure_ascii=False))
    print(json.dumps({"peak_rss_mb": round(peak / 1024, 1), "rss_at_start_mb": round(rss_before / 1024, 1)}))


if __name__ == "__main__":
    main()
