"""Quality floors on the labelled sets the model is trained on: a broken pipeline (a model not
loaded, features renamed, a rule edit without `gatebot train`) fails here. These are training
figures; the honest ones are the cross-validation's and the sealed split's (README, Quality).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gatebot.evaluate import evaluate, read_lines

ROOT = Path(__file__).resolve().parent.parent
SETS = [
    (ROOT / "data" / "dev-headlines.jsonl", 0.92),
    (ROOT / "data" / "heldout-headlines.jsonl", 0.89),
    (ROOT / "data" / "heldout2-headlines.jsonl", 0.93),
    (ROOT / "data" / "heldout3-headlines.jsonl", 0.90),
]


@pytest.mark.parametrize("path, floor", SETS, ids=[p.name for p, _ in SETS])
def test_top1_stays_above_floor(classifier, path, floor):
    if not path.exists():
        pytest.skip(f"{path} is not here (shared/ sits beside the checkout in CI)")
    report = evaluate(classifier, read_lines(path))
    assert report.top1 >= floor, [m["id"] for m in report.misses]
    assert all(acc >= floor - 0.08 for acc in report.by_lang.values()), report.by_lang


def test_eval_adds_a_table_by_class_when_lines_carry_one(classifier, tmp_path):
    from gatebot.evaluate import format_report

    path = tmp_path / "classes.jsonl"
    path.write_text(
        '{"id": "a", "text": "ByteDance orders $5.6B of Ascend 950PR chips", "gold": 1, "class": "procurement"}\n'
        '{"id": "b", "text": "Meituan food delivery orders hit a record", "gold": 0, "class": "ordinary"}\n'
        '{"id": "c", "text": "lunch at noon?", "gold": 2, "class": "ordinary"}\n'
        '{"id": "d", "text": "昇腾CANN全面开源", "gold": 3}\n', encoding="utf-8")
    report = evaluate(classifier, read_lines(path))
    assert report.by_class == {"ordinary": {"n": 2.0, "right": 1.0, "top1": 0.5},
                               "procurement": {"n": 1.0, "right": 1.0, "top1": 1.0}}
    text = format_report(report)
    assert "class        lines  right  top-1" in text and "ordinary     2      1      0.500" in text
    assert report.as_dict()["by_class"]["ordinary"]["top1"] == 0.5
    # Without a class on any line, no table.
    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"id": "a", "text": "lunch at noon?", "gold": 0}\n', encoding="utf-8")
    assert "top-1\n" not in format_report(evaluate(classifier, read_lines(plain)))
    assert evaluate(classifier, read_lines(plain)).by_class == {}
