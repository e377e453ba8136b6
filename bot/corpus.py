"""The labelled headline corpus: reading it, recognising duplicates, and the sealed split.

A corpus line is one JSON object: {"id", "text", "lang", "gold", "ok", "source", "kind", "note"}
(see ../shared/LABELING.md). `gold` is the gate a careful analyst names first (0 = none), `ok`
every answer they would accept. data/corpus.jsonl is what `gatebot train` learns from;
data/sealed.jsonl is set aside by a hash of each line's text and is only ever evaluated.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .text import fold

FIELDS = ("id", "text", "lang", "gold", "ok", "source", "kind", "note")
SEALED_SHARE = 0.2
_SALT = "gatebot-sealed-v1:"
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
    return {"id": str(obj["id"]), "text": text, "lang": lang, "gold": gold, "ok": ok,
            "source": str(obj.get("source") or ""), "kind": kind, "note": str(obj.get("note") or "")}


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
    for path in [*sorted((root / "data").glob("*.jsonl")), root.parent / "shared" / "dev-headlines.jsonl",
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
