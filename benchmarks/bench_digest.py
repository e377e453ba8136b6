"""Digest benchmark: 1,000,000 classified messages across 1,000 chats.

Measures: p99 digest build over 100 chats (target <= 100 ms), the due-check over every
subscription (target <= 50 ms), and the database file size (target < 1 GB).

    .venv/bin/python benchmarks/bench_digest.py [--db PATH] [--messages N] [--chats N] [--keep]

Rows are generated directly with executemany in bounded batches, from verdicts of real headlines
(so the stored JSON has its real size); times are spread over 60 days ending now.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gatebot.classifier import Classifier  # noqa: E402
from gatebot.digest import build_digest  # noqa: E402
from gatebot.ruleset import load_rules  # noqa: E402
from gatebot.scheduler import due_digests  # noqa: E402
from gatebot.service import Service  # noqa: E402
from gatebot.store import Store, iso, text_key  # noqa: E402

HEADLINES = [
    "ByteDance orders $5.6B of Ascend 950PR chips",
    "Alibaba orders 10,000 Ascend 910C chips",
    "Tencent orders Ascend chips for its cloud",
    "China Mobile orders 8,000 Ascend servers",
    "Baidu orders Kunlun chips worth $1B",
    "昇腾CANN全面开源",
    "字节跳动采购昇腾950PR芯片",
    "Huawei open-sources CANN for Ascend",
    "DeepSeek model trained on a 10,000-card Ascend cluster goes into production",
    "lunch at noon?",
    "anyone seen the new phone?",
    "Cambricon revenue jumps as data centers deploy its chips",
]
ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC", "Asia/Tokyo", "America/Los_Angeles"]


def build(db_path: Path, n_messages: int, n_chats: int, now: datetime, seed: int = 5) -> Store:
    rng = random.Random(seed)
    rules = load_rules(None)
    classifier = Classifier(rules)
    pool = []
    for h in HEADLINES:
        v = classifier.classify(h)
        pool.append((h, v.lang, v.gate, v.confidence, v.model_dump_json()))
    store = Store(db_path, clock=lambda: now)
    db = store.db.conn
    db.execute("PRAGMA synchronous = OFF")
    span = 60 * 86400
    batch = 20_000
    sql = ("insert into messages (platform, chat_id, user_id, text, text_len, text_key, created_at, lang, gate, "
           "confidence, verdict, message_ref, reply_ref) values (?,?,?,?,?,?,?,?,?,?,?,?,?)")
    t0 = time.perf_counter()
    # Insert in time order, as a live bot would: the created_at index stays append-mostly.
    offsets = sorted(rng.randrange(span) for _ in range(n_messages))
    for start in range(0, n_messages, batch):
        rows = []
        for i in range(start, min(start + batch, n_messages)):
            text, lang, gate, conf, verdict = pool[rng.randrange(len(pool))]
            text = f"{text} #{rng.randrange(50)}" if rng.random() < 0.7 else text
            if rng.random() < 0.2:
                text += f" https://news.example.com/{rng.randrange(10**6)}"
            c = rng.randrange(n_chats)
            platform, chat = ("telegram" if c % 2 else "slack"), f"chat{c}"
            created = iso(now - timedelta(seconds=span - offsets[i]))
            rows.append((platform, chat, f"u{rng.randrange(100)}", text, len(text), text_key(text), created, lang,
                         gate, conf, verdict, None, None))
        with db:
            db.executemany(sql, rows)
    subs = []
    for c in range(n_chats):
        for platform in ("telegram" if c % 2 else "slack",):
            hhmm = f"{rng.randrange(24):02d}:{rng.choice(['00', '30'])}"
            subs.append((platform, f"chat{c}", 1, hhmm, rng.choice(ZONES), "",
                         iso(now - timedelta(days=30)), iso(now - timedelta(days=30))))
    with db:
        db.executemany("insert or replace into subscriptions (platform, chat_id, enabled, time, tz, lang, created_at, "
                       "updated_at) values (?,?,?,?,?,?,?,?)", subs)
        # A day of digests already sent for half of them, as after a day of running.
        db.executemany("insert or ignore into digests_sent (platform, chat_id, local_date, status, attempts, window_end) "
                       "values (?,?,?,?,?,?)",
                       [(p, c, now.date().isoformat(), "sent", 1, iso(now - timedelta(hours=3)))
                        for p, c, *_ in subs[::2]])
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(f"built {n_messages:,} messages in {n_chats:,} chats in {time.perf_counter() - t0:.1f} s", flush=True)
    return store


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", help="database path (default: a temporary file)")
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--chats", type=int, default=1_000)
    ap.add_argument("--keep", action="store_true", help="keep the database file")
    args = ap.parse_args()
    tmp = None
    if args.db:
        path = Path(args.db)
    else:
        tmp = tempfile.mkdtemp(prefix="gatebot-bench-")
        path = Path(tmp) / "bench.db"
    if path.exists():
        path.unlink()
    now = datetime(2026, 5, 10, 12, 0, tzinfo=timezone.utc)
    store = build(path, args.messages, args.chats, now)
    service = Service(load_rules(None), store, clock=lambda: now)
    rng = random.Random(1)
    chats = rng.sample(range(args.chats), 100)
    times = []
    blocks = []
    for c in chats:
        platform = "telegram" if c % 2 else "slack"
        t = time.perf_counter()
        reply = build_digest(service, platform, f"chat{c}", now=now)
        times.append((time.perf_counter() - t) * 1000)
        blocks.append(len(reply.blocks))
    due_times = []
    due_n = 0
    for i in range(20):
        t = time.perf_counter()
        due_n = len(due_digests(store, now + timedelta(minutes=30 * i)))
        due_times.append((time.perf_counter() - t) * 1000)
    store.close()
    size = sum(os.path.getsize(p) for p in (str(path), f"{path}-wal", f"{path}-shm") if os.path.exists(p))
    p99 = pct(times, 99)
    due_p99 = pct(due_times, 99)
    print(f"digest build over 100 chats: p50 {statistics.median(times):.1f} ms, p99 {p99:.1f} ms, "
          f"max {max(times):.1f} ms (target p99 <= 100 ms); blocks per digest <= {max(blocks)}")
    print(f"due-check over {args.chats:,} subscriptions: p50 {statistics.median(due_times):.2f} ms, "
          f"p99 {due_p99:.2f} ms (target <= 50 ms); last pass found {due_n} due")
    print(f"database file: {size / 1e6:.0f} MB (target < 1000 MB)")
    ok = p99 <= 100 and due_p99 <= 50 and size < 1e9
    if tmp and not args.keep:
        for p in (str(path), f"{path}-wal", f"{path}-shm"):
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(tmp)
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
