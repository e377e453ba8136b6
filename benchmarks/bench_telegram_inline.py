"""Benchmark: inline queries (`@bot headline`) through the real adapter against the fake Bot API.

One process: tests/fakes/telegram_api.FakeTelegram and the real PTB Application (long polling,
SQLite store in a temp dir). Per query, the time from the fake handing the update to the bot
(getUpdates response) to answerInlineQuery arriving at the fake. Two rounds, bounded: `--n`
queries one after another (each waits for its answer), then `--burst` queued at once. The rate
limit is lifted for the run (a bucket with a huge burst) so every query is judged. Also counts the
API calls per query (everything but getUpdates) and checks that nothing was stored.

    .venv/bin/python benchmarks/bench_telegram_inline.py [--n 300] [--burst 100]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

HEADLINES = [
    "ByteDance orders $5.6B of Ascend 950PR chips",
    "昇腾CANN全面开源",
    "Tencent moves its recommendation models to Kunlun clusters in production",
    "寒武纪与百度联合发布万卡集群训练成果",
    "MIIT procurement list adds domestic AI servers for provincial data centres",
    "anyone up for lunch?",
    "华为发布昇思MindSpore新版本，开发者数量突破百万",
    "Moore Threads GPUs now run PyTorch 2.5 without code changes",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def main(n: int, burst: int) -> None:
    from aiohttp import web
    from fakes.telegram_api import TOKEN, FakeTelegram
    from gatebot.handlers import telegram
    from gatebot.handlers.telegram_inline import TokenBucket
    from gatebot.ruleset import load_rules
    from gatebot.service import Service
    from gatebot.settings import Settings
    from gatebot.store import Store

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        service = Service(load_rules(ROOT / "rules"), Store(str(Path(tmp) / "bench.db")))
        async with FakeTelegram() as fake:
            settings = Settings(telegram_bot_token=TOKEN, telegram_api_base_url=fake.base_url,
                                telegram_webhook_url=None, slack_bot_token=None)
            adapter = telegram.build(service, settings, web.Application(),
                                     inline_bucket=TokenBucket(burst=10**9, rate=10**9))
            await adapter.start()
            first_call = len(fake.calls)
            try:
                sequential = []
                for i in range(n):
                    update = fake.push_inline(f"{HEADLINES[i % len(HEADLINES)]} #{i}",
                                              user=fake.user(5000 + i % 50))
                    qid = update["inline_query"]["id"]
                    await fake.wait_for(lambda f, q=qid: q in f.inline_answers, timeout=10)
                    sequential.append(latency(fake, update, qid))
                updates = [fake.push_inline(f"{HEADLINES[i % len(HEADLINES)]} b{i}", user=fake.user(7000 + i))
                           for i in range(burst)]
                ids = [u["inline_query"]["id"] for u in updates]
                await fake.wait_for(lambda f: all(q in f.inline_answers for q in ids), timeout=60)
                bursty = [latency(fake, u, q) for u, q in zip(updates, ids, strict=True)]
                methods = Counter(c.method for c in fake.calls[first_call:] if c.method != "getUpdates")
            finally:
                await adapter.stop()
        stored = service.store.count_messages()
    report("sequential", sequential)
    report(f"burst of {burst}", bursty)
    per_query = ", ".join(f"{m} {k / (n + burst):.2f}" for m, k in sorted(methods.items()))
    print(f"API calls per inline query (getUpdates aside): {per_query}")
    print(f"messages stored: {stored}")


def latency(fake: object, update: dict, query_id: str) -> float:
    answered = next(c.at for c in fake.calls if c.method == "answerInlineQuery"  # type: ignore[attr-defined]
                    and str(c.params.get("inline_query_id")) == query_id)
    return (answered - fake.served_at[update["update_id"]]) * 1000  # type: ignore[attr-defined]


def report(name: str, ms: list[float]) -> None:
    print(f"{name}: n={len(ms)} p50={statistics.median(ms):.1f} ms p95={percentile(ms, 95):.1f} ms "
          f"p99={percentile(ms, 99):.1f} ms max={max(ms):.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--burst", type=int, default=100)
    args = parser.parse_args()
    started = time.perf_counter()
    asyncio.run(main(min(args.n, 5000), min(args.burst, 1000)))
    print(f"wall: {time.perf_counter() - started:.1f} s")
