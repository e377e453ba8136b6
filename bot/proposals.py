"""Status proposals: the evidence asks the admins to move a gate one step along the ladder.

The check (run by the periodic job runner) counts every chat's evidence of the last window for
each gate (rules/ladder.yaml: weighted by confidence, distinct stories, a minimum of distinct
sources), and `ladder.decide` says which gate, if any, the evidence would move one step up or
down. A proposal is recorded once, then posted to every chat that turned `/proposals on`, each post
claimed in the store before it is sent (a restart never sends it twice). A post quotes only
evidence from feeds and from the chat it goes to.

Nothing changes without an admin (GATEBOT_ADMINS): Accept sets the gate's status to the new step's
wording through the board's usual path and records who, when and on how many signals; Dismiss
records it, and that gate and direction stay quiet until the evidence grows by the ladder's
margin. Both answer a second press with what was decided, by whom.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from .context import is_bot_admin
from .digest import chat_language, set_status
from .jobs import Job, Wait, run_job, wait_or_stop
from .ladder import READING_OF, GateEvidence, LadderFile, Past, Side, decide, window_start
from .reply import Block, Choice, Reply, label, zh_text
from .ruleset import RuleSet
from .storage.proposals import ProposalRows
from .store import Store, iso, utcnow

log = logging.getLogger("gatebot.proposals")

TARGET = "proposal"  # what proposal buttons act on (instead of a stored message's id)
SEND_TIMEOUT = 60.0
MAX_ATTEMPTS = 3  # a failed post is tried again on the next ticks, this many times in all
QUOTED = 3  # evidence items quoted per source of them (this chat, feeds)
ITEM_CHARS = 200


class Service(Protocol):
    rules: RuleSet
    store: Store
    admins: frozenset[str]
    default_tz: str

    def clock(self) -> datetime: ...


class NoLadder(Exception):
    """The rules carry no ladder (rules/ladder.yaml): there is nothing to propose."""


def ladder_of(rules: RuleSet) -> LadderFile:
    if rules.ladder is None:
        raise NoLadder("no rules/ladder.yaml: status proposals are off")
    return rules.ladder


def rows(service: Service) -> ProposalRows:
    return ProposalRows(service.store)


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --------------------------------------------------------------------------------------- the check


def current_steps(service: Service) -> dict[int, int]:
    """Each gate's step: the last accepted proposal's, else where the checklist placed it."""
    ladder, book = ladder_of(service.rules), rows(service)
    out = {}
    for gate in service.rules.gates:
        moved = book.gate_step(gate)
        out[gate] = int(moved["step"]) if moved else ladder.checklist_step(gate)
    return out


def gate_evidence(ladder: LadderFile, gate: int, counts: dict) -> GateEvidence:
    """Both sides of a gate's evidence from its counts: distinct stories weighed by the ladder's
    confidence weights, and distinct sources."""
    weights = ladder.thresholds.weights
    sides = {}
    for reading in ("for", "against"):
        mine = {conf: n for (r, conf), n in counts["stories"].items() if r == reading}
        sides[reading] = Side(sum(mine.values()), sum(n * weights.of(conf) for conf, n in mine.items()),
                              counts["sources"].get(reading, 0) if mine else 0)
    return GateEvidence(gate, sides["for"], sides["against"])


def history(service: Service) -> list[Past]:
    return [Past(r["gate"], r["direction"], r["status"], _ts(r["created_at"]), float(r["net"] or 0))
            for r in rows(service).proposals()]


async def check(service: Service, now: datetime | None = None, *, off_loop: bool = True) -> list[int]:
    """Decide and record the proposals the evidence calls for now; their ids. The counting runs on
    a thread with a read-only connection of its own (a month of every chat's ledger); deciding and
    recording stay on the loop. `off_loop=False` counts in place: a test driving every job on one
    fake clock needs each tick to finish before simulated time moves on."""
    ladder = ladder_of(service.rules)
    now = now or service.clock()
    end = now + timedelta(seconds=1)  # evidence recorded at `now` counts
    steps = current_steps(service)
    starts = {}
    for gate in service.rules.gates:
        change = service.store.gate_status(gate)
        starts[gate] = window_start(ladder, now, _ts(change.since) if change else None)
    book = rows(service)
    for lapsed in book.lapse_proposals(iso(now - timedelta(days=ladder.thresholds.pending_days))):
        log.info("proposal #%d lapsed: nobody decided it in %d days", lapsed, ladder.thresholds.pending_days)
    windows = {g: (iso(s), iso(end)) for g, s in starts.items()}
    counts = (await asyncio.get_running_loop().run_in_executor(None, book.evidence_counts, windows) if off_loop
              else book.evidence_counts(windows))
    evidence = {g: gate_evidence(ladder, g, counts[g]) for g in starts}
    made = []
    quiet_since = iso(now - timedelta(days=ladder.thresholds.cooldown_days))
    for d in decide(ladder, steps, evidence, history(service), now):
        side = d.evidence.side(d.direction)
        row = {
            "gate": d.gate, "direction": d.direction, "from_step": d.from_step, "to_step": d.to_step,
            "created_at": iso(now), "window_start": iso(starts[d.gate]), "window_end": iso(end),
            "signals": side.stories, "weight": side.weight, "sources": side.sources, "net": d.net,
            "evidence": json.dumps({r: vars(getattr(d.evidence, a)) for r, a in (("for", "for_"),
                                                                                 ("against", "against"))}),
            "status": "pending", "decided_by": "", "decided_at": "",
        }
        proposal_id = book.add_proposal(row, quiet_since)
        if proposal_id is not None:
            log.info("proposal #%d: gate %d %s (%d signals, %d sources)", proposal_id, d.gate, d.direction,
                     side.stories, side.sources)
            made.append(proposal_id)
    return made


async def post_pending(service: Service, senders: Mapping[str, Any], run_id: str) -> list[tuple[int, str, str, str]]:
    """Post every pending proposal to every chat that turned proposals on and has not had it;
    (proposal id, platform, chat id, outcome) per attempt."""
    book = rows(service)
    done: list[tuple[int, str, str, str]] = []
    pending = book.proposals(status="pending")
    if not pending:
        return done
    for platform, chat_id in book.proposal_chats():
        sender = senders.get(platform)
        if sender is None:
            continue  # that platform is not running in this process
        for row in pending:
            if book.claim_post(row["id"], platform, chat_id, run_id, MAX_ATTEMPTS) is None:
                continue
            try:
                reply = proposal_reply(service, row, platform, chat_id, chat_language(service, platform, chat_id))
                ref = await asyncio.wait_for(sender.send(chat_id, reply), SEND_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - one chat's failure is retried on a later tick
                log.warning("proposal #%d to %s:%s failed: %s", row["id"], platform, chat_id, type(exc).__name__)
                book.finish_post(row["id"], platform, chat_id, ok=False, error=f"{type(exc).__name__}: {exc}")
                done.append((row["id"], platform, chat_id, "failed"))
                continue
            book.finish_post(row["id"], platform, chat_id, ok=True, message_ref=None if ref is None else str(ref))
            done.append((row["id"], platform, chat_id, "sent"))
    return done


async def proposals_tick(service: Service, senders: Mapping[str, Any], run_id: str,
                         now: datetime | None = None, *, off_loop: bool = True) -> list[tuple[int, str, str, str]]:
    """One pass: decide, then post."""
    if service.rules.ladder is None:
        return []
    await check(service, now or service.clock(), off_loop=off_loop)
    return await post_pending(service, senders, run_id)


async def run_proposals(service: Service, senders: Mapping[str, Any], stop: asyncio.Event,
                        tick_seconds: float = 600.0, clock: Callable[[], datetime] | None = None,
                        wait: Wait = wait_or_stop, off_loop: bool = True) -> None:
    """The proposals job: tick until `stop` is set; a failing tick is logged, never fatal."""
    run_id = uuid.uuid4().hex
    now_of: Callable[[], datetime] = clock or getattr(service, "clock", None) or utcnow
    interrupted = rows(service).interrupt_pending_posts(run_id)
    if interrupted:
        log.warning("%d proposal post(s) were interrupted mid-send by an earlier run; not resending", interrupted)

    async def tick() -> None:
        await proposals_tick(service, senders, run_id, now_of(), off_loop=off_loop)

    await run_job(Job("proposals", tick, tick_seconds), stop, wait=wait)


# --------------------------------------------------------------------------------------- showing one


def _cut(text: str, n: int = ITEM_CHARS) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _zh(text: str, lang: str) -> str:
    return zh_text(text) if lang == "zh" else text


def gate_title(service: Service, gate: int, lang: str) -> str:
    return label("gate", lang, n=gate, name=service.rules.gates[gate].name.get(lang))


def quoted_items(service: Service, row: dict, platform: str, chat_id: str) -> list[str]:
    """The proposal's strongest evidence that may be shown in this chat: its own and feeds'."""
    reading = READING_OF[row["direction"]]
    store, gate, s, e = service.store, row["gate"], _ts(row["window_start"]), _ts(row["window_end"])
    seen: set[str] = set()
    out = []
    for items in (store.evidence_items(gate, s, e, platform=platform, chat_id=chat_id, reading=reading, limit=QUOTED),
                  store.evidence_items(gate, s, e, reading=reading, feeds_only=True, limit=QUOTED)):
        for item in items:
            text = _cut(item.text)
            if text in seen:
                continue
            seen.add(text)
            link = item.link or ""
            out.append(f"{text} {link}".strip() if link not in text else text)
    return out


def proposal_reply(service: Service, row: dict, platform: str, chat_id: str, lang: str) -> Reply:
    """A proposal as a chat sees it: the move, the evidence, what accepting does, the buttons (while
    it is pending) or what was decided."""
    ladder = ladder_of(service.rules)
    src, dst = ladder.steps[row["from_step"]], ladder.steps[row["to_step"]]
    evidence = json.loads(row["evidence"] or "{}")
    other = evidence.get("against" if row["direction"] == "up" else "for", {}).get("stories", 0)
    days = max(1, round((_ts(row["window_end"]) - _ts(row["window_start"])).total_seconds() / 86400))
    blocks = [
        Block(kind="heading", text=label("proposal_title", lang, id=row["id"], gate=gate_title(service, row["gate"], lang))),
        Block(kind="text", text=label(f"proposal_move_{row['direction']}", lang, src=src.name.get(lang),
                                      dst=dst.name.get(lang))),
        Block(kind="field", label=label("proposal_evidence_label", lang),
              text=label(f"proposal_evidence_{row['direction']}", lang, n=row["signals"], days=days,
                         weight=_num(row["weight"]), sources=row["sources"], other=other)),
    ]
    items = quoted_items(service, row, platform, chat_id)
    if items:
        blocks.append(Block(kind="list", label=label("proposal_items", lang), items=items, user_text=True))
    choices: list[Choice] = []
    if row["status"] == "pending":
        blocks.append(Block(kind="field", label=label("proposal_if_accepted", lang),
                            text=_zh(dst.status.get(lang), lang)))
        blocks.append(Block(kind="note", text=label("proposal_who", lang)))
        choices = [Choice(value=f"accept={row['id']}", label=label("proposal_accept", lang), target=TARGET),
                   Choice(value=f"dismiss={row['id']}", label=label("proposal_dismiss", lang), target=TARGET)]
    else:
        blocks.append(Block(kind="field", label=label("proposal_decision", lang), user_text=True,
                            text=label(f"proposal_{row['status']}_by", lang, who=row["decided_by"],
                                       date=str(row["decided_at"])[:10])))
    return Reply(kind="status", lang=lang, blocks=blocks, choices=choices)


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------------------- deciding


def decide_proposal(service: Service, proposal_id: int, verb: str, by: str, lang: str) -> tuple[bool, str]:
    """Accept or dismiss a proposal (the caller has checked `by` is an admin): (changed, what to say)."""
    book = rows(service)
    row = book.proposal(proposal_id)
    if row is None:
        return False, label("proposal_unknown", lang, id=proposal_id)
    if row["status"] != "pending":
        return False, _already(row, lang)
    ladder = ladder_of(service.rules)
    if verb == "dismiss":
        if not book.decide_proposal(proposal_id, "dismissed", by):
            return False, _already(book.proposal(proposal_id) or row, lang)
        return True, label("proposal_dismissed_now", lang, id=proposal_id)
    if current_steps(service).get(row["gate"]) != row["from_step"]:
        return False, label("proposal_stale", lang, id=proposal_id)
    if not book.decide_proposal(proposal_id, "accepted", by):
        return False, _already(book.proposal(proposal_id) or row, lang)
    step = ladder.steps[row["to_step"]]
    set_status(service, row["gate"], step.status.en, step.status.zh, by,
               f"proposal #{proposal_id} accepted on {row['signals']} signals", lang)
    change = service.store.gate_status(row["gate"])
    book.set_gate_step(row["gate"], row["to_step"], change.since if change else iso(service.clock()), by,
                       proposal_id, int(row["signals"]))
    return True, label("proposal_accepted_now", lang, id=proposal_id, gate=gate_title(service, row["gate"], lang),
                       status=_zh(step.status.get(lang), lang))


def _already(row: dict, lang: str) -> str:
    return label(f"proposal_already_{row['status']}", lang, who=row["decided_by"], date=str(row["decided_at"])[:10])


def press(service: Service, platform: str, chat_id: str, user_id: str, choice: str,
          lang: str) -> tuple[bool, str, Reply | None]:
    """An Accept or Dismiss button: (ok, a short answer for the presser, the proposal to show in place)."""
    verb, _, number = choice.partition("=")
    if verb not in ("accept", "dismiss") or not number.isdigit():
        return False, label("vote_bad", lang), None
    if not is_bot_admin(service.admins, platform, user_id):
        return False, label("proposal_denied", lang, who=f"{platform}:{user_id}"), None
    ok, notice = decide_proposal(service, int(number), verb, f"{platform}:{user_id}", lang)
    row = rows(service).proposal(int(number))
    if row is None:
        return False, notice, None
    return ok, notice, proposal_reply(service, row, platform, chat_id, lang) if ok else None


def accepted_line(service: Service, gate: int, lang: str) -> str | None:
    """"since 2026-12-20 · accepted by … on 14 signals" while the gate's status is the one a
    proposal set (a later /setstatus replaces it)."""
    moved = rows(service).gate_step(gate)
    change = service.store.gate_status(gate)
    if not moved or change is None or change.since != moved["since"]:
        return None
    return label("proposal_since_accepted", lang, date=moved["since"][:10], who=moved["changed_by"],
                 n=moved["signals"])


# --------------------------------------------------------------------------------------- /proposals


def proposals_command(service: Service, platform: str, chat_id: str, user_id: str, args: str, lang: str) -> Reply:
    """/proposals · /proposals on · /proposals off (the command table lets only admins turn them on or off)."""
    verb = args.strip().lower()
    book = rows(service)
    if service.rules.ladder is None:
        return _text(lang, label("proposal_no_ladder", lang), "error")
    if verb in ("on", "off"):
        book.set_proposal_chat(platform, chat_id, verb == "on", f"{platform}:{user_id}")
        return _text(lang, label(f"proposal_chat_{verb}", lang))
    if verb:
        return _text(lang, label("proposal_usage", lang), "error")
    chat = book.proposal_chat(platform, chat_id)
    blocks = [Block(kind="text", text=label("proposal_chat_is_on" if chat and chat["enabled"] else
                                            "proposal_chat_is_off", lang))]
    pending = book.proposals(status="pending", limit=10)
    ladder = ladder_of(service.rules)
    if pending:
        blocks.append(Block(kind="list", label=label("proposal_pending", lang), items=[
            label("proposal_line", lang, id=r["id"], gate=gate_title(service, r["gate"], lang),
                  src=ladder.steps[r["from_step"]].name.get(lang), dst=ladder.steps[r["to_step"]].name.get(lang),
                  n=r["signals"]) for r in pending]))
    else:
        blocks.append(Block(kind="text", text=label("proposal_none_pending", lang)))
    return Reply(kind="status", lang=lang, blocks=blocks)


def _text(lang: str, text: str, kind: str = "status") -> Reply:
    return Reply(kind=kind, lang=lang, blocks=[Block(kind="text", text=text)])


def as_json(service: Service, row: dict) -> dict:
    """A proposal for `gatebot status proposals --json`."""
    ladder = ladder_of(service.rules)
    return {"id": row["id"], "gate": row["gate"], "direction": row["direction"],
            "from": ladder.steps[row["from_step"]].key, "to": ladder.steps[row["to_step"]].key,
            "created_at": row["created_at"], "window": [row["window_start"], row["window_end"]],
            "signals": row["signals"], "weight": row["weight"], "sources": row["sources"],
            "evidence": json.loads(row["evidence"] or "{}"), "status": row["status"],
            "decided_by": row["decided_by"] or None, "decided_at": row["decided_at"] or None,
            "posted": [{"platform": p, "chat": c, "status": s} for p, c, s in rows(service).posts(row["id"])]}
