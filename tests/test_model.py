"""The learned gate model: shipped, current, reproducible, and read as the rules intend."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from gatebot.checks import check_model
from gatebot.classifier import Classifier
from gatebot.model import MODEL_FILE, GateModel, ModelError
from gatebot.train import MIN_WEIGHT, featurised, final_weights

ROOT = Path(__file__).resolve().parent.parent


def test_the_model_ships_and_matches_the_rule_and_corpus_files(rules, classifier):
    assert classifier.model is not None
    problem, line = check_model(rules, classifier)
    assert problem == "", problem
    assert "features, trained on" in line
    # Trained on the corpus and the rule examples, never on the sealed split.
    trained_on = classifier.model.data.trained_on
    assert trained_on["corpus.jsonl"] > 1000 and trained_on["rules"] > 200 and "sealed.jsonl" not in trained_on


@pytest.mark.slow
def test_retraining_reproduces_the_shipped_weights(rules, classifier):
    # Another BLAS build or CPU moves weights in their last digits, so a feature sitting at the pruning
    # edge (MIN_WEIGHT) may be written on one machine and dropped on another. Compare the weights as
    # vectors (a dropped feature weighs zero), never the exact feature set.
    intercept, weights = final_weights(featurised(rules, ROOT / "data"))
    shipped = classifier.model.data
    zero = [0.0] * len(shipped.intercept)
    names = set(weights) | set(shipped.weights)
    worst = max(abs(a - b) for name in names
                for a, b in zip(weights.get(name, zero), shipped.weights.get(name, zero), strict=True))
    assert worst < 5e-3
    # A feature in one set only must be one that sits near the pruning edge, not a real disagreement.
    in_one = names - (set(weights) & set(shipped.weights))
    assert [name for name in in_one if max(map(abs, weights.get(name) or shipped.weights[name])) >= 2 * MIN_WEIGHT] == []
    assert len(in_one) < 0.01 * len(names)
    assert all(abs(a - b) < 5e-3 for a, b in zip(intercept, shipped.intercept, strict=True))


def test_probabilities_are_a_distribution_and_confidence_follows_calibration(classifier):
    verdict = classifier.classify("ByteDance orders $5.6B of Ascend 950PR chips")
    assert verdict.gate == 1 and 0 < verdict.probability <= 1
    cal = classifier.model.calibration.for_lang(verdict.lang)
    medium = cal.medium_for(verdict.gate)
    assert medium >= cal.medium
    assert verdict.confidence == ("high" if verdict.probability >= max(cal.high, medium) else
                                  "medium" if verdict.probability >= medium else "low")
    from gatebot.features import features

    reading = classifier.matcher.read("算力租赁价格上涨")
    rules_verdict = classifier.matcher.rule_verdict(reading)
    pred = classifier.model.predict(features(reading, {g.gate: g.score for g in rules_verdict.gates},
                                             rules_verdict.compute))
    assert math.isclose(sum(pred.probabilities), 1.0, rel_tol=1e-9)


@pytest.mark.parametrize("text, gate", [
    ("ByteDance orders $5.6B of Ascend 950PR chips", 1),
    ("算力租赁价格上涨,订单排到年底", 2),
    ("昇腾CANN全面开源", 3),
    ("vLLM adds Ascend NPU backend", 3),
    ("Hospitals across China adopt DeepSeek all-in-one appliances running on Ascend", 4),
    ("lunch at noon?", 0),
    ("Meituan food delivery orders hit a record", 0),
])
def test_plain_headlines(classifier, text, gate):
    assert classifier.classify(text).gate == gate


def test_the_reply_quotes_the_words_that_carried_the_verdict(classifier):
    verdict = classifier.classify("算力租赁价格上涨")
    evidence = verdict.evidence_for(verdict.gate)
    assert evidence and evidence[0].match == "算力租赁"
    spans = [(e.start, e.end) for e in evidence]
    assert all(not (a < d and c < b) for i, (a, b) in enumerate(spans) for (c, d) in spans[i + 1:])  # no overlaps


def test_group_reply_follows_the_rule_setting(rules):
    strict = Classifier(rules)
    strict.group_floor = "high"
    text = "Chinese AI labs shift some training to homegrown chips"
    loose_verdict, strict_verdict = Classifier(rules).classify(text), strict.classify(text)
    assert strict_verdict.group_reply == (strict_verdict.gate != 0 and strict_verdict.confidence == "high")
    assert loose_verdict.group_reply == (loose_verdict.gate != 0 and loose_verdict.confidence in ("high", "medium"))
    assert not Classifier(rules).classify("lunch at noon?").group_reply


def test_without_a_model_the_rules_decide(rules):
    verdict = Classifier(rules, model=None).classify("ByteDance orders $5.6B of Ascend 950PR chips")
    assert verdict.gate == 1 and verdict.probability is None


@pytest.mark.parametrize("mangle, where", [
    (lambda d: d.pop("calibration"), "calibration"),
    (lambda d: d["weights"].__setitem__("w:x", [1.0, 2.0]), "weights.w:x"),
    (lambda d: d.__setitem__("classes", [0, 1, 2, 3, 5]), "classes"),
])
def test_a_broken_model_file_is_a_clear_error(tmp_path, mangle, where):
    data = json.loads((ROOT / "rules" / MODEL_FILE).read_text(encoding="utf-8"))
    mangle(data)
    path = tmp_path / MODEL_FILE
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelError, match=where.split(".")[0]):
        GateModel.load(path)


def test_long_and_hostile_texts_stay_cheap(classifier):
    # Only the first MODEL_CHARS characters reach the model; the verdict of a long paste is its head's.
    head = "ByteDance orders $5.6B of Ascend 950PR chips. "
    assert classifier.classify(head + "x " * 20000).gate == 1
    assert classifier.classify("昇腾" * 20000).gate in range(5)


def test_who_and_where_are_features_and_evidence(classifier):
    from gatebot.features import features

    reading = classifier.matcher.read("IREN buys 10,000 Nvidia Blackwell GPUs for its Texas campus")
    rules_verdict = classifier.matcher.rule_verdict(reading)
    names = {f.name for f in features(reading, {g.gate: g.score for g in rules_verdict.gates}, rules_verdict.compute)}
    assert {"actor:foreign_only", "kind:abroad_firm", "kind:abroad_place"} <= names
    assert "actor:chinese_actor" not in names and any(n.endswith("&actor.foreign_only") for n in names)
    # A foreign-only purchase is not gate 1, and the reply says why.
    verdict = classifier.classify("IREN buys 10,000 Nvidia Blackwell GPUs for its Texas campus")
    assert verdict.gate == 0 and verdict.reason in ("not_china", "off_domain")
    # Who is buying is quoted beside the cues, in the headline's language.
    verdict = classifier.classify("China Mobile wins bid to buy 8,000 Ascend AI servers")
    assert verdict.gate == 1
    actors = [e for e in verdict.evidence_for(1) if e.cue in ("Chinese state-owned group", "domestic AI compute")]
    assert actors and all(verdict.evidence_for(1)) and actors[0].weight > 0
    assert "China Mobile" in {e.match for e in actors} or "Ascend" in {e.match for e in actors}
    zh = classifier.classify("中国移动集采8000台昇腾AI服务器")
    assert zh.gate == 1 and any(e.cue in ("中国国有企业", "国产算力") for e in zh.evidence_for(1))


def test_confidence_follows_the_calibration_of_the_headlines_language(classifier):
    cal = classifier.model.calibration
    assert set(cal.by_lang) == {"en", "zh"}
    en, zh = cal.by_lang["en"], cal.by_lang["zh"]
    if en.medium != zh.medium:
        p = (en.medium + zh.medium) / 2  # medium in one language, low in the other
        lower, higher = ("zh", "en") if zh.medium < en.medium else ("en", "zh")
        assert classifier.model.confidence(p, lower) == "medium" or p >= cal.by_lang[lower].high
        assert classifier.model.confidence(p, higher) == "low"
    for text in ("ByteDance orders $5.6B of Ascend 950PR chips", "算力租赁价格上涨,订单排到年底"):
        verdict = classifier.classify(text)
        assert verdict.confidence == classifier.model.confidence(verdict.probability, verdict.lang, verdict.gate)


def test_a_gate_named_too_readily_has_its_own_group_threshold(classifier):
    """A gate whose out-of-fold verdicts in a language needed more than the language's "medium" to
    be right as often keeps its own, higher one: the same probability is "medium" for one gate and
    "low" for the other."""
    from gatebot.model import LanguageCalibration

    cal = classifier.model.calibration
    raised = [(lang, int(g), t) for lang, c in cal.by_lang.items() for g, t in c.by_gate.items()]
    assert raised and all(t > cal.by_lang[lang].medium for lang, _, t in raised)
    lang, gate, threshold = raised[0]
    other = next(g for g in (1, 2, 3, 4) if str(g) not in cal.by_lang[lang].by_gate)
    p = (cal.by_lang[lang].medium + threshold) / 2
    assert classifier.model.confidence(p, lang, gate) == "low"
    assert classifier.model.confidence(p, lang, other) in ("medium", "high")
    with pytest.raises(ValueError):
        LanguageCalibration(high=0.8, medium=0.5, by_gate={"5": 0.9})


def test_the_sentence_space_ships_small_and_reads_the_same_words(classifier):
    from gatebot.model import sentence_features

    space = classifier.model.space
    assert space is not None and 1000 <= len(space.vectors) <= 5000
    assert all(len(v) == space.dims for v in space.vectors.values())
    assert all(t.startswith(("w:", "c2:")) for t in space.vectors)
    # A text's vector has the model's scale as its length, and texts sharing no known token have none.
    values = [v for _, v in sentence_features(space, ["w:orders", "w:chips", "c2:算力", "lang:en"])]
    assert len(values) == space.dims and math.isclose(math.sqrt(sum(v * v for v in values)), space.scale)
    assert sentence_features(space, ["w:zzzzqqq", "lang:en"]) == []
    # The model reads them: the same features give other logits without the space.
    feats = classifier.matcher.read("Hospitals across China adopt DeepSeek all-in-one appliances")
    from gatebot.features import features

    verdict = classifier.matcher.rule_verdict(feats)
    fs = features(feats, {g.gate: g.score for g in verdict.gates}, verdict.compute)
    plain = GateModel(classifier.model.data.model_copy(update={"space": None}))
    assert plain.logits(fs) != classifier.model.logits(fs)


def test_a_sentence_space_of_the_wrong_shape_is_a_clear_error(tmp_path):
    data = json.loads((ROOT / "rules" / MODEL_FILE).read_text(encoding="utf-8"))
    token = next(iter(data["space"]["vectors"]))
    data["space"]["vectors"][token] = [1.0, 2.0]
    path = tmp_path / MODEL_FILE
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelError, match="space"):
        GateModel.load(path)


def test_calibration_raises_the_group_threshold_only_for_the_gate_that_needs_it():
    from gatebot.train import GATE_LINES, GATE_PRECISION, Example, calibrate

    def line(i: int, gate: int, p: float, right: bool) -> tuple[Example, list[float]]:
        probs = [(1 - p) / 4] * 5
        probs[gate] = p
        gold = gate if right else 0
        return Example(f"x{gate}-{i}", f"headline number {i} about compute", gold, (gold,), f"x{gate}-{i}", "t"), probs

    n = 2 * GATE_LINES
    # Gate 3's verdicts are right at every probability; gate 1's only from 0.8 up.
    scored = [line(i, 3, 0.40 + 0.5 * i / n, True) for i in range(n)]
    scored += [line(i, 1, 0.40 + 0.5 * i / n, 0.40 + 0.5 * i / n >= 0.8) for i in range(n)]
    en = calibrate(scored).by_lang["en"]
    assert set(en.by_gate) == {"1"} and en.by_gate["1"] >= 0.79 > en.medium
    right_above = [ok for ex, p in scored if p.index(max(p)) == 1 and max(p) >= en.by_gate["1"]
                   for ok in [ex.gold == 1]]
    assert sum(right_above) / len(right_above) >= GATE_PRECISION


def test_a_broken_model_file_stops_a_command_with_one_line(tmp_path):
    import os
    import shutil

    from cli_run import gatebot_here

    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    (tmp_path / "rules" / MODEL_FILE).write_text('{"format": 1, "weights": ', encoding="utf-8")
    env = {**os.environ, "GATEBOT_RULES": str(tmp_path / "rules"), "GATEBOT_DB": str(tmp_path / "x.db")}
    out = gatebot_here("classify", "ByteDance orders Ascend chips", env=env, cwd=tmp_path)
    err = out.stderr.decode()
    assert out.returncode == 2 and "cannot load the model" in err and "not a JSON file" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
