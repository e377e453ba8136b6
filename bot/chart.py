"""The week at a glance: signals per gate per day as a PNG, for /trend and the weekly digest.

One panel per gate, a stacked bar per day split by what the signals read (evidence for the gate
opening, against it, neutral; pasted messages and feed entries alike), a dashed line on each day a
gate's status changed. Rendered with matplotlib's Agg
backend through Figure/FigureCanvasAgg (no pyplot, no display, no global figure state).

Chinese labels need a CJK font. A small subset of Noto Sans CJK SC (SIL Open Font License) holding
just the glyphs of the chart's wording ships in fonts/ (scripts/gen_chart_font.py makes it). If it
is missing, unreadable or lacks a glyph the wording needs, the chart falls back to English labels;
it never fails for want of a font.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path

from .reply import LABELS, Block, Reply, label
from .ruleset import RuleSet
from .storage.trends import TrendTooSlow
from .store import Store, iso
from .timing import resolve_zone
from .workers import LIMITS, WorkerError, run_cpu

log = logging.getLogger("gatebot.chart")

FONT_FILE = Path(__file__).resolve().parent / "fonts" / "gatebot-chart-cjk.otf"
FONT_FAMILY = "Gatebot Chart CJK"
CONFIDENCES = ("high", "medium", "low")
READINGS = ("for", "against", "neutral")
COLOURS = {"for": "#2e7d32", "against": "#c62828", "neutral": "#b0b0b0"}
CHANGE_COLOUR = "#c0392b"
PERIODS = {"7d": 7, "30d": 30, "7": 7, "30": 30, "week": 7, "month": 30}
# Every label the chart itself draws (the font subset must cover their Chinese wording).
CHART_LABELS = ("chart_title", "chart_subtitle", "evidence_chart_for", "evidence_chart_against",
                "evidence_chart_neutral", "chart_status_change", "chart_signals")
_LOCK = threading.Lock()  # matplotlib's font caches are not made for concurrent renders
_READS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gatebot-trend")  # trend counts (aload_trend)



@dataclass
class Trend:
    days: list[date]  # local days, oldest first
    counts: dict[int, dict[str, list[int]]]  # gate -> confidence -> signals per day
    pasted: int
    fed: int
    changes: list[tuple[int, int]]  # (gate, index into days) of status changes
    zone: str
    readings: dict[int, dict[str, list[int]]] = field(default_factory=dict)  # gate -> reading -> signals per day

    @property
    def total(self) -> int:
        return self.pasted + self.fed

    def per_gate(self, gate: int) -> int:
        return sum(sum(v) for v in self.counts.get(gate, {}).values())


def parse_period(args: str) -> int | None:
    """/trend [7d|30d]: the number of days, or None for anything else."""
    value = args.strip().lower()
    return 7 if not value else PERIODS.get(value)


def trend_data(store: Store, platform: str, chat_id: str, days: int, now: datetime, gates: list[int],
               zone: tzinfo = timezone.utc) -> Trend:
    """Signals per gate per local day for the `days` days ending today (in `zone`)."""
    start, end = _window(days, now, zone)
    signals = store.hourly_signals(platform, chat_id, start, end)
    changes = [(c.gate, c.since) for c in store.status_changes_between(iso(start), iso(end))]
    return count_trend(signals, changes, days, now, gates, zone)


def _window(days: int, now: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    first = now.astimezone(zone).date() - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone).astimezone(timezone.utc)
    return start, now + timedelta(seconds=1)


def count_trend(signals: list[tuple], changes: list[tuple], days: int, now: datetime, gates: list[int],
                zone: tzinfo = timezone.utc) -> Trend:
    """A Trend from hourly signal counts and (gate, since) status changes (Store.trend_rows)."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    day_list = [first + timedelta(days=i) for i in range(days)]
    counts = {g: {c: [0] * days for c in CONFIDENCES} for g in gates}
    readings = {g: {r: [0] * days for r in READINGS} for g in gates}
    pasted = fed = 0
    for hour, gate, confidence, from_feed, reading, n in signals:
        ts = datetime.fromisoformat(hour + ":00:00+00:00").astimezone(zone)
        index = (ts.date() - first).days
        if not 0 <= index < days or gate not in counts:
            continue
        counts[gate][confidence if confidence in CONFIDENCES else "low"][index] += n
        readings[gate][reading if reading in READINGS else "neutral"][index] += n
        if from_feed:
            fed += n
        else:
            pasted += n
    marks = []
    for gate, since in changes:
        index = (datetime.fromisoformat(since).astimezone(zone).date() - first).days
        if 0 <= index < days:
            marks.append((gate, index))
    return Trend(day_list, counts, pasted, fed, marks, getattr(zone, "key", None) or "UTC", readings)


