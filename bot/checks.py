"""Running the examples that every rule file carries (must match / must not match / known gaps)."""

from __future__ import annotations

from dataclasses import dataclass

from .classifier import Classifier
from .model import MODEL_FILE, fingerprint, training_inputs
from .ruleset import Located, RuleSet


@dataclass(frozen=True)
class ExampleResult:
    example: Located
    got: int  # the gate given; for an actor example, 1 when the signal showed
    passed: bool

    def describe(self) -> str:
        ex = self.example
        if ex.signal:
            what = _SIGNAL_NAMES.get(ex.signal, ex.signal)
            want = what if ex.present else f"no {what}"
            return f"{ex.file}:{ex.line}: expected {want}, {'found' if self.got else 'not found'}: {ex.text}"
        if ex.avoid is not None:
            want = f"anything but gate {ex.avoid}"
        elif ex.want == 0:
            want = "no gate"
        else:
            want = f"gate {ex.want}" + (f" (or {', '.join(map(str, ex.also))})" if ex.also else "")
        got = f"gate {self.got}" if self.got else "no gate"
        return f"{ex.file}:{ex.line}: expected {want}, got {got}: {ex.text}"


_SIGNAL_NAMES = {"chinese_actor": "a Chinese actor", "foreign_only": "foreign actors only",
                 "domestic_compute": "domestic compute named"}


def _passes(example: Located, got: int) -> bool:
    if example.signal:
        return bool(got) == example.present
    if example.avoid is not None:
        return got != example.avoid
    return got == example.want or got in example.also


def check_examples(rules: RuleSet, classifier: Classifier) -> tuple[list[ExampleResult], list[ExampleResult]]:
    """Run every example; return (must-hold results, known-gap results)."""
    must = []
    for ex in rules.must:
        if ex.signal:  # an actor example: does the text show the signal? (got: 1 or 0)
            got = int(ex.signal in classifier.matcher.read(ex.text).signals())
        else:
            got = classifier.classify(ex.text).gate
        must.append(ExampleResult(ex, got, _passes(ex, got)))
    gaps = []
    for ex in rules.gaps:
        got = classifier.classify(ex.text).gate
        gaps.append(ExampleResult(ex, got, _passes(ex, got)))
    return must, gaps


def check_model(rules: RuleSet, classifier: Classifier) -> tuple[str, str]:
    """(problem or "", one-line status) of the learned model beside the rules.

    In a source checkout (a data/ folder beside rules/), the model must have been trained from
    exactly the rule and corpus files there: otherwise its cue features point at the wrong cues.
    """
    model = classifier.model
    if model is None:
        return "", "no learned model (the rules decide alone)"
    data = rules.root.parent / "data"
    line = f"model of {len(model.data.weights)} features, trained on {sum(model.data.trained_on.values())} lines"
    if data.is_dir() and fingerprint(training_inputs(rules.root, data)) != model.fingerprint:
        return (f"{rules.root.name}/{MODEL_FILE}: trained on other rule or corpus files than these; "
                "run `gatebot train` and commit the new model", line + " (stale)")
    return "", line
