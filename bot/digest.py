"""Daily digests and the living board's commands.

`build_digest` says what a chat's news did to each gate in a window: signals per gate against the
previous 7-day daily average, the top items per gate (deduplicated), status changes, feedback
corrections and the board's one-line status per gate. `digest_command` and `setstatus_command`
answer `/digest ...` and `/setstatus ...`; the service routes to them.

All wording (English and Chinese) lives in reply.LABELS with the rest of gatebot's.

Status text language: `/setstatus` stores the text as given in both the English and the Chinese
column (an admin writes for the chat they are in; a translation can be set later with another
`/setstatus`). The CLI can set the two separately (`gatebot status set GATE TEXT --zh TEXT`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol

from . import chatsettings
from .context import chat_majority, decide_language
from .reply import Block, Reply, label, zh_text
from .ruleset import Gate, RuleSet
from .store import Balance, Store, iso, text_key
from .text import detect_language
from .timing import next_due, parse_hhmm, resolve_zone


class Service(Protocol):
    """What digests need of the service that calls them (the service sits above this module)."""

    rules: RuleSet
    store: Store
    admins: frozenset[str]  # user ids allowed to /setstatus
    default_tz: str  # zone for `/digest on HH:MM` without one

    def clock(self) -> datetime: ...


def current_status(store: Store, gate: Gate, lang: str) -> tuple[str, str]:
    """The gate's status and since when: the store's if an admin changed it, else the checklist's."""
    change = store.gate_status(gate.number)
    if change is None:
        return gate.status.get(lang), label("since_checklist", lang)
    text = change.status_zh if lang == "zh" and change.status_zh else change.status_en
    return text, label("since", lang, date=change.since[:10])

MAX_WINDOW = timedelta(days=7)
FIRST_WINDOW = timedelta(hours=24)
BASELINE = timedelta(days=7)
TOP_PER_GATE = 3
ITEM_CHARS = 200
MOMENTUM_WINDOW = timedelta(days=7)

_URL = re.compile(r"https?://[^\s<>\"'()\[\]{}]+", re.IGNORECASE)
_URL_TRAIL = ".,;:!?。,"  # punctuation that ends a sentence, not the URL





def _parse_iso(value: str) -> datetime:
    ts = datetime.fromisoformat(value)
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def _neg(ts: str) -> tuple:
    """Sort key for "latest first" on ISO strings."""
    return tuple(-ord(c) for c in ts)


def first_url(text: str) -> str | None:
    match = _URL.search(text or "")
    return match.group(0).rstrip(_URL_TRAIL) if match else None


def _cut(text: str, n: int = ITEM_CHARS) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


# --------------------------------------------------------------------------- language and windows


def chat_language(service: Service, platform: str, chat_id: str, locale: str | None = None) -> str:
    """The language of what the chat receives as digests, feeds and charts (see context.decide_language):
    the digest's override, else the chat's setting, else the asker's locale, else its headlines'."""
    sub = service.store.get_subscription(platform, chat_id)
    return decide_language(digest=(sub or {}).get("lang") or "",
                           chosen=chatsettings.load(service.store, platform, chat_id).lang, locale=locale,
                           majority=lambda: chat_majority(service.store, platform, chat_id))


def digest_window(service: Service, platform: str, chat_id: str, now: datetime,
                  since: datetime | None = None) -> tuple[datetime, datetime]:
    """Since the chat's previous sent digest (at most 7 days); 24 hours for the first."""
    if since is None:
        previous = service.store.last_sent_window_end(platform, chat_id)
        since = _parse_iso(previous) if previous else now - FIRST_WINDOW
    since = max(since, now - MAX_WINDOW)
    return min(since, now), now


def momentum(service: Service, platform: str, chat_id: str, now: datetime | None = None,
             exclude: int | None = None) -> dict[int, int]:
    """Signals per gate this chat has seen in the last 7 days (without message `exclude`, the one
    being answered)."""
    now = now or service.clock()
    return service.store.signal_counts(platform, chat_id, iso(now - MOMENTUM_WINDOW), iso(now + timedelta(seconds=1)),
                                       exclude=exclude)


