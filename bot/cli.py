"""The `gatebot` command line. It mirrors the library: each command is a thin call into bot/.

Exit codes: 0 success, 1 a check failed (rules check), 2 bad usage or unreadable input.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from collections.abc import Iterator

from . import __version__
from .models import Verdict

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage or unreadable input: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _rules_and_classifier():
    from .classifier import Classifier
    from .ruleset import RulesError, load_rules
    from .settings import load_settings

    settings = load_settings()
    try:
        rules = load_rules(settings.gatebot_rules)
    except RulesError as exc:
        raise UsageError(f"invalid rules, run `gatebot rules check`: {exc.problems[0]}") from None
    return settings, rules, Classifier(rules)


def _service():
    from .service import Service
    from .store import Store

    settings, rules, classifier = _rules_and_classifier()
    try:
        store = Store(settings.gatebot_db)
    except Exception as exc:  # sqlite errors: unwritable path, not a database, ...
        raise UsageError(f"cannot open database {settings.gatebot_db}: {exc}") from None
    service = Service(rules, store, classifier)
    service.admins = settings.admins
    service.default_tz = settings.gatebot_tz or "UTC"
    return settings, service


def _stdin_lines() -> Iterator[tuple[int, str]]:
    """stdin line by line; invalid UTF-8 is replaced (and reported), never a traceback."""
    for number, raw in enumerate(sys.stdin.buffer, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", errors="replace")
            print(f"gatebot: line {number}: invalid UTF-8 replaced with U+FFFD", file=sys.stderr)
        yield number, text.rstrip("\r\n")


def _verdict_json(verdict: Verdict, text: str) -> str:
    data = verdict.model_dump()
    data["text"] = text
    return json.dumps(data, ensure_ascii=False)


def _verdict_line(verdict: Verdict, rules) -> str:
    if verdict.gate == 0:
        return f"none ({verdict.reason})"
    gate = rules.gates[verdict.gate]
    cues = ", ".join(e.match for e in verdict.evidence_for(verdict.gate)[:5])
    line = f"gate {verdict.gate} · {gate.name.en} ({verdict.confidence}) — {cues}"
    if verdict.secondary:
        line += f" [also gate {verdict.secondary}]"
    return line


# ----------------------------------------------------------------------------- commands


def cmd_classify(args: argparse.Namespace) -> int:
    _, rules, classifier = _rules_and_classifier()
    texts = args.text
    one = bool(texts) and texts != ["-"]
    if not one and not texts and sys.stdin.isatty():
        raise UsageError("classify needs TEXT, or `-` / piped stdin with one text per line")

    def emit(text: str) -> None:
        verdict = classifier.classify(text)
        print(_verdict_json(verdict, text) if args.json else _verdict_line(verdict, rules), flush=False)

    if one:
        emit(" ".join(texts))
    else:
        for _, line in _stdin_lines():
            emit(line)
    sys.stdout.flush()
    return EXIT_OK


def cmd_chat(args: argparse.Namespace) -> int:
    from .handlers.terminal import run_chat
    from .links import LinkReader

    settings, service = _service()
    service.link_reader = LinkReader.from_settings(settings)
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace") if hasattr(sys.stdin, "buffer") else sys.stdin
    try:
        return run_chat(service, stdin=stdin)
    finally:
        service.store.close()


def cmd_gates(args: argparse.Namespace) -> int:
    _, service = _service()
    lang = args.lang
    print(service.board(lang).plain())
    return EXIT_OK


def cmd_gate(args: argparse.Namespace) -> int:
    _, service = _service()
    reply = service.gate_card(" ".join(args.name), args.lang)
    print(reply.plain())
    return EXIT_OK if reply.kind == "gate" else EXIT_USAGE


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import EvalInputError, evaluate, format_report, read_lines

    _, _, classifier = _rules_and_classifier()
    try:
        lines = read_lines(args.file)
    except EvalInputError as exc:
        raise UsageError(str(exc)) from None
    report = evaluate(classifier, lines)
    print(json.dumps(report.as_dict(), ensure_ascii=False) if args.json else format_report(report))
    return EXIT_OK


def cmd_rules_check(args: argparse.Namespace) -> int:
    from .checks import check_examples
    from .classifier import Classifier
    from .ruleset import RulesError, load_rules
    from .settings import load_settings

    root = args.dir or load_settings().gatebot_rules
    try:
        rules = load_rules(root)
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"rules check: {len(exc.problems)} problem(s) in the rule files", file=sys.stderr)
        return EXIT_FAILED
    classifier = Classifier(rules)
    must, gaps = check_examples(rules, classifier)
    failed = [r for r in must if not r.passed]
    for result in failed:
        print("FAIL " + result.describe(), file=sys.stderr)
    fixed = [r for r in gaps if r.passed]
    for result in fixed:
        print(f"known gap now passes (promote it to an example): {result.example.file}:{result.example.line}: "
              f"{result.example.text}")
    print(
        f"rules check: {len(rules.gates)} gates, {classifier.cue_count} cues ({classifier.term_count} terms), "
        f"{len(must) - len(failed)}/{len(must)} examples hold, {len(gaps)} known gap(s) "
        f"({len(gaps) - len(fixed)} still open)"
    )
    return EXIT_FAILED if failed else EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from .handlers.run import run_adapters
    from .links import LinkReader

    settings, service = _service()
    service.link_reader = LinkReader.from_settings(settings)  # chat adapters read pasted links
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
    import asyncio

    from aiohttp import web

    from .handlers.run import build_adapters

    async def send() -> int:
        adapters = {a.name: a for a in build_adapters(service, settings, web.Application())}
        adapter = adapters.get(platform)
        if adapter is None:
            raise UsageError(f"no {platform} adapter configured (set its token), cannot --send")
        await adapter.start()
        try:
            ref = await adapter.send(chat_id, reply)
        finally:
            await adapter.stop()
        print(f"sent to {platform}:{chat_id}" + (f" (message {ref})" if ref else ""))
        return EXIT_OK

    return asyncio.run(send())


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gatebot", description="Which gate is this? Classify China AI-compute news by the four gates.")
    parser.add_argument("--version", action="version", version=f"gatebot {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("chat", help="talk to the bot in the terminal (SQLite at $GATEBOT_DB or ./gatebot.db)")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("classify", help="classify TEXT, or one text per line from stdin")
    p.add_argument("text", nargs="*", help="the text; `-` or none to read stdin")
    p.add_argument("--json", action="store_true", help="one JSON object per result")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("gates", help="show the gate board")
    p.add_argument("--lang", choices=["en", "zh"], default="en")
    p.set_defaults(func=cmd_gates)

    p = sub.add_parser("gate", help="show one gate (1-4 or a name)")
    p.add_argument("name", nargs="+")
    p.add_argument("--lang", choices=["en", "zh"], default="en")
    p.set_defaults(func=cmd_gate)

    p = sub.add_parser("eval", help="score the classifier on a labeled JSONL file")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_eval)

    rules = sub.add_parser("rules", help="rule files")
    rules_sub = rules.add_subparsers(dest="rules_command", parser_class=_Parser)
    p = rules_sub.add_parser("check", help="validate the rule files and run their examples")
    p.add_argument("--dir", help="rules directory (default: $GATEBOT_RULES or the shipped rules)")
    p.set_defaults(func=cmd_rules_check)

    p = sub.add_parser("digest", help="print (or --send) a chat's digest")
    p.add_argument("--chat", default="terminal", help="chat id (default: the terminal chat)")
    p.add_argument("--platform", default="terminal", help="telegram, slack or terminal (default)")
    p.add_argument("--since", help="window start, ISO 8601 (default: since the previous digest, at most 7 days)")
    p.add_argument("--lang", choices=["en", "zh"], help="language (default: the chat's)")
    p.add_argument("--send", action="store_true", help="send it through the platform's adapter")
    p.set_defaults(func=cmd_digest)

    status = sub.add_parser("status", help="the living board's gate status")
    status_sub = status.add_subparsers(dest="status_command", parser_class=_Parser)
    p = status_sub.add_parser("set", help="set a gate's status (stored with who, when and why)")
    p.add_argument("gate", help="1-4 or a gate name")
    p.add_argument("text", nargs="+", help="the new status (stored for both languages unless --zh is given)")
    p.add_argument("--zh", help="the Chinese wording, when TEXT is English")
    p.add_argument("--reason", help="why it changed")
    p.add_argument("--by", help="who changed it (default: cli:<login>)")
    p.add_argument("--lang", choices=["en", "zh"], default="en", help="language of the printed confirmation")
    p.set_defaults(func=cmd_status_set)

    p = sub.add_parser("run", help="run the chat adapters whose credentials are set")
    p.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        func = getattr(args, "func", None)
        if func is None:
            parser.print_help()
            return EXIT_USAGE
        return func(args)
    except UsageError as exc:
        print(f"gatebot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `gatebot classify - | head`
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
