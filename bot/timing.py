"""Local times for digests: HH:MM in an IANA zone, and the UTC moment each local day's digest is due.

A subscription says HH:MM in a zone. For each local date D its due moment is D at HH:MM in that
zone, resolved with fold=0: a time that does not exist (spring forward) lands just after the gap,
a time that happens twice (fall back) is taken at its first occurrence. Every local date thus has
exactly one due moment, so no day is skipped or doubled.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any

_HHMM = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")


def parse_hhmm(value: str) -> tuple[int, int] | None:
    match = _HHMM.match((value or "").strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


@lru_cache(maxsize=4096)
def resolve_zone(name: str) -> zoneinfo.ZoneInfo | None:
    """An IANA zone by name (case-insensitive), or None."""
    name = (name or "").strip()
    if not name or len(name) > 64 or not re.fullmatch(r"[A-Za-z0-9_+\-/]+", name):
        return None
    canonical = _zone_names().get(name.lower())
    if canonical is None:
        return None
    try:
        return zoneinfo.ZoneInfo(canonical)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def due_at(local_date: date, hhmm: tuple[int, int], zone: zoneinfo.ZoneInfo) -> datetime:
    """The UTC moment of HH:MM on a local date (fold=0: first occurrence; a gap time moves past the gap)."""
    local = datetime.combine(local_date, time(hhmm[0], hhmm[1]), tzinfo=zone)
    return local.astimezone(timezone.utc)


def local_date_of(now: datetime, zone: zoneinfo.ZoneInfo) -> date:
    return now.astimezone(zone).date()


def parse_ts(value: str | None) -> datetime | None:
    if not value:
        return None
    ts = datetime.fromisoformat(value)
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def next_due(sub: Mapping[str, Any], now: datetime) -> datetime | None:
    """When the subscription's next digest is due (UTC), for status replies."""
    hhmm, zone = parse_hhmm(sub.get("time") or ""), resolve_zone(sub.get("tz") or "")
    if hhmm is None or zone is None:
        return None
    updated = parse_ts(sub.get("updated_at")) or now
    day = local_date_of(now, zone)
    for offset in range(3):  # bounded: today, tomorrow or the day after
        due = due_at(day + timedelta(days=offset), hhmm, zone)
        if due >= now and due >= updated:
            return due
    return None
