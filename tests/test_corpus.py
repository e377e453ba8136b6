"""The labelled corpus: every line valid, no duplicates, and the sealed split exactly the hash's."""

from __future__ import annotations

from pathlib import Path

from gatebot.corpus import dedupe_key, read_corpus, sealed_by_hash

ROOT = Path(__file__).resolve().parent.parent
CORPUS = read_corpus(ROOT / "data" / "corpus.jsonl")
SEALED = read_corpus(ROOT / "data" / "sealed.jsonl")


def _derived_from_corpus(line: dict) -> bool:
    return line["kind"] == "derived" and line["note"].startswith("translation of")


def test_sealed_split_is_the_hash_split():
    # Nothing was moved by hand: a sealed line is sealed by its text's hash, a training line is not
    # (translations of training lines stay with their originals).
    assert SEALED and all(sealed_by_hash(line["text"]) for line in SEALED)
    moved = [line["id"] for line in CORPUS if sealed_by_hash(line["text"]) and not _derived_from_corpus(line)]
    assert moved == []


def test_no_translation_of_a_sealed_line_is_trained_on():
    sealed_ids = {line["id"] for line in SEALED}
    origins = {line["note"].rsplit(" ", 1)[-1] for line in CORPUS if _derived_from_corpus(line)}
    assert origins and not origins & sealed_ids


def test_no_duplicates_across_corpus_and_sealed():
    keys = [dedupe_key(line["text"]) for line in CORPUS + SEALED]
    assert len(keys) == len(set(keys))
    ids = [line["id"] for line in CORPUS + SEALED]
    assert len(ids) == len(set(ids))


def test_corpus_shape():
    # The collected headlines (real, or written from a real article's facts); translations come on top.
    lines = [line for line in CORPUS + SEALED if not _derived_from_corpus(line)]
    assert len(lines) >= 1500
    assert sum(line["kind"] == "real" for line in lines) >= 0.75 * len(lines)
    assert sum(line["lang"] == "en" for line in lines) >= 0.6 * len(lines)
    assert sum(line["gold"] == 0 for line in lines) >= 0.25 * len(lines)
    for gate in (1, 2, 3, 4):
        assert sum(line["gold"] == gate for line in lines) >= 200, gate
    assert all(line["gold"] in line["ok"] for line in lines)
