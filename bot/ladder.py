"""The status ladder (rules/ladder.yaml) and the one decision that moves a gate along it.

Each gate's status sits on a ladder of steps (not opened -> a crack has opened -> open -> open
wide). When a window's evidence for a gate, weighted by confidence, counted in distinct stories and
drawn from enough distinct sources, clears the ladder's thresholds, the bot proposes one step up or
down; an admin decides. `decide` is pure: evidence, the steps and the earlier proposals in, the
proposals to make out, so the examples the ladder file carries (simulated months of evidence, see
`simulate`) are run by `gatebot rules check` and by the tests exactly as the live check runs.

This module sits low (pydantic only): rules loading validates the file with these models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal

from pydantic import Field, model_validator

from .rulefile import Bilingual, NonEmpty, Strict

LADDER_FILE = "ladder.yaml"
Direction = Literal["up", "down"]
Reading = Literal["for", "against"]
READING_OF: dict[str, str] = {"up": "for", "down": "against"}  # the evidence that argues for a direction

class Step(Strict):
    key: NonEmpty
    name: Bilingual  # the rung, as the ladder names it ("a crack has opened")
    status: Bilingual  # the status text an accepted proposal sets


class Weights(Strict):
    high: float = Field(ge=0)
    medium: float = Field(ge=0)
    low: float = Field(ge=0)

    def of(self, confidence: str) -> float:
        return float(getattr(self, confidence, 0.0)) if confidence in ("high", "medium", "low") else 0.0


class Thresholds(Strict):
    window_days: int = Field(ge=1, le=365)  # evidence counted over this many days (and only since the board moved)
    weights: Weights  # what one story weighs, by the confidence of its verdict
    min_weight: float = Field(gt=0)  # the side's weight minus the other side's must reach this
    min_stories: int = Field(ge=1)  # distinct stories on the side
    min_sources: int = Field(ge=1)  # distinct sources on the side
    regrow: float = Field(gt=1)  # a dismissed direction comes back only at this many times its weight then
    cooldown_days: int = Field(ge=1)  # at most one proposal per gate in this many days
    # A proposal nobody decides lapses after this many days: it stops blocking its gate's next one.
    pending_days: int = Field(ge=1)


class SimItem(Strict):
    """Simulated evidence: `stories` distinct stories on `day`, all from `source`."""

    day: int = Field(ge=1)
    gate: int = Field(ge=1, le=4)
    reading: Literal["for", "against", "neutral"]
    source: NonEmpty
    confidence: Literal["high", "medium", "low"]
    stories: int = Field(default=1, ge=1, le=200)


class SimExpect(Strict):
    """A proposal the simulation must make on `day`, and what the admin then does with it."""

    day: int = Field(ge=1)
    gate: int = Field(ge=1, le=4)
    direction: Direction
    to: NonEmpty  # the step it proposes (a step key)
    then: Literal["accept", "dismiss", "leave"] = "leave"


class Example(Strict):
    name: NonEmpty
    days: int = Field(ge=1, le=120)
    steps: dict[int, str] = {}  # a gate's step key at the start (default: the checklist's)
    evidence: list[SimItem] = []
    expect: list[SimExpect] = []

    @model_validator(mode="after")
    def _within(self) -> Example:
        for day in [i.day for i in self.evidence] + [e.day for e in self.expect]:
            if day > self.days:
                raise ValueError(f"day {day} is after the example's {self.days} days")
        return self


class Credit(Strict):
    note: NonEmpty


class LadderFile(Strict):
    source: Credit
    steps: list[Step] = Field(min_length=2)
    checklist: dict[int, str]  # gate -> the step its 2026 checklist status stands on
    thresholds: Thresholds
    examples: list[Example] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> LadderFile:
        keys = [s.key for s in self.steps]
        if len(set(keys)) != len(keys):
            raise ValueError(f"step keys must be distinct; got {keys}")
        if sorted(self.checklist) != [1, 2, 3, 4]:
            raise ValueError(f"checklist must place gates 1, 2, 3 and 4; got {sorted(self.checklist)}")
        for gate, key in self.checklist.items():
            if key not in keys:
                raise ValueError(f"checklist: gate {gate} stands on unknown step {key!r} (steps: {', '.join(keys)})")
        for example in self.examples:
            for gate, key in example.steps.items():
                if gate not in (1, 2, 3, 4) or key not in keys:
                    raise ValueError(f"example {example.name!r}: steps: gate {gate} -> {key!r} is not a gate and step")
            for exp in example.expect:
                if exp.to not in keys:
                    raise ValueError(f"example {example.name!r}: unknown step {exp.to!r}")
        return self

    def index(self, key: str) -> int:
        return [s.key for s in self.steps].index(key)

    def checklist_step(self, gate: int) -> int:
        return self.index(self.checklist[gate])


# --------------------------------------------------------------------------------------- deciding


@dataclass(frozen=True)
class Side:
    """One side of a gate's evidence in a window: distinct stories, their weight, distinct sources."""

    stories: int = 0
    weight: float = 0.0
    sources: int = 0


@dataclass(frozen=True)
class GateEvidence:
    gate: int
    for_: Side = field(default_factory=Side)
    against: Side = field(default_factory=Side)

    def side(self, direction: str) -> Side:
        return self.for_ if direction == "up" else self.against

    def net(self, direction: str) -> float:
        """How far the evidence leans the direction's way (its side's weight minus the other's)."""
        return self.for_.weight - self.against.weight if direction == "up" else (
            self.against.weight - self.for_.weight)


