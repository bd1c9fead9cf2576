"""Pure: deadlines as the portals mean them (issue 13; issue 12, point 3).

A portal writes a deadline as a date alone (`2026-07-13`, TED's `2026-07-13+02:00`), as a
wall-clock time in its own zone (`2026-02-27T12:00:00`, Paris time on BOAMP), or with an offset
(`2026-02-16T12:00:00.000+01:00`). `read()` keeps both what orders notices, the exact UTC instant,
and what a reader is shown: the portal's own date, or its wall-clock time and the zone it is
written in. `shown()` prints it the way the portal's page does: `13/07/2026` for a date alone (not
`13/07/2026 00:00`), `16/02/2026 12:00` for Paris time, `13/06/2024 12:00 (Europe/London)`
elsewhere. No clock, no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from watcher.core import doubts

PARIS_ZONE = "Europe/Paris"
_ISO = re.compile(
    r"^(\d{4}-\d{2}-\d{2})"  # the date
    r"(?:[T ](\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?)?"  # a wall-clock time, seconds dropped
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"  # an offset
)


@dataclass(frozen=True, slots=True)
class Deadline:
    """A deadline: `utc` orders notices, `local` and `zone` say what the portal wrote."""

    utc: dt.datetime
    local: str  # `2026-02-16T12:00` or `2026-02-16` (a date alone)
    zone: str  # `Europe/Paris`, `Europe/London`, `UTC`, `UTC+01:00`

    @property
    def date_only(self) -> bool:
        """Whether the portal gave a date without a time."""
        return "T" not in self.local


def _offset(text: str) -> dt.timezone:
    if text == "Z":
        return dt.UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _zone_name(offset: dt.timezone, when: dt.datetime, hint: str) -> str:
    """The hinted zone when its offset at that moment is the one written, else `UTC+01:00`."""
    local = when.replace(tzinfo=ZoneInfo(hint))
    if local.utcoffset() == offset.utcoffset(None):
        return hint
    delta = offset.utcoffset(None)
    if not delta:
        return "UTC"
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def read(value: Any, zone: str = PARIS_ZONE, *, ignore_offset: bool = False) -> Deadline | None:
    """A portal's deadline text (ISO date or datetime, with or without offset) as a `Deadline`.

    Naive values are wall-clock times in `zone`, the portal's zone. `ignore_offset` reads the
    time as wall-clock time whatever offset follows it: BOAMP labels Paris times `+00:00`."""
    if not isinstance(value, str):
        return None
    found = _read(value.strip(), zone, ignore_offset)
    if found is _OUT_OF_RANGE:
        doubts.unreadable_date(value)
        return None
    return found


# What `_read` answers for a date that no calendar moves across midnight UTC (year 1 or 9999).
_OUT_OF_RANGE = Deadline(dt.datetime.min.replace(tzinfo=dt.UTC), "", "")


@lru_cache(maxsize=4096)
def _read(value: str, zone: str, ignore_offset: bool) -> Deadline | None:
    # Cached (issue 29): an eForms notice repeats its deadline in every lot, and a poll reads
    # thousands of them; reading one costs tens of microseconds (zones, offsets, strftime).
    match = _ISO.match(value)
    if not match:
        return None
    day_text, clock, offset_text = match.groups()
    try:
        day = dt.date.fromisoformat(day_text)
        hour, minute = (int(x) for x in clock.split(":")) if clock else (0, 0)
        naive = dt.datetime(day.year, day.month, day.day, hour, minute)
    except ValueError:
        return None
    local = naive.strftime("%Y-%m-%dT%H:%M") if clock else day.isoformat()
    try:
        if offset_text and not ignore_offset:
            offset = _offset(offset_text)
            return Deadline(
                naive.replace(tzinfo=offset).astimezone(dt.UTC),
                local,
                _zone_name(offset, naive, zone),
            )
        return Deadline(naive.replace(tzinfo=ZoneInfo(zone)).astimezone(dt.UTC), local, zone)
    except (OverflowError, ValueError):  # year 1 or 9999 moved across midnight UTC
        return _OUT_OF_RANGE


def from_instant(utc: dt.datetime, zone: str = PARIS_ZONE, *, date_only: bool = False) -> Deadline:
    """A `Deadline` from an exact instant, shown in `zone` (what older notices are shown as)."""
    local = utc.astimezone(ZoneInfo(zone))
    text = local.date().isoformat() if date_only else local.strftime("%Y-%m-%dT%H:%M")
    return Deadline(utc.astimezone(dt.UTC), text, zone)


def shown(local: str | None, zone: str | None, *, with_time: bool = True) -> str | None:
    """`16/02/2026 12:00`, `13/07/2026` (a date alone), `13/06/2024 12:00 (Europe/London)`."""
    if not local:
        return None
    day = dt.date.fromisoformat(local[:10]).strftime("%d/%m/%Y")
    if "T" not in local or not with_time:
        return day
    text = f"{day} {local[11:16]}"
    return text if zone in (None, PARIS_ZONE) else f"{text} ({zone})"


def shown_for(
    utc: dt.datetime | None, local: str | None = None, zone: str | None = None
) -> str | None:
    """What a reader is shown of a stored deadline: the portal's text when it is known, else the
    instant in Paris time (notices stored before the portal's own text was kept)."""
    if local:
        return shown(local, zone)
    if utc is None:
        return None
    found = from_instant(utc)
    return shown(found.local, found.zone)
