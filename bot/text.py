"""Folding text into the form the cue matcher works on.

Headlines mix scripts ("昇腾CANN全面开源", "Ascend-950PR"), widths and punctuation. Everything is
NFKC-folded and casefolded, then split into runs of Latin letters, digits and CJK ideographs.
Runs are joined by one space, except two CJK runs, which are joined directly: Chinese has no word
spaces, so "国产 芯片" and "国产芯片" must fold alike. Letter/digit runs are split
("950PR" -> "950 pr") so "Ascend-950PR", "ascend 950 pr" and "ASCEND 950PR" all fold to
"ascend 950 pr". Python's ``\\b`` is never used: it treats CJK as word characters.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from typing import Literal

from .hant import TABLE as HANT

# Latin letters (after casefold), digits, CJK ideographs (BMP blocks incl. extension A and
# compatibility ideographs). Other scripts are separators for matching purposes.
_TOKEN = re.compile(r"[a-z]+|[0-9]+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


@dataclass(frozen=True, slots=True)
class Folded:
    """A folded text and the way back to the original's character offsets."""

    text: str  # what the matcher sees
    source: str  # the original text
    # For each run: where it starts in `text`, and its span in the NFKC-casefolded source.
    starts: tuple[int, ...]
    spans: tuple[tuple[int, int], ...]
    same_length: bool  # NFKC kept offsets aligned with the source
    cjk_chars: int = 0  # for language detection without a second pass
    latin_words: int = 0  # Latin runs of two letters or more

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of the folded text back onto the source text."""
        if not self.starts:
            return (0, 0)
        first = max(bisect_right(self.starts, start) - 1, 0)
        last = max(bisect_right(self.starts, end - 1) - 1, 0)
        s = self.spans[first][0] + (start - self.starts[first])
        e = self.spans[last][0] + (end - self.starts[last])
        if not self.same_length:
            # Rare compatibility characters changed lengths; clamp rather than mis-slice.
            n = len(self.source)
            return (min(s, n), min(e, n))
        return (s, e)

    def original(self, start: int, end: int) -> str:
        s, e = self.original_span(start, end)
        return self.source[s:e]


def fold(text: str) -> Folded:
    # ASCII needs no NFKC, and its casefold is lower(): the common English case stays cheap.
    # Traditional characters fold to Simplified one for one, so offsets stay aligned.
    nfkc = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold().translate(HANT)
    parts: list[str] = []
    starts: list[int] = []
    spans: list[tuple[int, int]] = []
    add_part, add_start, add_span = parts.append, starts.append, spans.append
    pos = 0
    prev_cjk = False
    prev_end = -1
    cjk_chars = latin_words = 0
    for m in _TOKEN.finditer(nfkc):
        start, end = m.span()
        first = nfkc[start]
        cjk = first > "\u3000"  # runs are Latin letters, digits or CJK only
        if cjk:
            cjk_chars += end - start
        elif end - start > 1 and first >= "a":
            latin_words += 1
        # Adjacent or space-separated CJK runs join directly; everything else gets a space.
        if pos and not (cjk and prev_cjk and (prev_end == start or nfkc[prev_end:start].isspace())):
            add_part(" ")
            pos += 1
        add_start(pos)
        add_span((start, end))
        add_part(nfkc[start:end])
        pos += end - start
        prev_cjk = cjk
        prev_end = end
    return Folded("".join(parts), text, tuple(starts), tuple(spans), len(nfkc) == len(text), cjk_chars, latin_words)


def language_of(folded: Folded) -> Literal["en", "zh"]:
    """'zh' when the text is mainly Chinese, else 'en' (see detect_language)."""
    cjk, words = folded.cjk_chars, folded.latin_words
    if cjk == 0:
        return "en"
    return "zh" if (cjk >= 2 and cjk >= words) or words == 0 else "en"


def fold_phrase(phrase: str) -> str:
    """Fold a cue phrase the same way texts are folded."""
    return fold(phrase).text


def detect_language(text: str) -> str:
    """'zh' when the text is mainly Chinese, else 'en'.

    Counted in units a reader sees: one CJK character against one Latin word (two letters or
    more), so "手写 CUDA 到昇腾迁移" is Chinese and "Huawei's 昇腾 chips ship" is English.
    """
    return language_of(fold(text))
