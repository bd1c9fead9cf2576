"""`deadlines.ics`: an iCalendar (RFC 5545) with one event per open deadline of a relevant notice.

Each notice keeps one UID for life, so a calendar that subscribed to the file moves the event when
the deadline moves instead of adding a second one: SEQUENCE counts the deadline moves and
LAST-MODIFIED is the time of the last one. Pure: rows in, bytes out; `now` is passed in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import icalendar

from watcher.core.deadlines import PARIS_ZONE, shown
from watcher.core.normalize import format_deadline
from watcher.publish.entries import site_name

CALENDAR_NAME = "Dates limites — marchés de la rétention et de l'expulsion"
_END = b"END:VCALENDAR"


@dataclass(frozen=True, slots=True)
class Deadline:
    """One open deadline of one notice, with its history of moves."""

    source: str
    native_id: str
    title: str
    buyer: str | None
    url: str | None
    deadline: dt.datetime
    site: str | None
    moves: int
    last_modified: dt.datetime
    previous: str | None = None
    # What the portal wrote (issue 12, point 3): a date alone, or a wall-clock time and its zone.
    local: str | None = None
    zone: str | None = None


def uid(item: Deadline, base_url: str) -> str:
    """The notice's calendar identity: the same for every version of the notice."""
    host = urlsplit(base_url).hostname or "localhost"
    return f"{item.source}/{item.native_id}@{host}"


def _shown(item: Deadline) -> str:
    """`16/02/2026 12:00 (heure de Paris)`, `13/07/2026` (a date alone), or another zone's time."""
    text = shown(item.local, item.zone) or ""
    if item.zone in (None, PARIS_ZONE) and "T" in (item.local or ""):
        text += " (heure de Paris)"
    return text


def _description(item: Deadline) -> str:
    lines = []
    if item.buyer:
        lines.append(f"Acheteur : {item.buyer}")
    if item.local:
        lines.append(f"Date limite : {_shown(item)}")
    else:
        when = format_deadline(item.deadline, with_time=True)
        lines.append(f"Date limite : {when} (heure de Paris)")
    if item.previous:
        new = shown(item.local, item.zone, with_time=False) or format_deadline(item.deadline)
        lines.append(f"Date limite modifiée : {item.previous} → {new}")
    if item.site:
        lines.append(f"Site : {site_name(item.site)}")  # its name, not its slug
    lines.append(f"Source : {item.source} ({item.native_id})")
    if item.url:
        lines.append(item.url)
    return "\n".join(lines)


@lru_cache(maxsize=4096)
def vevent(item: Deadline, base_url: str) -> bytes:
    """One VEVENT, serialised (icalendar takes most of a millisecond per event: a long-running
    server or scheduler serialises each version of a deadline once)."""
    event = icalendar.Event()
    event.add("uid", uid(item, base_url))
    event.add("summary", f"Date limite : {item.title}")
    event.add("dtstart", item.deadline.astimezone(dt.UTC))
    # DTSTAMP is the last revision of the event (a published calendar, RFC 5545 §3.8.7.2); the same
    # data always gives the same bytes, so ETags stay valid.
    event.add("dtstamp", item.last_modified.astimezone(dt.UTC))
    event.add("last-modified", item.last_modified.astimezone(dt.UTC))
    event.add("sequence", item.moves)
    event.add("description", _description(item))
    if item.url:
        event.add("url", item.url)
    event.add("categories", [c for c in ("date-limite", item.site, item.source) if c])
    serialised: bytes = event.to_ical()
    return serialised


def build_calendar(items: Iterable[Deadline], base_url: str) -> bytes:
    """The calendar of `items` (already filtered to open deadlines, in a stable order)."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//detention-watcher//deadlines//FR")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("name", CALENDAR_NAME)
    cal.add("x-wr-calname", CALENDAR_NAME)
    cal.add("url", f"{base_url}/feeds/deadlines.ics")
    cal.add("refresh-interval", dt.timedelta(hours=1), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")
    empty: bytes = cal.to_ical()
    at = empty.rindex(_END)
    return b"".join([empty[:at], *(vevent(item, base_url) for item in items), empty[at:]])
