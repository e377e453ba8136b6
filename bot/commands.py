"""Every command, declared once: its names in both languages, its arguments, who may run it, its
help text in en and zh, and its handler `(context, args) -> Reply`.

`/help`, Telegram's command menu (setMyCommands) and the Slack manifest's slash commands are made
from this table; `dispatch` is the one place a command's permission is checked. In a group, what
changes the chat's configuration (settings, quiet, feeds, digests) needs the chat's admins (asked of
the platform) or the bot's admins (GATEBOT_ADMINS); a direct chat is the user's own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from . import answers, conversation, etiquette, proposals
from .chart import atrend, parse_period
from .context import Context, is_bot_admin, words_language
from .conversation import clean
from .digest import digest_command, setstatus_command
from .feed_commands import feeds_list, feeds_settings, follow, unfollow
from .reply import Block, Reply, label
from .store import StoredMessage
from .weekly import weekly_command

Handler = Callable[[Context, str], Awaitable[Reply]]
# bot_admin_to_change: anyone may look, only the bot's admins may make the calls `changes` names.
Who = Literal["anyone", "chat_admin", "bot_admin", "bot_admin_to_change"]


def _never(ctx: Context, args: str) -> bool:
    return False


@dataclass(frozen=True)
class Command:
    name: str
    run: Handler
    help: dict[str, str]  # one line per language, after "/name usage — "
    usage: dict[str, str] = field(default_factory=dict)  # the arguments, per language ("" = none)
    aliases: tuple[str, ...] = ()  # other names, English and Chinese (typed where a platform allows)
    who: Who = "anyone"  # chat_admin: calls that `changes` says configure the chat need an admin in a group
    changes: Callable[[Context, str], bool] = _never
    denied: str = "settings_denied"  # the refusal's label
    slack: str = ""  # the Slack manifest's description; "" = not a Slack slash command
    slack_usage: str = ""  # the Slack manifest's usage hint

    def help_line(self, lang: str) -> str:
        usage = self.usage.get(lang, self.usage.get("en", ""))
        return f"/{self.name}{' ' + usage if usage else ''} — {self.help[lang]}"


def _error(ctx_lang: str, key: str, **kw: object) -> Reply:
    return Reply(kind="error", lang=ctx_lang, blocks=[Block(kind="text", text=label(key, ctx_lang, **kw))])


def digest_language(ctx: Context) -> str:
    """The language of what belongs to the chat's digests and feeds (the digest's override first)."""
    sub = ctx.deps.store.get_subscription(ctx.platform, ctx.chat_id)
    return ctx.language(digest=(sub or {}).get("lang") or "")


def chat_zone(ctx: Context) -> str:
    """The zone a chat's days are counted in: its weekly chart's, else its digest's, else GATEBOT_TZ."""
    store = ctx.deps.store
    for sub in (store.weekly(ctx.platform, ctx.chat_id), store.get_subscription(ctx.platform, ctx.chat_id)):
        if sub and sub.get("enabled") and sub.get("tz"):
            return str(sub["tz"])
    return ctx.deps.default_tz or "UTC"


def stored_reply(ctx: Context, stored: StoredMessage, *, quote: bool = False) -> Reply:
    """A verdict reply rebuilt from the store, in full, with its feedback tally."""
    view = answers.load_view(ctx.deps.store, ctx.now, stored.platform, stored.chat_id, exclude=stored.id)
    reply = answers.verdict_reply(
        ctx.deps.rules,
        view,
        stored.verdict,
        stored.text,
        stored.id,
        None,
        quote=quote,
        judge=stored.judge,
        verdicts=stored.verdicts,
        lang=ctx.language(stored.verdict.lang),
        direct=ctx.is_direct,
        reader=ctx.deps.classifier.reader,
    )
    return answers.with_tally(reply, ctx.deps.store.tally(stored.id))


# ---------------------------------------------------------------------------------------- handlers


