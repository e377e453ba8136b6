"""The `gatebot` command line. It mirrors the library: each command is a thin call into bot/.

Exit codes: 0 success, 1 a check failed (rules check), 2 bad usage or unreadable input.
"""

from __future__ import annotations

import argparse
import io
import json
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

from . import __version__
from .cli_common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError
from .cli_common import Parser as _Parser
from .cli_common import judge_for as _judge
from .cli_common import judge_with_store as _judge_with_store
from .cli_common import open_service as _service
from .cli_common import rules_and_classifier as _rules_and_classifier
from .cli_evidence import add_parser as add_evidence_parser
from .cli_evidence import cmd_gate, cmd_gates
from .cli_ops import (
    add_proposal_parsers,
    cmd_backup,
    cmd_chart,
    cmd_digest,
    cmd_feedback_export,
    cmd_llm_check,
    cmd_llm_prompt,
    cmd_purge,
    cmd_run,
    cmd_status_set,
)
from .models import Verdict
from .settings import SettingsError, load_settings


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


def _decision_json(decision, text: str) -> str:
    data = decision.verdict.model_dump()
    data["text"] = text
    data["judge"] = decision.judge
    if decision.judgement is not None:
        j = decision.judgement
        data["llm"] = {"model": j.model, "gate": j.gate, "secondary": j.secondary, "confidence": j.confidence,
                       "reason": j.reason}
    else:
        data["fallback"] = decision.fallback
    return json.dumps(data, ensure_ascii=False)


def _decision_line(decision, rules) -> str:
    if decision.judgement is None:
        return f"{_verdict_line(decision.verdict, rules)} (judged by the rules: {decision.fallback})"
    j, verdict = decision.judgement, decision.verdict
    head = "none" if verdict.gate == 0 else f"gate {verdict.gate} · {rules.gates[verdict.gate].name.en}"
    line = f"{head} ({j.confidence}) — judged by {j.model}: {j.reason}"
    if verdict.secondary:
        line += f" [also gate {verdict.secondary}]"
    if decision.disagree:
        line += f" [rules: {decision.rules.gate or 'none'}]"
    return line


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
    settings, rules, classifier = _rules_and_classifier()
    texts = args.text
    one = bool(texts) and texts != ["-"]
    if not one and not texts and sys.stdin.isatty():
        raise UsageError("classify needs TEXT, or `-` / piped stdin with one text per line")
    judge = _judge_with_store(settings, rules)
    if judge is not None:
        return _classify_judged(judge, classifier, rules, args, " ".join(texts) if one else None)

    def render(text: str, verdict: Verdict) -> str:
        return _verdict_json(verdict, text) if args.json else _verdict_line(verdict, rules)

    if one:
        text = " ".join(texts)
        print(render(text, classifier.classify(text)))
    else:
        from .batch import classify_all

        for line in classify_all(classifier, (line for _, line in _stdin_lines()), render, args.jobs):
            print(line, flush=False)
    sys.stdout.flush()
    return EXIT_OK


def _classify_judged(judge, classifier, rules, args: argparse.Namespace, one: str | None) -> int:
    """`gatebot classify` with the model judge: stdin lines are judged in batches, printed in order."""
    import asyncio

    from .judge import judge_many

    def emit(decision, text: str) -> None:
        print(_decision_json(decision, text) if args.json else _decision_line(decision, rules), flush=False)

    async def run() -> None:
        try:
            if one is not None:
                emit((await judge_many(judge, classifier, [one]))[0], one)
                return
            batch: list[str] = []
            for _, line in _stdin_lines():
                batch.append(line)
                if len(batch) >= judge.concurrency * 4:
                    for decision, text in zip(await judge_many(judge, classifier, batch), batch, strict=True):
                        emit(decision, text)
                    sys.stdout.flush()
                    batch = []
            for decision, text in zip(await judge_many(judge, classifier, batch), batch, strict=True):
                emit(decision, text)
        finally:
            await judge.aclose()
            if judge.store is not None:
                judge.store.close()

    asyncio.run(run())
    sys.stdout.flush()
    return EXIT_OK


