"""One poll of one source: fetch → parse → normalize → match → diff → store, in one transaction.

A failing source is caught here, recorded on its poll state (`last_error`, `consecutive_failures`)
and never stops the other sources. Nothing from a failed poll is stored: a version is written only
from a successful, complete fetch.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from watcher.core.bounds import NoticeCaps, cap_notice
from watcher.db import limits
from watcher.db.locks import source_lock
from watcher.db.models import PollRun, SourceState
from watcher.db.search import fill_deferred
from watcher.db.session import session_scope
from watcher.db.store import PollStore
from watcher.errors import WatcherError
from watcher.match.matcher import Matcher
from watcher.pipeline import unreadable
from watcher.pipeline.breaker import breaker_open
from watcher.pipeline.clock import utcnow as utcnow
from watcher.pipeline.validators import load_validators, save_validators
from watcher.records import NoticeRecord, PollWindow, RawPage, RawRecord, RunResult, Unreadable
from watcher.settings import Settings
from watcher.sources import netguard
from watcher.sources.base import Source
from watcher.sources.http import RETRY_STATUSES, Fetcher, build_client

log = logging.getLogger("watcher.pipeline.poll")


@dataclass
class Context:
    """What a poll needs besides the source: settings, database, matcher, clock, HTTP transport."""

    settings: Settings
    sessions: sessionmaker[Session]
    matcher: Matcher
    clock: Callable[[], dt.datetime] = utcnow
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = field(default=time.sleep)


def source_state(session: Session, source: Source) -> SourceState:
    """The poll state row of a source, created on first use."""
    state = session.scalar(select(SourceState).where(SourceState.name == source.name))
    if state is None:
        state = SourceState(name=source.name, kind=source.kind, consecutive_failures=0)
        session.add(state)
        session.flush()
    state.kind = source.kind
    return state


def make_fetcher(source: Source, ctx: Context, client: httpx.Client) -> Fetcher:
    """The polite, retrying fetcher for one source."""
    statuses = getattr(source, "retry_statuses", None) or RETRY_STATUSES
    return Fetcher(
        client,
        min_interval=source.interval(),
        retries=ctx.settings.http_retries,
        backoff=ctx.settings.http_backoff,
        retry_statuses=statuses,
        sleep=ctx.sleep,
        deadline=ctx.settings.http_deadline,
        poll_deadline=ctx.settings.poll_deadline,
    )


def run_source(
    source: Source,
    ctx: Context,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    fresh_for: dt.timedelta | None = None,
    breaker: bool = False,
    announce: bool = True,
) -> RunResult:
    """Poll one source; never raises for a portal or parse failure (it is recorded instead).

    The poll holds the source's lock (`watcher.db.locks`): while another thread, process or machine
    holds it, nothing is fetched and the result is `skipped`. With `fresh_for` (the scheduler's
    polls), a source that any instance polled less than `fresh_for` ago is skipped as well, so
    several instances over one database ask a portal no more often than one. With `until`, only
    the window `since`..`until` is fetched (a backfill) and the poll state is left as it was.
    With `announce=False` (a backfill) notices are stored without events.
    With `breaker` (scheduled polls and `run --once`), a source that failed several times in a row
    rests for a while (`watcher.pipeline.breaker`) instead of being asked again at every turn.
    """
    with source_lock(_engine(ctx), source.name) as held:
        if not held:
            return _skip(source, "another poll of this source is running")
        if fresh_for is not None:
            with ctx.sessions() as session:
                polled = session.scalar(
                    select(SourceState.last_polled_at).where(SourceState.name == source.name)
                )
            # A poll dated in the future (a clock that jumped forward, then back) is not fresh.
            if polled is not None and dt.timedelta(0) <= ctx.clock() - polled < fresh_for:
                return _skip(source, f"polled at {polled:%Y-%m-%d %H:%M:%S} UTC already")
        if breaker:
            with ctx.sessions() as session:
                state = session.scalar(select(SourceState).where(SourceState.name == source.name))
                resting = breaker_open(state, ctx.clock()) if state else None
            if resting is not None:
                return _skip(source, resting)
        return _poll(source, ctx, since=since, until=until, announce=announce)


def _engine(ctx: Context) -> Engine:
    engine: Engine = ctx.sessions.kw["bind"]
    return engine


def _skip(source: Source, why: str) -> RunResult:
    result = RunResult(source=source.name, skipped=why)
    log.info(result.summary(), extra={"poll": asdict(result)})
    return result


def _poll(
    source: Source,
    ctx: Context,
    *,
    since: dt.datetime | None,
    until: dt.datetime | None,
    announce: bool = True,
) -> RunResult:
    started = ctx.clock()
    clock_start = time.monotonic()
    result = RunResult(source=source.name)
    backfill = until is not None
    with session_scope(ctx.sessions) as session:
        state = source_state(session, source)
        state_id = state.id
        last = state.last_success_at
        if last is not None and last > started:  # dated by a clock that jumped: ask from now
            last = started
        window = PollWindow(now=until or started, since=since or last)
    guard = netguard.for_source(source.config, ctx.transport, source.config.proxy)
    try:
        with (
            build_client(
                ctx.settings, ctx.transport, proxy=source.config.proxy, guard=guard
            ) as client,
            session_scope(ctx.sessions) as session,
        ):
            fetcher = make_fetcher(source, ctx, client)
            fetcher.validators = load_validators(session, state_id)
            state = session.get_one(SourceState, state_id)
            caps = notice_caps(ctx.settings)
            store = PollStore(
                session, state, ctx.matcher, started, result, announce=announce, defer_search=True
            )
            if isinstance(source, RawRecordSource):
                store.parse_raw = _capped_raw(source, caps)
            budget = PollBudget(ctx.settings)
            for page in source.fetch(fetcher, window):
                result.pages += 1
                if page.meta.get("not_modified"):
                    continue  # answered 304: nothing downloaded, nothing to parse
                records = _records(source, page, caps, budget.items_for(page))
                store.add_page(page, budget.took(records))
                if budget.spent():
                    break  # the rest is asked for again at the next poll
            store.finish()
            result.unreadable = len(store.unreadable)
            unreadable.keep(ctx.settings.data_dir, source.name, store.unreadable, started)
            result.not_modified = fetcher.validators.not_modified
            save_validators(fetcher.validators, session, state_id, started)
            state = session.get_one(SourceState, state_id)
            if not backfill:
                # Pages that answered 304 hold notices that were not counted: no warning then.
                unread = result.not_modified > 0
                result.flagged = None if unread else _flag(state.last_count, result.fetched)
                result.flagged = budget.cut or result.flagged
                state.last_polled_at = started
                if not budget.cut:  # a poll cut short asks the same window again next time
                    state.last_success_at = started
                state.last_error = None
                state.consecutive_failures = 0
                state.flagged = result.flagged
                if not (result.flagged or unread):
                    state.last_count = result.fetched
            result.seconds = time.monotonic() - clock_start
            session.add(_run_row(state_id, started, ctx.clock(), result))
    except Exception as exc:
        result.ok = False
        result.rolled_back()
        result.error = str(exc) if isinstance(exc, WatcherError) else f"{type(exc).__name__}: {exc}"
        result.seconds = time.monotonic() - clock_start
        if not isinstance(exc, WatcherError):
            log.debug("unexpected error in source %s", source.name, exc_info=True)
        _record_failure(ctx, state_id, started, result, backfill=backfill)
    limits.record_refusals(ctx.sessions, guard, ctx.clock())
    log.info(result.summary(), extra={"poll": asdict(result)})
    return result


@runtime_checkable
class RawRecordSource(Protocol):
    """A source that can hand over a page's records unparsed (`RawRecord`s: id, date, raw
    payload), so that a poll parses only the records whose hash changed (`boamp`)."""

    def raw_records(self, page: RawPage) -> Iterator[RawRecord | Unreadable]:
        """The page's records, cheaply: without reading what only parsing needs."""

    def parse_raw(self, raw: RawRecord) -> NoticeRecord | Unreadable | None:
        """The notice of one raw record, the same `parse()` gives."""


