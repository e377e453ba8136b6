"""The values that flow between classifier, service, store and adapters."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Lang = Literal["en", "zh"]
Confidence = Literal["high", "medium", "low", "none"]


class Evidence(BaseModel):
    model_config = ConfigDict(frozen=True)

    cue: str  # the rule term that matched, as written in rules/
    match: str  # the text it matched, as written in the message
    start: int  # offsets into the message
    end: int
    weight: float


class GateScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    gate: int
    score: float
    evidence: list[Evidence]


class Verdict(BaseModel):
    """What the classifier says about one text."""

    model_config = ConfigDict(frozen=True)

    gate: int  # 1-4, or 0 for none
    confidence: Confidence
    secondary: int | None = None
    gates: list[GateScore]  # every gate touched, best first
    lang: Lang
    compute: float  # strength of the AI-compute context
    context: list[Evidence] = []  # the context cues (compute, China, off-domain) that matched
    reason: str = ""  # why no gate, when gate == 0 (machine-readable key)

    def score(self, gate: int) -> float:
        return next((g.score for g in self.gates if g.gate == gate), 0.0)

    def evidence_for(self, gate: int) -> list[Evidence]:
        return next((g.evidence for g in self.gates if g.gate == gate), [])
