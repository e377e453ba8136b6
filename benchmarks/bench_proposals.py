"""Status proposals benchmark: one check of the proposals job on a large ledger.

Measures, on a store filled like benchmarks/bench_evidence.py (N ledger rows across 1,000 chats
over a year, built with its `build`):
- the counting a check does (every gate's window, every chat, on its own read-only connection);
- a whole `proposals_tick` (count on a thread, decide, record, post to no chat);
- the longest the event loop went without running while a tick ran (a 1 ms heartbeat task):
  the counting must not hold the loop.

    .venv/bin/python benchmarks/bench_proposals.py [--rows N] [--db PATH] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_evidence import NOW, build  # noqa: E402
from gatebot import proposals  # noqa: E402
from gatebot.classifier import Classifier  # noqa: E402
from gatebot.ruleset import load_rules  # noqa: E402
from gatebot.service import Service  # noqa: E402
from gatebot.store import Store, iso  # noqa: E402


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def report(name: str, samples: list[float]) -> None:
    print(f"{name}: p50 {statistics.median(samples):.1f} ms, p99 {pct(samples, 99):.1f} ms, "
          f"max {max(samples):.1f} ms ({len(samples)} runs)")


async def tick_with_heartbeat(service: Service) -> tuple[float, float]:
    """(tick ms, the longest gap between 1 ms heartbeats in ms) for one proposals tick."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append((now - last) * 1000)
            last = now

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.01)
    t = time.perf_counter()
    await proposals.proposals_tick(service, {}, "bench", NOW)
    took = (time.perf_counter() - t) * 1000
    done.set()
    await beat
    return took, max(gaps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db")
    parser.add_argument("--keep", action="store_true", help="keep the database (and reuse it with --db)")
    args = parser.parse_args()
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "bench-proposals.db"
    fresh = not path.exists()
    store = Store(path, clock=lambda: NOW)
    try:
        if fresh:
            seconds = build(store, args.rows, 1_000, max(1, args.rows * 2 // 5))
            print(f"built {args.rows:,} ledger rows in {seconds:.1f} s")
        rows = store.db.execute("select count(*) from evidence").fetchone()[0]
        rules = load_rules()
        service = Service(rules, store, Classifier(rules), clock=lambda: NOW)
        book = proposals.rows(service)
        windows = {g: (iso(NOW - timedelta(days=30)), iso(NOW)) for g in rules.gates}
        counting = []
        for _ in range(10):
            t = time.perf_counter()
            counts = book.evidence_counts(windows)
            counting.append((time.perf_counter() - t) * 1000)
        print(f"ledger rows: {rows:,}; 30-day window, every chat: "
              + ", ".join(f"gate {g} {sum(c['stories'].values()):,} stories" for g, c in counts.items()))
        report("counting a check (4 gates, both sides, stories and sources)", counting)
        ticks, stalls = [], []
        for _ in range(10):
            took, stall = asyncio.run(tick_with_heartbeat(service))
            ticks.append(took)
            stalls.append(stall)
        report("a whole proposals tick", ticks)
        report("the longest event-loop stall during a tick (1 ms heartbeat)", stalls)
        print(f"proposals made: {len(book.proposals())}")
    finally:
        store.close()
        if not args.keep and not args.db:
            for suffix in ("", "-wal", "-shm"):
                with_suffix = Path(str(path) + suffix)
                if with_suffix.exists():
                    os.remove(with_suffix)


if __name__ == "__main__":
    main()
