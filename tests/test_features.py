"""The gate model's features and the figure scan: the shortcuts the classifier takes (names built in
bulk, spans found when a verdict quotes them, searches skipped when they cannot match) give what
the plain, slow way gives."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest
from gatebot.features import MODEL_CHARS, Feature, feature_set, features
from gatebot.figures import _TRIGGERS, _WORDS, FIGURE_CHARS, PATTERNS, Figure, candidates, case_blind

ROOT = Path(__file__).resolve().parent.parent

TRICKY = [
    "", "   ", "x", "ByteDance orders 1,600 Ascend 910B chips worth $62 million",
    "昇腾CANN全面开源", "算力租赁价格上涨,订单排到年底", "华为昇腾 Ascend-950PR 订单 orders orders 订单",
    "a b a b c a b", "ai ai ai 算力 ai 算力", "昇腾" * 1200, "ascend chips " * 200,
    "THOUSANDS OF SERVERS", "Two Hundred CHIPS", "ſix ſervers", "İnvestors pour 5 BİLLİON YUAN", "40 Percent",
    "KUNLUN 3 trillion tokens", "十万张卡 三家 5个 第三台", "10万P 6.6万PFlops 40MW", "tripled", "redoubled", "50%",
    "US$53b and Rmb1bn, HK$5 or €3", "40 PERCENT, 30 per cent", "3倍 5成 三分之一 百分之二十", "Trillion-RMB",
    "837-million-yuan 9.16 billion yuan 56亿元 26亿美元", "140 trillion tokens 7.94万亿Token", "14-fold 2.8 TIMES",
]


def _texts() -> list[str]:
    lines = (ROOT / "data" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    return TRICKY + [json.loads(line)["text"] for line in lines[::7]]


def _reference_features(reading, gate_scores, compute) -> list[Feature]:
    """Features as they were first written: a generator of Feature rows, first place kept."""
    def text_features(folded_text):
        text = folded_text[:MODEL_CHARS]
        pos, previous = 0, None
        for token in text.split(" "):
            start, end = pos, pos + len(token)
            pos = end + 1
            if not token:
                continue
            if token[:1] > "\u3000":
                previous = None
                for size in (1, 2, 3):
                    for i in range(len(token) - size + 1):
                        yield Feature(f"c{size}:{token[i:i + size]}", 1.0, start + i, start + i + size)
                continue
            yield Feature(f"w:{token}", 1.0, start, end)
            if previous is not None:
                yield Feature(f"b:{previous[0]}_{token}", 1.0, previous[1], end)
            previous = (token, start)

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


def test_features_are_the_names_values_and_spans_of_the_plain_reading(classifier):
    for text in _texts():
        reading = classifier.matcher.read(text)
        verdict = classifier.matcher.rule_verdict(reading)
        scores = {g.gate: g.score for g in verdict.gates}
        want = _reference_features(reading, scores, verdict.compute)
        assert features(reading, scores, verdict.compute) == want, text
        fs = feature_set(reading, scores, verdict.compute)
        assert fs.names == [f.name for f in want] and fs.values == [f.value for f in want]
        a, b = fs.scaled
        assert all(v == 1.0 for v in fs.values[:a] + fs.values[b:])
        assert all(not n.startswith(("w:", "b:", "c1:", "c2:", "c3:")) for n in fs.names[fs.text_end:])


def test_weight_rows_follow_the_features_order_scaled_by_value(classifier):
    weights = classifier.model.data.weights
    reading = classifier.matcher.read("ByteDance orders 1,600 Ascend 910B chips 算力")
    verdict = classifier.matcher.rule_verdict(reading)
    fs = feature_set(reading, {g.gate: g.score for g in verdict.gates}, verdict.compute)
    want = [[x * v for x in weights[n]] for n, v in zip(fs.names, fs.values, strict=True) if n in weights]
    assert fs.rows(weights) == want and len(want) > 10
    assert fs.names[fs.pairs_from:fs.scaled[0]] == [n for n in fs.names if n.startswith("p:")] != []
    assert fs.rows(weights, pairs=False) == [
        [x * v for x in weights[n]] for n, v in zip(fs.names, fs.values, strict=True) if n in weights and n[:2] != "p:"]


def _reference_matches(text: str) -> list:
    """Every pattern's matches, each search gated by the triggers' own searches only."""
    text = (text or "")[:FIGURE_CHARS]
    if not (re.search(r"[0-9]", text) or re.search(r"[一二两三四五六七八九十百千万亿数几]", text) or _WORDS.search(text)):
        return []
    present = {kind: bool(trigger.search(text)) for kind, trigger in _TRIGGERS.items()}
    found = []
    for rank, (kind, pattern) in enumerate(PATTERNS):
        if present.get(kind, True):
            found += [(m, rank, kind) for m in pattern.finditer(text)]
    return found


def test_skipped_searches_could_not_have_matched():
    for text in _texts():
        assert candidates(text) == _candidates_from(text, _reference_matches(text)), text


def _candidates_from(text: str, matches) -> list[Figure]:
    from gatebot.figures import _YEAR, _fits_count

    text = (text or "")[:FIGURE_CHARS]
    found = []
    for m, rank, kind in matches:
        group = 1 if m.lastindex else 0
        s, e = m.span(group)
        value = m.group(group)
        stripped = value.strip()
        if not stripped or (kind in ("count", "compute", "tokens") and _YEAR.fullmatch(stripped)):
            continue
        if kind in ("count", "hardware") and not _fits_count(stripped, text, s):
            continue
        s += len(value) - len(value.lstrip())
        e -= len(value) - len(value.rstrip())
        found.append((s, -(e - s), rank, Figure(text[s:e], kind, s, e)))
    found.sort(key=lambda x: (x[0], x[1], x[2]))
    out, reach = [], -1
    for _s, _neg, _rank, figure in found:
        if figure.start >= reach:
            out.append(figure)
            reach = figure.end
    return out


@pytest.mark.parametrize("letter", list(string.ascii_lowercase))
def test_case_blind_lower_case_holds_every_letter_a_case_blind_search_matches(letter):
    everything = "".join(chr(c) for c in range(0x10000) if not 0xD800 <= c < 0xE000)
    for m in re.finditer(letter, everything, re.IGNORECASE):
        assert case_blind(m.group()) == letter, hex(ord(m.group()))