def _records(
    source: Source, page: RawPage, caps: NoticeCaps, most: int
) -> list[NoticeRecord | RawRecord | Unreadable]:
    """The records of a page, at most `most` + 1 of them (one more tells a cut)."""
    if isinstance(source, RawRecordSource):
        return list(itertools.islice(source.raw_records(page), most + 1))
    found = itertools.islice(source.parse(page), most + 1)
    return [cap_notice(r, caps) if isinstance(r, NoticeRecord) else r for r in found]


@dataclass
class PollBudget:
    """Per-poll caps (issue 26): at most `WATCHER_POLL_MAX_ITEMS` records in all and
    `WATCHER_PAGE_MAX_ITEMS` of one page (a 40 MB list of 100,000 items), and pages of at most
    `WATCHER_POLL_MAX_BYTES` bytes in all. What is beyond is left for the next poll, which asks
    the same window again; `cut` says what was cut (the poll's warning)."""

    settings: Settings
    items: int = 0
    size: int = 0
    cut: str | None = None
    _most: int = 0

    def items_for(self, page: RawPage) -> int:
        """How many records of `page` may be taken."""
        self.size += len(page.content)
        left = self.settings.poll_max_items - self.items
        self._most = max(0, min(left, self.settings.page_max_items))
        return self._most

    def took(self, records: list[Any]) -> list[Any]:
        """`records` within the page's share, noting a cut."""
        if len(records) > self._most:
            records = records[: self._most]
            if self.items + len(records) >= self.settings.poll_max_items:
                self.cut = (
                    f"cut at {self.settings.poll_max_items} records in one poll "
                    "(WATCHER_POLL_MAX_ITEMS); the rest comes at the next polls"
                )
            else:
                self.cut = (
                    f"a page of more than {self.settings.page_max_items} records, cut "
                    "(WATCHER_PAGE_MAX_ITEMS)"
                )
        self.items += len(records)
        return records

    def spent(self) -> bool:
        """Whether the poll must stop asking for pages."""
        if self.size > self.settings.poll_max_bytes:
            self.cut = self.cut or (
                f"stopped after {self.size} bytes of pages (WATCHER_POLL_MAX_BYTES); "
                "the rest comes at the next polls"
            )
            return True
        return self.items >= self.settings.poll_max_items


