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

from collections.abc import Iterable
from dataclasses import dataclass

from .cues import Reading

MODEL_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    value: float
    start: int = -1  # span in the folded text, -1 when it has none (scores, pairs)
    end: int = -1


def _is_cjk(token: str) -> bool:
    return token[:1] > "\u3000"


def text_features(folded_text: str) -> Iterable[Feature]:
    text = folded_text[:MODEL_CHARS]
    pos = 0
    previous: tuple[str, int] | None = None  # the last Latin word and where it starts
    for token in text.split(" "):
        start, end = pos, pos + len(token)
        pos = end + 1
        if not token:
            continue
        if _is_cjk(token):
            previous = None
            n = len(token)
            for size in (1, 2, 3):
                for i in range(n - size + 1):
                    yield Feature(f"c{size}:{token[i:i + size]}", 1.0, start + i, start + i + size)
            continue
        yield Feature(f"w:{token}", 1.0, start, end)
        if previous is not None:
            yield Feature(f"b:{previous[0]}_{token}", 1.0, previous[1], end)
        previous = (token, start)


def features(reading: Reading, gate_scores: dict[int, float], compute: float) -> list[Feature]:
    """Every feature of a read text, each name once (the first place it was found)."""
    out: dict[str, Feature] = {}
    for feature in text_features(reading.folded.text):
        out.setdefault(feature.name, feature)
    cues = []
    for group in sorted(reading.best):
        for entry, start, end in reading.best[group].values():
            name = f"cue:{entry.feature}"
            if name not in out:
                out[name] = Feature(name, 1.0, start, end)
                cues.append(entry.feature)
    for entry, start, end in reading.actors:
        out.setdefault(f"kind:{entry.feature}", Feature(f"kind:{entry.feature}", 1.0, start, end))
    for signal in reading.signals():
        out[f"actor:{signal}"] = Feature(f"actor:{signal}", 1.0)
        cues.append(f"actor.{signal}")
    cues.sort()
    for i, a in enumerate(cues):
        for b in cues[i + 1:]:
            out[f"p:{a}&{b}"] = Feature(f"p:{a}&{b}", 1.0)
    for gate, score in gate_scores.items():
        out[f"score:{gate}"] = Feature(f"score:{gate}", min(score, 20.0) / 10)
    out["compute"] = Feature("compute", max(-10.0, min(compute, 10.0)) / 10)
    if reading.lang == "zh" or reading.best.get("china"):
        out["china"] = Feature("china", 1.0)
    out[f"lang:{reading.lang}"] = Feature(f"lang:{reading.lang}", 1.0)
    return list(out.values())
