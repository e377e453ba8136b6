"""The model judge's answer: one JSON object found in a chat completion, validated, and what the chat
gets from it (a `Judgement`, and the `Decision` between it and the rules' verdict).

The model's text is untrusted: only the validated fields are kept; anything out of schema is a
`JudgeError` and the rules decide.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .models import Verdict
from .reading import METRICS

_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_SPACE = re.compile(r"\s+")


class JudgeError(Exception):
    """One judgement failed; the rules decide. `kind` is a short code, `detail` is safe to log."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class Answer(BaseModel):
    """The model's answer, validated. Extra fields are dropped; anything else out of schema fails."""

    model_config = ConfigDict(extra="ignore")

    gate: Annotated[int, Field(ge=0, le=4)]
    secondary: Annotated[int, Field(ge=0, le=4)] | None = None
    confidence: Literal["high", "medium", "low"]
    reason: str
    # What the headline says about its gate (LABELING.md, last section). Optional: a model that leaves
    # them out still answers the gate, and gatebot reads them itself for the model's gate.
    reading: Literal["for", "against", "neutral"] | None = None
    metric: str | None = None

    @field_validator("gate", "secondary", mode="before")
    @classmethod
    def _no_bools(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("a gate is a number 0-4")
        return value

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("reason", mode="before")
    @classmethod
    def _reason_is_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("reason must be a string")
        return _SPACE.sub(" ", value).strip()

    @field_validator("reading", "metric", mode="before")
    @classmethod
    def _word(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _secondary_is_another_gate(self) -> Answer:
        if self.secondary in (0, self.gate) or self.gate == 0:
            self.secondary = None
        return self

    @model_validator(mode="after")
    def _metric_of_this_gate(self) -> Answer:
        """A metric is one of the checklist's for the answered gate, or "other"; with no gate there is
        nothing to read."""
        if self.gate == 0:
            self.reading = self.metric = None
            return self
        if self.metric is not None and self.metric not in METRICS.get(self.gate, ()):
            raise ValueError("metric is not one of the gate's verification metrics")
        return self



@dataclass(frozen=True)
class Judgement:
    """What the model said about one text, cleaned for the chat."""

    model: str
    gate: int
    secondary: int | None
    confidence: Literal["high", "medium", "low"]
    reason: str
    cached: bool = False
    ms: float = 0.0  # the call's latency; 0 when answered from the cache
    reading: str | None = None  # "for" | "against" | "neutral", when the model said
    metric: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "gate": self.gate, "secondary": self.secondary,
                "confidence": self.confidence, "reason": self.reason, "reading": self.reading,
                "metric": self.metric}


@dataclass(frozen=True)
class Decision:
    """The verdict to answer with, and which judge gave it."""

    verdict: Verdict  # final: the model's gate when it answered, else the rules'
    rules: Verdict  # the offline classifier's verdict: the evidence, and the fallback
    judge: Literal["llm", "rules"]
    model: str
    judgement: Judgement | None = None
    fallback: str = ""  # why the rules decided: "skipped" (mode), or the failure's kind

    @property
    def unprompted(self) -> bool:
        """May this verdict make the bot speak unprompted (a group reply, a posted feed entry)? Not on
        the model's word alone: where the rules saw no AI-compute context, a pasted text may have
        talked the model into its gate. Asked, the bot still shows the model's answer."""
        return self.judge != "llm" or has_context(self.rules)

    @property
    def disagree(self) -> bool:
        return self.judgement is not None and self.judgement.gate != self.rules.gate

    def verdicts(self) -> dict[str, Any]:
        """Stored beside the message: the rules' answer, and the model's, or why it did not answer."""
        rules = self.rules
        out: dict[str, Any] = {"rules": {"gate": rules.gate, "confidence": rules.confidence,
                                         "secondary": rules.secondary}}
        if self.judgement is not None:
            out["llm"] = self.judgement.as_dict()
        else:
            out["fallback"] = self.fallback
            out["model"] = self.model
        return out


def has_context(verdict: Verdict) -> bool:
    """Did the rules see AI-compute news here (a gate, or AI-compute words)?"""
    return bool(verdict.gate) or verdict.compute > 0



def first_json_object(content: str) -> tuple[dict | None, str]:
    """The answer object in a model's text, and the text around it: the whole text, or the first
    {...} holding a "gate" (servers that ignore response_format wrap it in prose or code fences;
    thinking is skipped)."""
    content = _THINK.sub("", content).strip()
    try:
        whole = json.loads(content)
        if isinstance(whole, dict):
            return whole, ""
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    start = content.find("{")
    tries = 0
    while start != -1 and tries < 50:
        tries += 1
        try:
            obj, end = decoder.raw_decode(content, start)
            if isinstance(obj, dict) and "gate" in obj:
                return obj, content[:start] + " " + content[end:]
        except ValueError:
            pass
        start = content.find("{", start + 1)
    return None, content


def parse_completion(raw: bytes) -> tuple[Answer, str]:
    """A chat-completions response body -> the validated answer and any prose around it
    (JudgeError when there is no valid answer)."""
    try:
        data = json.loads(raw)
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise JudgeError("bad_answer", f"not a chat completion ({len(raw)} bytes)") from None
    if not isinstance(content, str):
        raise JudgeError("bad_answer", "the message has no text content")
    obj, prose = first_json_object(content)
    if obj is None:
        raise JudgeError("bad_answer", f"no JSON object in the answer ({len(content)} characters)")
    try:
        return Answer.model_validate(obj), prose
    except ValidationError as exc:
        # Field names and error types only: the values are the model's text and may echo anything.
        problems = ", ".join(f"{'.'.join(str(p) for p in e['loc']) or 'answer'} {e['type']}" for e in exc.errors()[:3])
        raise JudgeError("bad_answer", f"answer out of schema ({problems})") from None


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def compose(rules_verdict: Verdict, judgement: Judgement) -> Verdict:
    """The final verdict: the model's gate, confidence and secondary gate, and its reading and metric
    where it gave them; the rules' evidence. A reading the model left out stays the rules' when the
    gate is the same, and is None (to be read for the model's gate) when it is not."""
    if judgement.gate == 0:
        return replace(rules_verdict, gate=0, confidence="none", secondary=None,
                       reason=rules_verdict.reason if rules_verdict.gate == 0 else "model",
                       reading=None, metric=None, figure=None)
    same = judgement.gate == rules_verdict.gate
    reading = judgement.reading or (rules_verdict.reading if same else None)
    metric = judgement.metric or (rules_verdict.metric if same else None)
    # The figure is the one the rules picked for their metric: kept only while the metric stands.
    figure = rules_verdict.figure if same and metric == rules_verdict.metric else None
    return replace(rules_verdict, gate=judgement.gate, confidence=judgement.confidence,
                   secondary=judgement.secondary, reason="", reading=reading, metric=metric, figure=figure)