async def gates(ctx: Context, args: str) -> Reply:
    view = answers.load_view(ctx.deps.store, ctx.now, ctx.platform, ctx.chat_id)
    return answers.board(ctx.deps.rules, view, ctx.language(words_language(args)))


async def gate(ctx: Context, args: str) -> Reply:
    lang = ctx.language(words_language(args))
    card = answers.gate_card(ctx.deps.rules, ctx.deps.store, args, lang,
                             where=(ctx.platform, ctx.chat_id, ctx.now), reader=ctx.deps.classifier.reader)
    shown = ctx.deps.rules.gate_by_name(args) if card.kind == "gate" else None
    accepted = proposals.accepted_line(ctx.deps, shown.number, lang) if shown else None
    if shown and accepted:  # the status an accepted proposal set: who accepted it, on how many signals
        change = ctx.deps.store.gate_status(shown.number)
        status = (change.status_zh if lang == "zh" and change.status_zh else change.status_en) if change else ""
        for block in card.blocks:
            if block.kind == "field" and block.label == label("status", lang):
                block.text = label("status_since", lang, status=answers.rule_text(status, lang), since=accepted)
                break
    return card


async def classify(ctx: Context, args: str) -> Reply:
    if not args:
        return _error(ctx.language(), "classify_usage")
    reply = await conversation.handle(ctx, args, always=True)
    assert reply is not None  # `always` answers
    return reply


async def why(ctx: Context, args: str) -> Reply:
    stored = ctx.deps.store.latest_answered(ctx.platform, ctx.chat_id)
    if stored is None:
        lang = ctx.language(words_language(args))
        return Reply(kind="status", lang=lang, blocks=[Block(kind="text", text=label("why_nothing", lang))])
    return stored_reply(ctx, stored, quote=True)


async def help_(ctx: Context, args: str) -> Reply:
    return help_reply(ctx.language(words_language(args)))


def settings_answer(ctx: Context, name: str, change: etiquette.Change | None, *, page: bool = False) -> Reply:
    """Apply an allowed change (or none) and answer: the settings page to look at (or to edit in
    place after a button press), or one line saying what a command changed."""
    settings = (
        etiquette.apply(ctx.deps.store, ctx.platform, ctx.chat_id, ctx.user_id, change, ctx.now)
        if change is not None
        else ctx.settings
    )
    after = ctx.with_settings(settings)
    lang, zone, floor = after.language(), chat_zone(ctx), ctx.deps.default_floor
    if name == "quiet" or (change is not None and not page):
        return etiquette.short_reply(settings, change, ctx.now, zone, lang, floor)
    return etiquette.settings_view(
        settings,
        platform=ctx.platform,
        direct=ctx.is_direct,
        lang=lang,
        default_floor=floor,
        now=ctx.now,
        zone=zone,
        changed=change,
    )


def _settings(name: str) -> Handler:
    async def run(ctx: Context, args: str) -> Reply:
        change = etiquette.parse_command(name, args, ctx.language(), ctx.is_direct)
        if isinstance(change, Reply):
            return change
        return settings_answer(ctx, name, change)

    return run


def _settings_change(name: str) -> Callable[[Context, str], bool]:
    def changes(ctx: Context, args: str) -> bool:
        return isinstance(etiquette.parse_command(name, args, "en", ctx.is_direct), etiquette.Change)

    return changes


async def digest(ctx: Context, args: str) -> Reply:
    verb, _, rest = args.strip().partition(" ")
    if verb.lower() == "weekly":
        return weekly_command(ctx.deps, ctx.platform, ctx.chat_id, rest, digest_language(ctx))
    return digest_command(ctx.deps, ctx.platform, ctx.chat_id, ctx.user_id, args, ctx.locale)


def _digest_changes(ctx: Context, args: str) -> bool:
    words = args.lower().split()
    return bool(words) and (words[0] in ("on", "off", "lang") or (words[0] == "weekly" and len(words) > 1))


async def setstatus(ctx: Context, args: str) -> Reply:
    return setstatus_command(ctx.deps, ctx.platform, ctx.user_id, args, ctx.language(words_language(args)))