# --------------------------------------------------------------------------- the digest


@dataclass
class GateSignals:
    gate: int
    count: int
    avg_per_day: float
    delta: float  # count minus the baseline average scaled to the window's length
    items: list[tuple[str, int, str | None]] = field(default_factory=list)  # (text, times, url)
    balance: Balance | None = None  # the window's evidence: distinct stories for / against / neutral


@dataclass
class Digest:
    platform: str
    chat_id: str
    lang: str
    start: datetime
    end: datetime
    gates: list[GateSignals]
    changes: list
    corrections: list[tuple]

    @property
    def quiet(self) -> bool:
        return not any(g.count for g in self.gates)


def compute_digest(service: Service, platform: str, chat_id: str, *, now: datetime | None = None,
                   since: datetime | None = None, lang: str | None = None) -> Digest:
    store = service.store
    now = now or service.clock()
    start, end = digest_window(service, platform, chat_id, now, since)
    s, e = iso(start), iso(end + timedelta(seconds=1))  # inclusive of messages stored at `now`
    counts = store.signal_counts(platform, chat_id, s, e)
    base = store.signal_counts(platform, chat_id, iso(start - BASELINE), s)
    days = max((end - start).total_seconds() / 86400, 1 / 24)
    # Deduplicate by the headline without its links (the store already groups identical texts).
    # Ranked by confidence first (a low-confidence item never outranks a high one), then by how
    # many chats had the headline, then by time.
    merged: dict[tuple[int, str], list] = {}
    for gate, _key, times, latest, text, source, link, rank, chats in store.top_items(platform, chat_id, s, e):
        key = (gate, text_key(_URL.sub(" ", text)))
        url = first_url(text) or link
        if source:  # a feed entry: marked with its feed
            text = f"{text} [{source}]"
        entry = merged.get(key)
        if entry is None:
            merged[key] = [text, times, latest, url, rank, chats]
        else:
            entry[1] += times
            entry[2] = max(entry[2], latest)
            entry[3] = entry[3] or url
            entry[4] = max(entry[4], rank)
            entry[5] = max(entry[5], chats)
    top: dict[int, list[tuple[str, int, str | None]]] = {}
    for (gate, _), (text, times, _latest, url, _rank, _chats) in sorted(
            merged.items(), key=lambda kv: (kv[0][0], -kv[1][4], -kv[1][5], _neg(kv[1][2]))):
        bucket = top.setdefault(gate, [])
        if len(bucket) < TOP_PER_GATE:
            bucket.append((text, times, url))
    balances = store.evidence_balance(start, end + timedelta(seconds=1), platform=platform, chat_id=str(chat_id))
    gates = []
    for number in service.rules.gates:
        avg = base.get(number, 0) / 7
        n = counts.get(number, 0)
        gates.append(GateSignals(number, n, avg, n - avg * days, top.get(number, []), balances.get(number)))
    return Digest(
        platform=platform, chat_id=str(chat_id), lang=lang or chat_language(service, platform, chat_id),
        start=start, end=end, gates=gates,
        changes=store.status_changes_between(s, e),
        corrections=store.corrections(platform, chat_id, s, e),
    )


def _fmt_num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if abs(x - round(x)) > 1e-9 else str(int(round(x)))


def _fmt_delta(x: float) -> str:
    if abs(x) < 0.05:
        return "±0"
    return ("+" if x > 0 else "−") + _fmt_num(abs(x))


