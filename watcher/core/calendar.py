"""Calendar arithmetic for the radar and the legal clock (issue 28): months added as the law adds
them, public holidays of France and of England and Wales, working days.

- `add_months(d, n)`: the day of the month `n` months later with the same number, or the last day
  of that month when it has none (31 Jan + 1 month = 28/29 Feb): code de procédure civile art. 641
  ("le jour du dernier mois qui porte le même quantième"), the reading the administrative courts
  share.
- French public holidays: code du travail L3133-1 (1 Jan, Easter Monday, 1 May, 8 May, Ascension,
  Whit Monday, 14 Jul, 15 Aug, 1 Nov, 11 Nov, 25 Dec); Alsace-Moselle's extra days are not counted.
- England and Wales bank holidays: Banking and Financial Dealings Act 1971 schedule 1 and the
  usual proclamations (New Year's Day, Good Friday, Easter Monday, first and last Monday of May,
  last Monday of August, Christmas and Boxing Day, moved to the next weekday when on a weekend).
  One-off days (jubilees, a coronation) are not counted.
"""

from __future__ import annotations

import calendar
import datetime as dt
from functools import cache

DAY = dt.timedelta(days=1)


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus `months` months, the same day number or the month's last day."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def easter(year: int) -> dt.date:
    """Western Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


@cache
def holidays(country: str, year: int) -> frozenset[dt.date]:
    """Public holidays of `country` ("FR" or "GB": England and Wales) in `year`."""
    sunday = easter(year)
    if country == "FR":
        fixed = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]
        days = {dt.date(year, m, d) for m, d in fixed}
        return frozenset(days | {sunday + DAY, sunday + 39 * DAY, sunday + 50 * DAY})
    if country == "GB":
        days = {sunday - 2 * DAY, sunday + DAY}
        may = dt.date(year, 5, 1)
        days.add(may + ((7 - may.weekday()) % 7) * DAY)  # first Monday of May
        for month in (5, 8):  # last Monday of May and of August
            last = dt.date(year, month, calendar.monthrange(year, month)[1])
            days.add(last - last.weekday() * DAY)
        new_year = dt.date(year, 1, 1)
        days.add(new_year + {5: 2, 6: 1}.get(new_year.weekday(), 0) * DAY)
        christmas = dt.date(year, 12, 25)
        if christmas.weekday() == 5:  # Saturday: Monday 27 and Tuesday 28
            days |= {dt.date(year, 12, 27), dt.date(year, 12, 28)}
        elif christmas.weekday() == 6:  # Sunday: Boxing Day Monday 26, Christmas Tuesday 27
            days |= {dt.date(year, 12, 26), dt.date(year, 12, 27)}
        elif christmas.weekday() == 4:  # Friday: Boxing Day Saturday, moved to Monday 28
            days |= {christmas, dt.date(year, 12, 28)}
        else:
            days |= {christmas, dt.date(year, 12, 26)}
        return frozenset(days)
    raise ValueError(f"no public holidays known for {country!r}")


def is_working_day(day: dt.date, country: str) -> bool:
    """Monday to Friday and not a public holiday of `country`."""
    return day.weekday() < 5 and day not in holidays(country, day.year)


def next_working_day(day: dt.date, country: str) -> dt.date:
    """`day` itself when it is a working day, else the next one."""
    while not is_working_day(day, country):
        day += DAY
    return day


def add_working_days(day: dt.date, count: int, country: str) -> dt.date:
    """The last of `count` working days beginning with `day` (a period "of 8 working days
    beginning with the day" the notice is published: `day` counts when it is a working day)."""
    found = 0
    current = day
    while True:
        if is_working_day(current, country):
            found += 1
            if found == count:
                return current
        current += DAY