async def proposals_(ctx: Context, args: str) -> Reply:
    return proposals.proposals_command(ctx.deps, ctx.platform, ctx.chat_id, ctx.user_id, args, ctx.lang)


def _proposals_changes(ctx: Context, args: str) -> bool:
    return bool(args.strip())


async def follow_(ctx: Context, args: str) -> Reply:
    lang, poller = digest_language(ctx), ctx.deps.feeds
    if poller is None:
        return _error(lang, "feeds_unavailable")
    return await follow(poller.reader, ctx.deps.store, ctx.platform, ctx.chat_id, ctx.user_id, args, lang, poller.interval,
                        ctx.deps.default_floor)


async def unfollow_(ctx: Context, args: str) -> Reply:
    return unfollow(ctx.deps.store, ctx.platform, ctx.chat_id, args, digest_language(ctx))


async def feeds(ctx: Context, args: str) -> Reply:
    lang, store, floor = digest_language(ctx), ctx.deps.store, ctx.deps.default_floor
    if not args:
        return feeds_list(store, ctx.platform, ctx.chat_id, lang, floor)
    answer = feeds_settings(store, ctx.platform, ctx.chat_id, args, lang, floor)
    if answer is not None:
        return answer
    poller = ctx.deps.feeds
    if args.lower() != "refresh":
        return _error(lang, "feeds_usage")
    if poller is None:
        return _error(lang, "feeds_unavailable")
    results = await poller.refresh(ctx.platform, ctx.chat_id)
    reply = feeds_list(store, ctx.platform, ctx.chat_id, lang, floor)
    summary = label(
        "feeds_refreshed",
        lang,
        feeds=len(results),
        new=sum(r.new for r in results),
        posted=sum(r.posted for r in results),
        digest=sum(r.digested for r in results),
        repeats=sum(r.repeats for r in results),
        errors=sum(1 for r in results if r.error),
    )
    reply.blocks.insert(0, Block(kind="text", text=summary))
    for r in results:  # posts for a chat that no adapter sends to (the terminal)
        for post in r.replies:
            reply.blocks.extend(post.blocks)
    return reply


def _feeds_changes(ctx: Context, args: str) -> bool:
    words = args.lower().split()
    return bool(words) and (words[0] in ("post", "digest", "floor") or (len(words) == 2 and words[0].isdigit()))


def _has_args(ctx: Context, args: str) -> bool:
    return bool(args.strip())


async def trend(ctx: Context, args: str) -> Reply:
    lang = digest_language(ctx)
    days = parse_period(args)
    if days is None:
        return _error(lang, "trend_usage")
    # read and rendered off the loop
    return await atrend(ctx.deps.store, ctx.deps.rules, ctx.platform, ctx.chat_id, days, ctx.now, chat_zone(ctx), lang)


# ---------------------------------------------------------------------------------------- the table

