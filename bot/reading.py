"""What a headline says about its gate: reading, metric and figure.

With a gate, a verdict also says whether the news reads as the gate opening (`for`), stalling or
closing (`against`) or neither (`neutral`); which of the checklist's verification metrics it speaks
to (`1.orders`, `2.utilisation`, ...); and the figure it quotes for that metric (figures.py).

Reading and metric are learned like the gate: a linear model over the gate model's own features
(words, character n-grams, the gate cues) plus the cues of rules/readings.yaml (idle, cancelled,
forecast, 闲置, 取消, 预计, a question mark ...). `gatebot train` fits it with scikit-learn and writes
rules/reading-model.json; here it is read with plain Python. The metric model is one per gate: it
only ever names a metric of the gate the verdict gives.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import ahocorasick
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .cues import Reading
from .features import MODEL_CHARS, Feature, FeatureSet, feature_set
from .figures import Figure, candidates, choose
from .models import Verdict
from .reply import Block, label
from .text import fold_phrase

READINGS = ("for", "against", "neutral")
METRICS: dict[int, tuple[str, ...]] = {
    1: ("1.funds", "1.orders", "other"),
    2: ("2.leasing", "2.vendors", "2.utilisation", "other"),
    3: ("3.coverage", "3.migration", "3.midsize", "other"),
    4: ("4.midsize", "4.verticals", "other"),
}
ALL_METRICS = tuple(dict.fromkeys(m for ms in METRICS.values() for m in ms))
CUES_FILE = "readings.yaml"
MODEL_FILE = "reading-model.json"
_SUFFIXES = ("", "s", "es", "ed", "d", "ing")

NonEmpty = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReadingCue(_Strict):
    terms: list[NonEmpty] = Field(min_length=1)
    note: str = ""


class CueExamples(_Strict):
    match: list[NonEmpty] = Field(min_length=1)
    not_match: list[NonEmpty] = Field(min_length=1)


class ReadingExample(_Strict):
    text: NonEmpty
    gate: int = Field(ge=1, le=4)
    reading: str
    metric: str

    @model_validator(mode="after")
    def _known(self) -> ReadingExample:
        if self.reading not in READINGS:
            raise ValueError(f"reading must be one of {list(READINGS)}, got {self.reading!r}")
        if self.metric not in METRICS[self.gate]:
            raise ValueError(f"metric of gate {self.gate} must be one of {list(METRICS[self.gate])}, got {self.metric!r}")
        return self


class Examples(_Strict):
    against: CueExamples
    neutral: CueExamples
    readings: list[ReadingExample] = Field(min_length=1)


class Name(_Strict):
    en: NonEmpty
    zh: NonEmpty


class Names(_Strict):
    reading: dict[str, Name]
    metric: dict[str, Name]

    @model_validator(mode="after")
    def _complete(self) -> Names:
        for kind, have, want in (("reading", self.reading, READINGS), ("metric", self.metric, ALL_METRICS)):
            if set(have) != set(want):
                raise ValueError(f"names.{kind} must name exactly {sorted(want)}; got {sorted(have)}")
        return self


class CueFile(_Strict):
    against: list[ReadingCue] = Field(min_length=1)
    neutral: list[ReadingCue] = Field(min_length=1)
    examples: Examples
    names: Names


class ReadingRulesError(ValueError):
    """rules/readings.yaml or rules/reading-model.json is missing pieces or malformed."""


def load_cue_file(rules_dir: Path) -> CueFile:
    path = Path(rules_dir) / CUES_FILE
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return CueFile.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise ReadingRulesError(f"rules/{CUES_FILE}: cannot read: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ReadingRulesError(f"rules/{CUES_FILE}: {where}: {first['msg']} ({exc.error_count()} problem(s))") from None


class ReadingCues:
    """The against/neutral cues in one automaton over the folded text (one pass, linear)."""

    def __init__(self, cue_file: CueFile):
        self._automaton = ahocorasick.Automaton()
        entries: dict[str, list[str]] = {}
        for group in ("against", "neutral"):
            for index, cue in enumerate(getattr(cue_file, group)):
                for term in cue.terms:
                    key = fold_phrase(term)
                    if key:
                        entries.setdefault(key, []).append(f"{group}.{index}")
        for key, names in entries.items():
            self._automaton.add_word(key, (len(key), key[0].isascii() and key[0].isalnum(),
                                           key[-1].isascii() and key[-1].isalnum(), tuple(dict.fromkeys(names))))
        self._automaton.make_automaton()

    def find(self, folded_text: str) -> list[str]:
        """The cue names ("against.0", ...) found in a folded text, each once, sorted."""
        text = folded_text[:MODEL_CHARS]
        n = len(text)
        found: set[str] = set()
        for last, (length, latin_start, latin_end, names) in self._automaton.iter(text):
            start, end = last - length + 1, last + 1
            if latin_start and start > 0 and text[start - 1] != " ":
                continue
            if latin_end and end < n and text[end] != " ":
                stop = text.find(" ", end)
                suffix = text[end:n if stop < 0 else stop]
                # cancel -> cancelled, scrap -> scrapped: a doubled last letter before -ed/-ing
                if suffix not in _SUFFIXES and not (suffix[:1] == text[end - 1] and suffix[1:] in ("ed", "ing")):
                    continue
            found.update(names)
        return sorted(found)


# Punctuation the folded text loses but a reader sees: a question, an exclamation, a column's
# "Source: title" or "Title | outlet", quotation marks, a bracketed tag ("[Bug]", "【独家】").
_MARKS = {"?": "question", "？": "question", "!": "exclaim", "！": "exclaim", ":": "colon", "：": "colon",
          "|": "bar", "丨": "bar", "｜": "bar", "“": "quote", "”": "quote", '"': "quote", "「": "quote",
          "[": "tag", "【": "tag", "《": "title"}


# Of the gate model's features, the reading model leaves out word pairs, three-character runs and
# cue pairs: they name who does what to which compute (the gate), and cost the reading accuracy.
_NOT_READ = ("b:", "c3:", "p:")


def for_reading(row: dict[str, float], gate: int) -> dict[str, float]:
    """What the reading model sees of a row: all but _NOT_READ, and the gate."""
    out = {k: v for k, v in row.items() if not k.startswith(_NOT_READ)}
    out[f"gate:{gate}"] = 1.0
    return out


def reading_features(base: Iterable[Feature] | FeatureSet, cue_names: list[str], text: str,
                     figures: Iterable[Figure] = ()) -> dict[str, float]:
    """The gate model's features of a text, its reading cues, its punctuation and the kinds of
    figure it quotes (events quote amounts; analysis rarely does)."""
    row = dict(zip(base.names, base.values, strict=True)) if isinstance(base, FeatureSet) else {
        f.name: f.value for f in base}
    row.update(dict.fromkeys(reading_names(cue_names, text, figures), 1.0))
    return row


def reading_names(cue_names: list[str], text: str, figures: Iterable[Figure] = ()) -> list[str]:
    """The features the reading model reads beyond the gate model's (all of value 1), each once:
    its reading cues, the punctuation and the kinds of figure quoted."""
    names = []
    for name in cue_names:
        names.append("rc:" + name)
        names.append("rc:" + name.split(".")[0])
    head = text[:MODEL_CHARS]
    for mark, name in _MARKS.items():
        if mark in head:
            names.append("mark:" + name)
    for figure in figures:
        names.append("fig:" + figure.kind)
    return list(dict.fromkeys(names))


# --------------------------------------------------------------------------- the model file


class Linear(_Strict):
    classes: list[str] = Field(min_length=1)
    intercept: list[float]
    weights: dict[str, list[float]]

    @model_validator(mode="after")
    def _shapes(self) -> Linear:
        n = len(self.classes)
        if len(self.intercept) != n or any(len(w) != n for w in self.weights.values()):
            raise ValueError(f"every weight vector must have {n} entries, one per class")
        return self

    def predict(self, row: dict[str, float], extra: str = "") -> tuple[str, float]:
        """(best class, its probability); `extra` names one more feature present (value 1).
        A model of one class always answers it."""
        rows = [w if v == 1.0 else [x * v for x in w]
                for w, v in zip(map(self.weights.get, row), row.values(), strict=True) if w is not None]
        return self._best(rows, extra)

    def predict_features(self, base: FeatureSet, more: list[str], extra: str = "", pairs: bool = True) -> tuple[str, float]:
        """predict() for the row of `base`'s features followed by `more` (value 1), without building it;
        `pairs=False` for a model that never reads cue pairs."""
        rows = base.rows(self.weights, pairs)
        rows += filter(None, map(self.weights.get, more))
        return self._best(rows, extra)

    def _best(self, rows: list, extra: str) -> tuple[str, float]:
        first = [self.intercept]
        if extra and extra in self.weights:
            first.append(self.weights[extra])
        # Column sums in the row's order: the same additions, in the same order, as a loop adding w * value.
        z = list(map(sum, zip(*first, *rows, strict=True)))
        top = max(z)
        exp = [math.exp(v - top) for v in z]
        best = max(range(len(z)), key=exp.__getitem__)
        return self.classes[best], exp[best] / sum(exp)


class ReadingModelFile(_Strict):
    format: int = Field(ge=1, le=1)
    fingerprint: str = Field(min_length=64, max_length=64)
    trained_on: dict[str, int]
    cross_validation: dict[str, float]
    reading: Linear
    metrics: dict[str, Linear]  # gate ("1".."4") -> its metric model

    @model_validator(mode="after")
    def _known(self) -> ReadingModelFile:
        if sorted(self.reading.classes) != sorted(READINGS):
            raise ValueError(f"reading classes must be {list(READINGS)}")
        for gate, model in self.metrics.items():
            allowed = METRICS.get(int(gate)) if gate.isdigit() else None
            if allowed is None or not set(model.classes) <= set(allowed):
                raise ValueError(f"metrics.{gate}: classes must be metrics of gate {gate}")
        return self


def dump(model: ReadingModelFile) -> str:
    """The model file as written: one feature per line, so a retrain's diff is readable."""
    def linear(part: Linear, indent: str) -> list[str]:
        lines = [f'{indent}"classes": {json.dumps(part.classes)},',
                 f'{indent}"intercept": [{", ".join(_num(x) for x in part.intercept)}],',
                 f'{indent}"weights": {{']
        items = sorted(part.weights.items())
        for i, (name, w) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            lines.append(f'{indent}  {json.dumps(name, ensure_ascii=False)}: [{", ".join(_num(x) for x in w)}]{comma}')
        lines.append(f"{indent}}}")
        return lines

    out = ["{"]
    for key in ("format", "fingerprint", "trained_on", "cross_validation"):
        out.append(f'  {json.dumps(key)}: {json.dumps(getattr(model, key), ensure_ascii=False, sort_keys=True)},')
    out.append('  "reading": {')
    out += linear(model.reading, "    ")
    out.append("  },")
    out.append('  "metrics": {')
    gates = sorted(model.metrics)
    for i, gate in enumerate(gates):
        out.append(f"    {json.dumps(gate)}: {{")
        out += linear(model.metrics[gate], "      ")
        out.append("    }" + ("," if i < len(gates) - 1 else ""))
    out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def _num(x: float) -> str:
    return f"{x:.4g}" if x else "0"


