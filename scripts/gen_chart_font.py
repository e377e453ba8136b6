"""Generate bot/fonts/gatebot-chart-cjk.otf: the glyphs the chart's Chinese wording needs, and no more.

Source: Noto Sans CJK SC Regular (SIL Open Font License 1.1), as Debian ships it in fonts-noto-cjk.
The subset covers printable ASCII, the Chinese wording of the chart's labels (reply.LABELS chart_*,
the weekday names) and the gates' Chinese names from the shipped rules, and is renamed
"Gatebot Chart CJK" (a modified version under the OFL keeps no original name). Run it again after
changing that wording (tests/test_feeds.py checks the font still covers it):

    apt-get install fonts-noto-cjk
    .venv/bin/python scripts/gen_chart_font.py [/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc]
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont
from gatebot.chart import FONT_FAMILY, FONT_FILE, wording
from gatebot.reply import label
from gatebot.ruleset import load_rules

DEFAULT_SOURCE = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
FAMILY_IN_SOURCE = "Noto Sans CJK SC"


def needed_text() -> str:
    rules = load_rules(Path(__file__).resolve().parent.parent / "rules")
    parts = [chr(c) for c in range(0x20, 0x7F)]
    parts += wording("zh")
    parts += [g.name.get("zh") for g in rules.gates.values()]
    parts += [label(f"day_{d}", "zh") for d in range(7)]
    parts += ["()()·:,—–"]
    return "".join(sorted(set("".join(parts))))


def main(source: str = DEFAULT_SOURCE) -> None:
    index = 0
    if source.endswith(".ttc"):
        from fontTools.ttLib import TTCollection

        names = [f["name"].getDebugName(1) for f in TTCollection(source).fonts]
        index = names.index(FAMILY_IN_SOURCE)
    font = TTFont(source, fontNumber=index)
    options = subset.Options()
    options.layout_features = ["kern", "liga", "locl"]
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]  # keep the copyright and licence records
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    text = needed_text()
    subsetter.populate(text=text)
    subsetter.subset(font)
    postscript = FONT_FAMILY.replace(" ", "")
    for record in font["name"].names:
        if record.nameID in (1, 4, 16):
            record.string = FONT_FAMILY
        elif record.nameID == 3:
            record.string = f"{postscript}-Regular;subset of {FAMILY_IN_SOURCE}"
        elif record.nameID == 6:
            record.string = f"{postscript}-Regular"
    if "CFF " in font:
        font["CFF "].cff.fontNames = [f"{postscript}-Regular"]
    FONT_FILE.parent.mkdir(parents=True, exist_ok=True)
    font.save(str(FONT_FILE))
    print(f"{FONT_FILE}: {len(text)} characters, {FONT_FILE.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(*sys.argv[1:2])