COMMANDS: tuple[Command, ...] = (
    Command(
        "gates",
        gates,
        aliases=("board", "四道门"),
        help={"en": "the board: the four gates and their status", "zh": "四道门及其现状"},
        slack="The board: the four gates and their status",
    ),
    Command(
        "gate",
        gate,
        aliases=("门",),
        usage={"en": "<1-4|name>", "zh": "<1-4|名称>"},
        help={
            "en": "one gate: definition, metrics, status, risk warning",
            "zh": "某一道门：含义、验证指标、现状、风险提示",
        },
        slack="One gate: definition, metrics, status, risk warning",
        slack_usage="<1-4 | procurement | deployment | ecosystem | replication>",
    ),
    Command(
        "classify",
        classify,
        aliases=("判断",),
        usage={"en": "<text>", "zh": "<文本>"},
        help={"en": "classify a headline or a link (always answers)", "zh": "判断一条标题或链接（总会回复）"},
        slack="Classify a headline (always answers)",
        slack_usage="<headline>",
    ),
    Command(
        "digest",
        digest,
        aliases=("摘要",),
        who="chat_admin",
        changes=_digest_changes,
        denied="digest_denied",
        help={
            "en": "today's digest for this chat; /digest on 09:00 Asia/Shanghai, /digest off, /digest status",
            "zh": "今日摘要；/digest on 09:00 Asia/Shanghai 订阅，/digest off 退订，/digest status 查看",
        },
        slack="This channel's daily digest of gate signals (no argument: show it now)",
        slack_usage="[on HH:MM [zone] | off | status | lang en|zh|auto | weekly <day> HH:MM [zone]]",
    ),
    Command(
        "setstatus",
        setstatus,
        who="bot_admin",
        denied="setstatus_denied",
        usage={"en": "<gate> <text> [| reason]", "zh": "<门> <状态> [| 理由]"},
        help={"en": "change a gate's status (admins only)", "zh": "修改某道门的状态（仅管理员）"},
        slack="Change a gate's status (GATEBOT_ADMINS only)",
        slack_usage="<gate> <new status> [| reason]",
    ),
    Command(
        "follow",
        follow_,
        aliases=("订阅",),
        who="chat_admin",
        changes=_has_args,
        denied="feeds_denied",
        usage={"en": "<url> [post|digest]", "zh": "<链接> [post|digest]"},
        help={
            "en": "watch a feed (RSS, Atom, or a page that links one)",
            "zh": "订阅一个源（RSS、Atom，或带订阅链接的网页）",
        },
        slack="Watch a feed: RSS, Atom, or a page that links one",
        slack_usage="<feed or page URL> [post|digest]",
    ),
    Command(
        "unfollow",
        unfollow_,
        aliases=("取消订阅",),
        who="chat_admin",
        changes=_has_args,
        denied="feeds_denied",
        usage={"en": "<url|number>", "zh": "<链接|编号>"},
        help={"en": "stop watching a feed", "zh": "取消订阅"},
        slack="Stop watching a feed",
        slack_usage="<URL | number from /feeds>",
    ),
    Command(
        "feeds",
        feeds,
        aliases=("源",),
        who="chat_admin",
        changes=_feeds_changes,
        denied="feeds_denied",
        help={
            "en": "the feeds watched here; /feeds refresh, /feeds post, /feeds digest",
            "zh": "这里订阅的源；/feeds refresh 立即读取，/feeds post，/feeds digest",
        },
        slack="The feeds this channel watches",
        slack_usage="[refresh | post [per hour] | digest | floor low|medium|high | <number> post|digest|default]",
    ),
    Command(
        "trend",
        trend,
        aliases=("趋势",),
        usage={"en": "[7d|30d]", "zh": "[7d|30d]"},
        help={
            "en": "a chart of signals per gate per day; /digest weekly mon 09:00 posts one weekly",
            "zh": "各道门每日信号图；/digest weekly mon 09:00 每周发一次",
        },
        slack="A chart of signals per gate per day",
        slack_usage="[7d | 30d]",
    ),
    Command(
        "settings",
        _settings("settings"),
        aliases=("设置",),
        who="chat_admin",
        changes=_settings_change("settings"),
        help={
            "en": "this chat's settings: mode auto|mention|off, floor low|medium|high, format full|compact, "
            "lang auto|en|zh",
            "zh": "这里的设置：mode auto|mention|off、floor low|medium|high、format full|compact、lang auto|en|zh",
        },
        slack="This channel's settings: when the bot speaks, how much, in which language",
        slack_usage="[mode auto|mention|off | floor low|medium|high | format full|compact | lang auto|en|zh]",
    ),
    Command(
        "quiet",
        _settings("quiet"),
        aliases=("静音",),
        who="chat_admin",
        changes=_settings_change("quiet"),
        usage={"en": "2h", "zh": "2h"},
        help={
            "en": "no unprompted replies for a while (30m, 1d; /quiet off ends it)",
            "zh": "暂停主动回复一段时间（30m、1d；/quiet off 结束）",
        },
        slack="No unprompted replies for a while (commands and mentions still answered)",
        slack_usage="<30m | 2h | 1d | off>",
    ),
    Command(
        "why",
        why,
        aliases=("依据",),
        help={"en": "the evidence behind the latest verdict", "zh": "最近一次判断的依据"},
        slack="The evidence behind the latest verdict in this channel",
    ),
    Command(
        "proposals",
        proposals_,
        aliases=("提议",),
        who="bot_admin_to_change",
        changes=_proposals_changes,
        denied="proposal_chat_denied",
        usage={"en": "[on|off]", "zh": "[on|off]"},
        help={
            "en": "status proposals: the evidence asks admins to move a gate a step (/proposals on posts them here)",
            "zh": "状态提议：证据足够时请管理员把某道门移动一级（/proposals on 在这里接收）",
        },
        slack="Status proposals: when the evidence would move a gate, ask the admins here",
        slack_usage="[on | off]",
    ),
    Command("help", help_, aliases=("start", "帮助"), help={"en": "this help", "zh": "帮助"}),
)
BY_NAME: dict[str, Command] = {n: c for c in COMMANDS for n in (c.name, *c.aliases)}


