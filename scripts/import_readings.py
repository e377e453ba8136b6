"""Copy reading/metric/figure labels into data/readings/, the sealed split's labels kept apart.

    python scripts/import_readings.py LABELS.jsonl [...] [--double DOUBLE.jsonl]

Each input line: {"id", "reading", "metric", "figure", "why"}. Lines whose id is in data/sealed.jsonl
go to data/readings/sealed.jsonl (only ever evaluated), lines of data/corpus.jsonl to
data/readings/corpus.jsonl, the rest (dev and held-out sets) to data/readings/sets.jsonl; a blind
second labeller's lines (--double) to data/readings/double.jsonl. Lines are validated and sorted by id.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatebot.reading import ALL_METRICS, READINGS  # noqa: E402
from gatebot.train_reading import agreement  # noqa: E402


def _ids(path: Path) -> set[str]:
    return {json.loads(raw)["id"] for raw in path.read_text(encoding="utf-8").splitlines() if raw.strip()}


def _read(path: Path) -> list[dict]:
    out = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        obj = json.loads(raw)
        if obj.get("reading") not in READINGS or obj.get("metric") not in ALL_METRICS:
            raise SystemExit(f"{path}:{number}: reading/metric not one of the allowed values: {raw[:120]}")
        out.append({"id": str(obj["id"]), "reading": obj["reading"], "metric": obj["metric"],
                    "figure": obj.get("figure") or None, "why": str(obj.get("why") or "")})
    return out


def _write(path: Path, lines: list[dict]) -> None:
    lines = sorted({line["id"]: line for line in lines}.values(), key=lambda x: x["id"])
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    print(f"{path.relative_to(ROOT)}: {len(lines)} lines")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("labels", nargs="+", type=Path)
    parser.add_argument("--double", type=Path)
    args = parser.parse_args()
    data = ROOT / "data"
    sealed, corpus = _ids(data / "sealed.jsonl"), _ids(data / "corpus.jsonl")
    out = data / "readings"
    out.mkdir(exist_ok=True)
    lines = [line for path in args.labels for line in _read(path)]
    _write(out / "sealed.jsonl", [x for x in lines if x["id"] in sealed])
    _write(out / "corpus.jsonl", [x for x in lines if x["id"] not in sealed and x["id"] in corpus])
    _write(out / "sets.jsonl", [x for x in lines if x["id"] not in sealed and x["id"] not in corpus])
    if args.double:
        _write(out / "double.jsonl", _read(args.double))
        print("agreement of the second labeller:", json.dumps(agreement(data)))


if __name__ == "__main__":
    main()
