"""The replies about gates: a verdict (full or compact), the board, one gate's card, a vote tally.

Plain functions of the rules, a verdict and a `GateView` (statuses, a chat's momentum and evidence
balance, read in one query by the caller); only the loaders and the gate card read the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .classifier import MAX_CHARS
from .models import Verdict
from .reading import Reader, reading_blocks
from .reply import Block, Choice, Reply, label, zh_text
from .ruleset import Gate, RuleSet
from .store import Balance, EvidenceItem, GateView, Store, iso

VOTE_CHOICES = ("right", "1", "2", "3", "4", "0")
MOMENTUM_WINDOW = timedelta(days=7)
EVIDENCE_WINDOW = timedelta(days=30)  # /gate N and /gates: this chat's evidence, against the 30 days before
EVIDENCE_ITEMS = 5
_OFF_TERMS: dict[int, frozenset[str]] = {}


def load_view(
    store: Store, now: datetime, platform: str | None = None, chat_id: str | None = None, exclude: int | None = None,
    balance: bool | None = None,
) -> GateView:
    """Statuses and (for a chat) its signals of the last 7 days, `exclude` being the message answered,
    and the evidence balance of the last 30 days when `balance` (by default: a chat's board, with no
    message being answered; without a chat, every chat's), all in one statement."""
    end = now + timedelta(seconds=1)
    with_balance = (exclude is None and chat_id is not None) if balance is None else balance
    return store.gate_view(
        platform, chat_id, iso(now - MOMENTUM_WINDOW), iso(end), exclude=exclude,
        balance=(end - EVIDENCE_WINDOW, end) if with_balance else None,
    )


@dataclass(frozen=True)
class GateEvidence:
    """One gate's evidence in one chat: the last 30 days, the 30 before, the strongest items."""

    current: Balance
    previous: Balance
    items: list[EvidenceItem]


def load_gate_evidence(store: Store, now: datetime, platform: str, chat_id: str, gate: int) -> GateEvidence:
    end = now + timedelta(seconds=1)
    start = end - EVIDENCE_WINDOW
    current = store.evidence_balance(start, end, platform=platform, chat_id=chat_id)[gate]
    previous = store.evidence_balance(start - EVIDENCE_WINDOW, start, platform=platform, chat_id=chat_id)[gate]
    items = store.evidence_items(gate, start, end, platform=platform, chat_id=chat_id, limit=EVIDENCE_ITEMS)
    return GateEvidence(current, previous, items)


def metric_name(metric: str, lang: str, reader: Reader | None) -> str:
    """A checklist metric as the replies name it (rules/readings.yaml), else its key."""
    names = reader.names if reader is not None else None
    name = names.metric.get(metric) if names is not None else None
    return (name.zh if lang == "zh" else name.en) if name is not None else metric


def reading_name(reading: str, lang: str, reader: Reader | None) -> str:
    names = reader.names if reader is not None else None
    name = names.reading.get(reading) if names is not None else None
    return (name.zh if lang == "zh" else name.en) if name is not None else reading


def tally_line(balance: Balance, lang: str) -> str:
    return label("evidence_line", lang, for_=balance.for_.stories, against=balance.against.stories,
                 neutral=balance.neutral.stories)


def signed(n: int) -> str:
    return f"+{n}" if n > 0 else f"−{-n}" if n < 0 else "±0"


def evidence_blocks(ev: GateEvidence, lang: str, reader: Reader | None) -> list[Block]:
    """/gate N's account of this chat's evidence: the balance, per metric, the change from the 30
    days before, and the strongest items (quoted text, escaped, with their links)."""
    cur, prev = ev.current, ev.previous
    blocks = [Block(kind="field", label=label("evidence_heading", lang),
                    text=tally_line(cur, lang) if cur.stories else label("evidence_none", lang))]
    if not cur.stories and not prev.stories:
        return blocks
    if cur.by_metric:
        blocks.append(Block(kind="list", label=label("evidence_by_metric", lang), items=[
            label("evidence_metric_line", lang, metric=metric_name(m, lang, reader),
                  line=tally_line(Balance(cur.gate, t["for"], t["against"], t["neutral"], {}), lang))
            for m, t in cur.by_metric.items()]))
    blocks.append(Block(kind="field", label=label("evidence_change", lang), text=label(
        "evidence_change_line", lang, for_=signed(cur.for_.stories - prev.for_.stories),
        against=signed(cur.against.stories - prev.against.stories),
        neutral=signed(cur.neutral.stories - prev.neutral.stories), before=tally_line(prev, lang))))
    if ev.items:
        blocks.append(Block(kind="list", label=label("evidence_items", lang), user_text=True, items=[
            evidence_item_line(item, lang, reader) for item in ev.items]))
    return blocks


def evidence_item_line(item: EvidenceItem, lang: str, reader: Reader | None) -> str:
    """"headline · evidence for · $5.6B · source · link" (the headline, figure and source are users' or
    feeds' words: the block carrying it is escaped)."""
    words = " ".join(w for w in item.text.split() if not w.lower().startswith(("http://", "https://")))
    parts = [cut(words or item.text, 140), reading_name(item.reading, lang, reader)]
    if item.figure:
        parts.append(item.figure)
    if item.source_kind in ("feed", "link"):
        parts.append(cut(item.source, 60))
    if item.link:
        parts.append(item.link[:300])
    return " · ".join(parts)


def rule_text(text: str, lang: str) -> str:
    """Wording from rules/ as a reply in `lang` shows it (Chinese punctuation made consistent)."""
    return zh_text(text) if lang == "zh" else text


def cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def gate_title(gate: Gate, lang: str) -> str:
    return label("gate", lang, n=gate.number, name=gate.name.get(lang))


def status_text(gate: Gate, lang: str, view: GateView) -> str:
    """The gate's status and since when: an admin's change if any, else the checklist's."""
    change = view.statuses.get(gate.number)
    if change is None:
        status, since = gate.status.get(lang), label("since_checklist", lang)
    else:
        status = change.status_zh if lang == "zh" and change.status_zh else change.status_en
        since = label("since", lang, date=change.since[:10])
    return label("status_since", lang, status=rule_text(status, lang), since=since)


def choice_label(value: str, lang: str) -> str:
    if value == "right":
        return label("vote_right", lang)
    if value == "0":
        return label("vote_none", lang)
    return label("vote_gate", lang, n=value)


def choices(lang: str) -> list[Choice]:
    return [Choice(value=v, label=choice_label(v, lang)) for v in VOTE_CHOICES]


def quoted(words: list[str], lang: str) -> str:
    """“a”, “b” in English; 「a」、「b」 in Chinese."""
    return label("list_sep", lang).join(label("quoted", lang, text=w) for w in words)


def off_domain_terms(rules: RuleSet) -> frozenset[str]:
    """The rules' terms for other senses of the gates' words (bitcoin 算力, export licences, ...)."""
    terms = _OFF_TERMS.get(id(rules))
    if terms is None:
        terms = _OFF_TERMS[id(rules)] = frozenset(t for cue in rules.context.off_domain for t in cue.terms)
    return terms


def verdict_reply(
    rules: RuleSet,
    view: GateView,
    verdict: Verdict,
    text: str,
    message_id: int | None,
    earlier: str | None,
    quote: bool = False,
    judge: str | None = None,
    verdicts: dict | None = None,
    *,
    lang: str | None = None,
    direct: bool = False,
    compact: bool = False,
    reader: Reader | None = None,
) -> Reply:
    """A verdict's reply. `judge` ("llm"/"rules") and `verdicts` (both judges' answers) are set
    when a model judge is configured: the reply then shows the model's reason, what the rules
    said when they differ, and which judge decided. `lang` overrides the verdict's language (the
    chat's setting); `direct` words it for a one-to-one chat; `compact` gives the one- or
    two-line form with a "Why?" button that expands it."""
    lang = lang or verdict.lang
    if compact:
        return compact_reply(rules, view, verdict, message_id, lang)
    llm = (verdicts or {}).get("llm") if judge == "llm" else None
    rules_gate = ((verdicts or {}).get("rules") or {}).get("gate")
    blocks: list[Block] = []
    if quote:
        blocks.append(Block(kind="quote", text=text[:300] + ("…" if len(text) > 300 else ""), user_text=True))
    if verdict.gate == 0 and llm is not None:
        blocks.append(Block(kind="heading", text=label("no_gate", lang)))
        if llm.get("reason"):
            blocks.append(Block(kind="text", text=str(llm["reason"]), user_text=True))
        blocks += rules_said(rules, verdict, rules_gate, lang)
        blocks.append(Block(kind="text", text=label("no_gate_hint", lang)))
    elif verdict.gate == 0:
        blocks += [
            Block(kind="heading", text=label("no_gate", lang)),
            why_none(rules, verdict, lang),
            Block(kind="text", text=label("no_gate_hint", lang)),
        ]
    else:
        gate = rules.gates[verdict.gate]
        blocks.append(Block(kind="heading", text=gate_title(gate, lang)))
        blocks.append(Block(kind="field", label=label("status", lang), text=status_text(gate, lang, view)))
        blocks.append(Block(kind="field", label=label("risk", lang), text=rule_text(gate.risk.get(lang), lang)))
        if message_id and view.momentum is not None:
            n = view.momentum.get(gate.number, 0)
            key = "momentum_value_0" if n == 0 else "momentum_value_1" if n == 1 else "momentum_value"
            blocks.append(
                Block(
                    kind="field",
                    label=label("momentum_direct" if direct else "momentum", lang),
                    text=label(key, lang, n=n),
                )
            )
        if llm is not None and llm.get("reason"):
            blocks.append(
                Block(
                    kind="field",
                    label=label("llm_reason", lang, model=str(llm.get("model", ""))),
                    text=str(llm["reason"]),
                    user_text=True,
                )
            )
        items = [
            label(
                "evidence_learned" if e.cue == "learned" else "evidence_item",
                lang,
                match=e.match,
                cue=e.cue,
                weight=f"{e.weight:g}",
            )
            for e in verdict.evidence_for(verdict.gate)[:6]
        ]
        if not items and llm is not None:
            items.append(label("no_rule_evidence", lang))
        off = off_domain_terms(rules)
        context = [e.match for e in verdict.context if e.weight > 0 and e.cue not in off][:4]
        if context:
            items.append(label("context_item", lang, items=quoted(context, lang)))
        blocks.append(Block(kind="list", label=label("why", lang), items=items, user_text=True))
        if llm is not None:
            blocks += rules_said(rules, verdict, rules_gate, lang)
        if verdict.secondary:
            second = rules.gates[verdict.secondary]
            blocks.append(Block(kind="field", label=label("also", lang), text=gate_title(second, lang)))
        blocks.append(
            Block(kind="field", label=label("confidence", lang), text=label(f"conf_{verdict.confidence}", lang))
        )
        blocks += reading_blocks(verdict, lang, reader)  # reading · metric · figure
    if earlier:
        blocks.append(
            Block(kind="note", text=label("seen_before_direct" if direct else "seen_before", lang, date=earlier[:10]))
        )
    if len(text) > MAX_CHARS:
        blocks.append(Block(kind="note", text=label("cut", lang, n=MAX_CHARS)))
    if judge == "llm" and llm is not None:
        blocks.append(
            Block(kind="note", text=label("judged_by_model", lang, model=str(llm.get("model", ""))), user_text=True)
        )
    elif judge is not None:
        failed = (verdicts or {}).get("fallback") not in (None, "", "skipped")
        blocks.append(Block(kind="note", text=label("judged_by_rules_fallback" if failed else "judged_by_rules", lang)))
    kind = "verdict" if verdict.gate else "no_gate"
    return Reply(
        kind=kind,
        lang=lang,
        blocks=blocks,
        verdict=verdict,
        message_id=message_id,
        choices=choices(lang) if verdict.gate or verdict.gates else [],
    )


def compact_reply(rules: RuleSet, view: GateView, verdict: Verdict, message_id: int | None, lang: str) -> Reply:
    """Two lines: the gate and the confidence; its status and risk warning. "Why?" expands it."""
    if verdict.gate:
        gate = rules.gates[verdict.gate]
        blocks = [
            Block(
                kind="heading",
                text=label(
                    "compact_head", lang, gate=gate_title(gate, lang), conf=label(f"conf_{verdict.confidence}", lang)
                ),
            ),
            Block(
                kind="text",
                text=label(
                    "compact_body",
                    lang,
                    status=status_text(gate, lang, view),
                    risk=rule_text(gate.risk.get(lang), lang),
                ),
            ),
        ]
    else:
        blocks = [Block(kind="heading", text=label("no_gate", lang)), why_none(rules, verdict, lang)]
    return Reply(
        kind="verdict" if verdict.gate else "no_gate",
        lang=lang,
        blocks=blocks,
        verdict=verdict,
        message_id=message_id,
        choices=[Choice(value="why", label=label("why_button", lang))],
    )


def rules_said(rules: RuleSet, verdict: Verdict, rules_gate: int | None, lang: str) -> list[Block]:
    """ "The rules said ..." when the model's gate differs from the rules'."""
    if rules_gate is None or rules_gate == verdict.gate:
        return []
    said = gate_title(rules.gates[rules_gate], lang) if rules_gate in rules.gates else label("no_gate_short", lang)
    return [Block(kind="field", label=label("rules_said", lang), text=said)]


def why_none(rules: RuleSet, verdict: Verdict, lang: str | None = None) -> Block:
    lang = lang or verdict.lang
    reason = verdict.reason or "no_cue"
    if reason == "off_domain":
        # only the words that point elsewhere, not the compute words beside them
        off = off_domain_terms(rules)
        words = [e.match for e in verdict.context if e.cue in off] or [e.match for e in verdict.context]
        return Block(kind="text", text=label("no_gate_off_domain", lang, items=quoted(words[:4], lang)), user_text=True)
    if reason == "weak" and verdict.gates:
        top = verdict.gates[0]
        items = quoted([e.match for e in top.evidence[:3]], lang)
        return Block(kind="text", text=label("no_gate_weak", lang, n=top.gate, items=items), user_text=True)
    key = {"empty": "no_gate_empty", "no_compute": "no_gate_no_compute", "not_china": "no_gate_not_china"}.get(
        reason, "no_gate_no_cue" if verdict.compute > 0 else "no_gate_no_compute"
    )
    return Block(kind="text", text=label(key, lang))


def board(rules: RuleSet, view: GateView, lang: str) -> Reply:
    """The four gates and their status (with the chat's momentum when the view has one)."""
    blocks = [Block(kind="heading", text=label("board", lang))]
    for gate in rules.gates.values():
        line = label("board_line", lang, n=gate.number, name=gate.name.get(lang), status=status_text(gate, lang, view))
        if view.momentum is not None:
            line += label("momentum_board", lang, n=view.momentum.get(gate.number, 0))
        if view.balance is not None and gate.number in view.balance:
            b = view.balance[gate.number]
            line += label("evidence_board", lang, for_=b.for_.stories, against=b.against.stories)
        blocks.append(Block(kind="text", text=line))
    src = rules.source
    blocks.append(
        Block(kind="note", text=label("source", lang, title=rule_text(src.title.get(lang), lang), author=src.author))
    )
    return Reply(kind="board", lang=lang, blocks=blocks)


def gate_card(rules: RuleSet, store: Store, name: str, lang: str, *,
              where: tuple[str, str, datetime] | None = None, reader: Reader | None = None) -> Reply:
    """One gate: definition, metrics, status (and the previous one), risk warning, and with `where`
    (platform, chat, now) the chat's evidence of the last 30 days."""
    if not name:
        return Reply(kind="error", lang=lang, blocks=[Block(kind="text", text=label("gate_usage", lang))])
    gate = rules.gate_by_name(name)
    if gate is None:
        return Reply(
            kind="error",
            lang=lang,
            blocks=[Block(kind="text", text=label("unknown_gate", lang, name=name[:60]), user_text=True)],
        )
    current = store.gate_status(gate.number)
    view = GateView({gate.number: current} if current else {}, None)
    history = store.status_history(gate.number)
    blocks = [
        Block(kind="heading", text=gate_title(gate, lang)),
        Block(kind="field", label=label("definition", lang), text=rule_text(gate.definition.get(lang), lang)),
        Block(kind="list", label=label("metrics", lang), items=[rule_text(m, lang) for m in gate.metrics.get(lang)]),
        Block(kind="field", label=label("status", lang), text=status_text(gate, lang, view)),
    ]
    if history:
        previous = history[1] if len(history) > 1 else None
        if previous:
            prev = previous.status_zh if lang == "zh" and previous.status_zh else previous.status_en
            blocks.append(
                Block(
                    kind="field",
                    label=label("previous", lang),
                    text=label("status_since", lang, status=rule_text(prev, lang), since=previous.since[:10]),
                )
            )
        else:
            blocks.append(
                Block(
                    kind="field",
                    label=label("previous", lang),
                    text=label(
                        "status_since",
                        lang,
                        status=rule_text(gate.status.get(lang), lang),
                        since=label("since_checklist", lang),
                    ),
                )
            )
    blocks.append(Block(kind="field", label=label("risk", lang), text=rule_text(gate.risk.get(lang), lang)))
    if where is not None:
        platform, chat_id, now = where
        blocks += evidence_blocks(load_gate_evidence(store, now, platform, chat_id, gate.number), lang, reader)
    return Reply(kind="gate", lang=lang, blocks=blocks)


def with_tally(reply: Reply, tally: dict[str, int]) -> Reply:
    """The votes so far, under a verdict reply rebuilt from the store."""
    if tally:
        parts = [f"{choice_label(v, reply.lang)} {tally[v]}" for v in VOTE_CHOICES if tally.get(v)]
        reply.blocks.append(Block(kind="field", label=label("tally", reply.lang), text=" · ".join(parts)))
    return reply


@dataclass(frozen=True)
class InlineAnswer:
    """A verdict offered in a chat the bot is not in: a one-line title, a description, and the
    compact reply posted when the asker chooses it (no buttons: nothing is stored to press on)."""

    title: str
    description: str
    reply: Reply


def inline_answer(rules: RuleSet, view: GateView, verdict: Verdict, lang: str) -> InlineAnswer:
    """Title "Gate N · name (confidence)" or "No gate"; the status and risk warning as description."""
    reply = compact_reply(rules, view, verdict, None, lang)
    reply.choices = []
    if verdict.gate:
        gate = rules.gates[verdict.gate]
        title = label("inline_title", lang, gate=gate_title(gate, lang), conf=label(f"conf_{verdict.confidence}", lang))
        description = label(
            "compact_body", lang, status=status_text(gate, lang, view), risk=rule_text(gate.risk.get(lang), lang)
        )
    else:
        title, description = label("inline_no_gate", lang), why_none(rules, verdict, lang).text
    return InlineAnswer(title, description, reply)