def cmd_chat(args: argparse.Namespace) -> int:
    from .handlers.terminal import run_chat
    from .links import LinkReader
    from .poller import FeedPoller

    settings, service = _service()
    service.link_reader = LinkReader.from_settings(settings)
    service.judge = _judge(settings, service.rules, service.store)
    service.feeds = FeedPoller.from_settings(service, settings)  # /follow, /feeds refresh
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace") if hasattr(sys.stdin, "buffer") else sys.stdin
    try:
        return run_chat(service, stdin=stdin)
    finally:
        service.store.close()


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import EvalInputError, evaluate, format_report, read_lines

    settings, rules, classifier = _rules_and_classifier()
    try:
        lines = read_lines(args.file)
    except EvalInputError as exc:
        raise UsageError(str(exc)) from None
    if args.no_model:
        from .classifier import Classifier

        classifier = Classifier(rules, model=None)
    if args.judge != "rules":
        return _eval_judged(settings, rules, classifier, lines, args)
    report = evaluate(classifier, lines)
    from .eval_reading import evaluate_readings  # reading and metric beside the gate

    readings = evaluate_readings(classifier, args.file, rules)
    print(json.dumps({**report.as_dict(), "readings": readings.as_dict()}, ensure_ascii=False) if args.json
          else format_report(report) + "\n\n" + readings.text())
    return EXIT_OK


def _eval_judged(settings, rules, classifier, lines, args: argparse.Namespace) -> int:
    from .evaluate import format_report
    from .judge_eval import format_header, format_side_by_side, judge_lines

    if settings.gatebot_llm_mode == "off":
        settings = settings.model_copy(update={"gatebot_llm_mode": "always"})  # measuring the model itself
    judge = _judge_with_store(settings, rules)
    if judge is None:
        raise UsageError("--judge llm/both needs GATEBOT_LLM_URL and GATEBOT_LLM_MODEL (see docs/llm.md)")
    try:
        run = judge_lines(judge, classifier, lines)
    finally:
        if judge.store is not None:
            judge.store.close()
    if args.json:
        data = run.as_dict()
        if args.judge == "llm":
            data.pop("rules")
        print(json.dumps(data, ensure_ascii=False))
    elif args.judge == "llm":
        print(format_header(run) + "\n\n" + format_report(run.llm))
    else:
        print(format_side_by_side(run))
    return EXIT_OK


