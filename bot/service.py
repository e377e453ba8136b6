"""What gatebot answers: the one entry point every chat adapter (and the CLI) calls.

Adapters translate platform events into `Message`s, command calls and button presses, and render
the `Reply` they get back. Each event is resolved once into a context (context.py); a message goes
down the conversation (conversation.py), a command through the command table (commands.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from . import answers, chatsettings, commands, conversation, etiquette, proposals
from .chatsettings import ChatSettings
from .classifier import Classifier
from .context import AdminCheck, Context, decide_language, resolve, words_language
from .conversation import Message, clean
from .inbox import Inbox
from .judge import Decision, Judge
from .links import LinkReader
from .models import Verdict
from .poller import FeedPoller
from .reply import Block, Reply, label
from .ruleset import RuleSet
from .store import Store, iso, utcnow

__all__ = ["AdminCheck", "Message", "Service", "VoteResult", "clean"]
VOTE_CHOICES = answers.VOTE_CHOICES
INLINE_MAX_CHARS = 256  # what Telegram lets an inline query carry
log = logging.getLogger("gatebot.service")


@dataclass(frozen=True)
class VoteResult:
    ok: bool
    notice: str  # a short answer for the voter (toast / ephemeral)
    reply: Reply | None  # the verdict reply with the new tally, to edit the message in place


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

    def context(
        self,
        platform: str,
        chat_id: str,
        user_id: str,
        *,
        is_direct: bool = False,
        locale: str | None = None,
        message_ref: str | None = None,
    ) -> Context:
        return resolve(self, platform, chat_id, user_id, is_direct=is_direct, locale=locale, message_ref=message_ref)

    # ------------------------------------------------------------------ the entry points

    async def ahandle_message(self, msg: Message) -> Reply | None:
        """A pasted message: its reply, or None to stay silent."""
        ctx = self.context(msg.platform, msg.chat_id, msg.user_id, is_direct=msg.is_direct, message_ref=msg.message_ref)
        return await conversation.handle(ctx, msg.text, links=msg.links, addressed=msg.addressed)

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
        """A slash command (`name` with or without its slash and @botname; `lang_hint`: the user's
        locale; `is_direct`: a one-to-one chat)."""
        ctx = self.context(platform, chat_id, user_id, is_direct=is_direct, locale=lang_hint, message_ref=message_ref)
        return await commands.dispatch(ctx, name, args)

    async def apress(
        self, platform: str, chat_id: str, user_id: str, target: int | str, choice: str, *, is_direct: bool = False
    ) -> VoteResult:
        """A button press: a vote, "Why?" on a compact reply, a setting on the /settings page, or
        Accept / Dismiss on a status proposal."""
        ctx = self.context(platform, chat_id, user_id, is_direct=is_direct)
        if str(target) == proposals.TARGET:
            ok, notice, reply = proposals.press(self, platform, ctx.chat_id, ctx.user_id, choice, ctx.lang)
            return VoteResult(ok, notice, reply)
        if str(target) != etiquette.SETTINGS_TARGET:
            return self._vote(ctx, target, choice)
        lang = ctx.language()
        change = etiquette.parse_button(choice)
        if change is None:
            return VoteResult(False, label("vote_bad", lang), None)
        if is_direct and change.key in etiquette.GROUP_ONLY:
            return VoteResult(False, label("settings_group_only", lang, setting=change.key), None)
        if not await ctx.may_configure():
            return VoteResult(False, label("settings_denied", lang, who=f"{platform}:{user_id}"), None)
        reply = commands.settings_answer(ctx, "settings", change, page=True)
        return VoteResult(True, reply.blocks[0].text, reply)  # what changed, as a toast

    def _vote(self, ctx: Context, message_id: int | str, choice: str) -> VoteResult:
        """Record a feedback press: one vote per user per verdict, the latest one counts. "why" (on a
        compact reply) records nothing and answers with the whole reply."""
        try:
            mid = int(message_id)
        except (TypeError, ValueError):
            return VoteResult(False, label("vote_bad", "en"), None)
        stored = self.store.get_message(mid)
        lang = ctx.language(stored.verdict.lang if stored else "en")
        if choice not in VOTE_CHOICES and choice != "why":
            return VoteResult(False, label("vote_bad", lang), None)
        if stored is None or stored.platform != ctx.platform or stored.chat_id != ctx.chat_id:
            return VoteResult(False, label("vote_stale", lang), None)
        if choice == "why":
            return VoteResult(True, "", commands.stored_reply(ctx, stored))
        self.store.vote(mid, ctx.user_id, choice, ctx.platform, ctx.chat_id)
        return VoteResult(True, label("vote_thanks", lang), commands.stored_reply(ctx, stored))

    # ------------------------------------------------------------------ feed entries

    async def ajudge(self, text: str) -> tuple[Verdict, Decision | None]:
        """Judge a text no one pasted (a feed entry's title and summary) as a pasted one is judged:
        the rules, and the model judge when one is configured."""
        return await conversation.decide(self, text)

    def entry_reply(
        self, verdict: Verdict, title: str, source: str, link: str, message_id: int, decision: Decision | None = None
    ) -> Reply:
        """A feed entry posted to a chat: its headline, its source and link, then the verdict."""
        chat = self.store.message_chat(message_id)
        ctx = self.context(*chat, "") if chat else Context(self, "", "", "", False, self.clock(), ChatSettings())
        reply = conversation.reply_for(ctx, verdict, title, message_id, None, decision)
        where = f"{source} · {link}" if link else source
        reply.blocks[0:0] = [
            Block(kind="quote", text=answers.cut(title, 300), user_text=True),
            Block(kind="field", label=label("feed_source", reply.lang), text=answers.cut(where, 400), user_text=True),
        ]
        return reply

    # ------------------------------------------------------------------ inline queries

    async def ainline(self, text: str, *, locale: str | None = None) -> answers.InlineAnswer:
        """A headline typed after the bot's name in a chat it need not be in: the verdict to offer.

        The rules alone judge it (a query arrives while the asker types, so the model judge is not
        asked), and nothing is stored: the text is read, answered and forgotten. An empty query
        offers the board; one longer than INLINE_MAX_CHARS offers a pointer to the direct chat."""
        text = clean(text)
        lang = decide_language(words=words_language(text), locale=locale)
        if not text:
            board = answers.board(self.rules, answers.load_view(self.store, self.clock()), lang)
            return answers.InlineAnswer(label("inline_empty_title", lang), label("inline_empty_desc", lang), board)
        if len(text) > INLINE_MAX_CHARS:
            hint = Reply(kind="error", lang=lang,
                         blocks=[Block(kind="text", text=label("inline_long_text", lang, n=INLINE_MAX_CHARS))])
            return answers.InlineAnswer(label("inline_long_title", lang),
                                        label("inline_long_desc", lang, n=INLINE_MAX_CHARS), hint)
        verdict = await conversation.classify(self, text)
        return answers.inline_answer(self.rules, answers.load_view(self.store, self.clock()), verdict, lang)

# ---------------------------------------------------------------------------------------- a person's own page

HOME_RECENT = 5  # verdicts shown on a person's page
HOME_LOOKBACK = 20_000  # newest messages searched for them: the query stays bounded on a large store
HOME_CHATS = 10  # chats with settings of their own shown


def home_reply(service: Service, platform: str, user_id: str, chat_id: str,
               chat_filter: Callable[[str], bool] | None = None) -> Reply:
    """A person's own page (Slack's App Home): the board with every chat's evidence balance, their
    latest verdicts, and the chats of the platform whose settings differ from the defaults, in the
    language of their direct chat `chat_id`."""
    ctx = service.context(platform, chat_id, user_id, is_direct=True)
    lang = ctx.language()
    store, rules = service.store, service.rules
    recent = store.recent_verdicts_of(platform, user_id, HOME_LOOKBACK, HOME_RECENT)
    # `chat_filter`: where one platform serves several workspaces, only the viewer's own chats.
    chats = store.customised_chats(platform, iso(ctx.now), HOME_CHATS if chat_filter is None else HOME_CHATS * 20)
    if chat_filter is not None:
        chats = [row for row in chats if chat_filter(str(row[0]))][:HOME_CHATS]
    # The board with every chat's evidence of the last 30 days: the board is global, and so are its
    # counts (numbers of stories only; no chat's messages are shown).
    reply = answers.board(rules, answers.load_view(store, ctx.now, balance=True), lang)
    reply.blocks.insert(-1, Block(kind="note", text=label("evidence_home", lang)))
    reply.blocks.append(Block(kind="heading", text=label("home_recent", lang)))
    lines = []
    for created_at, gate, text in recent:
        name = (label("gate", lang, n=gate, name=rules.gates[gate].name.get(lang)) if gate in rules.gates
                else label("no_gate", lang).rstrip(".。"))
        lines.append(label("home_recent_line", lang, when=str(created_at)[:10], gate=name, text=answers.cut(text, 90)))
    reply.blocks.append(Block(kind="list", items=lines, user_text=True) if lines
                        else Block(kind="text", text=label("home_recent_none", lang)))
    reply.blocks.append(Block(kind="heading", text=label("home_settings", lang)))
    lines = []
    for chat, mode, floor, fmt, chat_lang, quiet in chats:
        parts = [f"{label('settings_key_' + key, lang)} {value}"
                 for key, value in (("mode", mode), ("floor", floor), ("format", fmt), ("lang", chat_lang)) if value]
        if quiet > iso(ctx.now):
            parts.append(f"{label('settings_key_quiet', lang)} → {quiet[:16].replace('T', ' ')} UTC")
        lines.append(label("home_settings_line", lang, chat=chat, settings=" · ".join(parts)))
    reply.blocks.append(Block(kind="list", items=lines, user_text=True) if lines
                        else Block(kind="text", text=label("home_settings_none", lang, floor=service.default_floor)))
    return reply
