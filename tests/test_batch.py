"""Many headlines at once: the same verdicts in the same order as one by one, in worker processes
only when the input is long."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gatebot.batch import classify_all, default_jobs
from gatebot.classifier import Classifier
from gatebot.ruleset import load_rules

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["ByteDance orders $5.6B of Ascend 950PR chips", "昇腾CANN全面开源", "Food delivery orders jump",
         "算力租赁价格上涨,订单排到年底", "", "vLLM adds Ascend NPU backend", "x" * 3000]


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_rules(ROOT / "rules"))


def summary(text: str, verdict) -> tuple:
    return (text, verdict.gate, verdict.confidence, verdict.probability, verdict.reading, verdict.metric,
            [(g.gate, [(e.cue, e.match) for e in g.evidence]) for g in verdict.gates], os.getpid())


def test_a_long_input_is_spread_over_workers_and_comes_back_in_order(classifier):
    texts = [f"{t} {i}" for i in range(12) for t in TEXTS]  # 84 texts, blocks of 20, tasks of 3
    got = list(classify_all(classifier, iter(texts), summary, jobs=2, block=20, chunk=3))
    want = [summary(t, classifier.classify(t)) for t in texts]
    assert [g[:-1] for g in got] == [w[:-1] for w in want]
    assert os.getpid() not in {g[-1] for g in got}  # every one classified in a worker process


def test_a_short_input_or_one_job_stays_in_this_process(classifier):
    short = list(classify_all(classifier, TEXTS, summary, jobs=2, block=20))
    one = list(classify_all(classifier, TEXTS * 4, summary, jobs=1, block=20))
    assert {g[-1] for g in short + one} == {os.getpid()}
    assert [g[:-1] for g in short] == [summary(t, classifier.classify(t))[:-1] for t in TEXTS]
    assert list(classify_all(classifier, [], summary, jobs=2)) == []
    assert 1 <= default_jobs() <= 8
