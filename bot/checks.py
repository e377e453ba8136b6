"""Running the examples that every rule file carries (must match / must not match / known gaps)."""

from __future__ import annotations

from dataclasses import dataclass

from .classifier import Classifier
from .ruleset import Located, RuleSet


@dataclass(frozen=True)
class ExampleResult:
    example: Located
    got: int
    passed: bool

    def describe(self) -> str:
        ex = self.example
        if ex.avoid is not None:
            want = f"anything but gate {ex.avoid}"
        elif ex.want == 0:
            want = "no gate"
        else:
            want = f"gate {ex.want}" + (f" (or {', '.join(map(str, ex.also))})" if ex.also else "")
        got = f"gate {self.got}" if self.got else "no gate"
        return f"{ex.file}:{ex.line}: expected {want}, got {got}: {ex.text}"


def _passes(example: Located, got: int) -> bool:
    if example.avoid is not None:
        return got != example.avoid
    return got == example.want or got in example.also


def check_examples(rules: RuleSet, classifier: Classifier) -> tuple[list[ExampleResult], list[ExampleResult]]:
    """Run every example; return (must-hold results, known-gap results)."""
    must = []
    for ex in rules.must:
        got = classifier.classify(ex.text).gate
        must.append(ExampleResult(ex, got, _passes(ex, got)))
    gaps = []
    for ex in rules.gaps:
        got = classifier.classify(ex.text).gate
        gaps.append(ExampleResult(ex, got, _passes(ex, got)))
    return must, gaps