# --------------------------------------------------------------------------- fonts


@lru_cache(maxsize=1)
def _font_chars() -> frozenset[int] | None:
    """The code points the bundled CJK font covers, registered with matplotlib; None if unusable."""
    try:
        from matplotlib import font_manager
        from matplotlib.ft2font import FT2Font

        if not FONT_FILE.is_file():
            log.warning("chart: %s is missing; Chinese charts get English labels", FONT_FILE.name)
            return None
        chars = frozenset(FT2Font(str(FONT_FILE)).get_charmap())
        font_manager.fontManager.addfont(str(FONT_FILE))
        return chars
    except Exception as exc:  # noqa: BLE001 - a broken font file must not break the chart
        log.warning("chart: cannot load %s (%s); Chinese charts get English labels", FONT_FILE.name, exc)
        return None


def _needs(texts: list[str]) -> set[int]:
    return {ord(c) for t in texts for c in t if ord(c) > 0x7F}


def chart_lang(lang: str, texts: list[str]) -> str:
    """`lang` if the chart can draw every character of `texts` in it, else "en"."""
    if lang != "zh":
        return "en"
    chars = _font_chars()
    if chars is None or not _needs(texts) <= chars:
        return "en"
    return "zh"


def wording(lang: str) -> list[str]:
    """The chart's own wording in a language, placeholders removed (what the font must cover)."""
    return [re.sub(r"\{[^}]*\}", "", label(key, lang)) for key in CHART_LABELS]


# --------------------------------------------------------------------------- rendering


GateNames = dict[int, dict[str, str]]  # gate -> lang -> name: what rendering needs of the rules


def gate_names(rules: RuleSet) -> GateNames:
    return {n: {"en": g.name.get("en"), "zh": g.name.get("zh")} for n, g in rules.gates.items()}


def render_png(trend: Trend, names: GateNames, lang: str) -> bytes:
    """The chart as PNG bytes. CPU-bound (~0.2-0.5 s): off the event loop (`render_in_worker`)."""
    lang = chart_lang(lang, [*(n[lang] for n in names.values()), *wording(lang)])
    with _LOCK:
        return _render(trend, {n: v[lang] for n, v in names.items()}, lang)


def _render(trend: Trend, gate_names: dict[int, str], lang: str) -> bytes:
    from matplotlib import rc_context
    from matplotlib.artist import Artist
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    families = ["DejaVu Sans", FONT_FAMILY] if lang == "zh" else ["DejaVu Sans"]
    days = len(trend.days)
    x = list(range(days))
    # A list of families (not the generic "sans-serif") so matplotlib falls back glyph by glyph.
    with rc_context({"font.family": families, "axes.unicode_minus": False}):
        fig = Figure(figsize=(9, 7.5), dpi=100)
        FigureCanvasAgg(fig)
        gates = sorted(trend.counts)
        axes = fig.subplots(len(gates), 1, sharex=True, squeeze=False)[:, 0]
        for ax, gate in zip(axes, gates, strict=True):
            bottom = [0] * days
            for reading in READINGS:
                values = trend.readings.get(gate, {}).get(reading, [0] * days)
                ax.bar(x, values, bottom=bottom, color=COLOURS[reading], width=0.8, linewidth=0)
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
            for changed_gate, index in trend.changes:
                if changed_gate == gate:
                    ax.axvline(index, color=CHANGE_COLOUR, linestyle="--", linewidth=1.4)
            title = label("gate", lang, n=gate, name=gate_names.get(gate, ""))
            ax.set_title(f"{title} ({trend.per_gate(gate)})", loc="left", fontsize=10)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=3))
            ax.set_ylim(0, max(max(bottom), 1) * 1.15)
            ax.spines[["top", "right"]].set_visible(False)
            ax.set_ylabel(label("chart_signals", lang), fontsize=8)
            ax.tick_params(labelsize=8)
        step = 1 if days <= 10 else 5
        ticks = [i for i in x if (days - 1 - i) % step == 0]
        axes[-1].set_xticks(ticks, [trend.days[i].strftime("%m-%d") for i in ticks])
        fig.suptitle(label("chart_title", lang, days=days), x=0.01, ha="left", fontsize=14)
        fig.text(0.01, 0.935, label("chart_subtitle", lang, start=trend.days[0].isoformat(),
                                    end=trend.days[-1].isoformat(), tz=trend.zone, pasted=trend.pasted,
                                    fed=trend.fed), fontsize=9, color="#555555")
        handles: list[Artist] = [Patch(color=COLOURS[r], label=label(f"evidence_chart_{r}", lang)) for r in READINGS]
        handles.append(Line2D([0], [0], color=CHANGE_COLOUR, linestyle="--", label=label("chart_status_change", lang)))
        fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
        fig.subplots_adjust(left=0.08, right=0.98, top=0.87, bottom=0.1, hspace=0.55)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    return buf.getvalue()


