"""text -> Verdict: the rules read the text, the learned model weighs what they found.

The cue matcher (cues.py) finds every cue of rules/ in the text and gives the rules' own verdict.
When rules/model.json is present (it ships with gatebot), the learned gate model (model.py) reads
the same text's words, character n-grams and cues (features.py) and decides the gate; its
probability, calibrated when it was trained, gives the confidence. The evidence shown for the gate
is the rules' cues for that gate, then the words that pushed the model toward it most. Without a
model (a rules directory of one's own), the rules decide alone, as before.

Who and where (rules/actors.yaml) are among the model's features; the actors it leaned on are
quoted as evidence ("“ByteDance” → Chinese firm"), and a headline the model puts at no gate whose
actors are all from abroad says so ("not China's domestic compute").
"""

from __future__ import annotations

from dataclasses import replace
from itertools import repeat

from .cues import MAX_CHARS, CueMatcher, Reading
from .features import FeatureSet, feature_set
from .model import MODEL_FILE, GateModel
from .models import Evidence, GateScore, Verdict
from .reading import Reader
from .ruleset import RuleSet

__all__ = ["MAX_CHARS", "Classifier"]

CONFIDENCE_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3}
EVIDENCE_SHOWN = 6
ACTORS_SHOWN = 2  # who and where: enough to say whose news it is
# Words too small to explain anything on their own, even when the model leaned on them.
_FILLER = frozenset("a an and are as at be by for from has have in into is it its of on or the to was were will with "
                    "after amid over new says".split())


def _worth_quoting(name: str) -> bool:
    kind, _, value = name.partition(":")
    if kind == "w":
        return len(value) > 2 and value not in _FILLER and not value.isdigit()
    if kind == "b":
        words = value.split("_")
        return not any(w in _FILLER or w.isdigit() or len(w) < 2 for w in words)
    return kind in ("c2", "c3")


