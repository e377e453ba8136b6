"""The figure a headline quotes for its metric: an amount, a count, a share or a multiple.

"ByteDance is spending $5.6 billion on Ascend" quotes "$5.6 billion"; "寒武纪获超10万片订单" quotes
"10万片"; "utilisation below 30%" quotes "30%". Every candidate is found by a regular expression
with bounded repetition only (no nested quantifiers), so the scan is linear in the text, which
is cut at FIGURE_CHARS. Then the metric picks: money for funds and orders, counts and compute for
deployments and adoption, shares for utilisation (PREFERENCE below).

Model names and years are never figures: a number glued to letters ("910B", "V4", "MLU580") or
a bare year ("2026", "2025年") is not a candidate, and a bare number needs a unit, a scale, a
currency, a percent sign or a multiplier to count at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FIGURE_CHARS = 2000  # a headline and its description; the model reads no further either

# Arabic numbers: 1,600 / 5.6 / 10000. Never preceded by a Latin letter, a digit or a dot, so
# "910B", "V4", "GLM-5" and the middle of "2.8" are not numbers here.
_NUM = r"(?<![A-Za-z0-9.,$¥￥€£-])(?:\d{1,3}(?:,\d{3}){1,4}|\d{1,9})(?:\.\d{1,4})?"
_NUM_LOOSE = r"(?:\d{1,3}(?:,\d{3}){1,4}|\d{1,9})(?:\.\d{1,4})?"  # right after a currency sign
_SCALE = r"(?:trillion|billion|million|thousand|bn|tn|mn|mln|b|m|k)"
_SCALE_WORD = r"(?:trillion|billion|million|thousand)"
_WORD_NUM = r"(?<![A-Za-z])(?<!big )(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|fifty|hundreds|thousands|dozens)"
_HARDWARE_UNIT = (r"(?:chips?|cards?|gpus?|npus?|dcus?|accelerators?|servers?|processors?|racks?|nodes?|"
                  r"supernodes?|boards?|modules?|machines?|appliances?|units?|systems?)")
_COUNT_UNIT = (
    r"(?:clusters?|models?|developers?|learners?|users?|members?|contributors?|enterprises?|companies|firms?|businesses|"
    r"smes|customers?|clients?|tenants?|hospitals?|banks?|insurers?|institutions?|universities|schools|cities|"
    r"provinces|counties|districts|mines?|factories|plants|mills|scenarios?|sub-scenarios|cases?|projects?|"
    r"applications?|apps?|industries|sectors|solutions?|partners?|operators?|sites?|centres?|centers?|"
    r"tokens?|calls?|requests?|soes|carmakers|makers|agents?|civil servants|health centres|domains?|vendors?|"
    r"suppliers?|deals?|contracts?|orders?|governments?|automakers?|sites?|pilots?|projects?)"
)
_COMPUTE_UNIT = r"(?:petaflops?|pflops|eflops|exaflops|tflops|mw|gw|p|e)"
_CURRENCY_BEFORE = r"(?:US\s?\$|HK\$|S\$|\$|USD\s?|RMB\s?|CNY\s?|Rmb\s?|¥|￥|€|£)"
_CURRENCY_AFTER = r"(?:yuan|dollars|renminbi|rmb|usd|euros?)"

# Chinese: 56亿 / 10万 / 十万 / 数十万 / 1.3 万亿, with 余/多 for "more than".
_ZH_DIGITS = r"[一二两三四五六七八九十百千数几]"
_ZH_SCALE = r"(?:万亿|千亿|百亿|十亿|亿|千万|百万|十万|万|千)"
_ZH_NUM = (rf"(?:{_NUM}\s?{_ZH_SCALE}?|{_ZH_DIGITS}{{1,3}}{_ZH_SCALE}?|(?<![一二两三四五六七八九十百千数几万亿]){_ZH_SCALE})"
           r"(?:余|多)?")
_ZH_HARDWARE = r"(?:颗|片|张|卡|块|台|套)"
_ZH_MEASURE = r"(?:家|个|款|种|所|座|名|位|项|次|条)(?!月|小时|季度|工作日|一体)"

_EN = re.IGNORECASE
PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    # $5.6B, US$53b, RMB 40 billion, USD753.5 Million, Rmb1bn
    ("money", re.compile(rf"(?<![A-Za-z]){_CURRENCY_BEFORE}\s?{_NUM_LOOSE}(?:[\s-]?{_SCALE}(?![a-z]))?", _EN)),
    # 9.16 billion yuan, 837-million-yuan, 75,000 yuan, Trillion-RMB
    ("money", re.compile(rf"{_NUM}(?:[\s-]{_SCALE_WORD})?[\s-]{_CURRENCY_AFTER}(?![a-z])", _EN)),
    ("money", re.compile(rf"(?<![A-Za-z]){_SCALE_WORD}-{_CURRENCY_AFTER}(?![a-z])", _EN)),
    # 56亿元, 26亿美元, 14.5亿至15.2亿元, 3800亿人民币
    ("money", re.compile(rf"{_ZH_NUM}(?:[至到~-]{_ZH_NUM})?\s?(?:元|美元|人民币|港元|欧元)")),
    # 10%-15%, 30%, 30.26% share, 40 percent
    ("share", re.compile(rf"{_NUM}%?\s?[-–~至到]\s?{_NUM_LOOSE}\s?[%％]")),
    ("share", re.compile(rf"{_NUM}\s?(?:[%％]|percent(?![a-z])|per cent(?![a-z]))", _EN)),
    ("share", re.compile(rf"百分之{_ZH_DIGITS}{{1,4}}|{_ZH_DIGITS}{{1,2}}分之{_ZH_DIGITS}{{1,2}}")),
    ("share", re.compile(rf"(?:(?<![0-9.])\d{{1,2}}|(?<!{_ZH_DIGITS})[一二三四五六七八九])成(?![为立本功果员交都就])")),
    # 14-fold, 2.8 times, 3倍, 两倍, tripled
    ("multiple", re.compile(rf"{_NUM}[\s-]?(?:fold|times)(?![a-z])", _EN)),
    ("multiple", re.compile(r"(?<![A-Za-z])(?:doubl|tripl|quadrupl)(?:e|es|ed|ing)(?![a-z])", _EN)),
    ("multiple", re.compile(rf"{_ZH_NUM}倍")),
    # 300 PFlops, 200 EFLOPS, 40MW, 10万P, 6.6万PFlops
    ("compute", re.compile(rf"(?:{_NUM}(?:[\s-]{_SCALE_WORD})?|{_ZH_NUM})\s?{_COMPUTE_UNIT}(?![a-z])", _EN)),
    # 140 trillion tokens, 7.94万亿Token, 633亿Tokens
    ("tokens", re.compile(rf"{_NUM}[\s-]{_SCALE_WORD}(?=[\s-](?:daily |weekly |ai )?tokens?(?![a-z]))", _EN)),
    ("tokens", re.compile(r"(?<![A-Za-z])trillion-token(?![a-z])", _EN)),
    ("tokens", re.compile(rf"{_ZH_NUM}\s?tokens?(?![a-z])", _EN)),
    # 36.9亿, 50万亿, 千亿, 百万: a scaled amount with no unit (money in most headlines, tokens in some)
    ("scaled", re.compile(rf"(?:{_NUM}\s?|{_ZH_DIGITS}{{1,3}})(?:万亿|千亿|百亿|十亿|亿|千万|百万|十万|万)(?:余|多)?"
                          r"|(?<![一二两三四五六七八九十百千数几万亿])(?:万亿|千亿|百亿|百万|十万)")),
    # 140 trillion (tokens), after "token usage tops ..."
    ("tokens", re.compile(rf"tokens?(?:\s[A-Za-z]{{1,12}}){{0,3}}\s({_NUM}[\s-]{_SCALE_WORD})(?![a-z])", _EN)),
    # 1,600 (chips), 10,000-card, 10万片, 万卡 (a cluster's size): hardware
    ("hardware", re.compile(rf"(?:{_NUM}(?:[\s-]{_SCALE_WORD}|k)?|{_WORD_NUM})(?:\+|-plus)?"
                            rf"(?=[\s-](?:[A-Za-z0-9.'’-]{{1,20}}\s){{0,4}}{_HARDWARE_UNIT}(?![a-z]))", _EN)),
    ("hardware", re.compile(rf"(?<!第){_ZH_NUM}{_ZH_HARDWARE}")),
    # 200-plus (models), 260余家, 120个 (scenarios)
    ("count", re.compile(rf"(?:{_NUM}(?:[\s-]{_SCALE_WORD}|k)?|{_WORD_NUM})(?:\+|-plus)?(?![\s-]parameter)"
                         rf"(?=[\s-](?:[A-Za-z0-9.'’-]{{1,20}}\s){{0,4}}{_COUNT_UNIT}(?![a-z]))", _EN)),
    ("count", re.compile(rf"(?<!第){_ZH_NUM}{_ZH_MEASURE}")),
]

# Which kind of figure measures which metric, best first; a kind not listed is not taken.
PREFERENCE: dict[str, tuple[str, ...]] = {
    "1.funds": ("money", "scaled", "compute", "hardware", "count", "share", "multiple"),
    "1.orders": ("money", "scaled", "hardware", "count", "share", "multiple", "compute"),
    "2.leasing": ("money", "scaled", "share", "multiple", "count", "hardware", "compute"),
    "2.vendors": ("hardware", "compute", "count", "share", "money", "multiple"),
    "2.utilisation": ("share", "tokens", "scaled", "compute", "hardware", "count", "multiple", "money"),
    "3.coverage": ("count", "hardware", "multiple"),
    "3.migration": ("count", "share", "multiple", "money"),
    "3.midsize": ("count", "money", "multiple"),
    "4.midsize": ("count", "money", "hardware", "compute"),
    "4.verticals": ("count", "money", "hardware", "compute"),
    "other": ("money",),
}
_YEAR = re.compile(r"(?:19|20)\d\d")
# A number right after one of these names is a model number: "Ascend 950", "CloudMatrix 384".
_PRODUCTS = frozenset("ascend atlas cloudmatrix kunlun mtt dtk cann musa glm qwen deepseek ernie pangu "
                      "昇腾 思元 鲲鹏 海光 昆仑芯".split())
_LAST_WORD = re.compile(r"([A-Za-z]+|[\u4e00-\u9fff]{1,3})[\s-]?$")


def _fits_count(value: str, text: str, start: int) -> bool:
    """Counts are whole things: no versions ("26.04", "8.0"), no articles ("一个", "两款"), no
    cluster-size labels without a number ("万卡集群"), no model numbers ("Ascend 950")."""
    if len(value) == 2 and value[0] in "一两几数":
        return False
    if value[0] in "万千百" and value[-1] == "卡":
        return False
    if "." in value and not any(w in value.lower() for w in ("illion", "万", "亿", "k")):
        return False
    before = _LAST_WORD.search(text[max(0, start - 14):start])
    return not (before and before.group(1).lower() in _PRODUCTS)
_THEN = re.compile(r"\s?(?:to|至|到|降至|升至|增至|提升至|达到)\s?$")


@dataclass(frozen=True, slots=True)
class Figure:
    text: str  # as written in the headline
    kind: str  # money, scaled, share, multiple, compute, tokens, hardware, count
    start: int
    end: int


# What a pattern cannot match without: one cheap search spares its full scan on most headlines.
_TRIGGERS = {
    "money": re.compile(r"[$¥￥€£元]|人民币|rmb|usd|cny|yuan|dollar|renminbi|euro", re.IGNORECASE),
    "share": re.compile(r"[%％成]|percent|per cent|分之"),
    "multiple": re.compile(r"fold|times|倍|doubl|tripl|quadrupl", re.IGNORECASE),
    "tokens": re.compile(r"token", re.IGNORECASE),
    "scaled": re.compile(r"[万亿]|百万|千亿"),
}
_DIGIT = re.compile(r"[0-9]")
_ZH_NUMERAL = re.compile(r"[一二两三四五六七八九十百千万亿数几]")
_WORDS = re.compile(r"(?<![a-z])(?:doubl|tripl|quadrupl|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                    r"twenty|thirty|fifty|hundreds|thousands|dozens|trillion|billion|million|thousand)", re.IGNORECASE)


# A search that finds nothing still walks the whole text, and case-blind alternations walk it
# slowly. These plain substrings are necessary for each search to find anything (the words in
# lower case, the rest as written); the search only runs when one of them is in the text.
_STEMS = {
    "money": ("$", "¥", "￥", "€", "£", "元", "人民币", "rmb", "usd", "cny", "yuan", "dollar", "renminbi", "euro"),
    "share": ("%", "％", "成", "percent", "per cent", "分之"),  # (a case-sensitive search)
    "multiple": ("fold", "times", "倍", "doubl", "tripl", "quadrupl"),
    "tokens": ("token",),
    "scaled": ("万", "亿"),  # (百万 and 千亿 hold them)
}
_WORD_STEMS = ("doubl", "tripl", "quadrupl", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
               "eleven", "twelve", "twenty", "thirty", "fifty", "hundreds", "thousands", "dozens", "trillion",
               "billion", "million", "thousand")
# The only characters a case-blind search equates with a Latin letter that str.lower() does not
# turn into it (dotted and dotless i, long s): folded first, so the lower-cased text holds every stem
# a case-blind search could match.
CASE_BLIND = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s"})


def _unit_stems(alternation: str) -> tuple[str, ...]:
    """The plain words of a unit group "(?:chips?|cards?|...)", each without its optional last letter."""
    words = alternation.removeprefix("(?:").removesuffix(")").split("|")
    stems = tuple(w[:-2] if w.endswith("?") else w for w in words)
    assert all(stem.replace(" ", "").replace("-", "").isalpha() for stem in stems), stems
    return stems


_CURRENCY_WORDS = _unit_stems(_CURRENCY_AFTER)
# What each of PATTERNS cannot match without, in order: (substrings one of which must be in the text,
# whether the search is case-blind: then they are looked for in the lower-cased text).
_NEEDS: list[tuple[tuple[str, ...], bool]] = [
    (("$", "usd", "rmb", "cny", "¥", "￥", "€", "£"), True),  # a currency sign or code before the number
    (_CURRENCY_WORDS, True), (_CURRENCY_WORDS, True), (("元", "人民币"), False),  # (美元, 港元 and 欧元 hold 元)
    (("%", "％"), False), (("%", "％", "percent", "per cent"), True), (("分之",), False), (("成",), False),
    (("fold", "times"), True), (("doubl", "tripl", "quadrupl"), True), (("倍",), False),
    (("p", "e", "mw", "gw"), True),  # petaflops .. tflops, mw, gw, p, e
    (("token",), True), (("trillion-token",), True), (("token",), True),
    (("万", "亿"), False),  # (百万, 千亿 ... hold them)
    (("token",), True),
    (_unit_stems(_HARDWARE_UNIT), True), (tuple("颗片张卡块台套"), False),
    (_unit_stems(_COUNT_UNIT), True), (tuple("家个款种所座名位项次条"), False),
]
assert len(_NEEDS) == len(PATTERNS)


def case_blind(text: str) -> str:
    """The text as a case-blind search sees Latin letters: lower case."""
    return text.lower() if text.isascii() else text.translate(CASE_BLIND).lower()


def _finds(kind: str, text: str, low: str) -> bool:
    """_TRIGGERS[kind].search(text), skipped when no stem is there."""
    seen = text if kind in ("share", "scaled") else low
    return any(stem in seen for stem in _STEMS[kind]) and bool(_TRIGGERS[kind].search(text))


def candidates(text: str) -> list[Figure]:
    """Every amount, count, share and multiple in the text, in order, overlaps resolved (longest first)."""
    text = (text or "")[:FIGURE_CHARS]
    found: list[tuple[int, int, int, Figure]] = []  # (start, -length, pattern rank, figure)
    # Every figure holds a digit, a Chinese numeral or an English number word: most headlines without
    # one cost three searches instead of twenty.
    low = case_blind(text)
    if not (_DIGIT.search(text) or _ZH_NUMERAL.search(text)
            or (any(stem in low for stem in _WORD_STEMS) and _WORDS.search(text))):
        return []
    present = {kind: _finds(kind, text, low) for kind in _TRIGGERS}
    for rank, (kind, pattern) in enumerate(PATTERNS):
        if not present.get(kind, True):
            continue
        stems, blind = _NEEDS[rank]
        if not any(stem in (low if blind else text) for stem in stems):
            continue
        for m in pattern.finditer(text):
            group = 1 if m.lastindex else 0  # a pattern with a group quotes only the group
            s, e = m.span(group)
            value = m.group(group)
            stripped = value.strip()
            if not stripped or (kind in ("count", "compute", "tokens") and _YEAR.fullmatch(stripped)):
                continue
            if kind in ("count", "hardware") and not _fits_count(stripped, text, s):
                continue
            s += len(value) - len(value.lstrip())
            e -= len(value) - len(value.rstrip())
            found.append((s, -(e - s), rank, Figure(text[s:e], kind, s, e)))
    found.sort(key=lambda x: (x[0], x[1], x[2]))
    out: list[Figure] = []
    reach = -1
    for _s, _neg, _rank, figure in found:
        if figure.start >= reach:
            out.append(figure)
            reach = figure.end
    return out


def choose(figures: list[Figure], metric: str | None, text: str = "") -> Figure | None:
    """The figure that measures the metric: the preferred kind first, then the first one quoted,
    except that "from A to B" quotes B."""
    if not metric:
        return None
    order = PREFERENCE.get(metric, PREFERENCE["other"])
    for kind in order:
        mine = [f for f in figures if f.kind == kind]
        if not mine:
            continue
        pick = mine[0]
        for later in mine[1:]:
            if _THEN.search(text[pick.end:later.start]) and later.start - pick.end <= 8:
                pick = later
        return pick
    return None


def figure_for(text: str, metric: str | None) -> str | None:
    """The figure the text quotes for `metric`, as written, or None."""
    if not metric:
        return None
    picked = choose(candidates(text), metric, (text or "")[:FIGURE_CHARS])
    return picked.text if picked else None
