"""Benchmark: the model judge under chat load, against the fake OpenAI-compatible server.

200 headline updates from 20 group chats go through the real Telegram adapter (a child process:
PTB Application, long polling, SQLite store in a temp dir) with GATEBOT_LLM_URL pointing at
tests/fakes/openai_api.FakeLLM in this process, which answers after 200 ms (--latency). The
headlines are 100 distinct ones from the labelled sets, each pasted in two chats (so half the
judgements can come from the cache or from the call already in flight); the fake answers each
with its gold gate, so every update gets a reply. Meanwhile a 21st chat sends /gates every 100 ms:
its replies must not wait behind pending model calls.

Measured: update served -> sendMessage latency (p50/p90/p99/max), model calls made, cache hits
(the judge's count: stored answers plus joins of a call in flight), the most calls in flight at
once, the /gates probe's latency, and the child's peak RSS.

    .venv/bin/python benchmarks/bench_llm.py [--n 200] [--chats 20] [--distinct 100] [--rate 20]
                                             [--burst] [--latency 0.2] [--concurrency 4] [--mode always]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
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

SETS = [ROOT.parent / "shared" / "dev-headlines.jsonl", ROOT / "data" / "heldout-headlines.jsonl",
        ROOT / "data" / "heldout2-headlines.jsonl", ROOT / "data" / "heldout3-headlines.jsonl"]


# --------------------------------------------------------------------------- the bot (child)


async def child(base_url: str, db: str, stats: str) -> int:
    import logging

    from aiohttp import web
    from fakes.telegram_api import TOKEN
    from gatebot.handlers import telegram
    from gatebot.judge import Judge
    from gatebot.ruleset import load_rules
    from gatebot.service import Service
    from gatebot.settings import Settings
    from gatebot.store import Store
    from telegram.ext import AIORateLimiter

    logging.basicConfig(level=logging.WARNING)
    settings = Settings(telegram_bot_token=TOKEN, telegram_api_base_url=base_url, telegram_webhook_url=None,
                        slack_bot_token=None)  # GATEBOT_LLM_* come from the environment
    rules = load_rules(ROOT / "rules")
    service = Service(rules, Store(db))
    service.judge = Judge.from_settings(settings, rules, service.store)
    adapter = telegram.build(service, settings, web.Application(),
                             rate_limiter=AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=5))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await adapter.start()
    await stop.wait()
    await adapter.stop()
    Path(stats).write_text(json.dumps({"calls": service.judge.calls, "hits": service.judge.hits}))
    await service.judge.aclose()
    service.store.close()
    return 0


# --------------------------------------------------------------------------- the driver


def labelled(distinct: int) -> tuple[list[str], dict[str, int]]:
    """Distinct headlines with a gate (gold 1-4), and every labelled headline's gold gate."""
    gold: dict[str, int] = {}
    for path in SETS:
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                obj = json.loads(line)
                gold.setdefault(obj["text"], int(obj["gold"]))
    texts = [t for t, g in gold.items() if g][:distinct]
    return texts, gold


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


