"""What gatebot answers: one API for every chat adapter.

Adapters translate platform events into `Message`s and command calls, and render the `Reply`
they get back. Rules of conversation live here: in group chats only text that touches a gate at
the chat's confidence floor (or that addresses the bot) gets an answer, as the chat's settings
allow (etiquette.py); in direct chats and /classify there is always an answer.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime

from . import chatsettings, etiquette
from .chart import atrend, gate_names, load_trend, parse_period, trend_reply
from .chatsettings import ChatSettings, clears
from .classifier import MAX_CHARS, Classifier
from .digest import chat_language, current_status, digest_command, is_admin, momentum, setstatus_command
from .feeds import feeds_list, feeds_settings, follow, unfollow
from .feedstore import FeedStore
from .inbox import Inbox
from .judge import Decision, Judge
from .links import MAX_LINKS, LinkReader, extract_links
from .models import Verdict
from .poller import FeedPoller
from .reading import reading_blocks
from .reply import HELP_COMMANDS, LABELS, Block, Choice, Reply, label, zh_text
from .ruleset import Gate, RuleSet
from .store import Store, StoredMessage, utcnow
from .text import fold, language_of
from .weekly import weekly_command

# Control characters (NUL included) are dropped before classifying; tabs and newlines stay.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A surrogate code point alone (JSON allows "\ud800") cannot be stored, sent or logged as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Texts longer than this are classified on a worker thread, so a pasted article never holds the
# event loop that serves every chat; headlines (the usual case) are classified inline.
INLINE_CHARS = 2_000
_CLASSIFY_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gatebot-classify")
VOTE_CHOICES = ("right", "1", "2", "3", "4", "0")
FEED_COMMANDS = ("follow", "unfollow", "feeds", "trend")
SETTINGS_COMMANDS = ("settings", "quiet")
log = logging.getLogger("gatebot.service")

# Is this user an administrator of this chat? Registered per platform by its adapter (Telegram's
# getChatMember, Slack's users.info), asked only when someone changes a chat's settings.
AdminCheck = Callable[[str, str], Awaitable[bool]]


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


@dataclass(frozen=True)
class VoteResult:
    ok: bool
    notice: str  # a short answer for the voter (toast / ephemeral)
    reply: Reply | None  # the verdict reply with the new tally, to edit the message in place


def clean(text: str) -> str:
    text = _CONTROL.sub("", text or "")
    if _SURROGATE.search(text):  # pairs are joined, lone halves become U+FFFD
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text.strip()


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _judged(decision: Decision | None) -> dict:
    """The reply's account of the judges (see Service._verdict_reply)."""
    return {} if decision is None else {"judge": decision.judge, "verdicts": decision.verdicts()}


def _rule_text(text: str, lang: str) -> str:
    """Wording from rules/ as a reply in `lang` shows it (Chinese punctuation made consistent)."""
    return zh_text(text) if lang == "zh" else text


def command_lang(args: str, hint: str | None) -> str:
    """Language for a command's reply: the language of its argument's words, else the user's locale
    ("/gate 3" from a Chinese-locale user is answered in Chinese)."""
    folded = fold(args)
    if folded.cjk_chars or folded.latin_words:
        return language_of(folded)
    return "zh" if (hint or "").lower().startswith("zh") else "en"


