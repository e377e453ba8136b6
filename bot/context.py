"""Who is asking, where, and in which language the answer goes: one context per incoming event.

Every message, command and button press is resolved once into a `Context` (platform, chat, user,
direct or group, the chat's settings, the asker's locale, now); whether the user administers the
chat is asked of the platform only when a command needs it. The reply language is decided here
and nowhere else (`decide_language`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from . import chatsettings
from .chatsettings import ChatSettings
from .classifier import Classifier
from .ruleset import RuleSet
from .store import Store
from .text import fold, language_of

log = logging.getLogger("gatebot.context")

# Is this user an administrator of this chat? Registered per platform by its adapter (Telegram's
# getChatMember, Slack's users.info), asked only when someone changes what a chat is configured to do.
AdminCheck = Callable[[str, str], Awaitable[bool]]


class Deps(Protocol):
    """What the pipeline needs of the service that owns the parts (the service sits above)."""

    rules: RuleSet
    store: Store
    classifier: Classifier
    admins: frozenset[str]
    default_tz: str
    admin_checks: dict[str, AdminCheck]
    link_reader: Any
    judge: Any
    feeds: Any

    def clock(self) -> datetime: ...

    @property
    def default_floor(self) -> str: ...


def words_language(text: str) -> str | None:
    """The language of a command's argument words, or None when it has none ("/gate 3")."""
    folded = fold(text or "")
    if folded.cjk_chars or folded.latin_words:
        return language_of(folded)
    return None


def locale_language(locale: str | None) -> str | None:
    """The asker's locale as a reply language (Telegram's language_code; Slack sends none)."""
    if not locale:
        return None
    return "zh" if locale.lower().startswith("zh") else "en"


def decide_language(
    *,
    digest: str = "",
    chosen: str = "",
    words: str | None = None,
    locale: str | None = None,
    majority: Callable[[], str | None] | None = None,
) -> str:
    """The one place a reply's language is decided. The first of these that says en or zh wins:

    1. `digest`: the chat's digest language (/digest lang), only for what belongs to the digests
       and feeds the chat receives;
    2. `chosen`: the chat's language setting (/settings lang en|zh);
    3. `words`: the language of the words being answered (a pasted text, a command's argument);
    4. `locale`: the asker's locale;
    5. `majority`: the language most of the chat's recent headlines use (a query, so asked last);
    6. English.
    """
    for value in (digest, chosen, words, locale_language(locale)):
        if value in ("en", "zh"):
            return value
    if majority is not None:
        value = majority()
        if value in ("en", "zh"):
            return value
    return "en"


def chat_majority(store: Store, platform: str, chat_id: str) -> str | None:
    """The language most of a chat's recent headlines use; None on a tie or an empty chat."""
    counts = store.chat_languages(platform, chat_id)
    zh, en = counts.get("zh", 0), counts.get("en", 0)
    return "zh" if zh > en else "en" if en > zh else None


def is_bot_admin(admins: frozenset[str] | set[str], platform: str, user_id: str) -> bool:
    """Is this user one of the bot's own admins (GATEBOT_ADMINS, "123" or "telegram:123")?"""
    return bool(user_id) and (str(user_id) in admins or f"{platform}:{user_id}" in admins)


@dataclass(frozen=True)
class Context:
    """One incoming event, resolved: where it came from and how to answer it."""

    deps: Deps = field(repr=False, compare=False)
    platform: str
    chat_id: str
    user_id: str
    is_direct: bool
    now: datetime
    settings: ChatSettings
    locale: str | None = None
    message_ref: str | None = None
    _memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # lazy answers, asked once

    def language(self, words: str | None = None, *, digest: str = "") -> str:
        """The reply language for this event (see decide_language); `words`: the language of the
        text being answered, if it has one."""
        return decide_language(
            digest=digest,
            chosen=self.settings.lang,
            words=words,
            locale=self.locale,
            majority=lambda: chat_majority(self.deps.store, self.platform, self.chat_id),
        )

    @property
    def lang(self) -> str:
        """The reply language when nothing is being answered but the command itself."""
        if "lang" not in self._memo:
            self._memo["lang"] = self.language()
        return str(self._memo["lang"])

    def with_settings(self, settings: ChatSettings) -> Context:
        """The same event after the chat's settings changed (a new `lang` shows at once)."""
        return Context(
            self.deps,
            self.platform,
            self.chat_id,
            self.user_id,
            self.is_direct,
            self.now,
            settings,
            self.locale,
            self.message_ref,
        )

    async def may_configure(self) -> bool:
        """May this user change what this chat is configured to do? In a direct chat always (it is
        the user's own); in a group the chat's admins (asked of the platform) and the bot's admins."""
        if self.is_direct or is_bot_admin(self.deps.admins, self.platform, self.user_id):
            return True
        if "admin" not in self._memo:
            self._memo["admin"] = await self._ask_platform()
        return bool(self._memo["admin"])

    async def _ask_platform(self) -> bool:
        check = self.deps.admin_checks.get(self.platform)
        if check is None:
            return False
        try:
            return bool(await check(str(self.chat_id), str(self.user_id)))
        except Exception as exc:  # noqa: BLE001 - the platform could not say: refuse, politely
            log.warning("admin check on %s failed: %s", self.platform, type(exc).__name__)
            return False


def resolve(
    deps: Deps,
    platform: str,
    chat_id: str,
    user_id: str,
    *,
    is_direct: bool = False,
    locale: str | None = None,
    message_ref: str | None = None,
) -> Context:
    """Resolve an incoming event once: the chat's settings are read here (one query)."""
    chat_id = str(chat_id)
    return Context(
        deps,
        platform,
        chat_id,
        str(user_id),
        is_direct,
        deps.clock(),
        chatsettings.load(deps.store, platform, chat_id),
        locale,
        message_ref,
    )
