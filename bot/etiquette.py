"""Group manners: when the bot speaks unprompted, and the commands that set how (/settings, /quiet).

A chat's settings (chatsettings.py) decide whether a pasted message gets an answer nobody asked
for. Direct chats, mentions and replies to the bot are questions and get an answer whatever the
confidence; in a group only a gate verdict at or above the chat's confidence floor is answered
unprompted, in `auto` mode, outside a /quiet period. `mention` answers only those questions;
`off` only commands. Who may change settings is checked by the service (admins); this module
parses, applies and shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from . import chatsettings
from .chatsettings import CHOICES, MAX_QUIET, ChatSettings, clears, parse_duration
from .models import Verdict
from .reply import Block, Choice, Reply, label
from .store import Store, iso
from .timing import resolve_zone

SETTINGS_TARGET = "settings"  # what settings buttons act on (instead of a stored message's id)
QUIET_BUTTONS = ("1h", "2h", "off")
GROUP_ONLY = ("mode", "floor", "quiet")  # meaningless in a direct chat, where every message is a question


def answers(settings: ChatSettings, verdict: Verdict, *, direct: bool, addressed: bool, now: datetime,
            default_floor: str) -> bool:
    """Does a pasted message get a reply? (Commands always do; the caller handles them.)"""
    if direct:
        return True
    mode = settings.value("mode")
    if addressed:
        return mode != "off"
    return (mode == "auto" and not settings.quiet(now) and verdict.gate != 0
            and clears(verdict.confidence, settings.value("floor", default_floor)))


@dataclass(frozen=True)
class Change:
    key: str  # mode | floor | format | lang | quiet
    value: str


def parse_command(name: str, args: str, lang: str, direct: bool) -> Change | Reply | None:
    """What a /settings or /quiet command asks for: None (just show), a Change, or an error reply."""
    change = parse_quiet(args, lang) if name == "quiet" else parse_settings(args, lang)
    if direct and name == "quiet":
        return group_only(Change("quiet", ""), lang)
    if direct and isinstance(change, Change) and change.key in GROUP_ONLY:
        return group_only(change, lang)
    return change


def parse_settings(args: str, lang: str) -> Change | Reply | None:
    """`/settings` args: None to show them, a Change, or a usage reply."""
    words = args.split()
    if not words:
        return None
    key = words[0].lower()
    if key == "quiet":
        return parse_quiet(" ".join(words[1:]), lang)
    if key not in CHOICES:
        return _error(lang, label("settings_unknown_key", lang, setting=key[:40]), user_text=True)
    if len(words) != 2:
        return _error(lang, label("settings_usage", lang))
    value = words[1].lower()
    if value not in CHOICES[key] and value != "default":
        return _error(lang, label("settings_bad_value", lang, setting=key, value=words[1][:40],
                                  choices=label("list_sep", lang).join(CHOICES[key] + ("default",))),
                      user_text=True)
    return Change(key, value)


def parse_quiet(args: str, lang: str) -> Change | Reply | None:
    """`/quiet` args: None for the status, a Change ("off" or a duration), or a usage reply."""
    value = args.strip().lower()
    if not value:
        return None
    if value in ("off", "stop", "end", "0"):
        return Change("quiet", "off")
    duration = parse_duration(value)
    if duration is None:
        return _error(lang, label("quiet_usage", lang))
    if duration > MAX_QUIET:
        return _error(lang, label("quiet_too_long", lang))
    return Change("quiet", value)


def parse_button(value: str) -> Change | None:
    """A settings button's value, "mode=off" or "quiet=2h"."""
    key, sep, choice = value.partition("=")
    if not sep:
        return None
    if key == "quiet":
        return Change("quiet", choice) if choice == "off" or parse_duration(choice) else None
    return Change(key, choice) if choice in CHOICES.get(key, ()) else None


def apply(store: Store, platform: str, chat_id: str, user_id: str, change: Change, now: datetime) -> ChatSettings:
    """Store a change (the caller has checked the user may make it)."""
    if change.key == "quiet":
        duration = parse_duration(change.value) if change.value != "off" else None
        until = iso(now + min(duration, MAX_QUIET)) if duration else ""
        return chatsettings.save(store, platform, chat_id, user_id, quiet_until=until)
    value = "" if change.value == "default" else change.value
    return chatsettings.save(store, platform, chat_id, user_id, **{change.key: value})


def group_only(change: Change, lang: str) -> Reply:
    return _error(lang, label("settings_group_only", lang, setting=change.key))


