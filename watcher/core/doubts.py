"""A parser's doubts noted where they arise, deep in a date or amount helper (issue 26).

`collecting()` opens a list for the record being read; `note()` adds to it from any helper
below (a date at year 1 or 9999 with an offset: "unreadable date …"), and `watcher.sources.base.
read_each` adds what was noted to the record's `flags`, shown and counted by `watcher audit`.
Outside `collecting()`, `note()` does nothing. Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from watcher.records import NoticeRecord

P = ParamSpec("P")
R = TypeVar("R")
_D = TypeVar("_D", dt.date, dt.datetime)

# A record the portal publishes as a test of its platform (DECP AIFE, issue 24): kept as
# evidence, never told as a contract, never the ground of a question (issue 28).
TEST_RECORD = "test record of the AIFE platform: not a real contract"

_OPEN: ContextVar[list[str] | None] = ContextVar("doubts", default=None)


@contextmanager
def collecting() -> Iterator[list[str]]:
    """The doubts noted inside the block, in order, each once."""
    found: list[str] = []
    token = _OPEN.set(found)
    try:
        yield found
    finally:
        _OPEN.reset(token)


def note(doubt: str) -> None:
    """Note one doubt about the record being read."""
    found = _OPEN.get()
    if found is not None and doubt not in found and len(found) < 20:
        found.append(doubt)


def unreadable_date(value: Any) -> None:
    """A date no calendar holds once moved to UTC (`0001-01-01T00:00:00+00:00`, year 9999 with
    an offset), or otherwise out of range: noted, and the date is left empty."""
    note(f"unreadable date: {str(value)[:40]}")


def in_range(read: Callable[P, R]) -> Callable[P, R | None]:
    """A date reader that answers None, with the doubt noted, for a date out of range
    (`OverflowError`: year 1 or 9999 once moved by an offset), instead of failing the record."""

    @functools.wraps(read)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return read(*args, **kwargs)
        except OverflowError:
            unreadable_date(args[0] if args else next(iter(kwargs.values()), "?"))
            return None

    return guarded


# Dates a notice can mean; outside, a portal's "no date" (`0001-01-01`, `9999-12-31`) or a typo.
FIRST_YEAR, LAST_YEAR = 1900, 2199


def plausible_dates(record: NoticeRecord) -> NoticeRecord:
    """`record` with each date outside `FIRST_YEAR`..`LAST_YEAR` left empty and noted as an
    "unreadable date" doubt in its `flags`: no later step (deadline arithmetic, linking by
    deadline day, feeds) meets a date at the edge of the calendar."""
    noted: list[str] = []

    def keep(value: _D | None) -> _D | None:
        if value is None or FIRST_YEAR <= value.year <= LAST_YEAR:
            return value
        noted.append(f"unreadable date: {value.isoformat()[:25]}")
        return None

    published, deadline = keep(record.published), keep(record.deadline)
    lots = tuple(
        lot if keep(lot.deadline) is lot.deadline else dataclasses.replace(lot, deadline=None)
        for lot in record.lots
    )
    if not noted:
        return record
    changes: dict[str, Any] = {"published": published, "deadline": deadline, "lots": lots}
    if deadline is None and record.deadline is not None:
        changes.update(deadline_local=None, deadline_zone=None)
    flags = record.flags + tuple(dict.fromkeys(n for n in noted if n not in record.flags))
    return dataclasses.replace(record, flags=flags, **changes)
