"""Classifier behaviour: languages, folding, misleading words, hedged news, multi-gate, bad input."""

from __future__ import annotations

import pytest
from gatebot.text import detect_language, fold, fold_phrase
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize(
    "text, gate",
    [
        ("ByteDance orders $5.6B of Ascend 950PR chips", 1),
        ("昇腾CANN全面开源", 3),
        ("中国移动完成AI推理服务器集采,国产芯片占比超七成", 1),
        ("Beijing hands out computing power vouchers to AI start-ups", 1),
        ("算力租赁价格回落,昇腾910资源供给充足", 2),
        ("DeepSeek trains its next model entirely on Huawei Ascend clusters", 2),
        ("国家超算互联网平台算力利用率提升", 2),
        ("Moore Threads releases MUSA toolkit to port CUDA code", 3),
        ("华为:超200个开源模型完成昇腾适配", 3),
        ("DeepSeek一体机进入县级医院,开箱即用", 4),
        ("Small and mid-sized manufacturers adopt domestic AI chips for quality inspection", 4),
    ],
)
def test_headlines(classifier, text, gate):
    assert classifier.classify(text).gate == gate


@pytest.mark.parametrize(
    "text",
    [
        "Meituan food delivery orders hit a record",
        "PLA troop deployment near Taiwan raises tension",
        "Apple app ecosystem grows in China",
        "比特币全网算力创新高",
        "外卖订单量大增",
        "鸿蒙生态开发者突破800万",
        "汽车芯片短缺,多家车企减产",
        "OpenAI orders billions of dollars of Nvidia GPUs for Stargate in Texas",
        "",
        "   ",
        "hello",
        "🙂🙂🙂",
    ],
)
def test_ordinary_text_gives_no_gate(classifier, text):
    assert classifier.classify(text).gate == 0


@pytest.mark.parametrize(
    "variant",
    ["Ascend-950PR orders", "ascend 950 pr orders", "ASCEND 950PR ORDERS", "Ａｓｃｅｎｄ ９５０ＰＲ ｏｒｄｅｒｓ",
     "ascend_950pr orders!!!", "“Ascend 950PR” orders"],
)
def test_english_variants_fold_alike(classifier, variant):
    verdict = classifier.classify(variant)
    assert verdict.gate == 1
    assert fold_phrase("Ascend 950PR") in fold(variant).text


def test_chinese_needs_no_spaces_and_mixed_script(classifier):
    # Spaces between Chinese words and Latin-Chinese mixes fold alike (a bare "AI芯片大单", no buyer
    # and no domestic chip named, sits near the model's line between gate 1 and none: the test names one).
    assert classifier.classify("字节跳动下AI芯片大单").gate == 1
    assert classifier.classify("字节跳动 下 AI 芯片 大单").gate == 1
    bare, spaced = classifier.classify("AI芯片大单"), classifier.classify("AI 芯片 大单")
    assert (bare.gate, bare.probability, bare.gates[0].score) == (spaced.gate, spaced.probability, spaced.gates[0].score)
    assert classifier.classify("手写CUDA到昇腾迁移:CANN custom-op迁移指南").gate == 3
    assert fold("国产 芯片").text == fold("国产芯片").text


def test_latin_cues_respect_ascii_word_edges(classifier):
    # "CANN" must not fire inside "CANNES"; "AI" must still fire next to Chinese ("AI芯片").
    assert not any(e.cue == "CANN" for g in classifier.classify("Cannes film festival AI chips").gates
                   for e in g.evidence)
    assert any(e.cue == "AI芯片" for e in classifier.classify("AI芯片订单").context)


@pytest.mark.parametrize(
    "text, ok",
    [
        ("SMEs hesitate to migrate off CUDA", {3, 4}),
        ("DeepSeek delays model after training failures on Huawei Ascend chips", {2}),
        ("寒武纪新签大单放缓?", {1}),
        ("Idle: most of China's new AI data centers sit unused", {2}),
    ],
)
def test_negative_or_hedged_news_keeps_its_gate(classifier, text, ok):
    assert classifier.classify(text).gate in ok


def test_multi_gate_names_a_secondary(classifier):
    verdict = classifier.classify("China AI computing vouchers help SMEs reach domestic compute")
    assert {verdict.gate, verdict.secondary} == {1, 4}
    assert [g.gate for g in verdict.gates][:2] == [verdict.gate, verdict.secondary]


def test_verdict_carries_evidence_with_offsets(classifier):
    text = "ByteDance orders $5.6B of Ascend 950PR chips"
    verdict = classifier.classify(text)
    assert verdict.lang == "en" and verdict.confidence in {"high", "medium", "low"}
    for gate in verdict.gates:
        for e in gate.evidence:
            assert text[e.start:e.end] == e.match
    assert "orders" in [e.match for e in verdict.evidence_for(1)]


def test_evidence_offsets_survive_fullwidth(classifier):
    text = "华为ＣＡＮＮ全面开源"
    verdict = classifier.classify(text)
    match = verdict.evidence_for(3)[0]
    assert text[match.start:match.end] == match.match == "ＣＡＮＮ"


@pytest.mark.parametrize(
    "text, lang",
    [("昇腾CANN全面开源", "zh"), ("手写 CUDA 到昇腾迁移:CANN custom-op 迁移指南", "zh"),
     ("ByteDance orders Ascend chips", "en"), ("Huawei 昇腾 chips ship to ByteDance this year", "en"),
     ("", "en"), ("مرحبا بالعالم", "en")],
)
def test_language(text, lang):
    assert detect_language(text) == lang


@pytest.mark.parametrize(
    "text",
    ["x" * 100_000, "昇腾" * 50_000, "orders\x00Ascend\x00chips", "\u202eAscend orders\u202c",
     "שלום עולם Ascend", "\ud800 broken surrogate", "<b>Ascend</b> &amp; orders", "🙂" * 1000],
)
def test_bad_input_never_raises(classifier, text):
    verdict = classifier.classify(text)
    assert 0 <= verdict.gate <= 4


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_never_raises_and_is_deterministic(classifier, text):
    first = classifier.classify(text)
    assert first == classifier.classify(text)
    assert 0 <= first.gate <= 4
    for gate in first.gates:
        for e in gate.evidence:
            assert 0 <= e.start <= e.end <= len(text)


@pytest.mark.parametrize(
    "text, gate",
    [("昇騰CANN全面開源", 3), ("字節跳動向華為訂購10萬片昇騰晶片", 1), ("智算中心利用率不足三成,大量算力閒置", 2),
     ("中小企業導入國產算力一體機", 4), ("輝達H20晶片對華出口許可獲批", 0)],
)
def test_traditional_chinese_folds_to_simplified(classifier, text, gate):
    verdict = classifier.classify(text)
    assert verdict.gate == gate and verdict.lang == "zh"
    for g in verdict.gates:
        for e in g.evidence:
            assert text[e.start:e.end] == e.match  # offsets still point into the original


def test_folding_leaves_simplified_cue_terms_alone(rules):
    """A Simplified cue must survive the Traditional table (昇腾 is not 升腾); characters listed here are
    Traditional variants written into the cues on purpose."""
    from gatebot.hant import TABLE

    deliberate = set("崑崙採據數為爾節紀線華購輝達騰點")
    groups = [c for cues in rules.cues.values() for c in cues]
    groups += rules.context.compute + rules.context.china + rules.context.off_domain
    for cue in groups:
        for term in cue.terms:
            changed = {ch for ch in term if ord(ch) in TABLE} - deliberate
            assert not changed, f"{term!r}: {changed} would be folded; add them to EXCLUDE in scripts/gen_hant.py"