def _fmt_time(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render_digest(service: Service, digest: Digest) -> Reply:
    lang = digest.lang
    rules = service.rules

    def title(n: int) -> str:
        gate = rules.gates[n]
        return label("gate", lang, n=n, name=gate.name.get(lang))

    blocks: list[Block] = [Block(kind="heading", text=label(
        "digest_title", lang, start=_fmt_time(digest.start), end=_fmt_time(digest.end)))]
    if digest.quiet:
        blocks.append(Block(kind="text", text=label("quiet", lang, start=_fmt_time(digest.start))))
    else:
        lines = []
        for g in digest.gates:
            if g.count == 0 and g.avg_per_day == 0:
                continue
            if g.avg_per_day == 0:
                lines.append(label("signal_line_new", lang, gate=title(g.gate), n=g.count))
            else:
                lines.append(label("signal_line", lang, gate=title(g.gate), n=g.count,
                                  delta=_fmt_delta(g.delta), avg=_fmt_num(round(g.avg_per_day, 1))))
            if g.balance is not None and g.balance.stories:
                b = g.balance
                lines[-1] += label("evidence_digest", lang, for_=b.for_.stories, against=b.against.stories,
                                   neutral=b.neutral.stories)
        blocks.append(Block(kind="list", label=label("signals", lang), items=lines))
        for g in digest.gates:
            if not g.items:
                continue
            items = []
            for text, times, url in g.items:
                item = _cut(text)
                if times > 1:
                    item += label("times", lang, n=times)
                if url and url not in item:
                    item += f" {url}"
                items.append(item)
            blocks.append(Block(kind="list", label=label("top_items", lang, gate=title(g.gate)), items=items,
                                user_text=True))
    if digest.changes:
        items = []
        for change in digest.changes[-8:]:
            status = change.status_zh if lang == "zh" and change.status_zh else change.status_en
            item = label("status_change_item", lang, gate=title(change.gate), status=_cut(status, 160))
            if change.reason:
                item += label("reason", lang, reason=_cut(change.reason, 160))
            items.append(item)
        blocks.append(Block(kind="list", label=label("status_changes", lang), items=items, user_text=True))
    if digest.corrections:
        items = []
        for text, said, choice, n in digest.corrections:
            items.append(label("correction_item", lang, text=_cut(text, 120), n=n,
                              said=_gate_word(said, lang), choice=_gate_word(choice, lang)))
        blocks.append(Block(kind="list", label=label("corrections", lang), items=items, user_text=True))
    board = []
    for gate in rules.gates.values():
        status, since = current_status(service.store, gate, lang)
        board.append(label("board_line", lang, n=gate.number, name=gate.name.get(lang),
                           status=label("status_since", lang, status=_zh(_cut(status, 160), lang), since=since)))
    blocks.append(Block(kind="list", label=label("board_now", lang), items=board))
    return Reply(kind="board", lang=lang, blocks=blocks)


def _zh(text: str, lang: str) -> str:
    """Status wording in a Chinese reply, punctuated like the rest of it."""
    return zh_text(text) if lang == "zh" else text


def _gate_word(value: object, lang: str) -> str:
    value = str(value)
    if value in ("0", ""):
        return label("no_gate_short", lang)
    return label("gate_short", lang, n=value)


def build_digest(service: Service, platform: str, chat_id: str, *, now: datetime | None = None,
                 since: datetime | None = None, lang: str | None = None) -> Reply:
    return render_digest(service, compute_digest(service, platform, chat_id, now=now, since=since, lang=lang))


# --------------------------------------------------------------------------- commands


def _reply(lang: str, text: str, kind: str = "status", user_text: bool = False) -> Reply:
    return Reply(kind=kind, lang=lang, blocks=[Block(kind="text", text=text, user_text=user_text)])


def digest_command(service: Service, platform: str, chat_id: str, user_id: str, args: str,
                   locale: str | None = None) -> Reply:
    """/digest · /digest on HH:MM [zone] · /digest off · /digest status · /digest lang en|zh|auto
    (who may change them is checked by the command table)."""
    parts = args.split()
    now = service.clock()
    if not parts:
        return build_digest(service, platform, chat_id, now=now, lang=None)
    sub_lang = chat_language(service, platform, chat_id, locale)
    verb = parts[0].lower()
    if verb == "on":
        if len(parts) < 2 or len(parts) > 3:
            return _reply(sub_lang, label("digest_usage", sub_lang), "error")
        hhmm = parse_hhmm(parts[1])
        if hhmm is None:
            return _reply(sub_lang, label("bad_time", sub_lang, value=parts[1][:20]), "error", True)
        zone_name = parts[2] if len(parts) == 3 else (service.default_tz or "UTC")
        zone = resolve_zone(zone_name)
        if zone is None:
            return _reply(sub_lang, label("bad_zone", sub_lang, value=zone_name[:60]), "error", True)
        time_text = f"{hhmm[0]:02d}:{hhmm[1]:02d}"
        sub = service.store.set_subscription(platform, chat_id, enabled=1, time=time_text, tz=zone.key)
        nxt = next_due(sub, now)
        return _reply(sub_lang, label("digest_on", sub_lang, time=time_text, tz=zone.key, next=_fmt_local(nxt, zone)))
    if verb == "off" and len(parts) == 1:
        if service.store.get_subscription(platform, chat_id):
            service.store.set_subscription(platform, chat_id, enabled=0)
        return _reply(sub_lang, label("digest_off", sub_lang))
    if verb == "status" and len(parts) == 1:
        current = service.store.get_subscription(platform, chat_id)
        lines = []
        if current and current["enabled"]:
            shown_zone = resolve_zone(current["tz"]) or timezone.utc
            nxt = next_due(current, now)
            lines.append(label("digest_status_on", sub_lang, time=current["time"], tz=current["tz"], next=_fmt_local(nxt, shown_zone)))
        else:
            lines.append(label("digest_status_off", sub_lang))
        last = service.store.last_digest(platform, chat_id)
        if last:
            lines.append(label("digest_last", sub_lang, date=last[0], status=last[1]))
        override = (current or {}).get("lang") or ""
        lines.append(label("digest_lang", sub_lang, value=override if override in ("en", "zh") else label("lang_auto", sub_lang)))
        return Reply(kind="status", lang=sub_lang, blocks=[Block(kind="text", text=line) for line in lines])
    if verb == "lang" and len(parts) == 2:
        value = parts[1].lower()
        if value not in ("en", "zh", "auto"):
            return _reply(sub_lang, label("bad_lang", sub_lang), "error")
        service.store.set_subscription(platform, chat_id, lang="" if value == "auto" else value)
        shown = chat_language(service, platform, chat_id, locale)
        return _reply(shown, label("digest_lang", shown, value=value if value != "auto" else label("lang_auto", shown)))
    return _reply(sub_lang, label("digest_usage", sub_lang), "error")


def _fmt_local(ts: datetime | None, zone) -> str:
    if ts is None:
        return "—"
    return ts.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def setstatus_command(service: Service, platform: str, user_id: str, args: str, lang: str) -> Reply:
    """/setstatus <gate> <text> [| reason] (the command table lets only the bot's admins run it)."""
    main, _, reason = args.partition("|")
    words = main.split()
    if len(words) < 2:
        return _reply(lang, label("setstatus_usage", lang), "error")
    gate, used = None, 1
    for n in range(min(4, len(words) - 1), 0, -1):  # a gate name may be several words: longest first
        gate = service.rules.gate_by_name(" ".join(words[:n]))
        if gate is not None:
            used = n
            break
    if gate is None:
        return _reply(lang, label("unknown_gate", lang, name=words[0][:60]), "error", True)
    text = " ".join(words[used:])[:500]
    reason = " ".join(reason.split())[:500]
    return set_status(service, gate.number, text, text, f"{platform}:{user_id}", reason, detect_language(text))


def set_status(service: Service, gate_number: int, status_en: str, status_zh: str, changed_by: str,
               reason: str, lang: str) -> Reply:
    gate = service.rules.gates[gate_number]
    previous, previous_since = current_status(service.store, gate, lang)
    change = service.store.set_gate_status(gate_number, status_en, status_zh or status_en, changed_by, reason)
    status = change.status_zh if lang == "zh" else change.status_en
    blocks = [
        Block(kind="heading", text=label("setstatus_done", lang) + " · " + label("gate", lang, n=gate.number,
                                                                                 name=gate.name.get(lang))),
        Block(kind="field", label=label("new_status", lang),
              text=label("status_since", lang, status=status, since=label("since", lang, date=change.since[:10])),
              user_text=True),
        Block(kind="field", label=label("previous", lang),
              text=label("status_since", lang, status=_zh(previous, lang), since=previous_since), user_text=True),
    ]
    if reason:
        blocks.append(Block(kind="field", label=label("reason_label", lang), text=reason, user_text=True))
    return Reply(kind="status", lang=lang, blocks=blocks)
