"""Benchmark: 1,000 signed headline events through the Slack HTTP endpoint (POST /slack/events).

The bot runs in a child process exactly as `gatebot run` does (handlers.run.serve: the shared
aiohttp server, the Slack adapter in HTTP mode, and, unless --slack-only, the Telegram adapter
long-polling tests/fakes/telegram_api.FakeTelegram), with a SQLite store in a temp dir, against
tests/fakes/slack_api.FakeSlackAPI in this process. We post signed event_callback requests at a
fixed rate (or all at once with --burst) across 50 channels and measure per event:
- the HTTP ack: request sent -> response received (Slack's limit is 3 s; target p99 <= 100 ms);
- the answer: request sent -> the matching chat.postMessage arriving at the fake (target p99 <= 100 ms).
Every event must be acknowledged with 200 and answered exactly once. Peak RSS is the child's
(getrusage RUSAGE_CHILDREN after it exits).

    .venv/bin/python benchmarks/bench_slack.py [--n 1000] [--channels 50] [--rate 200] [--burst] [--slack-only]
                                               [--sync-normal]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import resource
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"


# --------------------------------------------------------------------------- the bot (child)


async def child(slack_url: str, telegram_url: str | None, port: int, db: str, sync_normal: bool) -> int:
    import logging

    from gatebot.handlers.run import serve
    from gatebot.ruleset import load_rules
    from gatebot.service import Service
    from gatebot.settings import Settings
    from gatebot.store import Store

    logging.basicConfig(level=logging.WARNING)
    kwargs: dict = {"telegram_bot_token": None}
    if telegram_url:
        from fakes.telegram_api import TOKEN as TG_TOKEN

        kwargs = {"telegram_bot_token": TG_TOKEN, "telegram_api_base_url": telegram_url,
                  "telegram_webhook_url": None}
    settings = Settings(slack_bot_token=TOKEN, slack_signing_secret=SECRET, slack_app_token=None,
                        slack_api_url=slack_url, gatebot_http_host="127.0.0.1", gatebot_http_port=port, **kwargs)
    store = Store(db)
    if sync_normal:  # what-if for a proposed core change: WAL + synchronous=NORMAL (no fsync per commit)
        store.db.conn.execute("PRAGMA synchronous = NORMAL")
    service = Service(load_rules(ROOT / "rules"), store)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    rc = await serve(service, settings, stop)
    store.close()
    return rc


# --------------------------------------------------------------------------- the driver


def headlines(limit: int = 200) -> list[str]:
    """Held-out headlines a channel gets an unprompted answer to (a gate at the default floor)."""
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


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    sig = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={sig}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summary(name: str, values: list[float]) -> str:
    return (f"{name}: p50 {pct(values, 50):.1f} ms, p90 {pct(values, 90):.1f} ms, p99 {pct(values, 99):.1f} ms, "
            f"max {max(values):.1f} ms, mean {statistics.mean(values):.1f} ms")


async def drive(args: argparse.Namespace) -> int:
    import aiohttp
    from fakes.slack_api import BOT_USER_ID, TEAM_ID, FakeSlackAPI
    from fakes.telegram_api import FakeTelegram

    texts = headlines()
    assert texts, "no headline on a gate in the held-out set"
    port = free_port()
    url = f"http://127.0.0.1:{port}/slack/events"
    acks: list[float] = []
    statuses: dict[int, int] = {}
    sent_at: dict[tuple[str, str], float] = {}
    async with FakeSlackAPI() as fake, FakeTelegram() as tg:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, __file__, "--child", "--slack-url", fake.base_url, "--port", str(port),
                   "--db", str(Path(tmp) / "bench.db")]
            if not args.slack_only:
                cmd += ["--telegram-url", tg.base_url]
            if args.sync_normal:
                cmd.append("--sync-normal")
            proc = await asyncio.create_subprocess_exec(*cmd, cwd=str(ROOT))
            try:
                async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
                    deadline = time.monotonic() + 30
                    while True:  # wait for the shared server (bounded)
                        try:
                            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                                if r.status == 200:
                                    break
                        except aiohttp.ClientError:
                            pass
                        if time.monotonic() > deadline or proc.returncode is not None:
                            raise RuntimeError("the bot did not come up")
                        await asyncio.sleep(0.05)
                    # warm-up: one event, so auth.test and first-request costs are not in the figures
                    warm = {"type": "message", "channel": "CWARMUP", "user": "U0WARM", "text": texts[0],
                            "ts": "1600000000.000001", "channel_type": "channel"}
                    body = json.dumps({"type": "event_callback", "team_id": TEAM_ID, "event_id": "EvWarm",
                                       "event": warm, "event_time": int(time.time()),
                                       "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID}]})
                    async with http.post(url, data=body, headers=signed(body)) as r:
                        assert r.status == 200
                    await fake.wait_for("chat.postMessage", 1, timeout=10)
                    base = len(fake.of("chat.postMessage"))

                    async def one(i: int) -> None:
                        channel = f"C{i % args.channels:08d}"
                        ts = f"1700000000.{i:06d}"
                        event = {"type": "message", "channel": channel, "user": f"U{i % 97:08d}",
                                 "text": texts[i % len(texts)], "ts": ts, "event_ts": ts, "channel_type": "channel",
                                 "team": TEAM_ID}
                        payload = json.dumps({"token": "x", "team_id": TEAM_ID, "api_app_id": "A0000001",
                                              "type": "event_callback", "event_id": f"EvBench{i:06d}",
                                              "event_time": int(time.time()), "event": event,
                                              "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID,
                                                                  "is_bot": True}]})
                        headers = signed(payload)
                        t = time.perf_counter()
                        sent_at[(channel, ts)] = t
                        async with http.post(url, data=payload, headers=headers) as r:
                            await r.read()
                            statuses[r.status] = statuses.get(r.status, 0) + 1
                        acks.append((time.perf_counter() - t) * 1000)

                    t0 = time.perf_counter()
                    interval = 0 if args.burst else 1 / args.rate
                    tasks = []
                    for i in range(args.n):
                        tasks.append(asyncio.create_task(one(i)))
                        if interval:
                            delay = t0 + (i + 1) * interval - time.perf_counter()
                            if delay > 0:
                                await asyncio.sleep(delay)
                    await asyncio.wait_for(asyncio.gather(*tasks), 120)
                    pushed = time.perf_counter() - t0
                    await fake.wait_for("chat.postMessage", base + args.n, timeout=120)
                    total = time.perf_counter() - t0
                    await asyncio.sleep(0.5)  # any duplicate answer would arrive by now
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.wait_for(proc.wait(), 30)
                    except asyncio.TimeoutError:
                        proc.kill()
                        await proc.wait()
    answers: list[float] = []
    dupes = 0
    seen = set()
    for call in fake.of("chat.postMessage"):
        key = (call.params.get("channel"), call.params.get("thread_ts"))
        if key not in sent_at:
            continue
        if key in seen:
            dupes += 1
            continue
        seen.add(key)
        answers.append((call.at - sent_at[key]) * 1000)
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    ok = statuses.get(200, 0)
    mode = "burst" if args.burst else f"{args.rate:g} events/s"
    adapters = "Slack only" if args.slack_only else "Slack (HTTP) + Telegram (long polling, idle)"
    sync = "SQLite synchronous=NORMAL (what-if)" if args.sync_normal else "SQLite as the store opens it"
    print(f"slack bench: {args.n} signed headline events, {args.channels} channels, {mode}; {adapters}; {sync}")
    print(f"  acked 200:     {ok}/{args.n} (statuses {statuses})")
    print(f"  answered:      {len(answers)}/{args.n}, duplicates {dupes}; child exit code {proc.returncode}")
    print(f"  sent in:       {pushed:.2f} s; all answered after {total:.2f} s ({args.n / total:.0f} answers/s)")
    print("  " + summary("HTTP ack          ", acks))
    print("  " + summary("-> chat.postMessage", answers))
    print(f"  bot peak RSS:  {rss_kb / 1024:.1f} MiB")
    return 0 if ok == args.n and len(answers) == args.n and dupes == 0 and proc.returncode == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="events per second posted to the bot")
    parser.add_argument("--burst", action="store_true", help="post all events at once")
    parser.add_argument("--slack-only", action="store_true", help="do not start the Telegram adapter beside Slack")
    parser.add_argument("--sync-normal", action="store_true",
                        help="what-if: open the store with PRAGMA synchronous=NORMAL (a proposed core change)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--slack-url", help=argparse.SUPPRESS)
    parser.add_argument("--telegram-url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return asyncio.run(child(args.slack_url, args.telegram_url, args.port, args.db, args.sync_normal))
    return asyncio.run(drive(args))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
