"""The evidence ledger: what each gated verdict says about its gate (reading, metric, figure), how
strongly (a weight from its confidence) and where it came from, each story counted once.

Recorded by `MessageRows.add_message` in the same transaction as the message. A story is known by its
link (normalised) and by a near-duplicate key of its text; a row whose keys were already seen in a
scope is kept (it still names a source) but not counted again there. Three scopes count: the chat,
the platform, and every chat. Each counted story adds to a daily aggregate per scope (gate, metric,
reading), so a balance over a window reads at most a few hundred aggregate rows plus the rows of the
two partial days at its edges, however long the ledger is.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..models import Verdict
from ..text import fold
from .base import Rows, iso

GATES = (1, 2, 3, 4)
READINGS = ("for", "against", "neutral")
SOURCE_KINDS = ("paste", "link", "feed")
TEXT_CHARS = 500  # the ledger keeps a story's beginning; the message keeps the rest

# Weight of a verdict by its confidence. The classifier's confidence bands, not the model's
# probability: every verdict has a band (rules, learned model or model judge), while a probability
# exists only when the learned model decided, so weights stay comparable across chats and judges.
# A medium verdict is right a little more than half as often as a high one in the evaluations
# (docs/readings.md), a low one about a third as often.
WEIGHTS = {"high": 1.0, "medium": 0.6, "low": 0.3, "none": 0.0}

# Near-duplicate text key: the set of the first NEAR_TOKENS tokens (Latin words, numbers, single CJK
# characters) of the folded text, sorted. Catches what re-published headlines differ by (case, width,
# traditional/simplified, punctuation, word order, a trailing "- Publisher"), costs one fold of a
# few hundred characters, and never merges two headlines that differ in a word among their first ones.
NEAR_TOKENS = 20
NEAR_CHARS = 400
_URL = re.compile(r"https?://[^\s<>\"'()\[\]{}，。、；：！？（）【】]+", re.IGNORECASE)
# "Headline - Reuters", "Headline | SCMP", "标题 - 新浪财经": a short trailing segment naming the publisher.
_PUBLISHER = re.compile(r"\s+[-|–—]\s+[^-|–—]{1,40}$")
_NEAR_TOKEN = re.compile(r"[a-z]+|[0-9]+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Query parameters that track the reader, not name the page.
_TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|mc_cid|mc_eid|spm|from|share_token|ref|ref_src|igshid)$", re.I)


@dataclass(frozen=True)
class Tally:
    stories: int  # distinct stories
    weight: float  # sum of their confidence weights


ZERO = Tally(0, 0.0)


@dataclass(frozen=True)
class Balance:
    gate: int
    for_: Tally
    against: Tally
    neutral: Tally
    by_metric: dict[str, dict[str, Tally]]  # metric -> reading -> Tally

    @property
    def stories(self) -> int:
        return self.for_.stories + self.against.stories + self.neutral.stories

    def reading(self, name: str) -> Tally:
        return {"for": self.for_, "against": self.against, "neutral": self.neutral}[name]


@dataclass(frozen=True)
class EvidenceItem:
    id: int
    platform: str
    chat_id: str
    at: str
    gate: int
    reading: str
    metric: str
    figure: str | None
    confidence: str
    weight: float
    source_kind: str
    source: str
    link: str | None
    text: str


def normalise_link(url: str) -> str:
    """A link as a story key: scheme, "www.", fragment, trailing slash and tracking parameters dropped."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return url.strip().lower()
    host = host[4:] if host.startswith("www.") else host
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                             if not _TRACKING.match(k)))
    path = parts.path.rstrip("/")
    return f"{host}{path}" + (f"?{query}" if query else "")


