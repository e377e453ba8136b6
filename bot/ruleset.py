"""Loading and validating the rule files in ``rules/``.

The rules are data: YAML files validated by pydantic models. Problems are reported with the
file, the line, the rule and the field, so a person editing a cue list can find the mistake::

    rules/cues/1-procurement.yaml:41: cues[3].weight: Input should be greater than 0
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from .ladder import LADDER_FILE, LadderFile, example_problems
from .rulefile import Bilingual, NonEmpty, RuleProblem, RulesError, Strict, validate
from .text import fold_phrase

GateNumber = Annotated[int, Field(ge=1, le=4)]
Verdictable = Annotated[int, Field(ge=0, le=4)]


class BilingualList(Strict):
    en: list[NonEmpty] = Field(min_length=1)
    zh: list[NonEmpty] = Field(min_length=1)

    def get(self, lang: str) -> list[str]:
        return self.zh if lang == "zh" else self.en


class Source(Strict):
    title: Bilingual
    author: NonEmpty
    publisher: NonEmpty
    note: NonEmpty


class Gate(Strict):
    number: GateNumber
    key: NonEmpty
    short: Bilingual
    name: Bilingual
    definition: Bilingual
    metrics: BilingualList
    status: Bilingual
    risk: Bilingual
    aliases: list[NonEmpty] = []


class GatesFile(Strict):
    source: Source
    gates: list[Gate]

    @model_validator(mode="after")
    def _four_gates(self) -> GatesFile:
        numbers = [g.number for g in self.gates]
        if sorted(numbers) != [1, 2, 3, 4]:
            raise ValueError(f"gates must be numbered 1, 2, 3, 4 exactly once; got {numbers}")
        return self


class Cue(Strict):
    terms: list[NonEmpty] = Field(min_length=1)
    weight: float = Field(gt=0, le=10)
    note: str | None = None

    @field_validator("terms")
    @classmethod
    def _terms_fold(cls, terms: list[str]) -> list[str]:
        for term in terms:
            if not fold_phrase(term):
                raise ValueError(f"term {term!r} has no letters, digits or CJK characters to match")
        return terms


class Example(Strict):
    text: NonEmpty
    also: list[Verdictable] = []  # other answers a careful analyst would accept


class KnownGap(Strict):
    text: NonEmpty
    want: Verdictable
    why: NonEmpty


def _as_example(value: Any) -> Any:
    return {"text": value} if isinstance(value, str) else value


class Examples(Strict):
    match: list[Example] = Field(min_length=1)
    not_match: list[NonEmpty] = Field(min_length=1)
    known_gaps: list[KnownGap] = []

    @field_validator("match", mode="before")
    @classmethod
    def _strings_ok(cls, value: Any) -> Any:
        return [_as_example(v) for v in value] if isinstance(value, list) else value


class CueFile(Strict):
    gate: GateNumber
    cues: list[Cue] = Field(min_length=1)
    examples: Examples


class Thresholds(Strict):
    compute: float = Field(gt=0)  # AI-compute context needed before any gate may fire
    gate: float = Field(gt=0)  # score a gate needs to be the verdict
    secondary_ratio: float = Field(gt=0, le=1)  # runner-up named when this close to the top
    high: float = Field(gt=0)  # top score for high confidence (with a clear margin)
    medium: float = Field(gt=0)
    # The least confidence at which the bot answers a gate headline unprompted in a group chat.
    group_reply: Literal["low", "medium", "high"] = "medium"


class ContextExamples(Strict):
    none: list[NonEmpty] = Field(min_length=1)  # texts no gate may fire on


class ContextFile(Strict):
    thresholds: Thresholds
    compute: list[Cue] = Field(min_length=1)
    china: list[Cue] = Field(min_length=1)
    off_domain: list[Cue] = Field(min_length=1)
    examples: ContextExamples


class CorpusFile(Strict):
    note: NonEmpty
    headlines: list[NonEmpty] = Field(min_length=1)


class ActorKind(Strict):
    """One kind of actor (Chinese firms, ministries, places abroad...): its names and whose it is."""

    # "local": words that mean the home country of whoever the text is about ("domestic chips",
    # "homegrown GPUs"): China's when no actor from abroad alone is named, the other country's otherwise.
    side: Literal["china", "abroad", "local"]
    label: Bilingual  # how a reply names the kind: "Chinese firm", 「中国企业」
    compute: bool = False  # names domestic AI compute (chips, their software stacks)
    terms: list[NonEmpty] = Field(min_length=1)

    @field_validator("terms")
    @classmethod
    def _terms_fold(cls, terms: list[str]) -> list[str]:
        for term in terms:
            if not fold_phrase(term):
                raise ValueError(f"term {term!r} has no letters, digits or CJK characters to match")
        return terms


class SignalExamples(Strict):
    match: list[NonEmpty] = Field(min_length=1)  # texts that must show the signal
    not_match: list[NonEmpty] = Field(min_length=1)  # texts that must not


# What the learned model reads from the actors a text names (see rules/actors.yaml).
SIGNALS = ("chinese_actor", "foreign_only", "domestic_compute")


class ActorExamples(Strict):
    chinese_actor: SignalExamples
    foreign_only: SignalExamples
    domestic_compute: SignalExamples


class ActorsFile(Strict):
    """rules/actors.yaml: who and where, as names per kind of actor."""

    kinds: dict[NonEmpty, ActorKind] = Field(min_length=1)
    examples: ActorExamples

    @model_validator(mode="after")
    def _both_sides(self) -> ActorsFile:
        sides = {k.side for k in self.kinds.values()}
        if not {"china", "abroad"} <= sides or not any(k.compute for k in self.kinds.values()):
            raise ValueError("kinds must cover both sides (china, abroad) and one must name domestic compute")
        return self


class JudgeExample(Strict):
    """A worked example shown to the model: a headline and the answer a careful analyst gives."""

    text: NonEmpty
    gate: Verdictable
    secondary: GateNumber | None = None
    confidence: Literal["high", "medium", "low"]
    reason: Annotated[str, Field(min_length=1, max_length=240)]
    id: NonEmpty  # where it comes from (the dev set's id), for credit and review
    reading: Literal["for", "against", "neutral"] | None = None  # shared/LABELING.md, last section
    metric: str | None = None  # "1.orders", ... or "other"

    @model_validator(mode="after")
    def _secondary_differs(self) -> JudgeExample:
        if self.secondary is not None and (self.secondary == self.gate or self.gate == 0):
            raise ValueError("secondary must be another gate, and only when gate is 1-4")
        if self.gate == 0 and (self.reading or self.metric):
            raise ValueError("reading and metric are for a gate: leave them out with gate 0")
        if self.gate and not (self.reading and self.metric):
            raise ValueError("an example with a gate shows its reading and metric too")
        if self.metric and self.metric != "other" and not self.metric.startswith(f"{self.gate}."):
            raise ValueError(f"metric {self.metric} is not one of gate {self.gate}'s")
        return self


class JudgeFile(Strict):
    """rules/judge.yaml: what a language model reads besides the checklist before it judges."""

    source: NonEmpty
    task: NonEmpty
    scope: dict[Verdictable, NonEmpty]
    conventions: list[NonEmpty] = Field(min_length=1)
    examples: list[JudgeExample] = Field(min_length=1)

    @field_validator("scope")
    @classmethod
    def _every_gate(cls, scope: dict[int, str]) -> dict[int, str]:
        if sorted(scope) != [0, 1, 2, 3, 4]:
            raise ValueError(f"scope must describe gates 0, 1, 2, 3 and 4; got {sorted(scope)}")
        return scope


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Located:
    """An example text with the place it was written, for readable failures."""

    text: str
    file: str
    line: int
    want: int | None = None  # the gate it must give (None: "must not be `avoid`")
    avoid: int | None = None
    also: tuple[int, ...] = ()
    why: str = ""
    signal: str = ""  # an actor example: the signal (SIGNALS) the text must show, or must not when not `present`
    present: bool = True


@dataclass(frozen=True)
class RuleSet:
    root: Path
    source: Source
    gates: dict[int, Gate]
    cues: dict[int, list[Cue]]
    context: ContextFile
    # Examples the rules must satisfy, and known gaps (expected failures, kept, not deleted).
    must: list[Located] = field(default_factory=list)
    gaps: list[Located] = field(default_factory=list)
    judge: JudgeFile | None = None  # rules/judge.yaml, for a language model as the judge (optional)
    actors: ActorsFile | None = None  # rules/actors.yaml, who and where (optional)
    ladder: LadderFile | None = None  # rules/ladder.yaml, the status ladder and its thresholds (optional)

    def gate_by_name(self, name: str) -> Gate | None:
        """Find a gate by number, key, short/full name or alias (either language)."""
        wanted = fold_phrase(name)
        if not wanted:
            return None
        if wanted.isdigit():
            return self.gates.get(int(wanted))
        for gate in self.gates.values():
            names = [gate.key, gate.short.en, gate.short.zh, gate.name.en, gate.name.zh, *gate.aliases]
            if wanted in {fold_phrase(n) for n in names}:
                return gate
        return None


def default_rules_dir() -> Path:
    """Where the rules live: $GATEBOT_RULES, the source tree, or the installed package data."""
    env = os.environ.get("GATEBOT_RULES")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "rules", here / "rules"):
        if (candidate / "gates.yaml").is_file():
            return candidate
    return here.parent / "rules"


def load_rules(root: Path | None = None) -> RuleSet:
    """Load and validate every rule file; raise RulesError listing every problem found."""
    root = Path(root) if root is not None else default_rules_dir()

    def shown(p: Path) -> str:
        try:
            return str(Path("rules") / p.relative_to(root))
        except ValueError:
            return str(p)

    problems: list[RuleProblem] = []
    gates_file = context = None
    cue_files: list[tuple[Path, CueFile, dict[tuple, int]]] = []
    must: list[Located] = []
    gaps: list[Located] = []

    gates_path = root / "gates.yaml"
    context_path = root / "context.yaml"
    for required in (gates_path, context_path, root / "cues"):
        if not required.exists():
            problems.append(RuleProblem(shown(required), 0, "", "missing"))
    if problems:
        raise RulesError(problems)
    try:
        gates_file, _ = validate(GatesFile, gates_path, shown(gates_path))
    except RulesError as exc:
        problems += exc.problems
    try:
        context, ctx_lines = validate(ContextFile, context_path, shown(context_path))
        for i, text in enumerate(context.examples.none):
            line = ctx_lines.get(("examples", "none", i), 0)
            must.append(Located(text, shown(context_path), line, want=0))
    except RulesError as exc:
        problems += exc.problems
    for path in sorted((root / "cues").glob("*.yaml")):
        try:
            cue_file, lines = validate(CueFile, path, shown(path))
        except RulesError as exc:
            problems += exc.problems
            continue
        cue_files.append((path, cue_file, lines))
        ex = cue_file.examples
        for i, example in enumerate(ex.match):
            line = lines.get(("examples", "match", i), 0)
            must.append(Located(example.text, shown(path), line, want=cue_file.gate, also=tuple(example.also)))
        for i, text in enumerate(ex.not_match):
            line = lines.get(("examples", "not_match", i), 0)
            must.append(Located(text, shown(path), line, avoid=cue_file.gate))
        for i, gap in enumerate(ex.known_gaps):
            line = lines.get(("examples", "known_gaps", i), 0)
            gaps.append(Located(gap.text, shown(path), line, want=gap.want, why=gap.why))
    for path in sorted((root / "corpus").glob("*.yaml")) if (root / "corpus").is_dir() else []:
        try:
            corpus, lines = validate(CorpusFile, path, shown(path))
        except RulesError as exc:
            problems += exc.problems
            continue
        for i, text in enumerate(corpus.headlines):
            must.append(Located(text, shown(path), lines.get(("headlines", i), 0), want=0))

    actors = None
    actors_path = root / "actors.yaml"
    if actors_path.exists():
        try:
            actors, actor_lines = validate(ActorsFile, actors_path, shown(actors_path))
            for signal in SIGNALS:
                examples = getattr(actors.examples, signal)
                for present, texts in ((True, examples.match), (False, examples.not_match)):
                    key = "match" if present else "not_match"
                    for i, text in enumerate(texts):
                        line = actor_lines.get(("examples", signal, key, i), 0)
                        must.append(Located(text, shown(actors_path), line, signal=signal, present=present))
        except RulesError as exc:
            problems += exc.problems

    judge = None
    judge_path = root / "judge.yaml"
    if judge_path.exists():
        try:
            judge, _ = validate(JudgeFile, judge_path, shown(judge_path))
        except RulesError as exc:
            problems += exc.problems

    ladder = None
    ladder_path = root / LADDER_FILE
    if ladder_path.exists():
        try:
            ladder, ladder_lines = validate(LadderFile, ladder_path, shown(ladder_path))
            for i, problem in example_problems(ladder):  # the thresholds must mean what their examples say
                problems.append(RuleProblem(shown(ladder_path), ladder_lines.get(("examples", i), 0),
                                            f"examples[{i}]", problem))
        except RulesError as exc:
            problems += exc.problems

    seen_gate: dict[int, str] = {}
    for path, cue_file, _ in cue_files:
        if cue_file.gate in seen_gate:
            problems.append(
                RuleProblem(shown(path), 1, "gate", f"gate {cue_file.gate} already defined in {seen_gate[cue_file.gate]}")
            )
        seen_gate[cue_file.gate] = shown(path)
    for number in range(1, 5):
        if number not in seen_gate and not problems:
            problems.append(RuleProblem(shown(root / "cues"), 0, "", f"no cue file for gate {number}"))
    if problems:
        raise RulesError(problems)
    assert gates_file is not None and context is not None
    return RuleSet(
        root=root,
        source=gates_file.source,
        gates={g.number: g for g in sorted(gates_file.gates, key=lambda g: g.number)},
        cues={cf.gate: list(cf.cues) for _, cf, _ in cue_files},
        context=context,
        must=must,
        gaps=gaps,
        judge=judge,
        actors=actors,
        ladder=ladder,
    )

