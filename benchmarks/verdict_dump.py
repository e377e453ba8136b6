"""Every verdict the classifier gives on the project's texts, as JSON lines: to prove a speed-up
changed no answer. Asserts nothing itself; `--compare` reads two dumps and lists differences.

    python benchmarks/verdict_dump.py OUT.jsonl            # write the dump
    python benchmarks/verdict_dump.py --compare A.jsonl B.jsonl

Texts: data/corpus.jsonl, data/sealed*.jsonl, data/*-headlines.jsonl, 5,000 of bench_classifier's
generated headlines and a few long pastes. Each line also carries the verdict re-read for every
gate (read_for_gate), so the reading model is exercised on gates the classifier did not pick.
Compared: everything exactly, except probabilities (within 1e-9).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_classifier import headlines  # noqa: E402
from gatebot.classifier import Classifier  # noqa: E402
from gatebot.ruleset import load_rules  # noqa: E402

TOLERANCE = 1e-9


def texts() -> list[str]:
    out: list[str] = []
    data = ROOT / "data"
    files = [data / "corpus.jsonl", *sorted(data.glob("sealed*.jsonl")), *sorted(data.glob("*-headlines.jsonl"))]
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["text"])
    out += headlines(5000)
    out += ["", "   ", "昇腾" * 3000, "华为昇腾订单 Ascend orders " * 300, "a" * 5000,
            "ByteDance orders $1,600,000 of Ascend chips, 56亿元 10万片 " * 100]
    return out


def dump(path: Path) -> None:
    classifier = Classifier(load_rules(ROOT / "rules"))
    with path.open("w", encoding="utf-8") as out:
        for text in texts():
            verdict = classifier.classify(text)
            row = {"text": text, "verdict": verdict.model_dump()}
            # The reader for each gate, as a model judge's verdict of another gate would get it.
            row["read_for_gate"] = [
                classifier.read_for_gate(text, replace(verdict, gate=g, reading=None, metric=None)).model_dump()
                for g in (1, 2, 3, 4)]
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _diff(a: object, b: object, where: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a for d in _diff(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _diff(x, y, f"{where}[{i}]")]
    if where.endswith(".probability") and isinstance(a, float) and isinstance(b, float):
        return [] if abs(a - b) <= TOLERANCE else [f"{where}: {a!r} != {b!r}"]
    return [] if a == b and type(a) is type(b) else [f"{where}: {a!r} != {b!r}"]


def compare(a_path: Path, b_path: Path) -> int:
    a_lines = a_path.read_text(encoding="utf-8").splitlines()
    b_lines = b_path.read_text(encoding="utf-8").splitlines()
    if len(a_lines) != len(b_lines):
        print(f"{len(a_lines)} lines != {len(b_lines)} lines")
        return 1
    bad = 0
    for i, (x, y) in enumerate(zip(a_lines, b_lines, strict=True)):
        problems = _diff(json.loads(x), json.loads(y), f"line {i + 1}")
        if problems:
            bad += 1
            if bad <= 10:
                print("\n".join(problems[:5]))
    print(f"{len(a_lines):,} texts compared, {bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compare"]:
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    dump(Path(sys.argv[1]))
