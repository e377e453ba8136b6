"""Scoring the model judge beside the rules on a labeled JSONL file (`gatebot eval FILE --judge`).

The model's verdicts are collected first (at most GATEBOT_LLM_CONCURRENCY calls in flight, cached
like in chats), then scored with the same report as the rules, so the two read side by side. A
line the model did not answer (a failure) is scored with the rules' verdict, as a chat would get it;
the header counts those.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .classifier import Classifier
from .evaluate import Line, Report, evaluate
from .judge import Decision, Judge, judge_many
from .models import Verdict


class _Judged:
    """The judged verdicts, served to `evaluate` as if a classifier gave them."""

    def __init__(self, verdicts: dict[str, Verdict]):
        self._verdicts = verdicts

    def classify(self, text: str) -> Verdict:
        return self._verdicts[text]


@dataclass
class JudgeRun:
    model: str
    mode: str
    rules: Report
    llm: Report
    lines: list[Line]
    decisions: list[Decision]
    calls: int = 0
    hits: int = 0
    fallbacks: dict[str, int] = field(default_factory=dict)
    worked_examples: int = 0  # lines that are worked examples in rules/judge.yaml: the model saw their answer

    @property
    def answered(self) -> int:
        return sum(d.judge == "llm" for d in self.decisions)

    def agreement(self) -> dict[str, Any]:
        same = rules_right = model_right = both_wrong = 0
        for line, d in zip(self.lines, self.decisions, strict=True):
            if d.rules.gate == d.verdict.gate:
                same += 1
                continue
            r, m = d.rules.gate in line.ok, d.verdict.gate in line.ok
            rules_right += r and not m
            model_right += m and not r
            both_wrong += not r and not m
        n = len(self.lines)
        return {"same": same, "n": n, "rate": same / n if n else 0.0, "rules_right": rules_right,
                "model_right": model_right, "both_wrong": both_wrong}

    def mean_ms(self) -> float:
        ms = [d.judgement.ms for d in self.decisions if d.judgement is not None and not d.judgement.cached]
        return sum(ms) / len(ms) if ms else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "mode": self.mode, "answered": self.answered, "calls": self.calls,
            "cache_hits": self.hits, "fallbacks": self.fallbacks, "mean_ms": round(self.mean_ms(), 1),
            "worked_examples": self.worked_examples,
            "agreement": {k: round(v, 4) if isinstance(v, float) else v for k, v in self.agreement().items()},
            "rules": self.rules.as_dict(), "llm": self.llm.as_dict(),
        }


def judge_lines(judge: Judge, classifier: Classifier, lines: list[Line]) -> JudgeRun:
    calls, hits = judge.calls, judge.hits

    async def collect() -> list[Decision]:
        try:
            return await judge_many(judge, classifier, [line.text for line in lines])
        finally:
            await judge.aclose()

    decisions = asyncio.run(collect())
    verdicts = {line.text: d.verdict for line, d in zip(lines, decisions, strict=True)}
    fallbacks = Counter(d.fallback for d in decisions if d.judge == "rules")
    return JudgeRun(
        model=judge.model, mode=judge.mode, rules=evaluate(classifier, lines), llm=evaluate(_Judged(verdicts), lines),
        lines=lines, decisions=decisions, calls=judge.calls - calls, hits=judge.hits - hits,
        fallbacks=dict(sorted(fallbacks.items())),
        worked_examples=sum(line.text in judge.example_texts for line in lines),
    )


def format_header(run: JudgeRun) -> str:
    fell = ", ".join(f"{k} {v}" for k, v in run.fallbacks.items()) or "none"
    mean = f", mean call {run.mean_ms():.0f} ms" if run.mean_ms() else ""
    seen = (f"\nnote: {run.worked_examples} line(s) are worked examples in rules/judge.yaml; the model was "
            "shown their answers" if run.worked_examples else "")
    return (f"judge: {run.model} (mode {run.mode}): {run.answered}/{len(run.lines)} answered by the model; "
            f"rules instead: {fell}; {run.calls} calls, {run.hits} cached{mean}{seen}")


def format_side_by_side(run: JudgeRun) -> str:
    r, m = run.rules, run.llm
    name = run.model[:24]
    out = [format_header(run), "", f"{'':<22}{'rules':>8}   {name}"]

    def row(title: str, a: float, b: float) -> None:
        out.append(f"{title:<22}{a:>8.3f}   {b:.3f}")

    row("top-1", r.top1, m.top1)
    row("macro-F1 (gates 1-4)", r.macro_f1, m.macro_f1)
    for g in range(1, 5):
        row(f"gate {g} F1", r.per_gate[g]["f1"], m.per_gate[g]["f1"])
    row("none precision", r.none["precision"], m.none["precision"])
    row("none recall", r.none["recall"], m.none["recall"])
    for lang in r.by_lang:
        row(f"{lang} top-1 (n={r.by_lang_n[lang]})", r.by_lang[lang], m.by_lang.get(lang, 0.0))
    a = run.agreement()
    out += ["", f"agreement: {a['rate']:.3f} ({a['same']}/{a['n']} the same gate); where they differ: "
                f"rules right {a['rules_right']}, model right {a['model_right']}, both wrong {a['both_wrong']}"]
    differ = [(line, d) for line, d in zip(run.lines, run.decisions, strict=True) if d.rules.gate != d.verdict.gate]
    if differ:
        out += ["", f"where they differ ({len(differ)}):"]
        for line, d in differ:
            mark = "model" if d.verdict.gate in line.ok else ("rules" if d.rules.gate in line.ok else "neither")
            out.append(f"  {line.id}: gold {line.gold} ok {line.ok} rules {d.rules.gate} model {d.verdict.gate} "
                       f"({mark} right)  {line.text}")
    return "\n".join(out)
