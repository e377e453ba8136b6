"""Drive the service from a synchronous test the way adapters do: the same async entry points
(`ahandle_message`, `ahandle_command`, `apress`), each run to completion with asyncio.run."""

from __future__ import annotations

import asyncio

from gatebot.reply import Reply
from gatebot.service import Message, Service, VoteResult


def say(service: Service, msg: Message) -> Reply | None:
    return asyncio.run(service.ahandle_message(msg))


def command(
    service: Service,
    platform: str,
    chat_id: str,
    user_id: str,
    name: str,
    args: str = "",
    lang_hint: str | None = None,
    message_ref: str | None = None,
    is_direct: bool = False,
) -> Reply:
    return asyncio.run(
        service.ahandle_command(platform, chat_id, user_id, name, args, lang_hint, message_ref, is_direct)
    )


def press(
    service: Service,
    platform: str,
    chat_id: str,
    user_id: str,
    target: int | str,
    choice: str,
    *,
    is_direct: bool = False,
) -> VoteResult:
    return asyncio.run(service.apress(platform, chat_id, user_id, target, choice, is_direct=is_direct))


def chat_admins(service: Service, *user_ids: str, platforms: tuple[str, ...] = ("test", "telegram", "slack")) -> None:
    """Make these users administrators of every chat, as the platform's own admin check would say."""
    admins = set(user_ids)

    async def check(chat_id: str, user_id: str) -> bool:
        return user_id in admins

    for platform in platforms:
        service.admin_checks[platform] = check