class Reader:
    """Reading, metric and figure for a verdict with a gate."""

    def __init__(self, cue_file: CueFile, model: ReadingModelFile):
        self.cue_file = cue_file
        self.cues = ReadingCues(cue_file)
        self.model = model
        self.names = cue_file.names

    @classmethod
    def load(cls, rules_dir: Path) -> Reader | None:
        """The rules directory's reader, or None when it ships no reading model."""
        rules_dir = Path(rules_dir)
        path = rules_dir / MODEL_FILE
        if not path.is_file() or not (rules_dir / CUES_FILE).is_file():
            return None
        cue_file = load_cue_file(rules_dir)
        try:
            model = ReadingModelFile.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            raise ReadingRulesError(f"rules/{MODEL_FILE}: {str(exc).splitlines()[0]}; run `gatebot train`") from None
        return cls(cue_file, model)

    def row(self, reading: Reading, base: Iterable[Feature] | FeatureSet,
            figures: Iterable[Figure] = ()) -> dict[str, float]:
        return reading_features(base, self.cues.find(reading.folded.text), reading.text, figures)

    def predict(self, row: dict[str, float] | tuple[FeatureSet, list[str]], gate: int) -> tuple[str, str]:
        """(reading, metric) for a text's features, given its gate: a row (reading_features), or the
        gate model's features and the names the reading adds (reading_names)."""
        # Features the reading model leaves out (_NOT_READ) carry no weight in it: no need to filter.
        metric_model = self.model.metrics.get(str(gate))
        if isinstance(row, dict):
            read, _ = self.model.reading.predict(row, f"gate:{gate}")
            metric = metric_model.predict(row)[0] if metric_model is not None else "other"
        else:
            # The reading model never reads cue pairs (_NOT_READ): no lookups that would miss.
            read, _ = self.model.reading.predict_features(*row, f"gate:{gate}", pairs=False)
            metric = metric_model.predict_features(*row)[0] if metric_model is not None else "other"
        return read, metric

    def attach(self, verdict: Verdict, reading: Reading, base: FeatureSet | list[Feature] | None = None) -> Verdict:
        """Fill in the verdict's reading, metric and figure (left null when it names no gate).
        `base`: the text's features when the gate model has already computed them."""
        if not verdict.gate:
            return verdict
        if base is None:
            base = feature_set(reading, {g.gate: g.score for g in verdict.gates}, verdict.compute)
        found = candidates(reading.text)
        if isinstance(base, FeatureSet):
            more = reading_names(self.cues.find(reading.folded.text), reading.text, found)
            read, metric = self.predict((base, more), verdict.gate)
        else:
            read, metric = self.predict(self.row(reading, base, found), verdict.gate)
        # A reading or metric already given (by the model judge, for its gate) stands.
        verdict.reading = verdict.reading or read
        verdict.metric = verdict.metric or metric
        picked = choose(found, verdict.metric, reading.text)
        verdict.figure = picked.text if picked else None
        return verdict