def help_lines(lang: str) -> list[str]:
    return [c.help_line(lang) for c in COMMANDS]


def help_reply(lang: str) -> Reply:
    return Reply(
        kind="help",
        lang=lang,
        blocks=[
            Block(kind="heading", text=label("help_title", lang)),
            Block(kind="text", text=label("help_body", lang)),
            Block(kind="list", label=label("help_commands", lang), items=help_lines(lang)),
        ],
    )


def menu(lang: str) -> list[tuple[str, str]]:
    """(command, description) for a platform's command menu: /start first, then the table."""
    return [("start", label("help_title", lang)), *((c.name, c.help[lang]) for c in COMMANDS)]


def slack_commands(url: str) -> list[dict[str, object]]:
    """The Slack manifest's `features.slash_commands`, every request going to `url`."""
    out: list[dict[str, object]] = []
    for c in COMMANDS:
        if c.slack:
            entry: dict[str, object] = {"command": f"/{c.name}", "url": url, "description": c.slack}
            if c.slack_usage:
                entry["usage_hint"] = c.slack_usage
            entry["should_escape"] = False
            out.append(entry)
    return out


# ---------------------------------------------------------------------------------------- dispatch


async def allowed(command: Command, ctx: Context, args: str) -> bool:
    """The one permission check: may this user run this command with these arguments here?"""
    if command.who == "bot_admin" or (command.who == "bot_admin_to_change" and command.changes(ctx, args)):
        return is_bot_admin(ctx.deps.admins, ctx.platform, ctx.user_id)
    if command.who == "chat_admin" and command.changes(ctx, args):
        return await ctx.may_configure()
    return True


def refusal(command: Command, ctx: Context, args: str) -> Reply:
    """What a refused user is told, nothing changed; the chat-admin refusals name the user's id as
    GATEBOT_ADMINS takes it, so an operator can add it."""
    if command.who in ("bot_admin", "bot_admin_to_change"):
        return _error(ctx.language(words_language(args)), command.denied)
    lang = ctx.language()
    text = label(command.denied, lang, who=f"{ctx.platform}:{ctx.user_id}")
    return Reply(kind="error", lang=lang, blocks=[Block(kind="text", text=text, user_text=True)])


async def dispatch(ctx: Context, name: str, args: str = "") -> Reply:
    """Answer a command. `name` may carry its slash and an @botname."""
    name = name.lstrip("/").split("@", 1)[0].lower()
    args = clean(args)
    command = BY_NAME.get(name)
    if command is None:
        lang = ctx.language(words_language(args))
        return Reply(
            kind="unknown",
            lang=lang,
            blocks=[Block(kind="text", text=label("unknown_command", lang, name=name[:40]), user_text=True)],
        )
    if not await allowed(command, ctx, args):
        return refusal(command, ctx, args)
    return await command.run(ctx, args)
