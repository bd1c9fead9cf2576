"""APScheduler wiring only: one job per enabled source, on its cron or interval schedule.

It decides *when*; `pipeline.run_source` decides *what*. The poll state lives in the database, so a
restart neither re-polls everything nor skips a due poll: a source never polled runs at start, one
polled recently waits for its next turn.

Several instances may run against one database: each poll takes the source's lock
(`watcher.db.locks`) and is skipped when another instance polled the source less than `fresh_for()`
ago, so the portals see no more requests than from one instance. Jobs are coalesced, one at a time
per source, with a misfire grace. On SIGTERM the scheduler stops starting polls, gives a running
poll `STOP_GRACE` seconds to finish, then abandons it: its transaction is never committed, so the
database keeps the state from before it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

from watcher.db.models import SourceState
from watcher.pipeline.poll import run_source
from watcher.pipeline.runtime import Runtime
from watcher.pipeline.summary import local_time
from watcher.sources.base import Source, parse_interval

log = logging.getLogger("watcher.pipeline.scheduler")
TIMEZONE = "Europe/Paris"
# Seconds a running poll may take to finish after SIGTERM before it is abandoned.
STOP_GRACE = 8.0


class RunningPolls:
    """The polls running in this process, so that a shutdown can wait for them, a little."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._names: list[str] = []

    @contextmanager
    def running(self, name: str) -> Iterator[None]:
        """Mark source `name` as being polled for the duration of the block."""
        with self._changed:
            self._names.append(name)
        try:
            yield
        finally:
            with self._changed:
                self._names.remove(name)
                self._changed.notify_all()

    def wait_idle(self, timeout: float) -> list[str]:
        """Wait until no poll runs, at most `timeout` seconds; the sources still being polled."""
        with self._changed:
            self._changed.wait_for(lambda: not self._names, timeout=timeout)
            return list(self._names)


POLLS = RunningPolls()


def jitter_for(seconds: int) -> int:
    """Random delay added to each fire of an interval: a tenth of it, one minute at most."""
    return min(60, seconds // 10)


def trigger_for(schedule: str, jitter: int | None = None) -> BaseTrigger:
    """An APScheduler trigger for `30m`/`6h` intervals or five-field cron expressions."""
    seconds = parse_interval(schedule)
    if seconds is not None:
        return IntervalTrigger(seconds=seconds, jitter=jitter or jitter_for(seconds))
    return CronTrigger.from_crontab(schedule, timezone=TIMEZONE)


def first_run(schedule: str, last_polled: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """When a source should first run after a (re)start: now if never polled or overdue."""
    if last_polled is None or last_polled > now:  # never, or dated by a clock that jumped
        return now
    seconds = parse_interval(schedule)
    if seconds is not None:
        return max(now, last_polled + dt.timedelta(seconds=seconds))
    trigger = CronTrigger.from_crontab(schedule, timezone=TIMEZONE)
    due = trigger.get_next_fire_time(None, last_polled)
    return now if due is None or due <= now else due


def fresh_for(schedule: str, now: dt.datetime) -> dt.timedelta:
    """How long after any instance's poll a scheduled poll of the same source is skipped.

    A little less than the shortest gap between two fires of the schedule (less the jitter and
    half a minute of clock slack, never less than half the gap): one instance alone is never
    skipped, and a second instance firing within the same period finds the source fresh.
    """
    seconds = parse_interval(schedule)
    jitter = 0
    if seconds is not None:
        gap = float(seconds)
        jitter = jitter_for(seconds)
    else:
        trigger = CronTrigger.from_crontab(schedule, timezone=TIMEZONE)
        fires: list[dt.datetime] = []
        previous: dt.datetime | None = None
        moment = now
        for _ in range(12):
            fire = trigger.get_next_fire_time(previous, moment)
            if fire is None:
                break
            fires.append(fire)
            previous, moment = fire, fire + dt.timedelta(seconds=1)
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(fires)]
        gap = min(gaps) if gaps else 86400.0
    return dt.timedelta(seconds=max(gap - jitter - 30, gap / 2))


def build_scheduler(runtime: Runtime, sources: Sequence[Source]) -> BackgroundScheduler:
    """A scheduler with one job per source, first runs computed from the stored poll state."""
    scheduler = BackgroundScheduler(
        timezone=TIMEZONE,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 600},
    )
    ctx = runtime.context()
    now = ctx.clock()
    with runtime.sessions() as session:
        polled = {s.name: s.last_polled_at for s in session.scalars(select(SourceState)).all()}
    for source in sources:
        start = first_run(source.config.schedule, polled.get(source.name), now)
        scheduler.add_job(
            _poll,
            trigger=trigger_for(source.config.schedule),
            args=[source, runtime],
            id=source.name,
            name=f"poll {source.name}",
            next_run_time=start,
        )
        log.info(
            "source %s: schedule %s, next poll %s",
            source.name,
            source.config.schedule,
            local_time(start),
        )

    return scheduler


def _poll(source: Source, runtime: Runtime) -> None:
    from watcher.pipeline.cycle import after_polls  # noqa: PLC0415

    ctx = runtime.context()
    # Publishing and alerts count as part of the poll: a shutdown waits for them too (a little).
    with POLLS.running(source.name):
        result = run_source(
            source, ctx, fresh_for=fresh_for(source.config.schedule, ctx.clock()), breaker=True
        )
        # Documents, reminders, feeds, alerts: each failure is logged and retried next time.
        for line in after_polls(runtime, [result]):
            log.info(line)
    # When the next poll comes, so that a person reading the log knows how long to wait (and that
    # a failed source is tried again by itself). The job's own time is not read here: asking
    # the scheduler from inside a job can deadlock it.
    upcoming = next_poll(source.config.schedule, ctx.clock())
    if upcoming is not None:
        log.info("%s: next poll %s", source.name, local_time(upcoming))


def next_poll(schedule: str, now: dt.datetime) -> dt.datetime | None:
    """When a schedule fires next after `now` (an interval: `now` plus the interval)."""
    seconds = parse_interval(schedule)
    if seconds is not None:
        return now + dt.timedelta(seconds=seconds)
    fire: dt.datetime | None = CronTrigger.from_crontab(
        schedule, timezone=TIMEZONE
    ).get_next_fire_time(None, now)
    return fire


def run_forever(runtime: Runtime, sources: Sequence[Source]) -> None:
    """Run the scheduler in the foreground until SIGTERM or Ctrl-C."""
    scheduler = build_scheduler(runtime, sources)
    stop = threading.Event()

    def _stop(*_args: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    scheduler.start()
    log.info("scheduler running with %d sources; stop with Ctrl-C", len(sources))
    stop.wait()
    if not stop_scheduler(scheduler):
        abandon()


def stop_scheduler(scheduler: BackgroundScheduler, grace: float = STOP_GRACE) -> bool:
    """Start no more polls and give the running ones `grace` seconds; True when none is left."""
    scheduler.shutdown(wait=False)
    left = POLLS.wait_idle(grace)
    if left:
        log.warning(
            "stopping: abandoning the poll of %s; its uncommitted work is rolled back",
            ", ".join(left),
        )
    return not left


def abandon() -> None:
    """Exit 0 now, without waiting for the abandoned poll's thread: its transaction is rolled back
    by the database when the connection goes, and its lock is released the same way."""
    logging.shutdown()
    os._exit(0)
