"""The labelled headline corpus: reading it, recognising duplicates, and the sealed splits.

A corpus line is one JSON object: {"id", "text", "lang", "gold", "ok", "source", "kind", "note"},
optionally "class" (see ../shared/LABELING.md). `gold` is the gate a careful analyst names first
(0 = none), `ok` every answer they would accept. data/corpus.jsonl is what `gatebot train` learns
from. Two splits are set aside and only ever evaluated: data/sealed-sites.jsonl holds every line
from a fifth of the source sites (a salted hash of the site), so it measures headlines from places
the model never read; data/sealed.jsonl, the first split, holds a fifth of the other lines by a
hash of their text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .text import fold

FIELDS = ("id", "text", "lang", "gold", "ok", "source", "kind", "note")  # and "class", when a line has one
SEALED_SHARE = 0.2
_SALT = "gatebot-sealed-v1:"
_SITE_SALT = "gatebot-sealed-sites-v1:"
# Files of labelled headlines in data/ (other JSONL files there, e.g. readings keyed by id, are not).
CORPUS_FILE, SEALED_FILE, SITES_FILE = "corpus.jsonl", "sealed.jsonl", "sealed-sites.jsonl"
# Second-level names under which a country's sites register ("people.com.cn" is one site, not "com.cn").
_SECOND_LEVEL = frozenset("com net org gov edu co ac or ne go".split())
# Code hosts where each owner (an organisation or a person) is its own source.
_CODE_HOSTS = frozenset({"github.com", "gitee.com", "gitcode.com", "gitlab.com"})
_KEEP = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def dedupe_key(text: str) -> str:
    """The text as duplicates compare: folded (case, width, Traditional), letters/digits/CJK only."""
    return " ".join(_KEEP.findall(fold(text).text))


def ngrams(key: str, n: int = 3) -> frozenset[str]:
    squashed = key.replace(" ", "")
    return frozenset(squashed[i:i + n] for i in range(max(1, len(squashed) - n + 1)))


def sealed_by_hash(text: str) -> bool:
    """True for the fifth of all texts that the sealed split holds (decided by the text alone)."""
    digest = hashlib.sha256((_SALT + dedupe_key(text)).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") < SEALED_SHARE * 2**32


def site_of(source: str) -> str:
    """The site a line comes from: the registrable domain of its address ("news.cnyes.com" ->
    "cnyes.com"), or "github.com/<owner>" on a code host; "" when the source is not an address."""
    try:
        parts = urlsplit(source.strip())
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or "." not in host:
        return ""
    labels = host.split(".")
    size = 3 if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2 else 2
    site = ".".join(labels[-size:])
    if site in _CODE_HOSTS:
        owner = parts.path.strip("/").split("/", 1)[0].lower()
        if owner:
            site += "/" + owner
    return site


def sealed_by_site(source: str) -> bool:
    """True for every line from the fifth of all sites that the sealed-by-site split holds."""
    site = site_of(source)
    if not site:
        return False
    digest = hashlib.sha256((_SITE_SALT + site).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") < SEALED_SHARE * 2**32


def is_translation(line: dict[str, Any]) -> bool:
    return line.get("kind") == "derived" and str(line.get("note", "")).startswith("translation of")


def labelled_files(data_dir: Path) -> list[Path]:
    """The files of labelled headlines in data/: the corpus, the sealed splits, the labelled sets
    (*-headlines.jsonl). Anything else there (labels of other kinds keyed by id) is not read."""
    names = [CORPUS_FILE, SEALED_FILE, SITES_FILE]
    files = [data_dir / n for n in names] + sorted(data_dir.glob("*-headlines.jsonl"))
    return [f for f in files if f.is_file()]


def validate_line(obj: dict[str, Any]) -> dict[str, Any]:
    """A corpus line with its fields checked and normalised; ValueError/KeyError/TypeError if not one."""
    text = " ".join(str(obj["text"]).split())
    if not text:
        raise ValueError("empty text")
    gold = int(obj["gold"])
    if not 0 <= gold <= 4:
        raise ValueError(f"gold must be 0-4, got {gold}")
    ok = sorted({int(x) for x in (obj.get("ok") or [gold])} | {gold}, key=lambda g: (g != gold, g))
    if any(not 0 <= g <= 4 for g in ok):
        raise ValueError(f"ok must hold gates 0-4, got {ok}")
    lang = str(obj.get("lang") or "")
    if lang not in ("en", "zh"):
        raise ValueError(f"lang must be en or zh, got {lang!r}")
    kind = str(obj.get("kind") or "real")
    if kind not in ("real", "derived"):
        raise ValueError(f"kind must be real or derived, got {kind!r}")
    line = {"id": str(obj["id"]), "text": text, "lang": lang, "gold": gold, "ok": ok,
            "source": str(obj.get("source") or ""), "kind": kind, "note": str(obj.get("note") or "")}
    cls = obj.get("class")
    if isinstance(cls, str) and cls.strip():
        line["class"] = " ".join(cls.split())  # what kind of headline it stands for, for `gatebot eval`'s class table
    return line


def read_corpus(path: Path) -> list[dict[str, Any]]:
    """Every line of a corpus file (validated); an absent file is an empty corpus."""
    if not path.exists():
        return []
    out = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if raw.strip():
            try:
                out.append(validate_line(json.loads(raw)))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
    return out


def known_texts(root: Path) -> Iterator[str]:
    """Every headline the project holds: corpus, sealed split, labelled sets, rule examples."""
    for path in [*labelled_files(root / "data"), root.parent / "shared" / "dev-headlines.jsonl",
                 *sorted((root / "tests" / "data").glob("*.jsonl"))]:
        if path.exists():
            for raw in path.read_text(encoding="utf-8").splitlines():
                obj = json.loads(raw) if raw.strip() else {}
                if "text" in obj:
                    yield str(obj["text"])
    yield from rule_example_texts(root / "rules")


def rule_example_texts(rules_dir: Path) -> Iterator[str]:
    """Example and ordinary headlines written in the rule files."""
    from .ruleset import load_rules

    rules = load_rules(rules_dir)
    for located in [*rules.must, *rules.gaps]:
        yield located.text


def label_from_votes(bot_gate: int, votes: dict[str, int]) -> int | None:
    """The gate readers' votes settle on: "right" confirms the bot's gate, a gate vote relabels.

    Votes for the same answer add up ("right" on a gate-2 verdict counts with votes for "2"); the
    answer with the most votes wins; a tie between different answers settles nothing (None).
    """
    tally: dict[int, int] = {}
    for choice, n in votes.items():
        gate = bot_gate if choice == "right" else int(choice) if choice in ("0", "1", "2", "3", "4") else None
        if gate is not None:
            tally[gate] = tally.get(gate, 0) + n
    if not tally:
        return None
    best = max(tally.values())
    winners = [g for g, n in tally.items() if n == best]
    return winners[0] if len(winners) == 1 else None