@dataclass(frozen=True)
class Past:
    """An earlier proposal, as far as deciding needs it."""

    gate: int
    direction: str
    status: str  # pending | accepted | dismissed | lapsed
    created_at: datetime
    net: float  # the lean it was made on


@dataclass(frozen=True)
class Decision:
    gate: int
    direction: Direction
    from_step: int
    to_step: int
    evidence: GateEvidence
    net: float


def window_start(ladder: LadderFile, now: datetime, board_moved: datetime | None) -> datetime:
    """Evidence counts over the window, and only since the gate's status last changed: what moved
    the board once must not move it again."""
    start = now - timedelta(days=ladder.thresholds.window_days)
    return max(start, board_moved) if board_moved is not None else start


def decide(ladder: LadderFile, steps: dict[int, int], evidence: dict[int, GateEvidence], history: list[Past],
           now: datetime) -> list[Decision]:
    """The proposals to make now: at most one per gate, one step up or down.

    A gate gets none while one of its proposals is pending (for at most `pending_days`: then it
    lapses) or within the cool-down of its latest one; a direction an admin dismissed comes back
    only when its lean has grown `regrow` times."""
    t = ladder.thresholds
    out = []
    for gate in sorted(evidence):
        mine = [p for p in history if p.gate == gate]
        if any(p.status == "pending" and now - p.created_at < timedelta(days=t.pending_days) for p in mine):
            continue
        if any(now - p.created_at < timedelta(days=t.cooldown_days) for p in mine):
            continue
        step = steps.get(gate, ladder.checklist_step(gate))
        ev = evidence[gate]
        for direction, to in (("up", step + 1), ("down", step - 1)):
            if not 0 <= to < len(ladder.steps):
                continue
            side, net = ev.side(direction), ev.net(direction)
            if net < t.min_weight or side.stories < t.min_stories or side.sources < t.min_sources:
                continue
            dismissed = [p for p in mine if p.direction == direction and p.status == "dismissed"]
            if dismissed:
                last = max(dismissed, key=lambda p: p.created_at)
                if net < last.net * t.regrow:
                    continue
            out.append(Decision(gate, direction, step, to, ev, net))  # type: ignore[arg-type]
            break
    return out


# --------------------------------------------------------------------------------------- examples


@dataclass(frozen=True)
class SimProposal:
    day: int
    gate: int
    direction: str
    to: str

    def __str__(self) -> str:
        return f"day {self.day}: gate {self.gate} {self.direction} to {self.to}"


SIM_START = date(2026, 1, 1)


def simulate(ladder: LadderFile, example: Example) -> list[SimProposal]:
    """Run the check once a day over the example's month; admins act on each proposal as the
    example says (`then`). Stories are distinct per (day, source, index): a story told by two
    sources would be one story, and the examples state their stories as already distinct."""
    t = ladder.thresholds
    steps = {g: ladder.checklist_step(g) for g in (1, 2, 3, 4)}
    steps.update({g: ladder.index(k) for g, k in example.steps.items()})
    moved: dict[int, datetime] = {}
    history: list[Past] = []
    actions = {(e.day, e.gate): e.then for e in example.expect}
    out = []
    for day in range(1, example.days + 1):
        now = datetime.combine(SIM_START + timedelta(days=day - 1), time(23, 0), tzinfo=timezone.utc)
        evidence = {}
        for gate in (1, 2, 3, 4):
            start = window_start(ladder, now, moved.get(gate))
            sides = {}
            for reading in ("for", "against"):
                items = [i for i in example.evidence if i.gate == gate and i.reading == reading
                         and start < _day_time(i.day) <= now]
                sides[reading] = Side(sum(i.stories for i in items),
                                      sum(i.stories * t.weights.of(i.confidence) for i in items),
                                      len({i.source for i in items}))
            evidence[gate] = GateEvidence(gate, sides["for"], sides["against"])
        for d in decide(ladder, steps, evidence, history, now):
            out.append(SimProposal(day, d.gate, d.direction, ladder.steps[d.to_step].key))
            then = actions.get((day, d.gate), "leave")
            status = {"accept": "accepted", "dismiss": "dismissed"}.get(then, "pending")
            history.append(Past(d.gate, d.direction, status, now, d.net))
            if then == "accept":
                steps[d.gate] = d.to_step
                moved[d.gate] = now
    return out


def _day_time(day: int) -> datetime:
    return datetime.combine(SIM_START + timedelta(days=day - 1), time(12, 0), tzinfo=timezone.utc)


def example_problems(ladder: LadderFile) -> list[tuple[int, str]]:
    """(example index, what differs) for every example whose month does not give exactly the
    proposals it expects."""
    problems = []
    for i, example in enumerate(ladder.examples):
        got = [str(p) for p in simulate(ladder, example)]
        want = [str(SimProposal(e.day, e.gate, e.direction, e.to)) for e in example.expect]
        if got != want:
            problems.append((i, f"{example.name}: expected [{'; '.join(want) or 'none'}], "
                                f"got [{'; '.join(got) or 'none'}]"))
    return problems
