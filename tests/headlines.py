"""Headlines of a known confidence for the group-manners tests.

The learned model decides confidences and is retrained as the corpus grows, so the tests pick,
from a few candidates each, the first headline the shipped model gives the confidence they need.
"""

from __future__ import annotations

from gatebot.classifier import Classifier

CANDIDATES = {
    "high": ("ByteDance orders $5.6B of Ascend 950PR chips", "China Mobile orders 8,000 Ascend servers",
             "Alibaba orders 10,000 Ascend 910C chips"),
    "medium": ("Tencent orders Ascend chips for its cloud", "Baidu orders Kunlun chips worth $1B",
               "Hygon DCU First to Adapt to SenseTime's SenseNova-U1", "Ascend 910C rumours",
               "Word of more Ascend chip orders"),
    "low": ("Huawei Ascend chips in the news again", "Ascend chips mentioned in report", "Analysts discuss Ascend chips",
            "Huawei Ascend update", "国产AI芯片讨论", "Huawei Ascend chips in demand", "Cambricon chips in talks"),
}


def pick(classifier: Classifier, confidence: str) -> str:
    """The first candidate with a gate at this confidence."""
    for text in CANDIDATES[confidence]:
        verdict = classifier.classify(text)
        if verdict.gate and verdict.confidence == confidence:
            return text
    raise AssertionError(f"no {confidence}-confidence headline among the candidates: add one to tests/headlines.py")
