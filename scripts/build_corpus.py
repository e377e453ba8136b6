"""Merge freshly labelled headline files into the corpus, dropping duplicates, and seal by site and by text.

    python scripts/build_corpus.py RAW.jsonl [RAW.jsonl ...]
    python scripts/build_corpus.py --train-only TRANSLATIONS.jsonl
    python scripts/build_corpus.py --reseal

`--train-only` is for lines derived from corpus lines (translations into the other language): they
go to data/corpus.jsonl only, and a line derived from a sealed line is refused, so the sealed split
never holds a sibling of a training line nor the other way round.

Each new line is compared with everything the project already holds (data/corpus.jsonl,
data/sealed.jsonl, the shared dev set, tests/data/*.jsonl, every example and ordinary headline in
rules/): exact duplicates (after folding case, width, punctuation and Traditional characters) and
near-duplicates (character 3-gram Jaccard >= 0.6 within a language) are dropped. What remains is
routed by two salted hashes, decided before anything is fitted and checkable by anyone
(tests/test_corpus.py checks that no line was moved by hand):

1. by its source site: a line from one of the fifth of all sites that `sealed_by_site(source)`
   picks goes to data/sealed-sites.jsonl (headlines from places the model never read);
2. otherwise by its folded text: `sealed_by_hash(text)` (20%) sends it to data/sealed.jsonl, the
   first sealed split; the rest go to data/corpus.jsonl.

A translation belongs to its original's site: a translation from a sealed site is refused (a sibling
of a sealed line must not be trained on; a translation is no fresh headline to test on either).
`--reseal` applies the site rule to the corpus as it stands (run once when the site split was made):
corpus lines from sealed sites move to data/sealed-sites.jsonl and translations from them are
dropped. Nothing in `gatebot train` reads either sealed file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatebot.corpus import (  # noqa: E402
    CORPUS_FILE,
    FIELDS,
    SEALED_FILE,
    SITES_FILE,
    dedupe_key,
    is_translation,
    known_texts,
    ngrams,
    read_corpus,
    sealed_by_hash,
    sealed_by_site,
    validate_line,
)

NEAR = 0.6


def _write(path: Path, lines: list[dict], mode: str) -> None:
    with path.open(mode, encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps({k: line[k] for k in (*FIELDS, "class") if k in line}, ensure_ascii=False) + "\n")


def reseal() -> int:
    """Move corpus lines from sealed sites to the sealed-by-site split (translations of them are dropped)."""
    corpus_path, sites_path = ROOT / "data" / CORPUS_FILE, ROOT / "data" / SITES_FILE
    keep, move, dropped = [], [], 0
    for line in read_corpus(corpus_path):
        if not sealed_by_site(line["source"]):
            keep.append(line)
        elif is_translation(line):
            dropped += 1
        else:
            move.append(line)
    _write(corpus_path, keep, "w")
    _write(sites_path, move, "a")
    print(f"moved {len(move)} lines from sealed sites to {sites_path.name}, dropped {dropped} translations of them; "
          f"{len(keep)} stay in {corpus_path.name}")
    return 0


def main(paths: list[str]) -> int:
    if paths == ["--reseal"]:
        return reseal()
    train_only = "--train-only" in paths
    paths = [p for p in paths if p != "--train-only"]
    data = ROOT / "data"
    corpus_path, sealed_path, sites_path = data / CORPUS_FILE, data / SEALED_FILE, data / SITES_FILE
    seen_keys: set[str] = set()
    seen_grams: list[tuple[str, frozenset[str]]] = []
    for text in known_texts(ROOT):
        key = dedupe_key(text)
        seen_keys.add(key)
        seen_grams.append((key, ngrams(key)))
    ids = {line["id"] for line in read_corpus(corpus_path) + read_corpus(sealed_path) + read_corpus(sites_path)}
    sealed_ids = {line["id"] for line in read_corpus(sealed_path) + read_corpus(sites_path)}
    added: dict[str, list[dict]] = {"corpus": [], "sealed": [], "sites": []}
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
            if is_translation(line) and sealed_by_site(line["source"]):
                print(f"{path}:{number}: dropped: a translation from a sealed site", file=sys.stderr)
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
            if sealed_by_site(line["source"]):
                added["sites"].append(line)
            else:
                added["sealed" if sealed_by_hash(line["text"]) and not train_only else "corpus"].append(line)
    for name, target in (("corpus", corpus_path), ("sealed", sealed_path), ("sites", sites_path)):
        _write(target, added[name], "a")
    print(f"added {len(added['corpus'])} to {corpus_path.name}, {len(added['sealed'])} to {sealed_path.name}, "
          f"{len(added['sites'])} to {sites_path.name}; "
          f"dropped {dropped['exact']} exact and {dropped['near']} near duplicates, {dropped['invalid']} invalid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
