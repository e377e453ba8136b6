"""Merge freshly labelled headline files into the corpus, dropping duplicates, and seal 20%.

    python scripts/build_corpus.py RAW.jsonl [RAW.jsonl ...]
    python scripts/build_corpus.py --train-only TRANSLATIONS.jsonl

`--train-only` is for lines derived from corpus lines (translations into the other language): they
go to data/corpus.jsonl only, and a line derived from a sealed line is refused, so the sealed split
never holds a sibling of a training line nor the other way round.

Each new line is compared with everything the project already holds (data/corpus.jsonl,
data/sealed.jsonl, the shared dev set, tests/data/*.jsonl, every example and ordinary headline in
rules/): exact duplicates (after folding case, width, punctuation and Traditional characters) and
near-duplicates (character 3-gram Jaccard >= 0.6 within a language) are dropped. What remains is
split by a hash of its folded text: a line is sealed when `sealed_by_hash(text)` says so (20%),
so the split is random, stable as lines are added, and anyone can check that no line was moved
by hand (tests/test_corpus.py does). Sealed lines go to data/sealed.jsonl, the rest to
data/corpus.jsonl. Nothing in `gatebot train` reads the sealed file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatebot.corpus import (  # noqa: E402
    FIELDS,
    dedupe_key,
    known_texts,
    ngrams,
    read_corpus,
    sealed_by_hash,
    validate_line,
)

NEAR = 0.6


def main(paths: list[str]) -> int:
    train_only = "--train-only" in paths
    paths = [p for p in paths if p != "--train-only"]
    corpus_path, sealed_path = ROOT / "data" / "corpus.jsonl", ROOT / "data" / "sealed.jsonl"
    seen_keys: set[str] = set()
    seen_grams: list[tuple[str, frozenset[str]]] = []
    for text in known_texts(ROOT):
        key = dedupe_key(text)
        seen_keys.add(key)
        seen_grams.append((key, ngrams(key)))
    ids = {line["id"] for line in read_corpus(corpus_path) + read_corpus(sealed_path)}
    sealed_ids = {line["id"] for line in read_corpus(sealed_path)}
    added = {"corpus": [], "sealed": []}
    dropped = {"exact": 0, "near": 0, "invalid": 0}
    for path in paths:
        for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not raw.strip():
                continue
            try:
                line = validate_line(json.loads(raw))
            except (ValueError, KeyError, TypeError) as exc:
                print(f"{path}:{number}: dropped: {exc}", file=sys.stderr)
                dropped["invalid"] += 1
                continue
            if line["id"] in ids:
                print(f"{path}:{number}: dropped: id {line['id']} already used", file=sys.stderr)
                dropped["invalid"] += 1
                continue
            origin = line["note"].rsplit(" ", 1)[-1] if train_only else ""
            if train_only and origin in sealed_ids:
                print(f"{path}:{number}: dropped: derived from sealed line {origin}", file=sys.stderr)
                dropped["invalid"] += 1
                continue
            key = dedupe_key(line["text"])
            if key in seen_keys:
                dropped["exact"] += 1
                continue
            grams = ngrams(key)
            if any(len(grams & g) / max(1, len(grams | g)) >= NEAR for _, g in seen_grams):
                dropped["near"] += 1
                continue
            seen_keys.add(key)
            seen_grams.append((key, grams))
            ids.add(line["id"])
            added["sealed" if sealed_by_hash(line["text"]) and not train_only else "corpus"].append(line)
    for name, target in (("corpus", corpus_path), ("sealed", sealed_path)):
        with target.open("a", encoding="utf-8") as out:
            for line in added[name]:
                out.write(json.dumps({k: line[k] for k in FIELDS}, ensure_ascii=False) + "\n")
    print(f"added {len(added['corpus'])} to {corpus_path.name}, {len(added['sealed'])} to {sealed_path.name}; "
          f"dropped {dropped['exact']} exact and {dropped['near']} near duplicates, {dropped['invalid']} invalid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