def link_host(url: str) -> str:
    try:
        host = (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


def first_link(text: str) -> str | None:
    m = _URL.search(text)
    return m.group(0).rstrip(".,;:!?") if m else None


def near_key(text: str) -> str:
    """A story's text key (see NEAR_TOKENS); "" for a text with no words (links only)."""
    lines = _URL.sub(" ", text[:NEAR_CHARS]).splitlines()
    head = " ".join(_PUBLISHER.sub("", line.strip()) for line in lines if line.strip())
    tokens = _NEAR_TOKEN.findall(fold(head).text)[:NEAR_TOKENS]
    if not tokens:
        return ""
    return hashlib.sha1(" ".join(sorted(set(tokens))).encode("utf-8")).hexdigest()[:20]


def story_keys(text: str, link: str | None) -> list[str]:
    keys = [f"l:{normalise_link(link)}"] if link else []
    near = near_key(text)
    return keys + [f"t:{near}"] if near else keys


def scopes(platform: str, chat_id: str) -> tuple[str, str, str]:
    """The ledger's counting scopes for a chat: the chat, its platform, every chat."""
    return f"c:{platform}:{chat_id}", f"p:{platform}", "*"


def scope_of(platform: str | None, chat_id: str | None) -> str:
    if chat_id is not None:
        if platform is None:
            raise ValueError("a chat is named by platform and chat id together")
        return f"c:{platform}:{chat_id}"
    return f"p:{platform}" if platform is not None else "*"


# Which row flag says "counted in this scope" (a row is counted where its story was new).
_FLAG = {"c": "in_chat", "p": "in_platform", "*": "in_all"}


def _where(scope: str) -> tuple[str, list[object]]:
    """The row filter of a scope (platform/chat columns) and its flag column."""
    kind = scope[0]
    if kind == "c":
        _, platform, chat_id = scope.split(":", 2)
        return "platform = ? and chat_id = ?", [platform, chat_id]
    if kind == "p":
        return "platform = ?", [scope[2:]]
    return "", []


@dataclass(frozen=True)
class Entry:
    """One gated verdict on its way into the ledger (built before the store's transaction)."""

    platform: str
    chat_id: str
    at: str
    gate: int
    reading: str
    metric: str
    figure: str | None
    confidence: str
    weight: float
    source_kind: str
    source: str
    link: str | None
    text: str
    keys: tuple[str, ...]


def entry_for(*, platform: str, chat_id: str, user_id: str, at: str, text: str, verdict: Verdict,
              source: str | None, link: str | None) -> Entry | None:
    """The ledger entry of a stored verdict, None without a gate. A feed entry comes with its feed's
    name as `source`; a pasted text with a link in it is a link (its host the source); else a paste,
    its source the chat's user ("platform:chat:user")."""
    if not verdict.gate:
        return None
    if source:
        kind, src = "feed", source
    else:
        link = link or first_link(text)
        kind, src = ("link", link_host(link) or link) if link else ("paste", f"{platform}:{chat_id}:{user_id}")
    return Entry(
        platform=platform, chat_id=str(chat_id), at=at, gate=verdict.gate,
        reading=verdict.reading if verdict.reading in READINGS else "neutral",
        metric=verdict.metric or "other", figure=verdict.figure, confidence=verdict.confidence,
        weight=WEIGHTS.get(verdict.confidence, 0.0), source_kind=kind, source=src[:200],
        link=link[:2000] if link else None, text=text[:TEXT_CHARS],
        keys=tuple(story_keys(text, link)),
    )


def seen_query(entry: Entry) -> tuple[str, list[object]]:
    """A scalar subquery: the scopes (comma-joined) in which one of the entry's story keys was seen,
    to ride along the store's "seen before" lookup (one statement for both)."""
    if not entry.keys:
        return "''", []
    chat, platform, every = scopes(entry.platform, entry.chat_id)
    marks = ", ".join("?" * len(entry.keys))
    return (f"(select group_concat(scope) from evidence_keys where scope in (?, ?, ?) and key in ({marks}))",
            [chat, platform, every, *entry.keys])


INSERT_ROW = ("insert into evidence (message_id, platform, chat_id, at, gate, reading, metric, figure, confidence, "
              "weight, source_kind, source, link, text, in_chat, in_platform, in_all) "
              "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_KEYS = "insert or ignore into evidence_keys (scope, key, evidence_id) values "
KEY_VALUES = "(?, ?, ?)"
ADD_DAILY = "insert into evidence_daily (scope, day, gate, metric, reading, stories, weight) values "
DAILY_VALUES = "(?, ?, ?, ?, ?, ?, ?)"
ON_DAILY = " on conflict do update set stories = stories + excluded.stories, weight = weight + excluded.weight"


def record(conn: sqlite3.Connection, entry: Entry, message_id: int, seen: str | None) -> None:
    """Write the entry inside the caller's transaction: its row, its story keys, and the daily
    aggregates of the scopes where the story is new (three statements; two for a repeat)."""
    seen_in = set((seen or "").split(","))
    chat, platform, every = scopes(entry.platform, entry.chat_id)
    fresh = [s for s in (chat, platform, every) if s not in seen_in]
    row_id = conn.execute(INSERT_ROW, [
        message_id, entry.platform, entry.chat_id, entry.at, entry.gate, entry.reading, entry.metric,
        entry.figure, entry.confidence, entry.weight, entry.source_kind, entry.source, entry.link, entry.text,
        int(chat in fresh), int(platform in fresh), int(every in fresh)]).lastrowid
    # Every key of the row goes in for every scope, a repeat's too: a story first pasted without a
    # link and later read from a feed with one is then known by either.
    pairs = [(s, k) for s in (chat, platform, every) for k in entry.keys]
    if pairs:
        conn.execute(INSERT_KEYS + ", ".join(KEY_VALUES for _ in pairs), [v for s, k in pairs for v in (s, k, row_id)])
    if not fresh:
        return
    day = entry.at[:10]
    conn.execute(ADD_DAILY + ", ".join(DAILY_VALUES for _ in fresh) + ON_DAILY,
                 [v for s in fresh for v in (s, day, entry.gate, entry.metric, entry.reading, 1, entry.weight)])


def _day(ts: datetime) -> datetime:
    ts = ts.astimezone(timezone.utc)
    return datetime(ts.year, ts.month, ts.day, tzinfo=timezone.utc)


def _window(start: datetime, end: datetime) -> tuple[str, str, list[tuple[str, str]]]:
    """Whole days [first, last) read from the aggregates, and the partial spans read from rows."""
    first = _day(start) if _day(start) == start.astimezone(timezone.utc) else _day(start) + timedelta(days=1)
    last = _day(end)
    if first >= last:
        return "", "", [(iso(start), iso(end))] if start < end else []
    spans = [(iso(start), iso(first))] if start < first else []
    spans += [(iso(last), iso(end))] if last < end else []
    return first.date().isoformat(), last.date().isoformat(), spans


def balance_sql(scope: str, start: datetime, end: datetime, head: str = "", tail: str = "") -> tuple[str, list]:
    """The statement whose rows (gate, metric, reading, stories, weight) sum to a scope's balance
    in [start, end): whole days from the aggregates, the partial days at the edges from the rows.
    `head`/`tail`: extra leading/trailing columns, for a caller that unions it with other rows.
    ("", []) for an empty window."""
    first, last, spans = _window(start, end)
    parts: list[str] = []
    params: list[object] = []
    if first:
        parts.append(f"select {head}gate, metric, reading, stories, weight{tail} from evidence_daily "
                     "where scope = ? and day >= ? and day < ?")
        params += [scope, first, last]
    where, where_params = _where(scope)
    for lo, hi in spans:
        parts.append(
            f"select {head}gate, metric, reading, count(*), sum(weight){tail} from evidence where "
            + (where + " and " if where else "")
            + f"gate in (1, 2, 3, 4) and at >= ? and at < ? and {_FLAG[scope[0]]} = 1 group by gate, metric, reading")
        params += [*where_params, lo, hi]
    return " union all ".join(parts), params


class EvidenceRows(Rows):
    def evidence_balance(self, start: datetime, end: datetime, *, platform: str | None = None,
                         chat_id: str | None = None) -> dict[int, Balance]:
        """For / against / neutral per gate (1-4) and metric in [start, end): distinct stories and
        their weights, in a chat (platform and chat_id), a platform, or every chat (neither)."""
        rows = self._balance_rows(scope_of(platform, None if chat_id is None else str(chat_id)), start, end)
        return balances(rows)

    def _balance_rows(self, scope: str, start: datetime, end: datetime) -> list[tuple]:
        sql, params = balance_sql(scope, start, end)
        if not sql:
            return []
        with self.lock:
            return self.db.execute(sql, params).fetchall()

    def evidence_items(self, gate: int, start: datetime, end: datetime, *, platform: str | None = None,
                       chat_id: str | None = None, reading: str | None = None, feeds_only: bool = False,
                       limit: int = 5) -> list[EvidenceItem]:
        """The strongest stories of a gate in [start, end) in a scope, heaviest first, then newest;
        each story once (the row that first brought it to the scope)."""
        scope = scope_of(platform, None if chat_id is None else str(chat_id))
        where, params = _where(scope)
        # The ids first, from the index alone (every chat's month of a gate is ~20,000 index entries);
        # then only the rows shown are read.
        pick = ("select id from evidence where " + (where + " and " if where else "")
                + f"gate = ? and at >= ? and at < ? and {_FLAG[scope[0]]} = 1")
        params += [gate, iso(start), iso(end)]
        if reading is not None:
            pick += " and reading = ?"
            params.append(reading)
        if feeds_only:
            pick += " and source_kind = 'feed'"
        order = " order by weight desc, at desc, id desc"
        pick += order + " limit ?"
        params.append(max(0, limit))
        sql = ("select id, platform, chat_id, at, gate, reading, metric, figure, confidence, weight, source_kind, "
               f"source, link, text from evidence where id in ({pick}){order}")
        with self.lock:
            rows = self.db.execute(sql, params).fetchall()
        return [EvidenceItem(*row) for row in rows]

    def evidence_sources(self, gate: int, start: datetime, end: datetime, *, reading: str | None = None,
                         platform: str | None = None, chat_id: str | None = None) -> int:
        """How many distinct sources (feeds, link hosts, chat users) spoke to a gate in [start, end):
        every row counts here, repeats included, since a second source telling the same story is
        what corroboration is."""
        scope = scope_of(platform, None if chat_id is None else str(chat_id))
        where, params = _where(scope)
        sql = ("select count(distinct source) from evidence where " + (where + " and " if where else "")
               + "gate = ? and at >= ? and at < ?")
        params += [gate, iso(start), iso(end)]
        if reading is not None:
            sql += " and reading = ?"
            params.append(reading)
        with self.lock:
            return int(self.db.execute(sql, params).fetchone()[0])


def balances(rows: list[tuple]) -> dict[int, Balance]:
    """(gate, metric, reading, stories, weight) rows summed into one Balance per gate 1-4."""
    sums: dict[int, dict[str, dict[str, list]]] = {g: {} for g in GATES}
    for gate, metric, reading, stories, weight in rows:
        if gate not in sums or reading not in READINGS:
            continue
        cell = sums[gate].setdefault(metric, {r: [0, 0.0] for r in READINGS})[reading]
        cell[0] += int(stories)
        cell[1] += float(weight or 0.0)
    out: dict[int, Balance] = {}
    for gate, metrics in sums.items():
        by_metric = {m: {r: Tally(int(c[0]), round(c[1], 6)) for r, c in cells.items()}
                     for m, cells in sorted(metrics.items())}
        total = {r: Tally(sum(by_metric[m][r].stories for m in by_metric),
                          round(sum(by_metric[m][r].weight for m in by_metric), 6)) for r in READINGS}
        out[gate] = Balance(gate, total["for"], total["against"], total["neutral"], by_metric)
    return out