def denied(lang: str, platform: str, user_id: str) -> Reply:
    """The polite refusal; it names the user's id as GATEBOT_ADMINS takes it, so an operator can add it."""
    return _error(lang, label("settings_denied", lang, who=f"{platform}:{user_id}"), user_text=True)


def quiet_text(settings: ChatSettings, now: datetime, zone: str, lang: str) -> str:
    if not settings.quiet(now):
        return label("quiet_none", lang)
    return label("quiet_until", lang, time=local_time(settings.quiet_until, now, zone))


def short_reply(settings: ChatSettings, change: Change | None, now: datetime, zone: str, lang: str,
                default_floor: str) -> Reply:
    """One line: /quiet's status, or what a /settings or /quiet command changed."""
    if change is None:
        text = (label("quiet_status", lang, until=local_time(settings.quiet_until, now, zone)) if settings.quiet(now)
                else label("quiet_status_off", lang))
    else:
        text = changed_text(settings, change, lang, default_floor, now, zone)
    return Reply(kind="status", lang=lang, blocks=[Block(kind="text", text=text)])


def settings_view(settings: ChatSettings, *, platform: str, direct: bool, lang: str, default_floor: str,
                  now: datetime, zone: str, changed: Change | None = None) -> Reply:
    """/settings: every setting with what it means, how to change them, who may; buttons to change them."""
    blocks: list[Block] = []
    if changed is not None:
        blocks.append(Block(kind="text", text=changed_text(settings, changed, lang, default_floor, now, zone)))
    blocks.append(Block(kind="heading", text=label("settings_title", lang)))
    keys = ("format", "lang") if direct else ("mode", "floor", "format", "lang")
    for key in keys:
        value = settings.value(key, default_floor)
        if key == "floor":
            mark = label("settings_default", lang) if not settings.floor else ""
            text = label("settings_floor_value", lang, value=value, mark=mark, conf=label(f"conf_{value}", lang))
        else:
            text = label(f"settings_{key}_{value}", lang)
        blocks.append(Block(kind="field", label=label(f"settings_key_{key}", lang), text=text))
    if not direct:
        blocks.append(Block(kind="field", label=label("settings_key_quiet", lang),
                            text=quiet_text(settings, now, zone, lang)))
    blocks.append(Block(kind="note", text=label("settings_hint_direct" if direct else "settings_hint", lang)))
    if direct:
        blocks.append(Block(kind="note", text=label("settings_direct_note", lang)))
    else:
        who = "settings_who_slack" if platform == "slack" else "settings_who"
        blocks.append(Block(kind="note", text=label(who, lang)))
    choices = []
    for key in keys:
        current = settings.value(key, default_floor)
        for value in CHOICES[key]:
            mark = "✓ " if value == current else ""
            choices.append(Choice(value=f"{key}={value}", label=f"{mark}{key} {value}", target=SETTINGS_TARGET,
                                  group=key))
    if not direct:
        for value in QUIET_BUTTONS:
            choices.append(Choice(value=f"quiet={value}", label=f"quiet {value}", target=SETTINGS_TARGET,
                                  group="quiet"))
    return Reply(kind="status", lang=lang, blocks=blocks, choices=choices, ephemeral=changed is None)


def changed_text(settings: ChatSettings, change: Change, lang: str, default_floor: str, now: datetime,
                 zone: str) -> str:
    """What a change did, in a sentence."""
    if change.key == "quiet":
        if settings.quiet(now):
            return label("quiet_on", lang, until=local_time(settings.quiet_until, now, zone))
        return label("quiet_off", lang)
    value = settings.value(change.key, default_floor)
    if change.value == "default":
        value += label("settings_default", lang)
    return label("settings_changed", lang, setting=change.key, value=value)


def local_time(ts: str, now: datetime, zone: str) -> str:
    """A time in the chat's zone: "15:30 CST" today, else with its date."""
    tz = resolve_zone(zone) or ZoneInfo("UTC")
    when = datetime.fromisoformat(ts).astimezone(tz)
    if when.date() == now.astimezone(tz).date():
        return when.strftime("%H:%M %Z")
    return when.strftime("%Y-%m-%d %H:%M %Z")


def _error(lang: str, text: str, user_text: bool = False) -> Reply:
    return Reply(kind="error", lang=lang, blocks=[Block(kind="text", text=text, user_text=user_text)])


__all__ = ["Change", "SETTINGS_TARGET", "answers", "apply", "parse_button", "parse_command", "parse_quiet",
           "parse_settings", "settings_view", "short_reply"]