async def drive(args: argparse.Namespace) -> int:
    from fakes.openai_api import MODEL, FakeLLM
    from fakes.telegram_api import FakeTelegram

    texts, gold = labelled(args.distinct)
    assert len(texts) == args.distinct, f"only {len(texts)} labelled headlines with a gate"
    # each distinct headline is pasted n/distinct times, each time in another chat, at seeded-random
    # moments of the run (so repeats, cache hits and first sightings mix throughout)
    chats = [-1000000000000 - i for i in range(args.chats)]
    order = [(chats[(j * 7 + i // len(texts) * 3) % len(chats)], texts[j]) for i in range(args.n)
             for j in [i % len(texts)]]
    random.Random(20261122).shuffle(order)
    probe_chat = -1000000009999

    def oracle(text: str) -> dict:
        return {"gate": gold.get(text, 1), "secondary": None, "confidence": "high", "reason": "gold label"}

    async with FakeLLM(latency=args.latency, answer=oracle) as llm, FakeTelegram() as fake:
        with tempfile.TemporaryDirectory() as tmp:
            stats_path = Path(tmp) / "stats.json"
            env = {**os.environ, "GATEBOT_LLM_URL": llm.base_url, "GATEBOT_LLM_MODEL": MODEL,
                   "GATEBOT_LLM_API_KEY": "sk-bench", "GATEBOT_LLM_MODE": args.mode,
                   "GATEBOT_LLM_TIMEOUT": str(args.timeout), "GATEBOT_LLM_CONCURRENCY": str(args.concurrency)}
            cmd = [sys.executable, __file__, "--child", "--base-url", fake.base_url,
                   "--db", str(Path(tmp) / "bench.db"), "--stats", str(stats_path)]
            proc = await asyncio.create_subprocess_exec(*cmd, cwd=str(ROOT), env=env)
            try:
                await fake.wait_calls("getUpdates", 1, timeout=30)
                expected: dict[tuple[int, int], int] = {}
                probes: dict[tuple[int, int], int] = {}
                t0 = time.perf_counter()
                interval = 0 if args.burst else 1 / args.rate
                next_probe = t0
                for i, (chat, text) in enumerate(order):
                    update = fake.push_message(chat, text)
                    expected[(chat, update["message"]["message_id"])] = update["update_id"]
                    if time.perf_counter() >= next_probe:
                        probe = fake.push_message(probe_chat, "/gates")
                        probes[(probe_chat, probe["message"]["message_id"])] = probe["update_id"]
                        next_probe += 0.1
                    if interval:
                        delay = t0 + (i + 1) * interval - time.perf_counter()
                        if delay > 0:
                            await asyncio.sleep(delay)
                pushed = time.perf_counter() - t0
                want = len(expected) + len(probes)
                # all answered, or (mode uncertain: the rules may say none, and a group gets silence)
                # nothing new for 3 s
                seen, quiet_since = -1, time.perf_counter()
                while len(fake.calls_to("sendMessage")) < want and time.perf_counter() - quiet_since < 3:
                    if len(fake.calls_to("sendMessage")) != seen:
                        seen, quiet_since = len(fake.calls_to("sendMessage")), time.perf_counter()
                    await asyncio.sleep(0.01)
                total = max(c.at for c in fake.calls_to("sendMessage")) - t0
                latencies, probe_ms, gates_ok = [], [], 0
                for call in fake.calls_to("sendMessage"):
                    key = (int(call.params["chat_id"]), (call.params.get("reply_parameters") or {}).get("message_id"))
                    if key in expected:
                        latencies.append((call.at - fake.served_at[expected.pop(key)]) * 1000)
                        gates_ok += f"Judged by {MODEL}." in call.params["text"] or f"由 {MODEL} 判断" in call.params["text"]
                    elif key in probes:
                        probe_ms.append((call.at - fake.served_at[probes.pop(key)]) * 1000)
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.wait_for(proc.wait(), 30)
                    except asyncio.TimeoutError:
                        proc.kill()
                        await proc.wait()
            stats = json.loads(stats_path.read_text()) if stats_path.exists() else {"calls": -1, "hits": -1}
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    mode = "burst" if args.burst else f"{args.rate:g} updates/s"
    print(f"llm bench: {args.n} headlines ({args.distinct} distinct) from {args.chats} group chats, {mode}; "
          f"fake model latency {args.latency * 1000:.0f} ms, GATEBOT_LLM_CONCURRENCY={args.concurrency}, "
          f"mode {args.mode}")
    print(f"  answered:       {len(latencies)}/{args.n} (the rest: none, silence in a group), "
          f"{gates_ok} judged by the model; "
          f"child exit code {proc.returncode}")
    print(f"  pushed in:      {pushed:.2f} s; all answered after {total:.2f} s")
    print(f"  model calls:    {llm.calls} received by the fake (judge counted {stats['calls']}); "
          f"cache hits {stats['hits']}; at most {llm.max_in_flight} in flight")
    print(f"  served -> sendMessage: p50 {pct(latencies, 50):.0f} ms, p90 {pct(latencies, 90):.0f} ms, "
          f"p99 {pct(latencies, 99):.0f} ms, max {max(latencies):.0f} ms, mean {statistics.mean(latencies):.0f} ms")
    if probe_ms:
        print(f"  /gates in a 21st chat meanwhile ({len(probe_ms)}): p50 {pct(probe_ms, 50):.1f} ms, "
              f"p99 {pct(probe_ms, 99):.1f} ms, max {max(probe_ms):.1f} ms")
    print(f"  bot peak RSS:   {rss_kb / 1024:.1f} MiB")
    return 0 if len(latencies) == args.n or args.mode == "uncertain" else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--distinct", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0, help="updates per second")
    parser.add_argument("--burst", action="store_true", help="push all updates at once")
    parser.add_argument("--latency", type=float, default=0.2, help="fake model latency, seconds")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--mode", choices=["always", "uncertain"], default="always")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--stats", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return asyncio.run(child(args.base_url, args.db, args.stats))
    return asyncio.run(drive(args))


if __name__ == "__main__":
    sys.exit(main())