class Service:
    # Set from settings by the CLI and `gatebot run`; the defaults keep tests and offline use simple.
    admins: frozenset[str] = frozenset()  # user ids allowed to /setstatus (GATEBOT_ADMINS)
    retention_days: int = 0  # the scheduler purges chatter older than this once a day (GATEBOT_RETENTION_DAYS)
    default_tz: str = "UTC"  # zone for `/digest on HH:MM` without one (GATEBOT_TZ)
    link_reader: LinkReader | None = None  # reads pasted links when set (`gatebot run` sets it)
    judge: Judge | None = None  # a language model names the gate when set (GATEBOT_LLM_URL)
    feeds: FeedPoller | None = None  # follows and polls feeds when set (`gatebot run`, `gatebot chat`)
    inbox: Inbox | None = None  # durable delivery for the chat adapters (`gatebot run` sets it)

    def __init__(
        self,
        rules: RuleSet,
        store: Store,
        classifier: Classifier | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.rules = rules
        self.store = store
        self.classifier = classifier or Classifier(rules)
        self.clock = clock
        self.admin_checks: dict[str, AdminCheck] = {}  # platform -> is this user a chat admin?

    @property
    def default_floor(self) -> str:
        """The confidence floor for unprompted group replies in a chat that chose none (rules/context.yaml)."""
        return self.rules.context.thresholds.group_reply

    def chat_settings(self, platform: str, chat_id: str) -> ChatSettings:
        return chatsettings.load(self.store, platform, str(chat_id))

    # ------------------------------------------------------------------ messages

    def handle_message(self, msg: Message) -> Reply | None:
        """Classify and store a chat message; return the reply, or None to stay silent."""
        text = clean(msg.text)
        return self._answer(msg, text, self.classifier.classify(text))

    async def aclassify(self, text: str) -> Verdict:
        """Classify on the event loop for a headline, on a worker thread for a long text."""
        if len(text) <= INLINE_CHARS:
            return self.classifier.classify(text)
        return await asyncio.get_running_loop().run_in_executor(_CLASSIFY_POOL, self.classifier.classify, text)

    def _answer(self, msg: Message, text: str, verdict: Verdict, decision: Decision | None = None,
                *, always: bool = False) -> Reply | None:
        """Store a judged message; its reply, or None for chatter in a group (silence)."""
        message_id, earlier = self.store.add_message(
            platform=msg.platform, chat_id=msg.chat_id, user_id=msg.user_id, text=text,
            verdict=verdict, message_ref=msg.message_ref,
        )
        if decision is not None:
            self.store.record_judges(message_id, decision.judge, decision.verdicts())
        settings = self.chat_settings(msg.platform, msg.chat_id)
        if not always and not self._speaks(msg, verdict, settings, decision):
            return None
        return self._verdict_reply(verdict, text, message_id, earlier, quote=always, **_judged(decision),
                                   **self._manner(settings, verdict, msg.is_direct, compact=not always))

    def _speaks(self, msg: Message, verdict: Verdict, settings: ChatSettings,
                decision: Decision | None = None) -> bool:
        """Does this pasted message get a reply here? (the chat's mode, /quiet and confidence floor;
        unprompted, never on the model's word alone: Decision.unprompted)"""
        if decision is not None and not decision.unprompted and not (msg.is_direct or msg.addressed):
            return False
        return etiquette.answers(settings, verdict, direct=msg.is_direct, addressed=msg.addressed,
                                 now=self.clock(), default_floor=self.default_floor)

    def _manner(self, settings: ChatSettings, verdict: Verdict, direct: bool, compact: bool = True) -> dict:
        """How a verdict reply is worded in this chat: its language, direct-chat wording, compact or full."""
        lang = settings.lang if settings.lang in ("en", "zh") else verdict.lang
        return {"lang": lang, "direct": direct, "compact": compact and settings.value("format") == "compact"}

    async def _decide(self, text: str) -> tuple[Verdict, Decision | None]:
        """The rules' verdict, or the model's when a judge is configured and asked (awaited: other
        chats are answered meanwhile)."""
        verdict = await self.aclassify(text)
        if self.judge is None:
            return verdict, None
        decision = await self.judge.decide(text, verdict)
        final = decision.verdict
        # The model's confidence decides whether a group hears about it, as the rules' would; never
        # the model alone where the rules saw no AI-compute context (Decision.unprompted).
        group_reply = bool(final.gate) and clears(final.confidence, self.default_floor) and decision.unprompted
        if final.group_reply != group_reply:
            final = replace(final, group_reply=group_reply)
            decision = replace(decision, verdict=final)
        return final, decision

    async def ahandle_message(self, msg: Message) -> Reply | None:
        """The async entry point adapters call; reading pasted links and the model judge plug in here
        (and a long text is classified off the event loop)."""
        return await self._handle_with_links(msg)

    async def ahandle_command(
        self,
        platform: str,
        chat_id: str,
        user_id: str,
        name: str,
        args: str = "",
        lang_hint: str | None = None,
        message_ref: str | None = None,
        is_direct: bool = False,
    ) -> Reply:
        """The async entry point for commands (see handle_command). `is_direct`: a one-to-one chat."""
        command = name.lstrip("/").split("@", 1)[0].lower()
        if command in FEED_COMMANDS:
            return await self.afeed_command(platform, chat_id, user_id, command, clean(args), lang_hint)
        if command in SETTINGS_COMMANDS:
            return await self.asettings_command(platform, chat_id, user_id, command, clean(args), lang_hint, is_direct)
        if clean(args) and command == "classify":
            # /classify <text or link>: read links, ask the model, always answer
            return await self._handle_with_links(Message(platform, chat_id, user_id, args, is_direct=is_direct,
                                                         message_ref=message_ref), always=True)
        return self.handle_command(platform, chat_id, user_id, name, args, lang_hint, message_ref, is_direct)

    def command_language(self, platform: str, chat_id: str, args: str, hint: str | None) -> str:
        """A command's reply language: the chat's setting; else its argument's words; else the user's
        locale; else (Slack sends none) the language most of the chat's headlines use."""
        chosen = self.chat_settings(platform, chat_id).lang
        if chosen in ("en", "zh"):
            return chosen
        if hint or fold(args).cjk_chars or fold(args).latin_words:
            return command_lang(args, hint)
        return chat_language(self, platform, str(chat_id), "en")

    # ------------------------------------------------------------------ settings, /quiet, /why

    async def asettings_command(self, platform: str, chat_id: str, user_id: str, name: str, args: str,
                                lang_hint: str | None = None, is_direct: bool = False) -> Reply:
        """/settings [<key> <value>] and /quiet [<duration>|off]: anyone may look; changes need an admin
        (the chat's, asked of the platform, or GATEBOT_ADMINS), except in a direct chat."""
        lang = self.command_language(platform, chat_id, "", lang_hint)
        change = etiquette.parse_command(name, args, lang, is_direct)
        if isinstance(change, etiquette.Change) and not await self.may_change_settings(
                platform, chat_id, user_id, is_direct):
            return etiquette.denied(lang, platform, user_id)
        return self._settings_answer(platform, chat_id, user_id, name, change, lang_hint, is_direct)

    async def may_change_settings(self, platform: str, chat_id: str, user_id: str, is_direct: bool) -> bool:
        if is_direct or is_admin(self.admins, platform, user_id):
            return True
        check = self.admin_checks.get(platform)
        if check is None:
            return False
        try:
            return bool(await check(str(chat_id), str(user_id)))
        except Exception as exc:  # noqa: BLE001 - the platform could not say: refuse, politely
            log.warning("admin check on %s failed: %s", platform, type(exc).__name__)
            return False

    def _settings_answer(self, platform: str, chat_id: str, user_id: str, name: str,
                         change: etiquette.Change | Reply | None, lang_hint: str | None, is_direct: bool,
                         page: bool = False) -> Reply:
        """Apply an allowed change (or none) and answer: the settings page to look at (or to edit in
        place after a button press), or one line saying what a command changed."""
        if isinstance(change, Reply):
            return change
        now = self.clock()
        settings = (etiquette.apply(self.store, platform, chat_id, user_id, change, now) if change is not None
                    else self.chat_settings(platform, chat_id))
        lang = self.command_language(platform, chat_id, "", lang_hint)  # a new `lang` shows at once
        zone = self._chat_zone(platform, str(chat_id))
        if name == "quiet" or (change is not None and not page):
            return etiquette.short_reply(settings, change, now, zone, lang, self.default_floor)
        return etiquette.settings_view(settings, platform=platform, direct=is_direct, lang=lang,
                                       default_floor=self.default_floor, now=now, zone=zone, changed=change)

    def why_command(self, platform: str, chat_id: str, lang: str, is_direct: bool = False) -> Reply:
        """/why: the whole reply (evidence, feedback buttons) for the chat's latest verdict."""
        stored = self.store.latest_answered(platform, str(chat_id))
        if stored is None:
            return Reply(kind="status", lang=lang, blocks=[Block(kind="text", text=label("why_nothing", lang))])
        return self.stored_reply(stored, direct=is_direct, quote=True)

    async def apress(self, platform: str, chat_id: str, user_id: str, target: int | str, choice: str,
                     *, is_direct: bool = False) -> VoteResult:
        """A button press: a vote, "Why?" on a compact reply, or a setting on the /settings page."""
        if str(target) != etiquette.SETTINGS_TARGET:
            return self.vote(platform, chat_id, user_id, target, choice, is_direct=is_direct)
        lang = self.command_language(platform, chat_id, "", None)
        change = etiquette.parse_button(choice)
        if change is None:
            return VoteResult(False, label("vote_bad", lang), None)
        if is_direct and change.key in etiquette.GROUP_ONLY:
            return VoteResult(False, label("settings_group_only", lang, setting=change.key), None)
        if not await self.may_change_settings(platform, chat_id, user_id, is_direct):
            return VoteResult(False, label("settings_denied", lang, who=f"{platform}:{user_id}"), None)
        reply = self._settings_answer(platform, chat_id, user_id, "settings", change, None, is_direct, page=True)
        return VoteResult(True, reply.blocks[0].text, reply)  # what changed, as a toast

    async def _handle_with_links(self, msg: Message, *, always: bool = False) -> Reply | None:
        """A message that may hold links (`always`: /classify, which always answers).

        Without links this is the plain handling. With links: read them, classify the user's own
        text together with the headlines read, store the message (its text followed by the
        headlines, so the digest can list the item with its link), and answer with the headlines
        quoted and a note for each link that could not be read.
        """
        reader = self.link_reader
        raw = clean(msg.text)
        found = extract_links(raw, extra=msg.links)
        if reader is None or not found.urls:
            if always and not raw:
                return self.classify_command(msg)
            verdict, decision = await self._decide(raw)
            return self._answer(msg, raw, verdict, decision, always=always)
        results = await reader.read_many(found.urls, self.store, self.classifier.classify)
        read = [r for r in results if r.ok]
        combined = "\n".join(p for p in [found.text, *(r.headline_text for r in read)] if p)
        verdict, decision = await self._decide(combined)
        stored = "\n".join([raw, *(r.title for r in read)])
        message_id, earlier = self.store.add_message(
            platform=msg.platform, chat_id=msg.chat_id, user_id=msg.user_id, text=stored,
            verdict=verdict, message_ref=msg.message_ref,
        )
        if decision is not None:
            self.store.record_judges(message_id, decision.judge, decision.verdicts())
        settings = self.chat_settings(msg.platform, msg.chat_id)
        if not always and not self._speaks(msg, verdict, settings, decision):
            return None
        reply = self._verdict_reply(verdict, combined, message_id, earlier, **_judged(decision),
                                    **self._manner(settings, verdict, msg.is_direct, compact=not always))
        lang = reply.lang
        top: list[Block] = []
        if always and found.text:
            top.append(Block(kind="quote", text=_cut(found.text, 300), user_text=True))
        for r in read:
            top.append(Block(kind="quote", text=r.title[:300], user_text=True))
        for r in results:
            if not r.ok:
                key = f"link_err_{r.error}" if f"link_err_{r.error}" in LABELS else "link_err_failed"
                top.append(Block(kind="note", text=label("link_unreadable", lang, url=_cut(r.url, 80), why=label(key, lang)),
                                 user_text=True))
        if found.more:
            top.append(Block(kind="note", text=label("link_more", lang, n=MAX_LINKS)))
        reply.blocks[0:0] = top
        return reply

    def classify_command(self, msg: Message, verdict: Verdict | None = None) -> Reply:
        """/classify <text>: always answers, quoting what it classified (`verdict`: already classified)."""
        text = clean(msg.text)
        if not text:
            return Reply(kind="error", lang="en", blocks=[Block(kind="text", text=label("classify_usage", "en"))])
        return self._answer(msg, text, self.classifier.classify(text), always=True)

    def handle_command(
        self,
        platform: str,
        chat_id: str,
        user_id: str,
        name: str,
        args: str = "",
        lang_hint: str | None = None,
        message_ref: str | None = None,
        is_direct: bool = False,
    ) -> Reply:
        """Answer a slash command. `name` is without the slash and without any @botname.

        Settings changed here are allowed in direct chats and to GATEBOT_ADMINS only; `ahandle_command`
        also asks the platform whether the user administers the chat."""
        name = name.lstrip("/").split("@", 1)[0].lower()
        args = clean(args)
        lang = self.command_language(platform, chat_id, args, lang_hint)
        if name in ("gates", "board"):
            return self.board(lang, platform=platform, chat_id=chat_id)
        if name == "gate":
            return self.gate_card(args, lang)
        if name == "classify":
            if not args:
                return Reply(kind="error", lang=lang, blocks=[Block(kind="text", text=label("classify_usage", lang))])
            return self.classify_command(Message(platform, chat_id, user_id, args, is_direct=is_direct,
                                                 message_ref=message_ref))
        if name in SETTINGS_COMMANDS:
            lang = self.command_language(platform, chat_id, "", lang_hint)
            change = etiquette.parse_command(name, args, lang, is_direct)
            if isinstance(change, etiquette.Change) and not (is_direct or is_admin(self.admins, platform, user_id)):
                return etiquette.denied(lang, platform, user_id)
            return self._settings_answer(platform, chat_id, user_id, name, change, lang_hint, is_direct)
        if name == "why":
            return self.why_command(platform, chat_id, lang, is_direct)
        if name in ("help", "start"):
            return self.help(lang)
        if name == "digest":
            return self.digest_command(platform, chat_id, user_id, args, command_lang("", lang_hint))
        if name == "setstatus":
            return self.setstatus_command(platform, user_id, args, lang)
        if name in FEED_COMMANDS:
            return self.feed_command(platform, chat_id, user_id, name, args, lang_hint)
        return Reply(kind="unknown", lang=lang,
                     blocks=[Block(kind="text", text=label("unknown_command", lang, name=name[:40]), user_text=True)])

    # ------------------------------------------------------------------ feedback

    def vote(self, platform: str, chat_id: str, user_id: str, message_id: int | str, choice: str,
             *, is_direct: bool = False) -> VoteResult:
        """Record a feedback press: one vote per user per verdict, the latest one counts. "why" (on a
        compact reply) records nothing and answers with the whole reply."""
        try:
            mid = int(message_id)
        except (TypeError, ValueError):
            return VoteResult(False, label("vote_bad", "en"), None)
        stored = self.store.get_message(mid)
        chosen = self.chat_settings(platform, chat_id).lang
        lang = chosen if chosen in ("en", "zh") else stored.verdict.lang if stored else "en"
        if choice not in VOTE_CHOICES and choice != "why":
            return VoteResult(False, label("vote_bad", lang), None)
        if stored is None or stored.platform != platform or stored.chat_id != str(chat_id):
            return VoteResult(False, label("vote_stale", lang), None)
        if choice == "why":
            return VoteResult(True, "", self.stored_reply(stored, direct=is_direct))
        self.store.vote(mid, user_id, choice, platform, str(chat_id))
        return VoteResult(True, label("vote_thanks", lang), self.stored_reply(stored, direct=is_direct))

    def stored_reply(self, stored: StoredMessage, *, direct: bool = False, quote: bool = False) -> Reply:
        """A verdict reply rebuilt from the store, in full, with its feedback tally."""
        settings = self.chat_settings(stored.platform, stored.chat_id)
        reply = self._verdict_reply(stored.verdict, stored.text, stored.id, None, quote=quote, judge=stored.judge,
                                    verdicts=stored.verdicts,
                                    **self._manner(settings, stored.verdict, direct, compact=False))
        tally = self.store.tally(stored.id)
        if tally:
            lang = reply.lang
            parts = []
            for value in VOTE_CHOICES:
                if tally.get(value):
                    parts.append(f"{self._choice_label(value, lang)} {tally[value]}")
            reply.blocks.append(Block(kind="field", label=label("tally", lang), text=" · ".join(parts)))
        return reply

    # ------------------------------------------------------------------ replies

    def current_status(self, gate: Gate, lang: str) -> tuple[str, str]:
        """The gate's status and since when, from the store if changed, else the checklist's."""
        return current_status(self.store, gate, lang)

    def _gate_title(self, gate: Gate, lang: str) -> str:
        return label("gate", lang, n=gate.number, name=gate.name.get(lang))

    def _choice_label(self, value: str, lang: str) -> str:
        if value == "right":
            return label("vote_right", lang)
        if value == "0":
            return label("vote_none", lang)
        return label("vote_gate", lang, n=value)

    def _choices(self, lang: str) -> list[Choice]:
        return [Choice(value=v, label=self._choice_label(v, lang)) for v in VOTE_CHOICES]

    def _verdict_reply(
        self, verdict: Verdict, text: str, message_id: int, earlier: str | None, quote: bool = False,
        judge: str | None = None, verdicts: dict | None = None, *, lang: str | None = None, direct: bool = False,
        compact: bool = False,
    ) -> Reply:
        """A verdict's reply. `judge` ("llm"/"rules") and `verdicts` (both judges' answers) are set
        when a model judge is configured: the reply then shows the model's reason, what the rules
        said when they differ, and which judge decided. `lang` overrides the verdict's language (the
        chat's setting); `direct` words it for a one-to-one chat; `compact` gives the one- or
        two-line form with a "Why?" button that expands it."""
        lang = lang or verdict.lang
        if compact:
            return self._compact_reply(verdict, message_id, lang)
        llm = (verdicts or {}).get("llm") if judge == "llm" else None
        rules_gate = ((verdicts or {}).get("rules") or {}).get("gate")
        blocks: list[Block] = []
        if quote:
            blocks.append(Block(kind="quote", text=text[:300] + ("…" if len(text) > 300 else ""), user_text=True))
        if verdict.gate == 0 and llm is not None:
            blocks.append(Block(kind="heading", text=label("no_gate", lang)))
            if llm.get("reason"):
                blocks.append(Block(kind="text", text=str(llm["reason"]), user_text=True))
            blocks += self._rules_said(verdict, rules_gate, lang)
            blocks.append(Block(kind="text", text=label("no_gate_hint", lang)))
        elif verdict.gate == 0:
            blocks += [Block(kind="heading", text=label("no_gate", lang)), self._why_none(verdict, lang),
                       Block(kind="text", text=label("no_gate_hint", lang))]
        else:
            gate = self.rules.gates[verdict.gate]
            blocks.append(Block(kind="heading", text=self._gate_title(gate, lang)))
            blocks.append(Block(kind="field", label=label("status", lang), text=self._status_text(gate, lang)))
            blocks.append(Block(kind="field", label=label("risk", lang), text=_rule_text(gate.risk.get(lang), lang)))
            chat = self.store.message_chat(message_id) if message_id else None
            if chat is not None:
                n = momentum(self, *chat, exclude=message_id).get(gate.number, 0)
                key = "momentum_value_0" if n == 0 else "momentum_value_1" if n == 1 else "momentum_value"
                blocks.append(Block(kind="field", label=label("momentum_direct" if direct else "momentum", lang),
                                    text=label(key, lang, n=n)))
            if llm is not None and llm.get("reason"):
                blocks.append(Block(kind="field", label=label("llm_reason", lang, model=str(llm.get("model", ""))),
                                    text=str(llm["reason"]), user_text=True))
            items = [
                label("evidence_learned" if e.cue == "learned" else "evidence_item", lang, match=e.match, cue=e.cue,
                      weight=f"{e.weight:g}")
                for e in verdict.evidence_for(verdict.gate)[:6]
            ]
            if not items and llm is not None:
                items.append(label("no_rule_evidence", lang))
            context = [e.match for e in verdict.context if e.weight > 0 and e.cue not in self._off_domain_terms][:4]
            if context:
                items.append(label("context_item", lang, items=self._quoted(context, lang)))
            blocks.append(Block(kind="list", label=label("why", lang), items=items, user_text=True))
            if llm is not None:
                blocks += self._rules_said(verdict, rules_gate, lang)
            if verdict.secondary:
                second = self.rules.gates[verdict.secondary]
                blocks.append(Block(kind="field", label=label("also", lang), text=self._gate_title(second, lang)))
            blocks.append(Block(kind="field", label=label("confidence", lang),
                                text=label(f"conf_{verdict.confidence}", lang)))
            blocks += reading_blocks(verdict, lang, self.classifier.reader)  # reading · metric · figure
        if earlier:
            blocks.append(Block(kind="note", text=label("seen_before_direct" if direct else "seen_before", lang,
                                                        date=earlier[:10])))
        if len(text) > MAX_CHARS:
            blocks.append(Block(kind="note", text=label("cut", lang, n=MAX_CHARS)))
        if judge == "llm" and llm is not None:
            blocks.append(Block(kind="note", text=label("judged_by_model", lang, model=str(llm.get("model", ""))),
                                user_text=True))
        elif judge is not None:
            failed = (verdicts or {}).get("fallback") not in (None, "", "skipped")
            blocks.append(Block(kind="note", text=label("judged_by_rules_fallback" if failed else "judged_by_rules", lang)))
        kind = "verdict" if verdict.gate else "no_gate"
        return Reply(kind=kind, lang=lang, blocks=blocks, verdict=verdict, message_id=message_id,
                     choices=self._choices(lang) if verdict.gate or verdict.gates else [])

    def _compact_reply(self, verdict: Verdict, message_id: int, lang: str) -> Reply:
        """Two lines: the gate and the confidence; its status and risk warning. "Why?" expands it."""
        if verdict.gate:
            gate = self.rules.gates[verdict.gate]
            blocks = [
                Block(kind="heading", text=label("compact_head", lang, gate=self._gate_title(gate, lang),
                                                 conf=label(f"conf_{verdict.confidence}", lang))),
                Block(kind="text", text=label("compact_body", lang, status=self._status_text(gate, lang),
                                              risk=_rule_text(gate.risk.get(lang), lang))),
            ]
        else:
            blocks = [Block(kind="heading", text=label("no_gate", lang)), self._why_none(verdict, lang)]
        return Reply(kind="verdict" if verdict.gate else "no_gate", lang=lang, blocks=blocks, verdict=verdict,
                     message_id=message_id, choices=[Choice(value="why", label=label("why_button", lang))])

    def _status_text(self, gate: Gate, lang: str) -> str:
        status, since = self.current_status(gate, lang)
        return label("status_since", lang, status=_rule_text(status, lang), since=since)

    def _quoted(self, words: list[str], lang: str) -> str:
        """“a”, “b” in English; 「a」、「b」 in Chinese."""
        return label("list_sep", lang).join(label("quoted", lang, text=w) for w in words)

    @property
    def _off_domain_terms(self) -> frozenset[str]:
        """The rules' terms for other senses of the gates' words (bitcoin 算力, export licences, ...)."""
        terms = self.__dict__.get("_off_terms")
        if terms is None:
            terms = frozenset(t for cue in self.rules.context.off_domain for t in cue.terms)
            self.__dict__["_off_terms"] = terms
        return terms

    def _rules_said(self, verdict: Verdict, rules_gate: int | None, lang: str) -> list[Block]:
        """"The rules said ..." when the model's gate differs from the rules'."""
        if rules_gate is None or rules_gate == verdict.gate:
            return []
        said = (self._gate_title(self.rules.gates[rules_gate], lang) if rules_gate in self.rules.gates
                else label("no_gate_short", lang))
        return [Block(kind="field", label=label("rules_said", lang), text=said)]

    def _why_none(self, verdict: Verdict, lang: str | None = None) -> Block:
        lang = lang or verdict.lang
        reason = verdict.reason or "no_cue"
        if reason == "off_domain":
            # only the words that point elsewhere, not the compute words beside them
            words = [e.match for e in verdict.context if e.cue in self._off_domain_terms] or \
                [e.match for e in verdict.context]
            return Block(kind="text", text=label("no_gate_off_domain", lang, items=self._quoted(words[:4], lang)),
                         user_text=True)
        if reason == "weak" and verdict.gates:
            top = verdict.gates[0]
            items = self._quoted([e.match for e in top.evidence[:3]], lang)
            return Block(kind="text", text=label("no_gate_weak", lang, n=top.gate, items=items), user_text=True)
        key = {"empty": "no_gate_empty", "no_compute": "no_gate_no_compute", "not_china": "no_gate_not_china"}.get(
            reason, "no_gate_no_cue" if verdict.compute > 0 else "no_gate_no_compute"
        )
        return Block(kind="text", text=label(key, lang))

    def board(self, lang: str, platform: str | None = None, chat_id: str | None = None) -> Reply:
        blocks = [Block(kind="heading", text=label("board", lang))]
        counts = momentum(self, platform, str(chat_id)) if platform and chat_id is not None else None
        for gate in self.rules.gates.values():
            line = label("board_line", lang, n=gate.number, name=gate.name.get(lang), status=self._status_text(gate, lang))
            if counts is not None:
                line += label("momentum_board", lang, n=counts.get(gate.number, 0))
            blocks.append(Block(kind="text", text=line))
        src = self.rules.source
        blocks.append(Block(kind="note", text=label("source", lang, title=_rule_text(src.title.get(lang), lang),
                                                    author=src.author)))
        return Reply(kind="board", lang=lang, blocks=blocks)

    def gate_card(self, name: str, lang: str) -> Reply:
        if not name:
            return Reply(kind="error", lang=lang, blocks=[Block(kind="text", text=label("gate_usage", lang))])
        gate = self.rules.gate_by_name(name)
        if gate is None:
            return Reply(kind="error", lang=lang, blocks=[
                Block(kind="text", text=label("unknown_gate", lang, name=name[:60]), user_text=True)])
        blocks = [
            Block(kind="heading", text=self._gate_title(gate, lang)),
            Block(kind="field", label=label("definition", lang), text=_rule_text(gate.definition.get(lang), lang)),
            Block(kind="list", label=label("metrics", lang), items=[_rule_text(m, lang) for m in gate.metrics.get(lang)]),
            Block(kind="field", label=label("status", lang), text=self._status_text(gate, lang)),
        ]
        history = self.store.status_history(gate.number)
        if history:
            previous = history[1] if len(history) > 1 else None
            if previous:
                prev = previous.status_zh if lang == "zh" and previous.status_zh else previous.status_en
                blocks.append(Block(kind="field", label=label("previous", lang),
                                    text=label("status_since", lang, status=_rule_text(prev, lang),
                                               since=previous.since[:10])))
            else:
                blocks.append(Block(kind="field", label=label("previous", lang),
                                    text=label("status_since", lang, status=_rule_text(gate.status.get(lang), lang),
                                               since=label("since_checklist", lang))))
        blocks.append(Block(kind="field", label=label("risk", lang), text=_rule_text(gate.risk.get(lang), lang)))
        return Reply(kind="gate", lang=lang, blocks=blocks)

    def help(self, lang: str) -> Reply:
        return Reply(kind="help", lang=lang, blocks=[
            Block(kind="heading", text=label("help_title", lang)),
            Block(kind="text", text=label("help_body", lang)),
            Block(kind="list", label=label("help_commands", lang), items=HELP_COMMANDS[lang]),
        ])

    # ------------------------------------------------------------------ digests and status

    def digest_command(self, platform: str, chat_id: str, user_id: str, args: str, lang: str) -> Reply:
        """/digest [on HH:MM [zone] | off | status | lang en|zh|auto | weekly <day> HH:MM [zone]]"""
        verb, _, rest = args.strip().partition(" ")
        if verb.lower() == "weekly":
            return weekly_command(self, platform, str(chat_id), rest, chat_language(self, platform, str(chat_id), lang))
        return digest_command(self, platform, str(chat_id), str(user_id), args, lang)

    def setstatus_command(self, platform: str, user_id: str, args: str, lang: str) -> Reply:
        """/setstatus <gate> <text> [| reason]: admins only."""
        return setstatus_command(self, platform, str(user_id), args, lang)

    # ------------------------------------------------------------------ feeds and charts

    async def ajudge(self, text: str) -> tuple[Verdict, Decision | None]:
        """Judge a text no one pasted (a feed entry's title and summary) as a pasted one is judged:
        the rules, and the model judge when one is configured."""
        return await self._decide(text)

    def entry_reply(self, verdict: Verdict, title: str, source: str, link: str, message_id: int,
                    decision: Decision | None = None) -> Reply:
        """A feed entry posted to a chat: its headline, its source and link, then the verdict."""
        chat = self.store.message_chat(message_id)
        settings = self.chat_settings(*chat) if chat else ChatSettings()
        reply = self._verdict_reply(verdict, title, message_id, None, **_judged(decision),
                                    **self._manner(settings, verdict, False))
        where = f"{source} · {link}" if link else source
        reply.blocks[0:0] = [Block(kind="quote", text=_cut(title, 300), user_text=True),
                             Block(kind="field", label=label("feed_source", reply.lang), text=_cut(where, 400),
                                   user_text=True)]
        return reply

    def feed_command(self, platform: str, chat_id: str, user_id: str, name: str, args: str,
                     lang_hint: str | None = None) -> Reply:
        """/unfollow, /feeds (list and settings), /trend; /follow and /feeds refresh need `afeed_command`.

        Anyone in a chat may follow and unfollow feeds for it (no per-chat permissions yet)."""
        chat_id = str(chat_id)
        lang = chat_language(self, platform, chat_id, command_lang("", lang_hint))
        fs = FeedStore(self.store, default_floor=self.default_floor)
        if name == "unfollow":
            return unfollow(fs, platform, chat_id, args, lang)
        if name == "feeds":
            if not args:
                return feeds_list(fs, platform, chat_id, lang)
            answer = feeds_settings(fs, platform, chat_id, args, lang)
            if answer is not None:
                return answer
            if args.lower() != "refresh":
                return Reply(kind="error", lang=lang, blocks=[Block(kind="text", text=label("feeds_usage", lang))])
        if name == "trend":
            days = parse_period(args)
            if days is None:
                return Reply(kind="error", lang=lang, blocks=[Block(kind="text", text=label("trend_usage", lang))])
            trend = load_trend(self.store, self.rules, platform, chat_id, days, self.clock(),
                               self._chat_zone(platform, chat_id))
            return trend_reply(trend, gate_names(self.rules), lang)
        return Reply(kind="error", lang=lang, blocks=[Block(kind="text", text=label("feeds_unavailable", lang))])

    async def afeed_command(self, platform: str, chat_id: str, user_id: str, name: str, args: str,
                            lang_hint: str | None = None) -> Reply:
        """Feed commands that read the network (/follow, /feeds refresh) or render (/trend) off the loop."""
        chat_id = str(chat_id)
        lang = chat_language(self, platform, chat_id, command_lang("", lang_hint))
        poller = self.feeds
        if name == "follow" and poller is not None:
            return await follow(poller.reader, poller.fs, platform, chat_id, str(user_id), args, lang, poller.interval)
        if name == "feeds" and args.lower() == "refresh" and poller is not None:
            results = await poller.refresh(platform, chat_id)
            reply = feeds_list(poller.fs, platform, chat_id, lang)
            summary = label("feeds_refreshed", lang, feeds=len(results), new=sum(r.new for r in results),
                            posted=sum(r.posted for r in results), digest=sum(r.digested for r in results),
                            repeats=sum(r.repeats for r in results), errors=sum(1 for r in results if r.error))
            reply.blocks.insert(0, Block(kind="text", text=summary))
            for r in results:  # posts for a chat that no adapter sends to (the terminal)
                for post in r.replies:
                    reply.blocks.extend(post.blocks)
            return reply
        if name == "trend" and (days := parse_period(args)) is not None:  # read and rendered off the loop
            return await atrend(self.store, self.rules, platform, chat_id, days, self.clock(),
                                self._chat_zone(platform, chat_id), lang)
        return self.feed_command(platform, chat_id, user_id, name, args, lang_hint)

    def _chat_zone(self, platform: str, chat_id: str) -> str:
        """The zone a chat's days are counted in: its weekly chart's, else its digest's, else GATEBOT_TZ."""
        for sub in (FeedStore(self.store).weekly(platform, chat_id), self.store.get_subscription(platform, chat_id)):
            if sub and sub.get("enabled") and sub.get("tz"):
                return sub["tz"]
        return self.default_tz or "UTC"
