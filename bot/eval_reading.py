"""Reading and metric beside the gate: scoring them in `gatebot eval`, checking them in `gatebot
rules check`, training them in `gatebot train`.

A labelled line's reading and metric come from the line itself when it carries them, else from the
labels of data/readings/ (beside the rules, in a source checkout) keyed by its id. Reading is
scored on the verdicts whose gate is acceptable (in `ok`), metric on those whose gate is the gold
one: the labels speak of the gold gate, and a metric is a metric of one gate.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .classifier import Classifier
from .features import features
from .figures import candidates
from .model import fingerprint, training_inputs
from .reading import MODEL_FILE, READINGS, example_problems, reading_example_problems
from .ruleset import RuleSet
from .train_reading import LABELS_DIR, inputs


@dataclass
class ReadingReport:
    labelled: int = 0  # lines with a gate and a reading label
    acceptable: int = 0  # ... whose verdict's gate is acceptable
    reading_right: int = 0
    against: int = 0  # ... of those, gold `against`
    against_found: int = 0
    gate_right: int = 0
    metric_right: int = 0
    figure_right: int = 0  # among gate-right lines with a figure label
    figure_labelled: int = 0
    confusion: dict[str, dict[str, int]] = field(default_factory=lambda: {g: {p: 0 for p in READINGS} for g in READINGS})
    misses: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def share(a: int, b: int) -> float:
            return round(a / b, 4) if b else 0.0

        return {"labelled": self.labelled, "acceptable": self.acceptable,
                "reading_accuracy": share(self.reading_right, self.acceptable),
                "against_recall": share(self.against_found, self.against),
                "gate_right": self.gate_right, "metric_accuracy": share(self.metric_right, self.gate_right),
                "figure_accuracy": share(self.figure_right, self.figure_labelled),
                "confusion": self.confusion, "misses": self.misses}

    def text(self) -> str:
        if not self.labelled:
            return "reading and metric: no labelled lines in this file"
        d = self.as_dict()
        out = [f"reading: {d['reading_accuracy']:.3f} right of {self.acceptable} verdicts whose gate is acceptable; "
               f"against found {d['against_recall']:.3f} ({self.against_found}/{self.against})",
               f"metric: {d['metric_accuracy']:.3f} right of {self.gate_right} verdicts whose gate is right; "
               f"figure (as labelled): {d['figure_accuracy']:.3f} of {self.figure_labelled}",
               "", "reading confusion (rows gold, columns predicted)",
               "gold\\pred " + " ".join(f"{p:>8}" for p in READINGS)]
        for gold in READINGS:
            out.append(f"{gold:>9} " + " ".join(f"{self.confusion[gold][p]:>8}" for p in READINGS))
        if self.misses:
            out.append("")
            out.append(f"reading or metric missed ({len(self.misses)}):")
            for miss in self.misses:
                out.append(f"  {miss['id']}: {miss['reading']} {miss['metric']} -> {miss['pred_reading']} "
                           f"{miss['pred_metric']}  {miss['text']}")
        return "\n".join(out)


def labels_for(rules: RuleSet) -> dict[str, dict[str, Any]]:
    """Every reading label of data/readings/ beside the rules (the sealed split's too: this is for
    scoring, never for training); empty outside a source checkout."""
    folder = rules.root.parent / "data" / LABELS_DIR
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        if path.name.startswith("double"):
            continue
        for raw in path.read_text(encoding="utf-8").splitlines():
            if raw.strip():
                obj = json.loads(raw)
                out[str(obj["id"])] = obj
    return out


def evaluate_readings(classifier: Classifier, path: str | Path, rules: RuleSet) -> ReadingReport:
    """Reading, metric and figure of each labelled line of an eval file (read as `gatebot eval` reads it)."""
    labels = labels_for(rules)
    report = ReadingReport()
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        obj = json.loads(raw)
        gold = int(obj["gold"])
        label = obj if obj.get("reading") in READINGS else labels.get(str(obj.get("id", number)))
        if not gold or label is None or label.get("reading") not in READINGS:
            continue
        ok = [int(x) for x in obj.get("ok") or [gold]]
        verdict = classifier.classify(str(obj["text"]))
        report.labelled += 1
        if not verdict.gate or verdict.gate not in ok:
            continue
        report.acceptable += 1
        reading = label["reading"]
        report.confusion[reading][verdict.reading or "neutral"] += 1
        report.reading_right += verdict.reading == reading
        report.against += reading == "against"
        report.against_found += reading == "against" and verdict.reading == "against"
        metric_ok = None
        if verdict.gate == gold:
            report.gate_right += 1
            metric_ok = verdict.metric == label["metric"]
            report.metric_right += metric_ok
            if "figure" in label:
                report.figure_labelled += 1
                report.figure_right += verdict.figure == (label["figure"] or None)
        if verdict.reading != reading or metric_ok is False:
            report.misses.append({"id": str(obj.get("id", number)), "reading": reading, "metric": label["metric"],
                                  "pred_reading": verdict.reading, "pred_metric": verdict.metric,
                                  "text": str(obj["text"])})
    return report


def check_readings(rules: RuleSet, classifier: Classifier) -> tuple[list[str], str]:
    """(problems, one-line status) of rules/readings.yaml and rules/reading-model.json."""
    reader = classifier.reader
    problems = example_problems(rules.root, reader)
    if reader is None:
        if (rules.root / MODEL_FILE).exists():
            problems.append(f"rules/{MODEL_FILE}: present but rules/readings.yaml is not")
        return problems, "no reading model"
    matcher = classifier.matcher

    def read(text: str, gate: int) -> tuple[str, str]:
        found = matcher.read(text)
        rules_verdict = matcher.rule_verdict(found)
        base = features(found, {g.gate: g.score for g in rules_verdict.gates}, rules_verdict.compute)
        return reader.predict(reader.row(found, base, candidates(text)), gate)

    problems += reading_example_problems(reader.cue_file, read)
    data = rules.root.parent / "data"
    line = f"reading model trained on {sum(reader.model.trained_on.values())} lines"
    if data.is_dir() and training_inputs(rules.root, data):
        if fingerprint(inputs(rules, data)) != reader.model.fingerprint:
            problems.append(f"rules/{MODEL_FILE}: trained on other rule, corpus or label files than these; "
                            "run `gatebot train` and commit the new model")
            line += " (stale)"
    return problems, line


def train_readings(rules: RuleSet, data: Path, gate_oof: Path | None, folder: Path, log: Callable[[str], None],
                   oof_path: Path | None = None) -> str:
    """Fit and write reading-model.json into `folder` (beside the gate model); the one-line summary
    `gatebot train` prints. Without reading labels (data/readings/) there is nothing to fit."""
    from .train_reading import gate_predictions, label_files, train, write

    if not label_files(data) or not (rules.root / "readings.yaml").is_file():
        return f"no reading labels under {data / LABELS_DIR}: reading model not trained"
    gates = gate_predictions(gate_oof) if gate_oof is not None and gate_oof.is_file() else None
    model = train(rules, data, log=log, gates=gates, oof_path=oof_path)
    out = folder / MODEL_FILE
    write(model, out)
    sizes = {"reading": len(model.reading.weights), **{f"metric {g}": len(m.weights) for g, m in model.metrics.items()}}
    return f"wrote {out}: {json.dumps({'features': sizes, 'cross_validation': model.cross_validation})}"


def temporary_oof() -> tempfile.TemporaryDirectory:
    """A scratch folder for the gate model's out-of-fold file when `--oof` was not given."""
    return tempfile.TemporaryDirectory(prefix="gatebot-train-")


