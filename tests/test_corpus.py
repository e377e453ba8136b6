"""The labelled corpus: every line valid, no duplicates, and both sealed splits exactly their hashes'."""

from __future__ import annotations

from pathlib import Path

from gatebot.corpus import (
    dedupe_key,
    is_translation,
    labelled_files,
    read_corpus,
    sealed_by_hash,
    sealed_by_site,
    site_of,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = read_corpus(ROOT / "data" / "corpus.jsonl")
SEALED = read_corpus(ROOT / "data" / "sealed.jsonl")
SITES = read_corpus(ROOT / "data" / "sealed-sites.jsonl")


def test_sealed_split_is_the_hash_split():
    # Nothing was moved by hand: a sealed line is sealed by its text's hash, a training line is not
    # (translations of training lines stay with their originals).
    assert SEALED and all(sealed_by_hash(line["text"]) for line in SEALED)
    moved = [line["id"] for line in CORPUS if sealed_by_hash(line["text"]) and not is_translation(line)]
    assert moved == []


def test_sealed_by_site_split_holds_every_line_of_the_sealed_sites():
    # Every line from a sealed site is in the by-site split (or was already in the first sealed split),
    # none is in the corpus, translations included; and nothing in the split comes from another site.
    assert len(SITES) >= 200 and all(sealed_by_site(line["source"]) for line in SITES)
    assert [line["id"] for line in CORPUS if sealed_by_site(line["source"])] == []
    assert not any(is_translation(line) for line in SITES)
    sites = {site_of(line["source"]) for line in SITES}
    assert len(sites) >= 100  # many sites, not a few big ones
    assert not sites & {site_of(line["source"]) for line in CORPUS}


def test_sites_are_registrable_domains_and_code_owners():
    assert site_of("https://news.cnyes.com/news/id/1") == "cnyes.com"
    assert site_of("https://www.people.com.cn/n1/2026/a.html") == "people.com.cn"
    assert site_of("https://GitHub.com/vllm-project/vllm/pull/1") == "github.com/vllm-project"
    assert site_of("translation of real headline c12") == "" and not sealed_by_site("")
    # The choice is by site: two addresses of one site are on the same side.
    assert sealed_by_site("https://a.example.com/1") == sealed_by_site("http://www.example.com/2")


def test_no_translation_of_a_sealed_line_is_trained_on():
    sealed_ids = {line["id"] for line in SEALED + SITES}
    origins = {line["note"].rsplit(" ", 1)[-1] for line in CORPUS if is_translation(line)}
    assert origins and not origins & sealed_ids


def test_no_duplicates_across_corpus_and_sealed_splits():
    keys = [dedupe_key(line["text"]) for line in CORPUS + SEALED + SITES]
    assert len(keys) == len(set(keys))
    ids = [line["id"] for line in CORPUS + SEALED + SITES]
    assert len(ids) == len(set(ids))


def test_only_labelled_headline_files_are_corpus_files(tmp_path):
    # Other files in data/ (labels of another kind keyed by id) are neither trained on nor deduplicated against.
    for name in ("corpus.jsonl", "sealed.jsonl", "dev-headlines.jsonl", "readings.jsonl", "double-labels.jsonl"):
        (tmp_path / name).write_text("{}\n", encoding="utf-8")
    assert [p.name for p in labelled_files(tmp_path)] == ["corpus.jsonl", "sealed.jsonl", "dev-headlines.jsonl"]


def test_corpus_shape():
    # The collected headlines (real, or written from a real article's facts); translations come on top.
    lines = [line for line in CORPUS + SEALED + SITES if not is_translation(line)]
    assert len(lines) >= 1500
    assert sum(line["kind"] == "real" for line in lines) >= 0.75 * len(lines)
    assert sum(line["lang"] == "en" for line in lines) >= 0.6 * len(lines)
    assert sum(line["gold"] == 0 for line in lines) >= 0.25 * len(lines)
    for gate in (1, 2, 3, 4):
        assert sum(line["gold"] == gate for line in lines) >= 200, gate
    assert all(line["gold"] in line["ok"] for line in lines)
