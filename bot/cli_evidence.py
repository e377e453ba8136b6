"""`gatebot evidence`, `gatebot gates` and `gatebot gate N`: the board and the evidence ledger's
balance per gate for operators, every chat or one.

Numbers are distinct stories (the same story from several sources or chats counts once in the
scope shown). Reads only the store: no rules or model are loaded for --json.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from .cli_common import EXIT_OK, UsageError, open_service

if TYPE_CHECKING:  # the store (and sqlite-utils) load only when the command runs: `gatebot classify` starts faster
    from .storage.base import Balance

GATES = (1, 2, 3, 4)

MAX_DAYS = 3650


def cmd_gates(args: argparse.Namespace) -> int:
    from . import answers

    _, service = open_service()
    try:
        # The board without a chat's momentum, with every chat's 30-day evidence (for operators).
        view = answers.load_view(service.store, service.clock(), balance=True)
        print(answers.board(service.rules, view, args.lang).plain())
    finally:
        service.store.close()
    return EXIT_OK


def cmd_gate(args: argparse.Namespace) -> int:
    from . import answers

    _, service = open_service()
    try:
        reply = answers.gate_card(service.rules, service.store, " ".join(args.name), args.lang)
    finally:
        service.store.close()
    if reply.kind != "gate":
        raise UsageError(" ".join(reply.plain().split()))
    print(reply.plain())
    return EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evidence", help="the evidence balance per gate: for / against / neutral stories (every chat, or one)",
        description="For / against / neutral per gate and checklist metric over the last DAYS days, counted in "
                    "distinct stories (the same story from several sources counts once). Without --chat: every "
                    "chat; with --platform alone: every chat of that platform.")
    p.add_argument("--gate", type=int, choices=GATES, help="only this gate (default: all four)")
    p.add_argument("--days", type=int, default=30, help="the window, in days up to now (default: 30)")
    p.add_argument("--chat", help="one chat's id (with --platform)")
    p.add_argument("--platform", help="telegram, slack or terminal")
    p.add_argument("--json", action="store_true", help="one JSON object per gate, one per line")
    p.set_defaults(func=cmd_evidence)


def evidence_rows(store, now: datetime, *, days: int = 30, gate: int | None = None, platform: str | None = None,
                  chat_id: str | None = None) -> list[dict]:
    """One object per gate, as --json prints them:
    {"gate", "for", "against", "neutral", "stories", "by_metric": {metric: {"for", "against", "neutral"}}}."""
    end = now + timedelta(seconds=1)
    balances = store.evidence_balance(end - timedelta(days=days), end, platform=platform, chat_id=chat_id)
    return [as_json(balances[g]) for g in GATES if gate in (None, g)]


def as_json(b: Balance) -> dict:
    from .storage.evidence import READINGS

    return {
        "gate": b.gate, "for": b.for_.stories, "against": b.against.stories, "neutral": b.neutral.stories,
        "stories": b.stories,
        "by_metric": {m: {r: t[r].stories for r in READINGS} for m, t in b.by_metric.items()},
    }


def table(headers: list[str], rows: list[list[object]]) -> list[str]:
    """A plain aligned table (numbers right, words left), like sqlite-utils' default output."""
    cells = [headers, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], int) for row in rows) if rows else False for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric, strict=True)).rstrip()

    return [line(cells[0]), line(["-" * w for w in widths]), *[line(r) for r in cells[1:]]]


def render_text(rows: list[dict], scope: str, days: int, now: datetime) -> str:
    out = [f"Evidence in {scope}, the last {days} days to {now:%Y-%m-%d %H:%M} UTC (distinct stories)", ""]
    out += table(["gate", "for", "against", "neutral", "stories"],
                 [[r["gate"], r["for"], r["against"], r["neutral"], r["stories"]] for r in rows])
    for r in rows:
        if r["by_metric"]:
            out += ["", f"gate {r['gate']} by metric"]
            out += table(["metric", "for", "against", "neutral"],
                         [[m, t["for"], t["against"], t["neutral"]] for m, t in r["by_metric"].items()])
    return "\n".join(out)


def cmd_evidence(args: argparse.Namespace) -> int:
    from .settings import load_settings
    from .store import Store

    if args.chat is not None and not args.platform:
        raise UsageError("--chat needs --platform (telegram, slack or terminal): a chat id is the platform's")
    if not 1 <= args.days <= MAX_DAYS:
        raise UsageError(f"--days must be between 1 and {MAX_DAYS}")
    settings = load_settings()
    try:
        store = Store(settings.gatebot_db)
    except Exception as exc:  # sqlite errors: unwritable path, not a database, ...
        raise UsageError(f"cannot open database {settings.gatebot_db}: {exc}") from None
    try:
        now = store.clock()
        rows = evidence_rows(store, now, days=args.days, gate=args.gate, platform=args.platform, chat_id=args.chat)
    finally:
        store.close()
    if args.json:
        print("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
        return EXIT_OK
    scope = (f"{args.platform} chat {args.chat}" if args.chat is not None
             else f"every {args.platform} chat" if args.platform else "every chat")
    print(render_text(rows, scope, args.days, now.astimezone(timezone.utc)))
    return EXIT_OK
