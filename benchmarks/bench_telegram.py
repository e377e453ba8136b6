"""Benchmark: 1,000 headline updates across 100 group chats through the fake Bot API server.

The bot runs in a child process (the real adapter: PTB Application, long polling, SQLite store
in a temp dir) against tests/fakes/telegram_api.FakeTelegram in this process. We push updates at a
fixed rate (or all at once with --burst), and measure, per update, the time from the fake handing
it to the bot (getUpdates response) to the matching sendMessage arriving at the fake. Every
update must be answered. Peak RSS is the child's (getrusage RUSAGE_CHILDREN after it exits).

By default the child's AIORateLimiter has the flood limits off (max_retries still on), since the
target is "p99 <= 50 ms, flood-limit waits aside"; --real-limits keeps Telegram's limits (30 msg/s
overall, 20/min per group), which makes the run take >= 33 s and shows the limiter at work.

    .venv/bin/python benchmarks/bench_telegram.py [--n 1000] [--chats 100] [--rate 50] [--burst] [--real-limits]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


# --------------------------------------------------------------------------- the bot (child)


async def child(base_url: str, db: str, real_limits: bool) -> int:
    import logging

    from aiohttp import web
    from fakes.telegram_api import TOKEN
    from gatebot.handlers import telegram
    from gatebot.ruleset import load_rules
    from gatebot.service import Service
    from gatebot.settings import Settings
    from gatebot.store import Store
    from telegram.ext import AIORateLimiter

    logging.basicConfig(level=logging.WARNING)
    service = Service(load_rules(ROOT / "rules"), Store(db))
    settings = Settings(telegram_bot_token=TOKEN, telegram_api_base_url=base_url,
                        telegram_webhook_url=None, slack_bot_token=None)
    kwargs = {} if real_limits else {"rate_limiter": AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=5)}
    adapter = telegram.build(service, settings, web.Application(), **kwargs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await adapter.start()
    await stop.wait()
    await adapter.stop()
    service.store.close()
    return 0


# --------------------------------------------------------------------------- the driver


def headlines(limit: int = 200) -> list[str]:
    """Held-out headlines a group gets an unprompted answer to (a gate at the default floor)."""
    from gatebot.classifier import Classifier
    from gatebot.ruleset import load_rules

    classifier = Classifier(load_rules(ROOT / "rules"))
    out = []
    for line in (ROOT / "data" / "heldout-headlines.jsonl").read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"]
        if classifier.classify(text).group_reply:  # answered unprompted at the default floor
            out.append(text)
    return out[:limit]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


async def drive(args: argparse.Namespace) -> int:
    from fakes.telegram_api import FakeTelegram

    texts = headlines()
    assert texts, "no headline on a gate in the held-out set"
    chats = [-1000000000000 - i for i in range(args.chats)]
    async with FakeTelegram() as fake:
        with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
            cmd = [sys.executable, __file__, "--child", "--base-url", fake.base_url, "--db", str(Path(tmp) / "bench.db")]
            if args.real_limits:
                cmd.append("--real-limits")
            proc = await asyncio.create_subprocess_exec(*cmd, cwd=str(ROOT))
            try:
                await fake.wait_calls("getUpdates", 1, timeout=30)  # polling has started
                expected: dict[tuple[int, int], int] = {}  # (chat, message id) -> update id
                t0 = time.perf_counter()
                interval = 0 if args.burst else 1 / args.rate
                for i in range(args.n):
                    chat = chats[i % len(chats)]
                    update = fake.push_message(chat, texts[i % len(texts)])
                    expected[(chat, update["message"]["message_id"])] = update["update_id"]
                    if interval:
                        # keep the schedule (sleep until the i+1-th slot), bounded by the loop
                        delay = t0 + (i + 1) * interval - time.perf_counter()
                        if delay > 0:
                            await asyncio.sleep(delay)
                pushed = time.perf_counter() - t0
                timeout = 60 + (args.n / 30 if args.real_limits else 0)

                def answered(f: FakeTelegram) -> bool:
                    return len(f.calls_to("sendMessage")) >= args.n

                await fake.wait_for(answered, timeout=timeout)
                total = time.perf_counter() - t0
                latencies = []
                seen = set()
                for call in fake.calls_to("sendMessage"):
                    key = (int(call.params["chat_id"]), (call.params.get("reply_parameters") or {}).get("message_id"))
                    update_id = expected.get(key)
                    if update_id is None or key in seen:
                        continue
                    seen.add(key)
                    latencies.append((call.at - fake.served_at[update_id]) * 1000)
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.wait_for(proc.wait(), 30)
                    except asyncio.TimeoutError:
                        proc.kill()
                        await proc.wait()
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    missing = args.n - len(latencies)
    mode = "burst" if args.burst else f"{args.rate:g} updates/s"
    limits = "Telegram flood limits ON (AIORateLimiter defaults)" if args.real_limits else "flood limits off"
    print(f"telegram bench: {args.n} headline updates, {args.chats} group chats, {mode}, {limits}, "
          f"db in {args.db_dir or tempfile.gettempdir()}")
    print(f"  answered:      {len(latencies)}/{args.n} (missing {missing}); child exit code {proc.returncode}")
    print(f"  pushed in:     {pushed:.2f} s; all answered after {total:.2f} s ({args.n / total:.0f} replies/s)")
    print(f"  served -> sendMessage: p50 {pct(latencies, 50):.1f} ms, p90 {pct(latencies, 90):.1f} ms, "
          f"p99 {pct(latencies, 99):.1f} ms, max {max(latencies):.1f} ms, mean {statistics.mean(latencies):.1f} ms")
    print(f"  bot peak RSS:  {rss_kb / 1024:.1f} MiB")
    return 0 if missing == 0 and proc.returncode == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0, help="updates per second pushed to the fake")
    parser.add_argument("--burst", action="store_true", help="push all updates at once")
    parser.add_argument("--real-limits", action="store_true", help="keep Telegram's flood limits in the limiter")
    parser.add_argument("--db-dir", default=None,
                        help="where the bot's SQLite file goes (default: the temp dir; /dev/shm takes fsync out)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return asyncio.run(child(args.base_url, args.db, args.real_limits))
    return asyncio.run(drive(args))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
