"""Evidence ledger benchmark: 1,000,000 ledger rows across 1,000 chats over a year.

Measures (targets: p99 <= 50 ms for the first three):
- the `/gate N` reply in a chat (the whole command through Service.ahandle_command, card and evidence),
  and `/gates` (the board with the chat's balance, one statement);
- `gatebot evidence` for every chat: the in-process function (evidence_rows) and the CLI's --json
  (cli.main in-process: settings, opening the store, the query, printing);
- the cost the ledger adds to one pasted headline: add_message of a gated verdict against the same
  call with a gate-0 verdict (which the ledger does not record), on the full store.

    .venv/bin/python benchmarks/bench_evidence.py [--rows N] [--chats N] [--db PATH] [--keep]

How the rows get there: executemany of the recording path's own statements (evidence.INSERT_ROW,
INSERT_KEYS, ADD_DAILY + ON_DAILY, one row per execution), in batches, with the dedupe decided in
Python the way `record` decides it (a story is new in a scope until one of its keys was seen there).
Stories: 400,000, drawn with a skew (some told many times), 60% with a link; each telling in a chat
on one of two platforms, at a random time in the 365 days to now; readings and metrics drawn from
the checklist's. The messages table is left empty: /gate N and /gates do not read it for evidence.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gatebot import cli  # noqa: E402
from gatebot.classifier import Classifier  # noqa: E402
from gatebot.cli_evidence import evidence_rows  # noqa: E402
from gatebot.reading import METRICS  # noqa: E402
from gatebot.ruleset import load_rules  # noqa: E402
from gatebot.service import Service  # noqa: E402
from gatebot.storage import evidence  # noqa: E402
from gatebot.store import Store, iso  # noqa: E402

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
READ_WEIGHTS = {"for": 0.62, "against": 0.23, "neutral": 0.15}
CONFIDENCES = ("high", "medium", "low")
BATCH = 50_000


def build(store: Store, rows: int, chats: int, stories: int, seed: int = 19) -> float:
    rng = random.Random(seed)
    conn = store.db.conn
    conn.execute("PRAGMA synchronous = OFF")
    chat_ids = [("telegram" if i % 2 else "slack", f"C{i:05d}") for i in range(chats)]
    story_meta = []
    for s in range(stories):
        gate = rng.choice((1, 1, 2, 2, 2, 3, 4))
        story_meta.append((gate, rng.choices(list(READ_WEIGHTS), list(READ_WEIGHTS.values()))[0],
                           rng.choice(METRICS[gate]), f"https://news{s % 97}.example.com/story/{s}" if rng.random() < 0.6
                           else None))
    seen: set[tuple[str, int]] = set()
    daily: dict[tuple, list] = {}
    started = time.perf_counter()
    rows_batch: list[tuple] = []
    keys_batch: list[tuple] = []
    next_id = 1
    span = 365 * 86400
    for n in range(rows):
        story = min(int(rng.paretovariate(1.1)) - 1, stories - 1) if rng.random() < 0.3 else rng.randrange(stories)
        gate, reading, metric, link = story_meta[story]
        platform, chat_id = chat_ids[min(int(rng.expovariate(1 / (chats / 4))), chats - 1)]
        at = iso(NOW - timedelta(seconds=rng.randrange(span)))
        confidence = rng.choice(CONFIDENCES)
        weight = evidence.WEIGHTS[confidence]
        feed = link is not None and rng.random() < 0.7
        kind, source = (("feed", f"Feed {story % 300}") if feed else ("link", f"news{story % 97}.example.com")
                        if link else ("paste", f"{platform}:{chat_id}:U{rng.randrange(50)}"))
        scopes = evidence.scopes(platform, chat_id)
        fresh = [s for s in scopes if (s, story) not in seen]
        rows_batch.append((n + 1, platform, chat_id, at, gate, reading, metric, None, confidence, weight, kind,
                           source, link, f"Headline of story {story} about gate {gate}",
                           *(int(s in fresh) for s in scopes)))
        keys = ([f"l:{evidence.normalise_link(link)}"] if link else []) + [f"t:{story:020x}"]
        for s in fresh:
            seen.add((s, story))
            keys_batch += [(s, k, next_id) for k in keys]
            cell = daily.setdefault((s, at[:10], gate, metric, reading), [0, 0.0])
            cell[0] += 1
            cell[1] += weight
        next_id += 1
        if len(rows_batch) >= BATCH:
            _flush(conn, rows_batch, keys_batch)
    _flush(conn, rows_batch, keys_batch)
    with conn:
        conn.executemany(evidence.ADD_DAILY + evidence.DAILY_VALUES + evidence.ON_DAILY,
                         [(*k, v[0], v[1]) for k, v in daily.items()])
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("ANALYZE")
    return time.perf_counter() - started


def _flush(conn, rows_batch: list, keys_batch: list) -> None:
    with conn:
        conn.executemany(evidence.INSERT_ROW, rows_batch)
        conn.executemany(evidence.INSERT_KEYS + evidence.KEY_VALUES, keys_batch)
    rows_batch.clear()
    keys_batch.clear()


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def report(name: str, samples: list[float]) -> None:
    ms = [x * 1000 for x in samples]
    print(f"{name:<48} n={len(ms):>4}  p50 {pct(ms, 50):7.2f} ms  p99 {pct(ms, 99):7.2f} ms  "
          f"max {max(ms):7.2f} ms")


def timed(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--chats", type=int, default=1_000)
    ap.add_argument("--stories", type=int, default=400_000)
    ap.add_argument("--db")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gatebot-bench-evidence-")
    path = Path(args.db or os.path.join(tmp, "evidence.db"))
    fresh_db = not path.exists()
    store = Store(path, clock=lambda: NOW)
    if fresh_db:
        took = build(store, args.rows, args.chats, args.stories)
        print(f"built {args.rows:,} ledger rows in {args.chats:,} chats in {took:.1f} s (executemany of the "
              f"recording statements)")
    counts = {t: store.db.execute(f"select count(*) from {t}").fetchone()[0]
              for t in ("evidence", "evidence_keys", "evidence_daily")}
    print("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items())
          + f"; file {path.stat().st_size / 1e6:,.0f} MB")

    rules = load_rules(None)
    classifier = Classifier(rules)
    service = Service(rules, store, classifier, clock=lambda: NOW)
    rng = random.Random(7)
    busy = [("telegram" if i % 2 else "slack", f"C{i:05d}") for i in range(0, 40)]  # the busiest chats
    spread = [("telegram" if i % 2 else "slack", f"C{i:05d}") for i in rng.sample(range(args.chats), 100)]
    loop = asyncio.new_event_loop()

    def gate_cmd(chats):
        def run(i: int) -> None:
            platform, chat = chats[i % len(chats)]
            reply = loop.run_until_complete(service.ahandle_command(platform, chat, "U1", "gate", str(1 + i % 4)))
            assert reply.kind == "gate"
        return run

    def gates_cmd(i: int) -> None:
        platform, chat = busy[i % len(busy)]
        assert loop.run_until_complete(service.ahandle_command(platform, chat, "U1", "gates", "")).kind == "board"

    gate_cmd(busy)(0)  # warm
    platform, chat = busy[0]
    b = store.evidence_balance(NOW - timedelta(days=30), NOW, platform=platform, chat_id=chat)
    print(f"busiest chat {platform}:{chat}, 30 days: " + ", ".join(
        f"gate {g} {x.for_.stories}/{x.against.stories}/{x.neutral.stories}" for g, x in b.items())
        + " (for/against/neutral stories)")
    report("/gate N reply, busiest 40 chats", timed(gate_cmd(busy), 400))
    report("/gate N reply, 100 chats at random", timed(gate_cmd(spread), 400))
    report("/gates reply (board + balance), busiest chats", timed(gates_cmd, 400))
    report("gatebot evidence: evidence_rows(), every chat",
           timed(lambda i: evidence_rows(store, NOW, days=30), 200))
    report("gatebot evidence: evidence_rows(), one chat",
           timed(lambda i: evidence_rows(store, NOW, days=30, platform=busy[i % 40][0], chat_id=busy[i % 40][1]),
                 200))
    os.environ["GATEBOT_DB"] = str(path)

    def cli_json(i: int) -> None:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cli.main(["evidence", "--json"]) == 0
        assert out.getvalue().count("\n") == 4

    cli_json(0)
    report("gatebot evidence --json (cli.main in-process)", timed(cli_json, 200))
    report("evidence_items(), every chat, gate 2, top 5",
           timed(lambda i: store.evidence_items(1 + i % 4, NOW - timedelta(days=30), NOW), 200))
    report("evidence_sources(), every chat",
           timed(lambda i: store.evidence_sources(1 + i % 4, NOW - timedelta(days=30), NOW), 200))

    gated = classifier.classify("ByteDance orders $5.6B of Ascend 950PR chips")
    none = classifier.classify("anyone up for lunch?")
    assert gated.gate and not none.gate

    def add(verdict, tag: str):
        def run(i: int) -> None:
            platform, chat = spread[i % len(spread)]
            store.add_message(platform=platform, chat_id=chat, user_id="U1",
                              text=f"ByteDance orders $5.6B of Ascend 950PR chips {tag} {i}", verdict=verdict)
        return run

    with_ledger = timed(add(gated, "g"), 500)
    without = timed(add(none, "n"), 500)
    report("add_message, gated (recorded in the ledger)", with_ledger)
    report("add_message, gate 0 (not recorded)", without)
    extra = statistics.median(with_ledger) - statistics.median(without)
    print(f"the ledger adds {extra * 1000:.3f} ms per pasted headline (p50 difference)")
    loop.close()
    store.close()
    if args.keep or args.db:
        print(f"kept {path}")
    else:
        for f in Path(tmp).iterdir():
            f.unlink()
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
