"""The weekly chart: opt in with `/digest weekly <day> HH:MM [zone]`, get /trend's 7-day chart that day.

Like the daily digest, each chat's chart for a local date is claimed in the store before it is
sent, so a restart never sends it twice; one missed during downtime is sent when the bot is back
the same local day. A subscription made after this week's time starts next week.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from .chart import atrend
from .digest import chat_language
from .jobs import Job, Wait, run_job, wait_or_stop
from .reply import Block, Reply, label
from .ruleset import RuleSet
from .store import Store, iso, utcnow
from .timing import due_at, local_date_of, parse_hhmm, parse_ts, resolve_zone

log = logging.getLogger("gatebot.weekly")

SEND_TIMEOUT = 60.0
_DAYS = {
    "mon": 0, "monday": 0, "周一": 0, "星期一": 0, "tue": 1, "tuesday": 1, "周二": 1, "星期二": 1,
    "wed": 2, "wednesday": 2, "周三": 2, "星期三": 2, "thu": 3, "thursday": 3, "周四": 3, "星期四": 3,
    "fri": 4, "friday": 4, "周五": 4, "星期五": 4, "sat": 5, "saturday": 5, "周六": 5, "星期六": 5,
    "sun": 6, "sunday": 6, "周日": 6, "星期日": 6, "周天": 6, "星期天": 6,
}


class Service(Protocol):
    rules: RuleSet
    store: Store
    admins: frozenset[str]
    default_tz: str

    def clock(self) -> datetime: ...


def parse_day(value: str) -> int | None:
    return _DAYS.get(value.strip().lower())


def next_weekly(sub: Mapping[str, Any], now: datetime) -> datetime | None:
    hhmm, zone = parse_hhmm(sub.get("time") or ""), resolve_zone(sub.get("tz") or "")
    if hhmm is None or zone is None:
        return None
    updated = parse_ts(sub.get("updated_at")) or now
    today = local_date_of(now, zone)
    for offset in range(15):
        day = today + timedelta(days=offset)
        if day.weekday() == sub.get("day"):
            due = due_at(day, hhmm, zone)
            if due >= now and due >= updated:
                return due
    return None


def _fmt(ts: datetime | None, zone) -> str:
    return ts.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if ts else "—"


def _reply(lang: str, text: str, kind: str = "status", user_text: bool = False) -> Reply:
    return Reply(kind=kind, lang=lang, blocks=[Block(kind="text", text=text, user_text=user_text)])


def weekly_command(service: Service, platform: str, chat_id: str, args: str, lang: str) -> Reply:
    """/digest weekly <day> HH:MM [zone] · /digest weekly off · /digest weekly (status)"""
    store = service.store
    parts = args.split()
    if not parts:
        sub = store.weekly(platform, chat_id)
        if sub and sub["enabled"]:
            return _reply(lang, label("weekly_status_on", lang, day=label(f"day_{sub['day']}", lang), time=sub["time"],
                                      tz=sub["tz"]))
        return _reply(lang, label("weekly_status_off", lang))
    if parts == ["off"]:
        if store.weekly(platform, chat_id):
            store.set_weekly(platform, chat_id, enabled=0)
        return _reply(lang, label("weekly_off", lang))
    if len(parts) not in (2, 3):
        return _reply(lang, label("weekly_usage", lang), "error")
    day = parse_day(parts[0])
    if day is None:
        return _reply(lang, label("weekly_bad_day", lang, value=parts[0][:20]), "error", True)
    hhmm = parse_hhmm(parts[1])
    if hhmm is None:
        return _reply(lang, label("bad_time", lang, value=parts[1][:20]), "error", True)
    zone_name = parts[2] if len(parts) == 3 else (service.default_tz or "UTC")
    zone = resolve_zone(zone_name)
    if zone is None:
        return _reply(lang, label("bad_zone", lang, value=zone_name[:60]), "error", True)
    time_text = f"{hhmm[0]:02d}:{hhmm[1]:02d}"
    sub = store.set_weekly(platform, chat_id, enabled=1, day=day, time=time_text, tz=zone.key)
    return _reply(lang, label("weekly_on", lang, day=label(f"day_{day}", lang), time=time_text, tz=zone.key,
                              next=_fmt(next_weekly(sub, service.clock()), zone)))


def due_weekly(store: Store, now: datetime) -> list[tuple[str, str, str, str]]:
    """(platform, chat_id, local_date, tz) of every weekly chart due now and not yet claimed."""
    out = []
    for sub in store.enabled_weekly():
        hhmm, zone = parse_hhmm(sub.get("time") or ""), resolve_zone(sub.get("tz") or "")
        if hhmm is None or zone is None:
            continue
        today = local_date_of(now, zone)
        if today.weekday() != sub.get("day"):
            continue
        due = due_at(today, hhmm, zone)
        if now < due or (sub.get("updated_at") and iso(due) < sub["updated_at"]):
            continue
        out.append((sub["platform"], sub["chat_id"], today.isoformat(), zone.key))
    return out


async def weekly_tick(service: Service, senders: Mapping[str, Any], run_id: str, now: datetime | None = None) -> list[tuple[str, str, str, str]]:
    """Send every weekly chart due now; (platform, chat_id, local_date, outcome) per chart."""
    store = service.store
    now = now or service.clock()
    done = []
    for platform, chat_id, local_date, tz in due_weekly(store, now):
        sender = senders.get(platform)
        if sender is None or not store.claim_weekly(platform, chat_id, local_date, run_id):
            continue
        try:
            # Counted off the loop, drawn in the chart worker; a chart that could not be made is
            # one line saying why, sent in its place.
            reply = await atrend(service.store, service.rules, platform, chat_id, 7, now, tz,
                                 chat_language(service, platform, chat_id))
            await asyncio.wait_for(sender.send(chat_id, reply), SEND_TIMEOUT)
            if reply.kind == "error":
                store.finish_weekly(platform, chat_id, local_date, ok=False, error=reply.plain()[:200])
                done.append((platform, chat_id, local_date, "failed"))
                continue
        except Exception as exc:  # noqa: BLE001 - one chat's failure is logged; the week is not resent
            log.warning("weekly chart to %s:%s failed: %s", platform, chat_id, type(exc).__name__)
            store.finish_weekly(platform, chat_id, local_date, ok=False, error=f"{type(exc).__name__}: {exc}")
            done.append((platform, chat_id, local_date, "failed"))
            continue
        store.finish_weekly(platform, chat_id, local_date, ok=True)
        done.append((platform, chat_id, local_date, "sent"))
    return done


async def run_weekly(service: Service, senders: Mapping[str, Any], stop: asyncio.Event, tick_seconds: float = 60.0,
                     clock: Callable[[], datetime] | None = None, wait: Wait = wait_or_stop) -> None:
    """The weekly-chart job: tick until `stop` is set; a failing tick is logged, never fatal."""
    run_id = uuid.uuid4().hex
    now_of: Callable[[], datetime] = clock or getattr(service, "clock", None) or utcnow

    async def tick() -> None:
        await weekly_tick(service, senders, run_id, now_of())

    await run_job(Job("weekly charts", tick, tick_seconds), stop, wait=wait)
