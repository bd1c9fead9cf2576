"""The circuit breaker: a source that keeps failing rests, then recovers by itself.

After `THRESHOLD` consecutive failures a source is not asked again until a rest has passed: 15
minutes, doubling with each further failure, at most a day. The first poll after the rest is a
normal poll: a success closes the breaker (the failure count goes back to zero), another failure
doubles the rest. A failure dated in the future (a clock that jumped forward, then back) never
makes a source rest longer than its rest from now. Pure: the time is passed in.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from watcher.core.normalize import PARIS

THRESHOLD = 3
FIRST_REST = dt.timedelta(minutes=15)
LONGEST_REST = dt.timedelta(days=1)


class _State(Protocol):
    consecutive_failures: int
    last_error_at: dt.datetime | None


def rest_after(failures: int) -> dt.timedelta | None:
    """How long a source rests after `failures` failures in a row (None below the threshold)."""
    if failures < THRESHOLD:
        return None
    doublings = min(failures - THRESHOLD, 10)  # 15 min × 2¹⁰ is already past a day
    rest: dt.timedelta = FIRST_REST * (1 << doublings)
    return min(rest, LONGEST_REST)


def resting_until(state: _State, now: dt.datetime) -> dt.datetime | None:
    """When the source's rest ends, while it rests at `now`; else None."""
    rest = rest_after(state.consecutive_failures)
    if rest is None or state.last_error_at is None:
        return None
    until = state.last_error_at + rest
    if now >= until or until - now > rest:
        # The last failure is dated in the future: the clock jumped forward, then back (issue
        # 26). A rest never lasts longer than `rest` from now: poll, and date the next failure.
        return None
    return until


def breaker_open(state: _State, now: dt.datetime) -> str | None:
    """Why the source rests now, or None when it may be polled."""
    until = resting_until(state, now)
    if until is None:
        return None
    return (
        f"failed {state.consecutive_failures} times in a row; resting until "
        f"{until.astimezone(PARIS):%d/%m/%Y %H:%M %Z} (use --force to try now)"
    )