def cmd_rules_check(args: argparse.Namespace) -> int:
    from .checks import check_examples, check_model
    from .classifier import Classifier
    from .model import ModelError
    from .ruleset import RulesError, load_rules
    from .settings import load_settings

    root = args.dir or load_settings().gatebot_rules
    try:
        rules = load_rules(Path(root) if root else None)
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"rules check: {len(exc.problems)} problem(s) in the rule files", file=sys.stderr)
        return EXIT_FAILED
    try:
        classifier = Classifier(rules)
    except ModelError as exc:
        print(f"rules/model.json: {exc}", file=sys.stderr)
        print("rules check: the learned model cannot be read; run `gatebot train`", file=sys.stderr)
        return EXIT_FAILED
    model_problem, model_line = check_model(rules, classifier)
    if model_problem:
        print(model_problem, file=sys.stderr)
    from .eval_reading import check_readings  # rules/readings.yaml and the reading model

    reading_problems, reading_line = check_readings(rules, classifier)
    for reading_problem in reading_problems:
        print("FAIL " + reading_problem, file=sys.stderr)
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
        f"({len(gaps) - len(fixed)} still open); {model_line}; {reading_line}"
    )
    return EXIT_FAILED if failed or model_problem or reading_problems else EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from .model import MODEL_FILE
    from .ruleset import RulesError, load_rules
    from .settings import load_settings
    from .train import TrainError, summary, train, write

    root = args.dir or load_settings().gatebot_rules
    try:
        rules = load_rules(Path(root) if root else None)
    except RulesError as exc:
        print(f"gatebot train: the rule files have problems; run `gatebot rules check`: {exc.problems[0]}",
              file=sys.stderr)
        return EXIT_USAGE
    data = Path(args.data) if args.data else rules.root.parent / "data"
    if not data.is_dir():
        print(f"gatebot train: no labelled data at {data} (use --data DIR)", file=sys.stderr)
        return EXIT_USAGE
    from .eval_reading import temporary_oof, train_readings  # the reading model learns beside the gate model

    if args.readings_only:
        try:
            print(train_readings(rules, data, Path(args.gate_oof) if args.gate_oof else None,
                                 Path(args.out).parent if args.out else rules.root,
                                 log=lambda line: print(line, file=sys.stderr)))
        except TrainError as exc:
            print(f"gatebot train: reading model: {exc}", file=sys.stderr)
            return EXIT_USAGE
        return EXIT_OK
    with temporary_oof() as scratch:
        oof = Path(args.oof) if args.oof else Path(scratch) / "oof.jsonl"
        try:
            model = train(rules, data, log=lambda line: print(line, file=sys.stderr), oof_path=oof)
        except TrainError as exc:
            print(f"gatebot train: {exc}", file=sys.stderr)
            return EXIT_USAGE
        out = Path(args.out) if args.out else rules.root / MODEL_FILE
        write(model, out)
        print(f"wrote {out}: {summary(model)}")
        try:
            print(train_readings(rules, data, oof, out.parent, log=lambda line: print(line, file=sys.stderr),
                                 oof_path=oof.with_name(oof.stem + "-reading.jsonl") if args.oof else None))
        except TrainError as exc:
            print(f"gatebot train: reading model: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return EXIT_OK


def _print_help(parser: argparse.ArgumentParser):
    def show(args: argparse.Namespace) -> int:
        parser.print_help()
        return EXIT_USAGE

    return show


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gatebot", description="Which gate is this? Classify China AI-compute news by the four gates.")
    parser.add_argument("--version", action="version", version=f"gatebot {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("chat", help="talk to the bot in the terminal (SQLite at $GATEBOT_DB or ./gatebot.db)")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("classify", help="classify TEXT, or one text per line from stdin")
    p.add_argument("text", nargs="*", help="the text; `-` or none to read stdin")
    p.add_argument("--json", action="store_true", help="one JSON object per result")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="processes for a long stdin (default: the cores; 1 = this one)")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("gates", help="show the gate board")
    p.add_argument("--lang", choices=["en", "zh"], default="en")
    p.set_defaults(func=cmd_gates)

    p = sub.add_parser("gate", help="show one gate (1-4 or a name)")
    p.add_argument("name", nargs="+")
    p.add_argument("--lang", choices=["en", "zh"], default="en")
    p.set_defaults(func=cmd_gate)

    p = sub.add_parser(
        "eval", help="score the classifier on a labeled JSONL file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Score the rules (or, with --judge, the model) on a labeled JSONL file, one JSON object per line:\n"
                    "  text  the headline (string)\n"
                    "  gold  the right gate, 0-4 (0 = none)\n"
                    "  ok    optional: every gate accepted as right, e.g. [0, 1] (default [gold])\n"
                    "Other keys (id, lang, source, ...) are optional; id names a line in the misses.",
    )
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--judge", choices=["rules", "llm", "both"], default="rules",
                   help="score the offline classifier (default), the model judge (GATEBOT_LLM_URL), or both side by side")
    p.add_argument("--no-model", action="store_true",
                   help="the hand-written rules alone, without the learned model (rules/model.json)")
    p.set_defaults(func=cmd_eval)

    llm = sub.add_parser("llm", help="the model judge (GATEBOT_LLM_URL)")
    llm_sub = llm.add_subparsers(dest="llm_command", parser_class=_Parser)
    p = llm_sub.add_parser("check", help="send one headline to the model; print its answer and latency")
    p.add_argument("text", nargs="*", help="the headline (default: a sample)")
    p.set_defaults(func=cmd_llm_check)
    p = llm_sub.add_parser("prompt", help="print the instructions the model gets")
    p.set_defaults(func=cmd_llm_prompt)

    feedback = sub.add_parser("feedback", help="verdicts to review")
    feedback_sub = feedback.add_subparsers(dest="feedback_command", parser_class=_Parser)
    p = feedback_sub.add_parser("export", help="readers' votes as labelled corpus lines (JSONL) to review and add")
    p.add_argument("--disagreements", action="store_true",
                   help="instead: where the model and the rules disagreed (gold left empty, to label)")
    p.add_argument("--since", help="only messages from this ISO date/time on")
    p.set_defaults(func=cmd_feedback_export)

    rules = sub.add_parser("rules", help="rule files")
    rules.set_defaults(func=_print_help(rules))
    rules_sub = rules.add_subparsers(dest="rules_command", parser_class=_Parser)
    p = rules_sub.add_parser("check", help="validate the rule files and run their examples")
    p.add_argument("--dir", help="rules directory (default: $GATEBOT_RULES or the shipped rules)")
    p.set_defaults(func=cmd_rules_check)

    p = sub.add_parser("train", help="fit the learned gate model on data/*.jsonl and the rule examples")
    p.add_argument("--dir", help="rules directory (default: $GATEBOT_RULES or the shipped rules)")
    p.add_argument("--data", help="labelled data directory (default: data/ beside the rules)")
    p.add_argument("--out", help="model file to write (default: model.json in the rules directory)")
    p.add_argument("--oof", help="also write the cross-validation's out-of-fold probabilities to this JSONL file")
    p.add_argument("--readings-only", action="store_true",
                   help="fit only the reading model (reading-model.json); --gate-oof adds its verdict figures")
    p.add_argument("--gate-oof", help="with --readings-only: the gate model's out-of-fold file of an earlier --oof")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("digest", help="print (or --send) a chat's digest")
    p.add_argument("--chat", default="terminal", help="chat id (default: the terminal chat)")
    p.add_argument("--platform", default="terminal", choices=["telegram", "slack", "terminal"],
                   help="telegram, slack or terminal (default)")
    p.add_argument("--since", help="window start, ISO 8601 (default: since the previous digest, at most 7 days)")
    p.add_argument("--lang", choices=["en", "zh"], help="language (default: the chat's)")
    p.add_argument("--send", action="store_true", help="send it through the platform's adapter")
    p.set_defaults(func=cmd_digest)

    p = sub.add_parser("chart", help="write a chat's chart of signals per gate per day (PNG)")
    p.add_argument("--chat", default="terminal", help="chat id (default: the terminal chat)")
    p.add_argument("--platform", default="terminal", help="telegram, slack or terminal (default)")
    p.add_argument("--days", type=int, choices=[7, 30], default=7, help="7 (default) or 30 days")
    p.add_argument("--lang", choices=["en", "zh"], help="language (default: the chat's)")
    p.add_argument("--tz", help="count days in this IANA zone (default: $GATEBOT_TZ)")
    p.add_argument("--out", default="trend.png", help="the PNG file to write (default: trend.png)")
    p.set_defaults(func=cmd_chart)

    status = sub.add_parser("status", help="the living board's gate status")
    status.set_defaults(func=_print_help(status))
    status_sub = status.add_subparsers(dest="status_command", parser_class=_Parser)
    p = status_sub.add_parser("set", help="set a gate's status (stored with who, when and why)")
    p.add_argument("gate", help="1-4 or a gate name")
    p.add_argument("text", nargs="+", help="the new status (stored for both languages unless --zh is given)")
    p.add_argument("--zh", help="the Chinese wording, when TEXT is English")
    p.add_argument("--reason", help="why it changed")
    p.add_argument("--by", help="who changed it (default: cli:<login>)")
    p.add_argument("--lang", choices=["en", "zh"], default="en", help="language of the printed confirmation")
    p.set_defaults(func=cmd_status_set)
    add_proposal_parsers(status_sub)

    add_evidence_parser(sub)

    p = sub.add_parser("run", help="run the chat adapters whose credentials are set")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("backup", help="write a consistent copy of the live database to PATH (VACUUM INTO)")
    p.add_argument("path", help="the backup file to create (must not exist)")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("purge", help="remove chatter (no gate, no feedback) older than an age",
                       description="Remove messages that touched no gate, got no feedback and on which the judges "
                                   "agreed, older than the age, and event ids, expired link-cache rows and cached "
                                   "model answers older than it. Messages with a gate (digests), with feedback or "
                                   "with a judges' disagreement stay.")
    p.add_argument("--older-than", metavar="AGE", help="e.g. 180d (default: $GATEBOT_RETENTION_DAYS)")
    p.add_argument("--dry-run", action="store_true", help="count what would go, remove nothing")
    p.set_defaults(func=cmd_purge)
    return parser


def _db_path() -> str:
    try:
        return load_settings().gatebot_db
    except SettingsError:
        return "(GATEBOT_DB)"


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
    except SettingsError as exc:  # GATEBOT_HTTP_PORT=abc, a malformed token...: one line, no value echoed
        print(f"gatebot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except sqlite3.Error as exc:  # a damaged database, a full disk, `ulimit -f`
        from .store import database_problem

        print(f"gatebot: {database_problem(_db_path(), exc)}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `gatebot classify - | head`
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
