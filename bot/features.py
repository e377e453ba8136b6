"""What the learned gate model sees of a text: words, character n-grams and the rules' cues.

Features are binary names (a text has a feature or not) plus a few scaled rule scores:

  w:<word>        a Latin word of the folded text ("orders", "ascend")
  b:<w1>_<w2>     two Latin words in a row ("compute_leasing")
  c1: c2: c3:<x>  one, two or three CJK characters in a row ("租", "租赁", "算力租")
  cue:<group.i>   a cue from rules/ matched ("2.0" = gate 2's first cue, "compute.1", "off_domain.0")
  p:<a>&<b>       two cues matched together: who does what to which compute ("1.0&compute.0")
  score:<g>       the rules' score for gate g / 10;  compute: the compute-context score / 10
  china, lang:<en|zh>
  actor:<signal>  what the named actors say (rules/actors.yaml): chinese_actor, foreign_only, domestic_compute;
                  the signals also pair with the cues ("p:1.0&actor.foreign_only": an order, by foreigners only)
  kind:<kind>     a kind of actor named ("kind:china_soe", "kind:abroad_firm")

Each feature keeps where it was found, so a verdict can quote the words that carried it.
Only the first MODEL_CHARS characters are read: a headline and its description fit with room
to spare, and a pasted article costs no more than that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .cues import Reading

MODEL_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    value: float
    start: int = -1  # span in the folded text, -1 when it has none (scores, pairs)
    end: int = -1


def text_names(text: str) -> list[str]:
    """The word and n-gram names of a folded text (already cut at MODEL_CHARS), in reading order,
    repeats included: per CJK run its 1-, then 2-, then 3-grams; per Latin word the word, then the
    pair it ends. Built with C-level string joins: a headline has dozens."""
    names: list[str] = []
    add, extend = names.append, names.extend
    previous = ""  # the last Latin word, "" after a CJK run
    for token in text.split(" "):
        if not token:
            continue
        if token[:1] > "\u3000":  # a CJK run (folded runs are Latin letters, digits or CJK)
            previous = ""
            extend(map("c1:".__add__, token))
            if len(token) > 1:
                pairs = list(map(str.__add__, token, token[1:]))
                extend(map("c2:".__add__, pairs))
                if len(token) > 2:
                    extend(map("c3:".__add__, map(str.__add__, pairs, token[2:])))
            continue
        add("w:" + token)
        if previous:
            add("b:" + previous + "_" + token)
        previous = token
    return names


def _word_at(text: str, phrase: str) -> int:
    """Where `phrase` (whole Latin words) first stands as words in a folded text, -1 if nowhere."""
    n, size = len(text), len(phrase)
    i = text.find(phrase)
    while i >= 0:
        if (i == 0 or text[i - 1] == " ") and (i + size == n or text[i + size] == " "):
            return i
        i = text.find(phrase, i + 1)
    return -1


def text_span(text: str, name: str) -> tuple[int, int]:
    """Where a word or n-gram feature of `text_names(text)` was first found: (start, end)."""
    kind, _, value = name.partition(":")
    if kind in ("c1", "c2", "c3"):  # CJK characters stand only inside CJK runs: the first find is the first run's
        start = text.find(value)
        return (start, start + len(value)) if start >= 0 else (-1, -1)
    if kind == "b":
        value = value.replace("_", " ")  # Latin words hold letters or digits only
    start = _word_at(text, value) if kind in ("w", "b") else -1
    return (start, start + len(value)) if start >= 0 else (-1, -1)


@dataclass(slots=True)
class FeatureSet:
    """Every feature of a read text, each name once, in order, with its value: what the gate model
    and the reading model read. Where a word or n-gram was found is worked out only when asked
    (a verdict quotes a handful of them); cues and actors keep the span they were matched at."""

    names: list[str]
    values: list[float]  # aligned with names: 1.0 but for the scores and compute
    text: str  # the folded text as read (cut at MODEL_CHARS)
    spans: dict[str, tuple[int, int]]  # cue and actor-kind features: where they matched
    scaled: tuple[int, int] = (0, 0)  # names[a:b] are the scaled ones (values other than 1); the rest are 1
    text_end: int = 0  # names[:text_end] are the words and n-grams (the features a verdict may quote)
    pairs_from: int = 0  # names[pairs_from:scaled[0]] are the cue pairs ("p:...")

    def rows(self, weights: Mapping[str, Sequence[float]], pairs: bool = True) -> list[Sequence[float]]:
        """The weight rows of the features `weights` knows, in feature order, each times its value:
        one C-level lookup per feature (a row times 1 is the row). `pairs=False` leaves the cue
        pairs out, for a model that never reads them (no lookup that would miss)."""
        a, b = self.scaled
        names, get = self.names, weights.get
        out: list[Sequence[float]] = list(filter(None, map(get, names[:a] if pairs else names[:self.pairs_from])))
        for name, value in zip(names[a:b], self.values[a:b], strict=True):
            w = get(name)
            if w is not None:
                out.append([x * value for x in w])
        out += filter(None, map(get, names[b:]))
        return out

    def span(self, name: str) -> tuple[int, int]:
        """(start, end) in the folded text where the feature was first found, (-1, -1) when it has none."""
        found = self.spans.get(name)
        if found is not None:
            return found
        if name[:2] in ("w:", "b:") or name[:1] == "c" and name[2:3] == ":":
            return text_span(self.text, name)
        return (-1, -1)

    def as_list(self) -> list[Feature]:
        span = self.span
        return [Feature(name, value, *span(name)) for name, value in zip(self.names, self.values, strict=True)]


def feature_set(reading: Reading, gate_scores: dict[int, float], compute: float) -> FeatureSet:
    """Every feature of a read text, each name once (the first place it was found)."""
    text = reading.folded.text[:MODEL_CHARS]
    seen = dict.fromkeys(text_names(text))  # each once, first place kept
    text_end = len(seen)
    spans: dict[str, tuple[int, int]] = {}
    cues = []
    for group in sorted(reading.best):
        for entry, start, end in reading.best[group].values():
            name = "cue:" + entry.feature
            if name not in seen:
                seen[name] = None
                spans[name] = (start, end)
                cues.append(entry.feature)
    for entry, start, end in reading.actors:
        name = "kind:" + entry.feature
        if name not in seen:
            seen[name] = None
            spans[name] = (start, end)
    for signal in reading.signals():
        seen["actor:" + signal] = None
        cues.append("actor." + signal)
    cues.sort()
    pairs_from = len(seen)
    for i, a in enumerate(cues):
        for b in cues[i + 1:]:
            seen[f"p:{a}&{b}"] = None
    names = list(seen)
    values = [1.0] * len(names)
    first = len(names)
    scaled = [(f"score:{gate}", min(score, 20.0) / 10) for gate, score in gate_scores.items()]
    scaled.append(("compute", max(-10.0, min(compute, 10.0)) / 10))
    for name, value in scaled:  # a fresh name each, after all the binary ones
        names.append(name)
        values.append(value)
    last = len(names)
    if reading.lang == "zh" or reading.best.get("china"):
        names.append("china")
        values.append(1.0)
    names.append("lang:" + reading.lang)
    values.append(1.0)
    return FeatureSet(names, values, text, spans, (first, last), text_end, pairs_from)


def features(reading: Reading, gate_scores: dict[int, float], compute: float) -> list[Feature]:
    """Every feature of a read text, each name once (the first place it was found), as Feature rows."""
    return feature_set(reading, gate_scores, compute).as_list()
