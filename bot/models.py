"""The values that flow between classifier, service, store and adapters.

Plain slotted dataclasses: the classifier builds several per message, and pydantic model
construction (or even frozen dataclasses, 4x slower to build) would cost more than the matching.
Treat them as read-only. Serialisation goes through a pydantic
TypeAdapter, with the method names pydantic models have (model_dump, model_dump_json,
model_validate_json), so callers don't care which one they hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import TypeAdapter

Lang = Literal["en", "zh"]
Confidence = Literal["high", "medium", "low", "none"]


@dataclass(slots=True)
class Evidence:
    cue: str  # the rule term that matched, as written in rules/
    match: str  # the text it matched, as written in the message
    start: int  # offsets into the message
    end: int
    weight: float


@dataclass(slots=True)
class GateScore:
    gate: int
    score: float
    evidence: list[Evidence]


@dataclass(slots=True)
class Verdict:
    """What the classifier says about one text."""

    gate: int  # 1-4, or 0 for none
    confidence: Confidence
    gates: list[GateScore]  # every gate touched, best first
    lang: Lang
    compute: float  # strength of the AI-compute context
    secondary: int | None = None
    context: list[Evidence] = field(default_factory=list)  # compute-context and off-domain cues matched
    reason: str = ""  # why no gate, when gate == 0 (machine-readable key)
    probability: float | None = None  # the learned model's probability for `gate`, when a model decided
    group_reply: bool = False  # would the bot answer this unprompted in a group (default settings)?
    # What it says about its gate (null without one): "for" | "against" | "neutral", the checklist
    # metric it speaks to ("1.orders", ...), and the figure it quotes for it ("$5.6B"), see reading.py.
    reading: str | None = None
    metric: str | None = None
    figure: str | None = None

    def score(self, gate: int) -> float:
        return next((g.score for g in self.gates if g.gate == gate), 0.0)

    def evidence_for(self, gate: int) -> list[Evidence]:
        return next((g.evidence for g in self.gates if g.gate == gate), [])

    def model_dump(self) -> dict[str, Any]:
        return _VERDICT.dump_python(self, mode="json")

    def model_dump_json(self) -> str:
        return _VERDICT.dump_json(self).decode("utf-8")

    @classmethod
    def model_validate_json(cls, data: str | bytes) -> Verdict:
        return _VERDICT.validate_json(data)


_VERDICT: TypeAdapter[Verdict] = TypeAdapter(Verdict)