def reads_as(verdict: Verdict, lang: str, names: Names | None) -> str | None:
    """"evidence for · big domestic-chip orders · $5.6B" (or 「利好 · 国产芯片大单成交 · $5.6B」's text),
    None when the verdict has no reading or its metric is not one of its gate's."""
    if names is None or not verdict.gate or verdict.reading is None or verdict.metric is None:
        return None
    if verdict.metric not in METRICS.get(verdict.gate, ()):  # e.g. another judge changed the gate
        return None
    key = "zh" if lang == "zh" else "en"
    parts = [getattr(names.reading[verdict.reading], key), getattr(names.metric[verdict.metric], key)]
    if verdict.figure:
        parts.append(verdict.figure)
    return " · ".join(parts)


def reading_blocks(verdict: Verdict, lang: str, reader: Reader | None) -> list[Block]:
    """The verdict reply's line "Reads as: evidence for · big domestic-chip orders · $5.6B"
    (「解读：利好 · 国产芯片大单成交 · $5.6B」); none without a reading. The figure is the user's
    text, so the line is escaped like any user text."""
    line = reads_as(verdict, lang, reader.names if reader is not None else None)
    if line is None:
        return []
    return [Block(kind="field", label=label("reads_as", lang), text=line, user_text=True)]


def example_problems(rules_dir: Path, reader: Reader | None) -> list[str]:
    """What `gatebot rules check` reports for rules/readings.yaml: every cue example, and (with a
    shipped model) every reading example run through the classifier's reader."""
    try:
        cue_file = reader.cue_file if reader is not None else load_cue_file(rules_dir)
    except ReadingRulesError as exc:
        return [str(exc)]
    cues = reader.cues if reader is not None else ReadingCues(cue_file)
    problems = []
    for group in ("against", "neutral"):
        examples: CueExamples = getattr(cue_file.examples, group)
        for text in examples.match:
            if not any(n.startswith(group + ".") for n in cues.find(fold_phrase(text))):
                problems.append(f"rules/{CUES_FILE}: examples.{group}.match: no {group} cue found in: {text}")
        for text in examples.not_match:
            hit = [n for n in cues.find(fold_phrase(text)) if n.startswith(group + ".")]
            if hit:
                problems.append(f"rules/{CUES_FILE}: examples.{group}.not_match: {group} cue {hit[0]} found in: {text}")
    return problems


def reading_example_problems(cue_file: CueFile, read: Any) -> list[str]:
    """Each reading example through `read(text, gate) -> (reading, metric)`; the misses."""
    problems = []
    for ex in cue_file.examples.readings:
        got = read(ex.text, ex.gate)
        if got != (ex.reading, ex.metric):
            problems.append(f"rules/{CUES_FILE}: examples.readings: expected {ex.reading} {ex.metric}, "
                            f"got {got[0]} {got[1]}: {ex.text}")
    return problems