# --------------------------------------------------------------------------- the reply


def trend_reply(trend: Trend, names: GateNames, lang: str) -> Reply:
    """The chart and a few lines of text saying the same (the image's caption and text fallback).

    Plain data in, a Reply out, no store: it runs in the worker process (rendering is the slow part)."""
    days = len(trend.days)
    image = render_png(trend, names, lang)
    lines = [label("trend_line", lang, gate=label("gate", lang, n=n, name=v[lang]), n=trend.per_gate(n))
             + label("evidence_trend", lang, for_=sum(trend.readings.get(n, {}).get("for", [])),
                     against=sum(trend.readings.get(n, {}).get("against", [])))
             for n, v in names.items()]
    blocks = [Block(kind="heading", text=label("chart_title", lang, days=days)),
              Block(kind="text", text=label("trend_subtitle", lang, start=trend.days[0].isoformat(),
                                            end=trend.days[-1].isoformat(), tz=trend.zone, pasted=trend.pasted,
                                            fed=trend.fed)),
              Block(kind="list", items=lines)]
    if trend.changes:
        n = len(trend.changes)
        blocks.append(Block(kind="note", text=label("trend_changes_1" if n == 1 else "trend_changes", lang, n=n)))
    return Reply(kind="chart", lang=lang, blocks=blocks, image=image, image_name=f"trend-{days}d.png")


async def render_in_worker(trend: Trend, names: GateNames, lang: str) -> Reply:
    """trend_reply in the chart worker process: the event loop keeps serving chats while it renders.
    Raises WorkerError when the worker broke its limits or died twice (see `atrend`)."""
    return await run_cpu("chart", trend_reply, trend, names, lang)


async def aload_trend(store: Store, rules: RuleSet, platform: str, chat_id: str, days: int, now: datetime,
                      zone_name: str = "UTC") -> Trend:
    """A chat's trend, days counted in `zone_name`, on a thread with a read-only connection of its own (Store.trend_rows): the
    count can take seconds on a busy chat, and neither the event loop nor the store's lock waits."""
    zone = resolve_zone(zone_name) or timezone.utc
    start, end = _window(days, now, zone)
    loop = asyncio.get_running_loop()
    signals, changes = await loop.run_in_executor(_READS, store.trend_rows, platform, chat_id, start, end)
    return count_trend(signals, changes, days, now, list(rules.gates), zone)


async def atrend(store: Store, rules: RuleSet, platform: str, chat_id: str, days: int, now: datetime,
                 zone_name: str, lang: str) -> Reply:
    """/trend: counted off the event loop, drawn in the chart worker; whatever fails, a reply that
    says what happened (one line in the chat, one in the log)."""
    try:
        trend = await aload_trend(store, rules, platform, chat_id, days, now, zone_name)
    except TrendTooSlow as exc:
        log.warning("trend for %s:%s: %s", platform, chat_id, exc)
        return _failed(lang, "chart_err_count_slow")
    except Exception as exc:  # noqa: BLE001 - e.g. the database is locked or damaged: say so, no traceback
        log.warning("trend for %s:%s: counting failed (%s: %s)", platform, chat_id, type(exc).__name__, exc)
        return _failed(lang, "chart_err_failed")
    try:
        return await render_in_worker(trend, gate_names(rules), lang)
    except WorkerError as exc:
        log.warning("trend for %s:%s: %s", platform, chat_id, exc)
        return _failed(lang, f"chart_err_{exc.reason}")
    except Exception as exc:  # noqa: BLE001 - a rendering bug must not leave the chat without an answer
        log.warning("trend for %s:%s: rendering failed (%s: %s)", platform, chat_id, type(exc).__name__, exc)
        return _failed(lang, "chart_err_failed")


def _failed(lang: str, key: str) -> Reply:
    key = key if key in LABELS else "chart_err_failed"
    limits = LIMITS["chart"]  # the wording names the limit that stopped it
    text = label(key, lang, seconds=f"{limits.seconds:g}", memory_mb=limits.memory_mb)
    return Reply(kind="error", lang=lang, blocks=[Block(kind="text", text=text)])