def _capped_raw(
    source: RawRecordSource, caps: NoticeCaps
) -> Callable[[RawRecord], NoticeRecord | Unreadable | None]:
    def parse_raw(raw: RawRecord) -> NoticeRecord | Unreadable | None:
        found = source.parse_raw(raw)
        return cap_notice(found, caps) if isinstance(found, NoticeRecord) else found

    return parse_raw


def notice_caps(settings: Settings) -> NoticeCaps:
    """The per-notice caps of the settings (`WATCHER_NOTICE_MAX_*`)."""
    return NoticeCaps(
        winners=settings.notice_max_winners,
        lots=settings.notice_max_lots,
        text=settings.notice_max_text,
    )


def _flag(previous: int | None, fetched: int) -> str | None:
    """A warning when a source that used to answer returns nothing or far less than usual."""
    if previous and fetched == 0:
        return f"returned nothing (last time {previous} notices)"
    if previous and previous >= 20 and fetched < previous / 10:
        return f"returned {fetched} notices, far fewer than last time ({previous})"
    return None


def _run_row(state_id: int, started: dt.datetime, finished: dt.datetime, r: RunResult) -> PollRun:
    return PollRun(
        source_id=state_id,
        started_at=started,
        finished_at=finished,
        ok=r.ok,
        pages=r.pages,
        fetched=r.fetched,
        new=r.new,
        changed=r.changed,
        events=r.events,
        error=r.error,
        seconds=r.seconds,
    )


def _record_failure(
    ctx: Context, state_id: int, started: dt.datetime, result: RunResult, *, backfill: bool = False
) -> None:
    with session_scope(ctx.sessions) as session:
        state = session.get_one(SourceState, state_id)
        if not backfill:
            state.last_polled_at = started
            state.last_error = result.error
            state.last_error_at = started
            state.consecutive_failures += 1
        session.add(_run_row(state_id, started, ctx.clock(), result))


def run_sources(sources: Sequence[Source], ctx: Context) -> list[RunResult]:
    """Poll every source in turn; each failure is isolated. Then the words the polls left to
    index (PostgreSQL) are indexed: searchable once the polls return."""
    results = [run_source(source, ctx) for source in sources]
    with session_scope(ctx.sessions) as session:
        fill_deferred(session)
    return results
