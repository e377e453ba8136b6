"""Scoring the classifier on a labeled JSONL file (the format of shared/dev-headlines.jsonl).

A prediction is correct when it is in the line's `ok` list. Per-gate precision/recall/F1 treat
gold 1-4 as classes ("none" is reported separately as its own precision/recall); macro-F1 is the
mean F1 over gates 1-4. When lines carry a `class` (the kind of headline or failure they stand
for, e.g. "foreign-compute" or "adoption-plain"), the report adds top-1 per class.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .models import Verdict


class EvalInputError(ValueError):
    """The evaluation file is unreadable or a line is malformed."""


@dataclass
class Line:
    id: str
    text: str
    lang: str
    gold: int
    ok: list[int]
    cls: str = ""  # the line's `class`, when the file names one


@dataclass
class Report:
    n: int
    top1: float
    macro_f1: float
    per_gate: dict[int, dict[str, float]]
    none: dict[str, float]
    by_lang: dict[str, float]
    by_lang_n: dict[str, int]
    confusion: dict[int, dict[int, int]]  # gold -> predicted -> count
    misses: list[dict[str, Any]] = field(default_factory=list)
    # Precision per confidence level: {"high": {"n": 40, "right": 39, "precision": 0.975}, ...}
    calibration: dict[str, dict[str, float]] = field(default_factory=dict)
    # Unprompted group replies (verdicts with group_reply): how often right, and how many of the
    # lines whose gold is a gate they answer.
    group: dict[str, float] = field(default_factory=dict)
    # Per `class` of line, when the file carries one: {"foreign-compute": {"n": 30, "right": 26, "top1": 0.867}}
    by_class: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "top1": round(self.top1, 4),
            "macro_f1": round(self.macro_f1, 4),
            "per_gate": {str(g): {k: round(v, 4) for k, v in m.items()} for g, m in self.per_gate.items()},
            "none": {k: round(v, 4) for k, v in self.none.items()},
            "by_lang": {k: round(v, 4) for k, v in self.by_lang.items()},
            "by_lang_n": self.by_lang_n,
            "confusion": {str(g): {str(p): c for p, c in row.items()} for g, row in self.confusion.items()},
            "calibration": {k: {m: round(v, 4) for m, v in row.items()} for k, row in self.calibration.items()},
            "group": {k: round(v, 4) for k, v in self.group.items()},
            "by_class": {k: {m: round(v, 4) for m, v in row.items()} for k, row in self.by_class.items()},
            "misses": self.misses,
        }


def read_lines(path: str | Path) -> list[Line]:
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalInputError(f"cannot read {path}: {exc}") from None
    lines = []
    for number, text in enumerate(raw.splitlines(), 1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
            gold = int(obj["gold"])
            ok = [int(x) for x in obj.get("ok") or [gold]]
            cls = obj.get("class")
            cls = " ".join(str(cls).split()) if cls is not None and not isinstance(cls, (dict, list)) else ""
            line = Line(str(obj.get("id", number)), str(obj["text"]), str(obj.get("lang") or ""), gold, ok, cls)
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalInputError(f"{path}:{number}: not a labeled line ({exc.__class__.__name__}: {exc})") from None
        if not 0 <= gold <= 4:
            raise EvalInputError(f"{path}:{number}: gold must be 0-4, got {gold}")
        lines.append(line)
    if not lines:
        raise EvalInputError(f"{path}: no labeled lines")
    return lines


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "support": float(tp + fn)}


class Classifies(Protocol):
    """Anything that gives a verdict for a text: the classifier, or verdicts a judge gave."""

    def classify(self, text: str) -> Verdict: ...


def evaluate(classifier: Classifies, lines: list[Line]) -> Report:
    confusion: dict[int, dict[int, int]] = {g: {p: 0 for p in range(5)} for g in range(5)}
    correct = 0
    by_lang_ok: dict[str, int] = {}
    by_lang_n: dict[str, int] = {}
    misses = []
    # For P/R an answer in `ok` counts as the gold class it matched.
    tp = {g: 0 for g in range(5)}
    fp = {g: 0 for g in range(5)}
    fn = {g: 0 for g in range(5)}
    levels: dict[str, list[int]] = {}
    group_n = group_right = group_caught = gold_gates = 0
    classes: dict[str, list[int]] = {}  # class -> [lines, right]
    for line in lines:
        verdict = classifier.classify(line.text)
        pred = verdict.gate
        lang = line.lang or verdict.lang
        good = pred in line.ok
        level = levels.setdefault(verdict.confidence, [0, 0])
        level[0] += 1
        level[1] += good
        gold_gates += line.gold != 0
        if verdict.group_reply:
            group_n += 1
            group_right += good
            group_caught += good and line.gold != 0
        confusion[line.gold][pred] += 1
        correct += good
        if line.cls:
            tally = classes.setdefault(line.cls, [0, 0])
            tally[0] += 1
            tally[1] += good
        by_lang_n[lang] = by_lang_n.get(lang, 0) + 1
        by_lang_ok[lang] = by_lang_ok.get(lang, 0) + good
        if good:
            tp[pred] += 1
        else:
            fp[pred] += 1
            fn[line.gold] += 1
            misses.append({"id": line.id, "gold": line.gold, "ok": line.ok, "pred": pred,
                           "secondary": verdict.secondary, "reason": verdict.reason, "text": line.text})
    per_gate = {g: _prf(tp[g], fp[g], fn[g]) for g in range(1, 5)}
    return Report(
        n=len(lines),
        top1=correct / len(lines),
        macro_f1=sum(m["f1"] for m in per_gate.values()) / 4,
        per_gate=per_gate,
        none=_prf(tp[0], fp[0], fn[0]),
        by_lang={k: by_lang_ok[k] / by_lang_n[k] for k in sorted(by_lang_n)},
        by_lang_n=dict(sorted(by_lang_n.items())),
        confusion=confusion,
        misses=misses,
        calibration={k: {"n": float(n), "right": float(r), "precision": r / n}
                     for k, (n, r) in sorted(levels.items(), key=lambda kv: _LEVELS.index(kv[0]))},
        group={"answered": float(group_n), "precision": group_right / group_n if group_n else 0.0,
               "recall": group_caught / gold_gates if gold_gates else 0.0},
        by_class={k: {"n": float(n), "right": float(r), "top1": r / n} for k, (n, r) in sorted(classes.items())},
    )


_LEVELS = ["high", "medium", "low", "none"]


def format_report(report: Report) -> str:
    out = [f"lines: {report.n}   top-1: {report.top1:.3f}   macro-F1 (gates 1-4): {report.macro_f1:.3f}", ""]
    out.append("gate  precision  recall  f1     support")
    for g, m in report.per_gate.items():
        out.append(f"{g:<5} {m['precision']:<10.3f} {m['recall']:<7.3f} {m['f1']:<6.3f} {int(m['support'])}")
    none = report.none
    out.append(f"none  {none['precision']:<10.3f} {none['recall']:<7.3f} {none['f1']:<6.3f} {int(none['support'])}")
    out.append("")
    out.append("by language: " + "   ".join(
        f"{lang} {acc:.3f} (n={report.by_lang_n[lang]})" for lang, acc in report.by_lang.items()))
    out.append("")
    out.append("confidence  verdicts  right  precision")
    for level, row in report.calibration.items():
        out.append(f"{level:<11} {int(row['n']):<9} {int(row['right']):<6} {row['precision']:.3f}")
    group = report.group
    if group:
        out.append(f"unprompted group replies: {int(group['answered'])} answered, precision {group['precision']:.3f}, "
                   f"recall {group['recall']:.3f} (of lines whose gold is a gate)")
    if report.by_class:
        width = max(len("class"), *(len(k) for k in report.by_class))
        out.append("")
        out.append(f"{'class':<{width}}  lines  right  top-1")
        for cls, row in report.by_class.items():
            out.append(f"{cls:<{width}}  {int(row['n']):<6} {int(row['right']):<6} {row['top1']:.3f}")
    out.append("")
    out.append("confusion (rows gold, columns predicted; 0 = none)")
    out.append("gold\\pred " + " ".join(f"{p:>4}" for p in range(5)))
    for gold, counts in report.confusion.items():
        out.append(f"{gold:>9} " + " ".join(f"{counts[p]:>4}" for p in range(5)))
    if report.misses:
        out.append("")
        out.append(f"misclassified ({len(report.misses)}):")
        for miss in report.misses:
            out.append(f"  {miss['id']}: gold {miss['gold']} ok {miss['ok']} -> {miss['pred']}"
                       f"{' (' + miss['reason'] + ')' if miss['reason'] else ''}  {miss['text']}")
    return "\n".join(out)
