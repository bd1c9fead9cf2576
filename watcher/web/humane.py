"""Words for what pages would otherwise show raw: schedules ("every 6 hours", "every day at
07:00") instead of `6h` or `0 7 * * *`, and times with their zone ("03/12/2026 14:00 CET").

Pure functions of their arguments, in French and English (issue 19).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from watcher.core.normalize import PARIS
from watcher.sources.base import parse_interval

_UNIT_WORDS = {
    "fr": {86400: ("jour", "jours"), 3600: ("heure", "heures"), 60: ("minute", "minutes")},
    "en": {86400: ("day", "days"), 3600: ("hour", "hours"), 60: ("minute", "minutes")},
}
_DAYS = {
    "fr": ["dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"],
    "en": ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
}
_NUMBER = re.compile(r"^\d+$")
_HOURS = re.compile(r"^\d+(,\d+)+$")
_TIMES_A_DAY = {
    "fr": {2: "deux fois par jour", 3: "trois fois par jour", 4: "quatre fois par jour"},
    "en": {2: "twice a day", 3: "three times a day", 4: "four times a day"},
}


def _times_a_day(minute: int, hours: list[int], lang: str) -> str:
    """`0 8,14,20 * * *` → "trois fois par jour, à 8 h, 14 h et 20 h (heure de Paris)"."""
    count = len(hours)
    if lang == "fr":
        times = [f"{h} h" + (f" {minute:02d}" if minute else "") for h in hours]
        words = _TIMES_A_DAY["fr"].get(count, f"{count} fois par jour")
        return f"{words}, à {', '.join(times[:-1])} et {times[-1]} (heure de Paris)"
    times = [f"{h:02d}:{minute:02d}" for h in hours]
    words = _TIMES_A_DAY["en"].get(count, f"{count} times a day")
    return f"{words}, at {', '.join(times[:-1])} and {times[-1]} (Paris time)"


def local(moment: Any, with_time: bool = True) -> str:
    """`26/11/2026 15:40 CET` in Paris time, with the zone; dates as they are."""
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(PARIS)
        return str(moment.strftime("%d/%m/%Y %H:%M %Z" if with_time else "%d/%m/%Y"))
    return str(moment.strftime("%d/%m/%Y"))


def _every(seconds: int, lang: str) -> str | None:
    for unit, (one, many) in _UNIT_WORDS[lang].items():
        if seconds % unit == 0:
            count = seconds // unit
            if lang == "fr":
                word = "toutes les" if unit != 86400 else "tous les"
                if count == 1:
                    return {86400: "tous les jours", 3600: "toutes les heures"}.get(
                        unit, "toutes les minutes"
                    )
                return f"{word} {count} {many}"
            return f"every {one}" if count == 1 else f"every {count} {many}"
    return None


def _fire_day(schedule: str) -> int:
    from apscheduler.triggers.cron import CronTrigger  # noqa: PLC0415 - heavy, only here

    trigger = CronTrigger.from_crontab(schedule, timezone="Europe/Paris")
    fire = trigger.get_next_fire_time(None, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    return fire.isoweekday() % 7 if fire else 0


def human_schedule(schedule: str | None, lang: str = "fr") -> str:
    """`6h` → "toutes les 6 heures" / "every 6 hours"; `0 7 * * *` → "tous les jours à 07:00
    (heure de Paris)"; an unusual cron expression is shown as it is, marked as cron."""
    if not schedule:
        return "—"
    lang = lang if lang in _DAYS else "fr"
    seconds = parse_interval(schedule)
    if seconds is not None:
        return _every(seconds, lang) or schedule
    fields = schedule.split()
    zone = "heure de Paris" if lang == "fr" else "Paris time"
    if len(fields) == 5 and fields[2] == "*" and fields[3] == "*":
        minute, hour, _dom, _month, weekday = fields
        if _NUMBER.match(minute) and _HOURS.match(hour) and weekday == "*":
            hours = sorted({int(h) for h in hour.split(",")})
            if all(h < 24 for h in hours) and len(hours) > 1:
                return _times_a_day(int(minute), hours, lang)
        if _NUMBER.match(minute) and _NUMBER.match(hour):
            at = f"{int(hour):02d}:{int(minute):02d}"
            if weekday == "*":
                day = "tous les jours" if lang == "fr" else "every day"
                return f"{day} {'à' if lang == 'fr' else 'at'} {at} ({zone})"
            if _NUMBER.match(weekday) and int(weekday) <= 7:
                # The day the scheduler really fires on (APScheduler reads crontab's weekday
                # numbers its own way), not what the number means elsewhere.
                name = _DAYS[lang][_fire_day(schedule)]
                if lang == "fr":
                    return f"chaque {name} à {at} ({zone})"
                return f"every {name} at {at} ({zone})"
        if _NUMBER.match(minute) and hour.startswith("*/") and _NUMBER.match(hour[2:]):
            every = _every(int(hour[2:]) * 3600, lang)
            if weekday == "*" and every:
                past = f"à la minute {int(minute)}" if lang == "fr" else f"at minute {int(minute)}"
                return f"{every}, {past}"
    return f"cron : {schedule}" if lang == "fr" else f"cron: {schedule}"
