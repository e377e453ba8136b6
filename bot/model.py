"""The learned gate model: a linear model over the features of features.py, trained by `gatebot train`.

rules/model.json holds, for every feature, one weight per answer (none, gates 1-4), an intercept
per answer, the probability thresholds that make a verdict "high" or "medium" confidence
(calibrated on out-of-fold predictions when it was trained), the figures of that cross-validation,
and a fingerprint of everything it was trained from: the cue files (its cue features are named
after their positions) and the labelled corpus. `gatebot rules check` fails when the fingerprint
no longer matches, so a rule or corpus edit is always followed by `gatebot train`.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, compress, repeat
from operator import itemgetter, mul, sub, truediv
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import from_json

from .features import Feature, FeatureSet

CLASSES = (0, 1, 2, 3, 4)
MODEL_FILE = "model.json"  # in the rules directory
Weights = Annotated[list[float], Field(min_length=5, max_length=5)]


class LanguageCalibration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    high: float = Field(gt=0, le=1)
    medium: float = Field(gt=0, le=1)
    # "medium" per gate named ("1".."4"), where that gate's own verdicts needed more to be right as often:
    # the model names some gates too readily (market news read as procurement), others seldom wrongly.
    by_gate: dict[str, Annotated[float, Field(gt=0, le=1)]] = {}

    @field_validator("by_gate")
    @classmethod
    def _gates(cls, value: dict[str, float]) -> dict[str, float]:
        if set(value) - {"1", "2", "3", "4"}:
            raise ValueError("by_gate: keys are the gates 1-4")
        return value

    def medium_for(self, gate: int) -> float:
        return max(self.medium, self.by_gate.get(str(gate), 0.0))


class Calibration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    high: float = Field(gt=0, le=1)  # top probability for "high" confidence
    medium: float = Field(gt=0, le=1)  # ... for "medium"; below it, "low"
    secondary: float = Field(gt=0, le=1)  # a runner-up gate this probable is named too
    # The same thresholds per language of the headline: the model is surer of itself in one language
    # than its verdicts deserve, so each language gets the thresholds its own verdicts earned.
    by_lang: dict[str, LanguageCalibration] = {}

    def for_lang(self, lang: str) -> LanguageCalibration | Calibration:
        return self.by_lang.get(lang, self)

    def medium_for(self, gate: int) -> float:
        return self.medium


class SentenceSpace(BaseModel):
    """A compact sentence representation learned from the corpus (latent semantic analysis): every
    frequent word and Chinese character pair has a short vector (its TF-IDF weight times its place
    in the corpus's main directions of co-occurrence); a text's vector is the normalised sum of its
    tokens', so headlines that share no word but whose words keep the same company land close."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dims: int = Field(ge=1, le=512)
    scale: float = Field(gt=0)  # the model reads scale * the unit vector, as features "e:0".."e:<dims-1>"
    vectors: dict[str, list[float]]  # token (a "w:" or "c2:" feature name) -> vector of `dims`


SPACE_PREFIXES = ("w:", "c2:")  # the tokens a sentence vector is made of


def sentence_features(space: SentenceSpace, names: Iterable[str],
                      vectors: dict[str, list[float]] | None = None) -> list[tuple[str, float]]:
    """("e:<i>", value) for a text whose features are `names`: none when no token is known.
    (Only "w:" and "c2:" names are in `space.vectors`; other names simply miss.)"""
    total = _sentence_sum(space.vectors if vectors is None else vectors, names)
    norm = math.hypot(*total) if total else 0.0
    if norm == 0:
        return []
    k = space.scale / norm
    return [(_E[i], x * k) for i, x in enumerate(total)]


def _sentence_sum(vectors: Mapping[str, Sequence[float]], names: Iterable[str]) -> list[float]:
    """The sum of the known tokens' vectors ([] when none is known): one C-level sum per dimension."""
    found = list(filter(None, map(vectors.get, names)))  # (vectors are never empty)
    if not found:
        return []
    return list(found[0]) if len(found) == 1 else list(map(sum, zip(*found, strict=True)))


_E = [f"e:{i}" for i in range(512)]


class ModelFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    format: int = Field(ge=1, le=1)
    fingerprint: str = Field(min_length=64, max_length=64)
    trained_on: dict[str, int]  # what it learned from: source -> lines
    classes: list[int]
    intercept: Weights
    calibration: Calibration
    cross_validation: dict[str, float]  # out-of-fold figures measured while training
    weights: dict[str, Weights]
    space: SentenceSpace | None = None  # when set, the model also reads each text's sentence vector

    @model_validator(mode="after")
    def _space_fits(self) -> ModelFile:
        if self.space is not None and any(len(v) != self.space.dims for v in self.space.vectors.values()):
            raise ValueError(f"space: every vector must have {self.space.dims} numbers")
        return self


class ModelError(ValueError):
    """rules/model.json is missing pieces or malformed."""


def parse_model(raw: bytes | str) -> ModelFile:
    """The model file, checked. Everything but the two big tables (weights, and the sentence
    space's vectors: about half a million numbers) is validated by ModelFile; those two are checked
    for their shape and number types in plain loops, several times faster at every start-up than
    validating each number, and left as parsed. Problems raise ModelError naming where."""
    collecting = gc.isenabled()
    gc.disable()  # half a million fresh objects, none in a cycle: the collector's passes over them are wasted
    try:
        data = from_json(raw)  # pydantic-core's JSON reader: twice as fast as json.loads on these numbers
    except ValueError as exc:
        raise ModelError(f"not a JSON file: {exc}") from None
    finally:
        if collecting:
            gc.enable()
    if not isinstance(data, dict):
        raise ModelError("the file must hold one JSON object")
    weights = data.get("weights")
    space = data.get("space")
    vectors = space.get("vectors") if isinstance(space, dict) else None
    head = {**data, "weights": {}}
    if isinstance(space, dict):
        head["space"] = {**space, "vectors": {}}
    try:
        model = ModelFile.model_validate(head)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ModelError(f"{where}: {first['msg']} ({exc.error_count()} problem(s))") from None
    _check_table("weights", weights, len(CLASSES))
    update: dict[str, object] = {"weights": weights}
    if model.space is not None:
        _check_table("space.vectors", vectors, model.space.dims)
        update["space"] = model.space.model_copy(update={"vectors": vectors})
    return model.model_copy(update=update)


def _check_table(where: str, table: object, width: int) -> None:
    """`table` maps names to lists of `width` numbers (JSON numbers: int or float, never bool)."""
    if not isinstance(table, dict):
        raise ModelError(f"{where}: must be an object of name -> {width} numbers")
    rows = table.values()
    # Checked at C level first (the common case, on every start-up: half a million numbers); the
    # row-by-row search below only runs to name a problem.
    if (not rows or (set(map(type, rows)) == {list} and set(map(len, rows)) == {width}
                     and set(map(type, chain.from_iterable(rows))) <= {float, int})):
        return
    bad = [name for name, row in table.items()
           if type(row) is not list or len(row) != width or not all(type(x) is float or type(x) is int for x in row)]
    if bad:
        what = "every vector must have" if where.startswith("space") else "every weight list must have"
        raise ModelError(f"{where}.{bad[0]}: {what} {width} numbers ({len(bad)} problem(s))")


@dataclass(frozen=True)
class Prediction:
    probabilities: tuple[float, ...]  # per class, in CLASSES order
    gate: int
    secondary: int | None


def _names_values(feats: Iterable[Feature] | FeatureSet) -> tuple[list[str], list[float]]:
    if isinstance(feats, FeatureSet):
        return feats.names, feats.values
    rows = list(feats)
    return [f.name for f in rows], [f.value for f in rows]


class GateModel:
    def __init__(self, data: ModelFile):
        if tuple(data.classes) != CLASSES:
            raise ModelError(f"classes must be {list(CLASSES)}, got {data.classes}")
        self.data = data
        self.calibration = data.calibration
        self.fingerprint = data.fingerprint
        self._intercept = tuple(data.intercept)
        self._weights = data.weights  # lists of five, read as they are (a copy per feature costs start-up)
        self.space = data.space
        if self.space is not None:
            # The sentence vector's weights per answer, one row per class: its logits are five dot products.
            zero = (0.0,) * len(CLASSES)
            rows = [self._weights.get(_E[i], zero) for i in range(self.space.dims)]
            self._space_rows = [tuple(row[c] for row in rows) for c in range(len(CLASSES))]
            # The same vectors as packed doubles: a text's twenty-odd vectors are read from a few cache
            # lines each rather than from dims scattered number objects (the numbers are the same).
            self._vectors = {token: array("d", v) for token, v in self.space.vectors.items()}

    @classmethod
    def load(cls, path: Path) -> GateModel:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read {path}: {exc}") from None
        return cls(parse_model(raw))

    def logits(self, feats: list[Feature] | FeatureSet) -> list[float]:
        if isinstance(feats, FeatureSet):
            names, found = feats.names, feats.rows(self._weights)
        else:
            names = [f.name for f in feats]
            found = [[x * f.value for x in w] for f in feats if (w := self._weights.get(f.name)) is not None]
        # Column sums in feature order: the same additions, in the same order, as a loop adding w * v.
        z: list[float] = list(map(sum, zip(self._intercept, *found, strict=True)))
        if self.space is not None:  # the sentence vector: read from the same words, never quoted as evidence
            total = _sentence_sum(self._vectors, names)
            norm = math.hypot(*total) if total else 0.0
            if norm:
                k = self.space.scale / norm
                for c, row in enumerate(self._space_rows):
                    z[c] += k * sum(map(mul, row, total))
        return z

    def predict(self, feats: list[Feature] | FeatureSet) -> Prediction:
        z = self.logits(feats)
        top = max(z)
        exp = [math.exp(v - top) for v in z]
        total = sum(exp)
        probs = tuple(e / total for e in exp)
        order = sorted(CLASSES, key=lambda c: -probs[c])
        gate = order[0]
        runner = next((c for c in order[1:] if c != 0), None)
        secondary = runner if gate and runner and probs[runner] >= self.calibration.secondary else None
        return Prediction(probs, gate, secondary)

    def contributions(self, feats: Iterable[Feature] | FeatureSet, gate: int) -> list[tuple[str, float]]:
        """How much each feature pushed toward `gate` rather than the other answers, largest first
        (features pushing it away left out): (feature name, push)."""
        return self.pushes(*_names_values(feats), gate)

    def pushes(self, names: list[str], values: Iterable[float], gate: int) -> list[tuple[str, float]]:
        """contributions() of the features `names` with `values`: (w[gate] - mean(w)) * value for each
        one the model knows, largest first, the positive ones only. Computed at C level."""
        rows = list(map(self._weights.get, names))
        known: list[list[float]] = list(compress(rows, rows))  # type: ignore[arg-type]  # (the Nones left out)
        pushes = map(mul, map(sub, map(itemgetter(gate), known), map(truediv, map(sum, known), repeat(len(CLASSES)))),
                     compress(values, rows))
        out = sorted(zip(compress(names, rows), pushes, strict=True), key=itemgetter(1), reverse=True)  # stable
        return out[:bisect_left(out, 0.0, key=_pulled_back)]  # those pushing toward the gate

    def confidence(self, p: float, lang: str = "", gate: int = 0) -> Literal["high", "medium", "low"]:
        """high / medium / low for the probability of a verdict naming `gate` on a headline in `lang`.
        Below the gate's own "medium" it is low, however high the language's "high" is set."""
        c = self.calibration.for_lang(lang)
        medium = c.medium_for(gate)
        return "high" if p >= max(c.high, medium) else "medium" if p >= medium else "low"


def _pulled_back(contribution: tuple[str, float]) -> float:
    return -contribution[1]


# --------------------------------------------------------------------------- fingerprint


def training_inputs(rules_dir: Path, data_dir: Path) -> list[Path]:
    """The files a model is trained from, in a fixed order: the rule files it reads and the labelled
    headlines (data/corpus.jsonl and the labelled sets, data/*-headlines.jsonl). Never the sealed
    splits, and never other files in data/ (labels of other kinds, keyed by id, are no corpus)."""
    files = [rules_dir / "context.yaml", rules_dir / "actors.yaml", *sorted((rules_dir / "cues").glob("*.yaml")),
             *sorted((rules_dir / "corpus").glob("*.yaml")), data_dir / "corpus.jsonl",
             *sorted(data_dir.glob("*-headlines.jsonl"))]
    return [f for f in files if f.is_file()]


def fingerprint(files: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode("utf-8") + b"\0")
        # Line endings and a trailing newline do not change what is learned.
        digest.update(path.read_bytes().replace(b"\r\n", b"\n").rstrip(b"\n") + b"\0")
    return digest.hexdigest()


def dump(model: ModelFile) -> str:
    """The model file as written: one feature per line, so a retrain's diff is readable."""
    head = model.model_dump(exclude={"weights", "space"})
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False, sort_keys=True)},")
    if model.space is not None:
        lines.append(f'  "space": {{"dims": {model.space.dims}, "scale": {json.dumps(model.space.scale)}, "vectors": {{')
        tokens = sorted(model.space.vectors.items())
        for i, (token, v) in enumerate(tokens):
            comma = "," if i < len(tokens) - 1 else ""
            lines.append(f"    {json.dumps(token, ensure_ascii=False)}: [{', '.join(_num(x) for x in v)}]{comma}")
        lines.append("  }},")
    lines.append('  "weights": {')
    items = sorted(model.weights.items())
    for i, (name, w) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        lines.append(f"    {json.dumps(name, ensure_ascii=False)}: [{', '.join(_num(x) for x in w)}]{comma}")
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _num(x: float) -> str:
    return f"{x:.4g}" if x else "0"
