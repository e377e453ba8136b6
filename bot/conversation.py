"""A pasted message, from its text to the reply (or to silence): read its links, judge it, store it,
decide whether the chat hears about it, and word the answer.

In group chats only text that touches a gate at the chat's confidence floor (or that addresses the
bot) gets an answer, as the chat's settings allow (etiquette.py); in direct chats and /classify
there is always an answer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from . import answers, etiquette
from .chatsettings import clears
from .context import Context, Deps
from .judge_answer import Decision
from .links import MAX_LINKS, extract_links
from .models import Verdict
from .reply import LABELS, Block, Reply, label

# Control characters (NUL included) are dropped before classifying; tabs and newlines stay.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A surrogate code point alone (JSON allows "\ud800") cannot be stored, sent or logged as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Texts longer than this are classified on a worker thread, so a pasted article never holds the
# event loop that serves every chat; headlines (the usual case) are classified inline.
INLINE_CHARS = 2_000
_CLASSIFY_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gatebot-classify")


@dataclass(frozen=True)
class Message:
    platform: str  # "telegram", "slack", "terminal"
    chat_id: str
    user_id: str
    text: str
    is_direct: bool = False  # a one-to-one chat with the bot
    addressed: bool = False  # mentions the bot or replies to it
    message_ref: str | None = None  # the platform's id of this message
    links: tuple[str, ...] = ()  # URLs from platform entities (Telegram url/text_link), read with the text


def clean(text: str) -> str:
    text = _CONTROL.sub("", text or "")
    if _SURROGATE.search(text):  # pairs are joined, lone halves become U+FFFD
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text.strip()


def judged(decision: Decision | None) -> dict:
    """The reply's account of the judges (see answers.verdict_reply)."""
    return {} if decision is None else {"judge": decision.judge, "verdicts": decision.verdicts()}


async def classify(deps: Deps, text: str) -> Verdict:
    """Classify on the event loop for a headline, on a worker thread for a long text."""
    return await _off_loop_if_long(text, deps.classifier.classify, text)


async def _off_loop_if_long(text: str, work: Callable[..., Verdict], *args: Any) -> Verdict:
    if len(text) <= INLINE_CHARS:
        return work(*args)
    return await asyncio.get_running_loop().run_in_executor(_CLASSIFY_POOL, work, *args)


async def decide(deps: Deps, text: str) -> tuple[Verdict, Decision | None]:
    """The rules' verdict, or the model's when a judge is configured and asked (awaited: other
    chats are answered meanwhile)."""
    verdict = await classify(deps, text)
    if deps.judge is None:
        return verdict, None
    decision = await deps.judge.decide(text, verdict)
    final = decision.verdict
    if final.gate and (final.reading is None or final.metric is None):
        # The model chose another gate and left its reading out: read it for that gate.
        final = await _off_loop_if_long(text, deps.classifier.read_for_gate, text, final)
        decision = replace(decision, verdict=final)
    # The model's confidence decides whether a group hears about it, as the rules' would; never
    # the model alone where the rules saw no AI-compute context (Decision.unprompted).
    group_reply = bool(final.gate) and clears(final.confidence, deps.default_floor) and decision.unprompted
    if final.group_reply != group_reply:
        final = replace(final, group_reply=group_reply)
        decision = replace(decision, verdict=final)
    return final, decision


def _speaks(ctx: Context, verdict: Verdict, addressed: bool, decision: Decision | None = None) -> bool:
    """Does this pasted message get a reply here? (the chat's mode, /quiet and confidence floor;
    unprompted, never on the model's word alone: Decision.unprompted)"""
    if decision is not None and not decision.unprompted and not (ctx.is_direct or addressed):
        return False
    return etiquette.answers(
        ctx.settings,
        verdict,
        direct=ctx.is_direct,
        addressed=addressed,
        now=ctx.now,
        default_floor=ctx.deps.default_floor,
    )


def _store(ctx: Context, text: str, verdict: Verdict, decision: Decision | None) -> tuple[int, str | None]:
    message_id, earlier = ctx.deps.store.add_message(
        platform=ctx.platform,
        chat_id=ctx.chat_id,
        user_id=ctx.user_id,
        text=text,
        verdict=verdict,
        message_ref=ctx.message_ref,
    )
    if decision is not None:
        ctx.deps.store.record_judges(message_id, decision.judge, decision.verdicts())
    return message_id, earlier


def reply_for(
    ctx: Context,
    verdict: Verdict,
    text: str,
    message_id: int,
    earlier: str | None,
    decision: Decision | None = None,
    *,
    always: bool = False,
    quote: bool | None = None,
) -> Reply:
    """The verdict reply in this chat's manner: its language, direct-chat wording, compact or full
    (`always`, an answer asked for: full, and quoting the text unless `quote` says otherwise)."""
    view = answers.load_view(ctx.deps.store, ctx.now, ctx.platform, ctx.chat_id, exclude=message_id)
    return answers.verdict_reply(
        ctx.deps.rules,
        view,
        verdict,
        text,
        message_id,
        earlier,
        quote=always if quote is None else quote,
        **judged(decision),
        lang=ctx.language(verdict.lang),
        direct=ctx.is_direct,
        compact=not always and ctx.settings.value("format") == "compact",
        reader=ctx.deps.classifier.reader,
    )


async def handle(
    ctx: Context, text: str, *, links: tuple[str, ...] = (), addressed: bool = False, always: bool = False
) -> Reply | None:
    """A message that may hold links (`always`: /classify, which always answers); None is silence.

    With links: read them, classify the user's own text together with the headlines read, store
    the message (its text followed by the headlines, so the digest can list the item with its
    link), and answer with the headlines quoted and a note for each link that could not be read.
    """
    deps = ctx.deps
    raw = clean(text)
    found = extract_links(raw, extra=links)
    if deps.link_reader is None or not found.urls:
        if always and not raw:
            return Reply(kind="error", lang="en", blocks=[Block(kind="text", text=label("classify_usage", "en"))])
        verdict, decision = await decide(deps, raw)
        message_id, earlier = _store(ctx, raw, verdict, decision)
        if not always and not _speaks(ctx, verdict, addressed, decision):
            return None
        return reply_for(ctx, verdict, raw, message_id, earlier, decision, always=always)
    results = await deps.link_reader.read_many(found.urls, deps.store, deps.classifier.classify)
    read = [r for r in results if r.ok]
    combined = "\n".join(p for p in [found.text, *(r.headline_text for r in read)] if p)
    verdict, decision = await decide(deps, combined)
    message_id, earlier = _store(ctx, "\n".join([raw, *(r.title for r in read)]), verdict, decision)
    if not always and not _speaks(ctx, verdict, addressed, decision):
        return None
    reply = reply_for(ctx, verdict, combined, message_id, earlier, decision, always=always, quote=False)
    lang = reply.lang
    top: list[Block] = []
    if always and found.text:
        top.append(Block(kind="quote", text=answers.cut(found.text, 300), user_text=True))
    for r in read:
        top.append(Block(kind="quote", text=r.title[:300], user_text=True))
    for r in results:
        if not r.ok:
            key = f"link_err_{r.error}" if f"link_err_{r.error}" in LABELS else "link_err_failed"
            top.append(
                Block(
                    kind="note",
                    text=label("link_unreadable", lang, url=answers.cut(r.url, 80), why=label(key, lang)),
                    user_text=True,
                )
            )
    if found.more:
        top.append(Block(kind="note", text=label("link_more", lang, n=MAX_LINKS)))
    reply.blocks[0:0] = top
    return reply
