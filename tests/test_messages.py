"""Reply texts are data: bot/messages/en.toml and zh.toml have the same keys and placeholders."""

from __future__ import annotations

import string
import tomllib
from pathlib import Path

from gatebot.reply import LABELS, label

MESSAGES = Path(__file__).resolve().parent.parent / "bot" / "messages"
# Chinese gate names carry their own ordinal ("第三道门·软件生态成熟"), so these leave the number out.
ZH_LEAVES_OUT = {"gate": {"n"}, "board_line": {"n"}}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_every_key_and_the_same_placeholders() -> None:
    en = tomllib.loads((MESSAGES / "en.toml").read_text(encoding="utf-8"))
    zh = tomllib.loads((MESSAGES / "zh.toml").read_text(encoding="utf-8"))
    assert list(en) == list(zh), sorted(set(en) ^ set(zh))
    for key in en:
        assert en[key].strip() and zh[key].strip(), key
        assert placeholders(zh[key]) == placeholders(en[key]) - ZH_LEAVES_OUT.get(key, set()), key
    assert set(ZH_LEAVES_OUT) <= set(en)


def test_the_replies_read_the_files() -> None:
    assert set(LABELS) == set(tomllib.loads((MESSAGES / "en.toml").read_text(encoding="utf-8")))
    assert label("gate", "en", n=3, name="Software ecosystem maturity") == "Gate 3 · Software ecosystem maturity"
    assert label("no_gate", "zh") != label("no_gate", "en")