class Classifier:
    def __init__(self, rules: RuleSet, model: GateModel | None | bool = True):
        """`model`: True loads the rules' model when there is one; None or False uses the rules alone."""
        self.rules = rules
        self.matcher = CueMatcher(rules)
        if model is True:
            path = rules.root / MODEL_FILE
            model = GateModel.load(path) if path.is_file() else None
        self.model: GateModel | None = model or None
        self.reader = Reader.load(rules.root)  # reading, metric and figure (rules/reading-model.json)
        self.group_floor = rules.context.thresholds.group_reply
        self.cue_count = self.matcher.cue_count
        self.term_count = self.matcher.term_count

    def classify(self, text: str) -> Verdict:
        reading = self.matcher.read(text)
        verdict = self.matcher.rule_verdict(reading)
        feats = None
        if self.model is not None and verdict.reason != "empty":
            feats = feature_set(reading, {g.gate: g.score for g in verdict.gates}, verdict.compute)
            verdict = self._learned(reading, verdict, feats)
        verdict.group_reply = bool(
            verdict.gate and CONFIDENCE_RANK[verdict.confidence] >= CONFIDENCE_RANK[self.group_floor])
        if verdict.gate and self.reader is not None:
            self.reader.attach(verdict, reading, feats)  # the gate model's features, reused
        return verdict

    def read_for_gate(self, text: str, verdict: Verdict) -> Verdict:
        """The verdict with its reading, metric and figure filled in for its own gate, keeping any
        already given: for a model judge's verdict whose gate differs from the rules'."""
        if not verdict.gate or self.reader is None:
            return verdict
        filled = replace(verdict, figure=None)
        self.reader.attach(filled, self.matcher.read(text))
        return filled

    def rules_only(self, text: str) -> Verdict:
        """The hand-written rules' verdict alone (for comparison in `gatebot eval`)."""
        return self.matcher.rule_verdict(self.matcher.read(text))

    def _learned(self, reading: Reading, rules: Verdict, feats: FeatureSet) -> Verdict:
        assert self.model is not None
        prediction = self.model.predict(feats)
        gate, p = prediction.gate, prediction.probabilities[prediction.gate]
        if gate == 0:
            # The rules' reason for "no gate" still explains it; when they saw a gate, say the
            # model weighed it down, or that only foreign actors are named.
            reason = rules.reason if rules.gate == 0 else "outweighed"
            if reason in ("outweighed", "no_cue", "weak") and "foreign_only" in reading.signals():
                reason = "not_china"
            return replace(rules, gate=0, confidence="none", secondary=None, probability=round(p, 4), reason=reason)
        gates = [self._with_words(g, feats, reading, gate) if g.gate == gate else g for g in rules.gates]
        if not any(g.gate == gate for g in gates):
            gates.append(self._with_words(GateScore(gate=gate, score=0.0, evidence=[]), feats, reading, gate))
        gates.sort(key=lambda g: (g.gate != gate, -g.score))
        return replace(rules, gate=gate, confidence=self.model.confidence(p, rules.lang, gate),
                       secondary=prediction.secondary, gates=gates, probability=round(p, 4), reason="")

    def _with_words(self, score: GateScore, feats: FeatureSet, reading: Reading, gate: int) -> GateScore:
        """The gate's cue evidence, then the words that carried the model toward it."""
        evidence: list[Evidence] = []
        shown: set[tuple[int, int]] = set()
        for quoted in score.evidence:  # two cues on the same words are quoted once
            if (quoted.start, quoted.end) not in shown:
                shown.add((quoted.start, quoted.end))
                evidence.append(quoted)
        folded = reading.folded
        assert self.model is not None  # only called once the model has answered
        for entry, start, end, push in self._actors_leaned_on(reading, self.model, gate):
            s, e = folded.original_span(start, end)
            if any(s < b and a < e for a, b in shown):
                continue
            shown.add((s, e))
            actors = self.rules.actors
            assert actors is not None  # an actor was read, so the rules have their actors file
            label = actors.kinds[entry.feature].label.get(reading.lang)
            evidence.append(Evidence(cue=label, match=reading.text[s:e], start=s, end=e, weight=round(push, 2)))
        # Only words and n-grams are ever quoted: the pushes of the rest need not be worked out or sorted.
        for name, push in self.model.pushes(feats.names[:feats.text_end], repeat(1.0), gate):
            if push < 0.05:
                break  # sorted: the rest pushed even less
            if not _worth_quoting(name):
                continue
            start, end = feats.span(name)
            if start < 0:
                continue
            s, e = folded.original_span(start, end)
            if any(s < b and a < e for a, b in shown):  # overlaps words already quoted
                continue
            shown.add((s, e))
            evidence.append(Evidence(cue="learned", match=reading.text[s:e], start=s, end=e, weight=round(push, 2)))
            if len(evidence) >= EVIDENCE_SHOWN:
                break
        return GateScore(gate=score.gate, score=score.score, evidence=evidence)

    @staticmethod
    def _actors_leaned_on(reading: Reading, model: GateModel, gate: int):
        """The actors whose kind or signal carried the model toward the gate: the first name of each
        kind, with its kind's push plus the signals' (at most ACTORS_SHOWN)."""
        if not reading.actors:
            return []
        names = list(dict.fromkeys([*(f"actor:{s}" for s in reading.signals()),
                                    *(f"kind:{entry.feature}" for entry, _, _ in reading.actors)]))
        push = dict(model.pushes(names, repeat(1.0), gate))  # (features of value 1, each among the text's)
        signals = sum(push.get(f"actor:{s}", 0.0) for s in reading.signals())
        out, kinds = [], set()
        for entry, start, end in reading.actors:
            if entry.feature in kinds:
                continue
            kinds.add(entry.feature)
            total = push.get(f"kind:{entry.feature}", 0.0) + signals
            if total >= 0.05:
                out.append((entry, start, end, total))
        out.sort(key=lambda x: -x[3])
        return out[:ACTORS_SHOWN]
