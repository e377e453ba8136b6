"""The hand-written rules: cue matching and the rules' own verdict.

All cue terms of all groups go into one Aho-Corasick automaton, built once when the rules load;
a message is folded (see text.py) and scanned once. Each hit is checked for Latin word edges
(ASCII-only: a Latin cue must start and end at a run boundary, give or take an inflection:
-s, -es, -ed, -ing, and -d after e),
CJK cues match as plain substrings.

Scoring, all from rules/: a gate's score is the sum of the weights of the distinct cues of that
gate that matched. No gate fires unless the text is about AI compute (the compute-context score,
minus off-domain senses such as bitcoin "hash rate" or troop "deployment", reaches a threshold)
and about China (any China cue, or Chinese text). The best gate at or above the gate threshold is
the verdict; the runner-up is named when its score is close.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ahocorasick

from .models import Confidence, Evidence, GateScore, Lang, Verdict
from .ruleset import Cue, RuleSet
from .text import Folded, fold, fold_phrase, language_of

MAX_CHARS = 4_000  # a headline, its description, a lead paragraph: a pasted article is cut here before matching


@dataclass(frozen=True, slots=True)
class _Entry:
    group: str  # "1".."4", "compute", "china", "off_domain"
    lane: str  # where longest-match competition happens: "gate" for all four gates, else the group
    cue_id: int  # distinct per cue (a cue's terms count once)
    weight: float
    term: str  # as written in the rules
    feature: str  # the cue's name for the learned model: "<group>.<index in its group>"


_GATES = frozenset("1234")


@dataclass(slots=True)
class Reading:
    """What the cue matcher found in one text: the distinct cues per group, where they matched."""

    text: str
    folded: Folded
    lang: Lang
    best: dict[str, dict[int, tuple[_Entry, int, int]]]  # group -> cue id -> (entry, start, end) in folded text
    # The actors named (rules/actors.yaml), in order, none inside another: (entry, start, end);
    # entry.group is the side ("china" or "abroad"), entry.feature the kind.
    actors: list[tuple[_Entry, int, int]] = field(default_factory=list)

    def signals(self) -> set[str]:
        """What the actors say (see ruleset.SIGNALS): a Chinese actor, foreign actors only, domestic compute.

        A Chinese text that names no actor from abroad counts as a Chinese actor's: Chinese-language
        news of China's own compute seldom says "China" ("AI芯片大单"). "Domestic chips" (side
        "local") are China's unless only actors from abroad are named: then they are that country's."""
        sides = {entry.group for entry, _, _ in self.actors}
        out = set()
        foreign = "abroad" in sides and "china" not in sides
        if "china" in sides or (not foreign and ("local" in sides or self.lang == "zh")):
            out.add("chinese_actor")
        elif foreign:
            out.add("foreign_only")
        # weight 1: a kind that names domestic compute (a local one only when it is China's)
        if any(entry.weight and not (foreign and entry.group == "local") for entry, _, _ in self.actors):
            out.add("domestic_compute")
        return out
_SUFFIXES = frozenset({"s", "es", "ed", "ing"})
MAX_ACTORS = 12  # actors kept per text: enough to say who, bounded for a pasted article


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class CueMatcher:
    def __init__(self, rules: RuleSet):
        self.rules = rules
        self.thresholds = rules.context.thresholds
        entries: dict[str, list[_Entry]] = {}
        cue_id = 0

        def add(group: str, cues: list[Cue]) -> None:
            nonlocal cue_id
            for index, cue in enumerate(cues):
                cue_id += 1
                for term in cue.terms:
                    key = fold_phrase(term)
                    lane = "gate" if group in _GATES else group
                    entries.setdefault(key, []).append(
                        _Entry(group, lane, cue_id, cue.weight, term, f"{group}.{index}"))

        for gate, cues in rules.cues.items():
            add(str(gate), cues)
        add("compute", rules.context.compute)
        add("china", rules.context.china)
        add("off_domain", rules.context.off_domain)

        self._automaton = ahocorasick.Automaton()
        for key, items in entries.items():
            # Acronyms and model numbers (CANN, GPU, 910B) take a plural "s" only: "Cannes" is not CANN.
            inflects = not any(e.term.isupper() or any(c.isdigit() for c in e.term) for e in items)
            self._automaton.add_word(
                key, (len(key), _is_word_char(key[0]), _is_word_char(key[-1]), inflects, tuple(items))
            )
        self._automaton.make_automaton()
        self.cue_count = cue_id
        self.term_count = len(entries)
        self._actors = self._actor_automaton(rules)

    @staticmethod
    def _actor_automaton(rules: RuleSet):
        """One automaton over every actor name; None without rules/actors.yaml."""
        if rules.actors is None:
            return None
        names: dict[str, list[_Entry]] = {}
        for index, (kind, spec) in enumerate(rules.actors.kinds.items()):
            for term in spec.terms:
                names.setdefault(fold_phrase(term), []).append(
                    _Entry(spec.side, "actor", index, 1.0 if spec.compute else 0.0, term, kind))
        automaton = ahocorasick.Automaton()
        for key, items in names.items():
            inflects = not any(e.term.isupper() or any(c.isdigit() for c in e.term) for e in items)
            automaton.add_word(key, (len(key), _is_word_char(key[0]), _is_word_char(key[-1]), inflects, tuple(items)))
        automaton.make_automaton()
        return automaton

    def _read_actors(self, text: str) -> list[tuple[_Entry, int, int]]:
        """The actors named, longest name first where names overlap ("China Mobile", not "China")."""
        if self._actors is None:
            return []
        out: list[tuple[_Entry, int, int]] = []
        reach = -1
        for start, end, items in sorted(self._hits(text, self._actors), key=lambda h: (h[0], -(h[1] - h[0]))):
            if start < reach:
                continue  # inside (or overlapping) a longer name kept before
            reach = end
            out.append((items[0], start, end))
            if len(out) >= MAX_ACTORS:
                break
        return out

    # ------------------------------------------------------------------ matching

    def _hits(self, text: str, automaton=None):
        """Yield (start, end, entries) for every cue occurrence that respects word edges."""
        n = len(text)
        for last, (length, latin_start, latin_end, inflects, items) in (automaton or self._automaton).iter(text):
            start = last - length + 1
            end = last + 1
            if latin_start and start > 0 and text[start - 1] != " ":
                continue
            if latin_end and end < n and text[end] != " ":
                # Tolerate inflections: order -> orders/ordered/ordering, lease -> leased.
                stop = text.find(" ", end)
                stop = n if stop < 0 else stop
                suffix = text[end:stop]
                if inflects:
                    if suffix not in _SUFFIXES and not (suffix == "d" and text[end - 1] == "e"):
                        continue
                elif suffix != "s":
                    continue
                end = stop
            yield start, end, items

    def read(self, text: str) -> Reading:
        """Every cue the text holds, longest match first, with the folded text it was found in."""
        text = text or ""
        folded = fold(text[:MAX_CHARS])
        ft = folded.text

        # Longest match wins inside a group: "bulk order" must not also count as "order".
        hits = sorted(self._hits(ft), key=lambda h: (h[0], -(h[1] - h[0])))
        # Gate cues compete across gates too, as Chinese segmentation would: "推理服务器" (servers
        # bought, gate 1) is not "推理服务" (a service running, gate 2).
        # Hits come sorted by start, longest first, so "inside an earlier kept span" needs only the
        # furthest end kept so far (per lane): one pass, linear in the number of hits.
        lanes: dict[str, list[int]] = {}  # lane -> [furthest end before this start, current start, its furthest end]
        gate_spans: list[tuple[int, int]] = []
        best: dict[str, dict[int, tuple[_Entry, int, int]]] = {}
        for start, end, items in hits:
            for entry in items:
                lane = lanes.get(entry.lane)
                if lane is None:
                    lanes[entry.lane] = [-1, start, end]
                else:
                    if start != lane[1]:
                        lane[0], lane[1], lane[2] = max(lane[0], lane[2]), start, end
                    elif lane[2] > end:
                        continue  # a longer cue starting here was kept
                    if lane[0] >= end:
                        continue  # inside a cue kept earlier
                if entry.lane == "gate":
                    gate_spans.append((start, end))
                per_cue = best.get(entry.group)
                if per_cue is None:
                    best[entry.group] = {entry.cue_id: (entry, start, end)}
                elif entry.cue_id not in per_cue:
                    per_cue[entry.cue_id] = (entry, start, end)

        # An off-domain sense inside a gate cue is not off-domain: "ordinary office PC" is gate 4.
        # (Few distinct off-domain cues, each checked against the gate spans once.)
        for cue_id, (_entry, start, end) in list(best.get("off_domain", {}).items()):
            if any(s <= start and end <= e for s, e in gate_spans):
                del best["off_domain"][cue_id]
        return Reading(text, folded, language_of(folded), best, self._read_actors(ft))

    def rule_verdict(self, reading: Reading) -> Verdict:
        """The hand-written rules' verdict: weighted cue sums against the thresholds in rules/."""
        text, folded, lang, best = reading.text, reading.folded, reading.lang, reading.best
        ft = folded.text
        t = self.thresholds

        def evidence(group: str) -> list[Evidence]:
            out = []
            for entry, start, end in sorted(best[group].values(), key=lambda x: x[1]):
                s, e = folded.original_span(start, end)
                out.append(Evidence(cue=entry.term, match=text[s:e], start=s, end=e, weight=entry.weight))
            return out

        totals = {group: sum(entry.weight for entry, _, _ in cues.values()) for group, cues in best.items()}

        def total(group: str) -> float:
            return totals.get(group, 0.0)

        compute = total("compute") - total("off_domain")
        china = lang == "zh" or bool(best.get("china"))
        scores = []
        for gate in "1234":
            if best.get(gate):
                scores.append(GateScore(gate=int(gate), score=round(totals[gate], 3), evidence=evidence(gate)))
        # Best first; ties go to the gate whose strongest cue is strongest, then the earlier gate.
        scores.sort(key=lambda g: (-g.score, -max(e.weight for e in g.evidence), g.gate))
        # China cues only answer yes/no; the context shown is compute context and off-domain senses.
        context = [e for group in ("compute", "off_domain") if best.get(group) for e in evidence(group)]
        context.sort(key=lambda e: e.start)

        def none(reason: str) -> Verdict:
            return Verdict(gate=0, confidence="none", secondary=None, gates=scores, lang=lang,
                           compute=round(compute, 3), context=context, reason=reason)

        if not ft:
            return none("empty")
        if not scores:
            return none("no_cue")
        if total("off_domain") and compute < t.compute:
            return none("off_domain")
        if compute < t.compute:
            return none("no_compute")
        if not china and compute < 2 * t.compute:
            # An English text with no China cue needs twice the compute context to count.
            return none("not_china")
        top = scores[0]
        if top.score < t.gate:
            return none("weak")
        runner = scores[1] if len(scores) > 1 else None
        secondary = None
        if runner and runner.score >= t.gate and runner.score >= t.secondary_ratio * top.score:
            secondary = runner.gate
        margin = top.score - (runner.score if runner else 0.0)
        confidence: Confidence
        if top.score >= t.high and margin >= t.gate and compute >= 2 * t.compute:
            confidence = "high"
        elif top.score >= t.medium and margin > 0:
            confidence = "medium"
        else:
            confidence = "low"
        return Verdict(gate=top.gate, confidence=confidence, secondary=secondary, gates=scores,
                       lang=lang, compute=round(compute, 3), context=context, reason="")
