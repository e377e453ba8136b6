"""`gatebot` subcommands that operate a running bot: run it, send digests, chart, set a status,
back up, purge, export feedback, check the model judge."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from .cli_common import EXIT_FAILED, EXIT_OK, UsageError
from .cli_common import judge_for as _judge
from .cli_common import open_service as _service
from .cli_common import rules_and_classifier as _rules_and_classifier


def cmd_llm_check(args: argparse.Namespace) -> int:
    """Send one headline to the model; print its answer and the latency."""

    from .judge import CHECK_HEADLINE, JudgeError

    settings, rules, classifier = _rules_and_classifier()
    if settings.gatebot_llm_mode == "off":
        settings = settings.model_copy(update={"gatebot_llm_mode": "always"})
    judge = _judge(settings, rules)
    if judge is None:
        raise UsageError("GATEBOT_LLM_URL is not set: nothing to check (see docs/llm.md)")
    text = " ".join(args.text) or CHECK_HEADLINE

    async def ask():
        try:
            return await judge.check(text)
        finally:
            await judge.aclose()

    print(f"asking {judge.model} at {judge.endpoint}: {text}")
    try:
        j = asyncio.run(ask())
    except JudgeError as exc:
        print(f"llm check failed: {exc.kind}: {exc.detail}", file=sys.stderr)
        return EXIT_FAILED
    rules_verdict = classifier.classify(text)
    print(f"model: gate {j.gate}{f' (also {j.secondary})' if j.secondary else ''}, {j.confidence}, "
          f"in {j.ms:.0f} ms — {j.reason}")
    print(f"rules: gate {rules_verdict.gate}, {rules_verdict.confidence}")
    return EXIT_OK


def cmd_llm_prompt(args: argparse.Namespace) -> int:
    """Print the instructions the model gets (from rules/gates.yaml and rules/judge.yaml)."""
    from .judge_prompt import JudgeConfigError, system_prompt

    _, rules, _ = _rules_and_classifier()
    try:
        print(system_prompt(rules))
    except JudgeConfigError as exc:
        raise UsageError(str(exc)) from None
    return EXIT_OK


def cmd_feedback_export(args: argparse.Namespace) -> int:
    """Headlines to review, one JSON object per line, in the labeled-file shape with gold left empty."""
    from .store import Store

    settings = _rules_and_classifier()[0]
    try:
        store = Store(settings.gatebot_db)
    except Exception as exc:  # sqlite errors: unwritable path, not a database, ...
        raise UsageError(f"cannot open database {settings.gatebot_db}: {exc}") from None
    try:
        if args.disagreements:
            rows = store.disagreements(args.since)
            for message_id, created_at, lang, text, verdicts in rows:
                both = json.loads(verdicts)
                llm, said = both["llm"], both["rules"]
                print(json.dumps({
                    "id": f"m{message_id}", "text": text, "lang": lang, "gold": None, "ok": [],
                    "kind": "real", "created_at": created_at, "rules": said["gate"], "llm": llm["gate"],
                    "note": f"to review: rules said {said['gate']} ({said['confidence']}), {llm['model']} said "
                            f"{llm['gate']} ({llm['confidence']}): {llm['reason']}",
                }, ensure_ascii=False))
        else:
            from .corpus import label_from_votes

            rows, kept = store.voted_messages(args.since), 0
            for message_id, created_at, platform, lang, text, gate, choices in rows:
                votes = {k: int(v) for k, v in json.loads(choices).items()}
                gold = label_from_votes(gate, votes)
                if gold is None:
                    continue  # readers split evenly: nothing to learn until someone decides
                kept += 1
                shown = ", ".join(f"{k} {n}" for k, n in sorted(votes.items()))
                print(json.dumps({
                    "id": f"m{message_id}", "text": text, "lang": lang, "gold": gold, "ok": [gold],
                    "source": f"{platform} chat", "kind": "real", "created_at": created_at,
                    "note": f"readers' votes ({shown}); the bot said {gate}",
                }, ensure_ascii=False))
            print(f"feedback export: {kept} labelled headline(s) from readers' votes "
                  f"({len(rows) - kept} left out: votes split evenly)", file=sys.stderr)
            return EXIT_OK
        print(f"feedback export: {len(rows)} headline(s) to review", file=sys.stderr)
    finally:
        store.close()
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from .handlers.run import run_adapters
    from .links import LinkReader
    from .poller import FeedPoller
    from .store import database_problem

    settings, service = _service()
    problem = service.store.integrity_problem()  # a damaged file must not look like a healthy, silent bot
    if problem is not None:
        service.store.close()
        raise UsageError(database_problem(settings.gatebot_db, problem, damaged=True))
    service.link_reader = LinkReader.from_settings(settings)  # chat adapters read pasted links
    service.judge = _judge(settings, service.rules, service.store)  # a model names the gate, if configured
    service.feeds = FeedPoller.from_settings(service, settings)  # followed feeds, polled beside the digests
    logging.basicConfig(level=settings.gatebot_log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run_adapters(service, settings)
    finally:
        service.store.close()


def cmd_digest(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from .digest import build_digest

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise UsageError(f"--since {args.since!r} is not an ISO date/time, e.g. 2026-05-01T09:00+08:00") from None
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
    settings, service = _service()
    try:
        reply = build_digest(service, args.platform, args.chat, since=since, lang=args.lang)
        if not args.send:
            print(reply.plain())
            return EXIT_OK
        return _send_digest(service, settings, args.platform, args.chat, reply)
    finally:
        service.store.close()


def _send_digest(service, settings, platform: str, chat_id: str, reply) -> int:

    from aiohttp import web

    from .handlers.run import build_adapters

    async def send() -> int:
        adapters = {a.name: a for a in build_adapters(service, settings, web.Application())}
        adapter = adapters.get(platform)
        if adapter is None:
            raise UsageError(f"no {platform} adapter configured (set its token), cannot --send")
        from .handlers.lifecycle import StartFailure

        try:
            await adapter.start()
        except StartFailure as exc:  # a rejected token, no network: one line, never the token
            raise UsageError(f"cannot send: {platform}: {exc}") from None
        try:
            ref = await adapter.send(chat_id, reply)
        finally:
            await adapter.stop()
        print(f"sent to {platform}:{chat_id}" + (f" (message {ref})" if ref else ""))
        return EXIT_OK

    return asyncio.run(send())


def cmd_chart(args: argparse.Namespace) -> int:
    from .chart import aload_trend, gate_names, trend_reply
    from .digest import chat_language

    settings, service = _service()
    try:
        lang = args.lang or chat_language(service, args.platform, args.chat)
        trend = asyncio.run(aload_trend(service.store, service.rules, args.platform, args.chat, args.days,
                                        service.clock(), args.tz or settings.gatebot_tz or "UTC"))
        reply = trend_reply(trend, gate_names(service.rules), lang)
        try:
            with open(args.out, "wb") as out:
                out.write(reply.image or b"")
        except OSError as exc:
            raise UsageError(f"cannot write {args.out}: {exc.strerror}") from None
        print(reply.plain())
        print(f"chart written to {args.out} ({len(reply.image or b''):,} bytes)")
        return EXIT_OK
    finally:
        service.store.close()


def cmd_status_set(args: argparse.Namespace) -> int:
    import getpass

    from .digest import set_status

    _, service = _service()
    try:
        gate = service.rules.gate_by_name(args.gate)
        if gate is None:
            raise UsageError(f"unknown gate {args.gate!r}: use 1-4 or a name")
        text = " ".join(args.text).strip()
        if not text:
            raise UsageError("status set needs TEXT")
        by = args.by
        if not by:
            try:
                by = "cli:" + getpass.getuser()
            except Exception:  # no login name in some containers
                by = "cli"
        reply = set_status(service, gate.number, text, (args.zh or text).strip(), by, args.reason or "", args.lang)
        print(reply.plain())
        return EXIT_OK
    finally:
        service.store.close()


def _operator(by: str | None) -> str:
    import getpass

    if by:
        return by
    try:
        return "cli:" + getpass.getuser()
    except Exception:  # no login name in some containers
        return "cli"


def cmd_status_proposals(args: argparse.Namespace) -> int:
    """Every status proposal, newest first (`--json`: one object per line)."""
    from . import proposals

    _, service = _service()
    try:
        if service.rules.ladder is None:
            raise UsageError("the rules carry no ladder (rules/ladder.yaml): status proposals are off")
        found = proposals.rows(service).proposals(status=args.only, limit=args.limit)
        for row in found:
            if args.json:
                print(json.dumps(proposals.as_json(service, row), ensure_ascii=False))
                continue
            item = proposals.as_json(service, row)
            decided = f" by {item['decided_by']} {str(item['decided_at'])[:10]}" if item["decided_by"] else ""
            print(f"#{item['id']} gate {item['gate']} {item['direction']} {item['from']} -> {item['to']} · "
                  f"{item['signals']} signals, weight {item['weight']:g}, {item['sources']} sources · "
                  f"{item['created_at'][:16]} · {item['status']}{decided} · posted to {len(item['posted'])} chat(s)")
        if not found and not args.json:
            print("no status proposals")
        return EXIT_OK
    finally:
        service.store.close()


def _decide(args: argparse.Namespace, verb: str) -> int:
    from . import proposals

    _, service = _service()
    try:
        if service.rules.ladder is None:
            raise UsageError("the rules carry no ladder (rules/ladder.yaml): status proposals are off")
        ok, notice = proposals.decide_proposal(service, args.id, verb, _operator(args.by), args.lang)
        print(notice, file=sys.stdout if ok else sys.stderr)
        return EXIT_OK if ok else EXIT_FAILED
    finally:
        service.store.close()


def cmd_status_accept(args: argparse.Namespace) -> int:
    """Accept a proposal: the gate moves one step (its status set, who and on what recorded)."""
    return _decide(args, "accept")


def cmd_status_dismiss(args: argparse.Namespace) -> int:
    """Dismiss a proposal: that gate and direction stay quiet until the evidence grows by the margin."""
    return _decide(args, "dismiss")


def add_proposal_parsers(status_sub: argparse._SubParsersAction) -> None:
    """`gatebot status proposals|accept|dismiss`."""
    p = status_sub.add_parser("proposals", help="the status proposals the evidence made, newest first")
    p.add_argument("--json", action="store_true", help="one JSON object per proposal")
    p.add_argument("--only", choices=["pending", "accepted", "dismissed"], help="only proposals in this state")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.set_defaults(func=cmd_status_proposals)
    for verb, func, what in (("accept", cmd_status_accept, "accept a proposal: move the gate one step"),
                             ("dismiss", cmd_status_dismiss, "dismiss a proposal")):
        p = status_sub.add_parser(verb, help=what)
        p.add_argument("id", type=int, help="the proposal's number (see `gatebot status proposals`)")
        p.add_argument("--by", help="who decides (default: cli:<login>)")
        p.add_argument("--lang", choices=["en", "zh"], default="en", help="language of the printed answer")
        p.set_defaults(func=func)


def cmd_backup(args: argparse.Namespace) -> int:
    from .maintenance import MaintenanceError, backup
    from .settings import load_settings

    source = load_settings().gatebot_db
    try:
        result = backup(source, args.path)
    except MaintenanceError as exc:
        raise UsageError(str(exc)) from None
    print(f"backup: {source} -> {result.path} ({result.messages} messages, {result.bytes / 1e6:.1f} MB, "
          f"{result.seconds:.2f} s)")
    return EXIT_OK


def cmd_purge(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from .maintenance import MaintenanceError, parse_age, purge

    settings, service = _service()
    try:
        if args.older_than:
            age = parse_age(args.older_than)
        elif settings.gatebot_retention_days:
            age = timedelta(days=settings.gatebot_retention_days)
        else:
            raise UsageError("purge needs --older-than (e.g. 180d) or GATEBOT_RETENTION_DAYS")
        result = purge(service.store, age, dry_run=args.dry_run)
    except MaintenanceError as exc:
        raise UsageError(str(exc)) from None
    finally:
        service.store.close()
    verb = "would remove" if args.dry_run else "removed"
    print(f"purge: before {result.cutoff}: {verb} {result.messages} chatter message(s), {result.events} event id(s), "
          f"{result.links} expired link(s), {result.judgements} cached model answer(s); "
          f"kept {result.kept_messages} older message(s) with a gate, feedback or a judges' disagreement")
    return EXIT_OK
