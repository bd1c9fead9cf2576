"""How complete each source's stored notices are (issue 13), for `watcher audit [--source NAME]`.

For every source (or the one named), the number of notices with no deadline (calls for tenders),
no buyer, no CPV, no département, a malformed département, an out-of-range value or a parser's
doubt, and, read from the evidence, CPV codes the portal gave that a notice lost and the portal
records kept. A maintainer sees a parser drifting after a portal changed its format.

After each round of polls, `audit_after_polls()` compares the notices a poll wrote with the
source's usual ones and opens a maintainers' alert (kind `audit`, sent by the existing
maintainers' alerts, `WATCHER_MAINTAINERS`) when a share jumps; the alert closes when a later poll
looks usual again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from watcher.core.audit import Audit, audit, jumps
from watcher.db.models import MaintainerAlert, Notice, NoticeVersion, SourceState
from watcher.db.session import session_scope
from watcher.errors import ConfigError
from watcher.pipeline.runtime import Runtime
from watcher.records import RunResult

log = logging.getLogger("watcher.core.audit")

# How many of a source's earlier notices make "the usual" after a poll (newest first).
USUAL = 2000
BATCH = 500  # snapshots read at a time


def _streamed(session: Session, query: Select[tuple[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """The snapshots `query` selects, `BATCH` rows in memory at a time (issue 29: the audit of a
    first poll of 100,000 notices held every snapshot at once, 1 GB)."""
    yield from session.scalars(query.execution_options(yield_per=BATCH))


def audit_source(session: Session, source: SourceState, *, raw: bool = True) -> Audit:
    """The audit of every stored notice of `source`; with `raw`, of their latest evidence too."""
    if not raw:
        query = select(Notice.snapshot).where(Notice.source_id == source.id)
        return audit(source.name, ((snap, None) for snap in _streamed(session, query)))
    latest = (
        select(NoticeVersion.notice_id, func.max(NoticeVersion.version).label("version"))
        .join(Notice, Notice.id == NoticeVersion.notice_id)
        .where(Notice.source_id == source.id)
        .group_by(NoticeVersion.notice_id)
        .subquery()
    )
    query = (
        select(Notice.snapshot, NoticeVersion.raw)
        .where(Notice.source_id == source.id)
        .outerjoin(latest, latest.c.notice_id == Notice.id)
        .outerjoin(
            NoticeVersion,
            (NoticeVersion.notice_id == Notice.id) & (NoticeVersion.version == latest.c.version),
        )
        .execution_options(yield_per=BATCH)
    )
    return audit(source.name, ((snap, text or "") for snap, text in session.execute(query)))


def audit_all(session: Session, name: str | None = None, *, raw: bool = True) -> list[Audit]:
    """The audits of every source (or of `name`); `ConfigError` for an unknown name."""
    query = select(SourceState).order_by(SourceState.name)
    if name is not None:
        query = query.where(SourceState.name == name)
    sources = list(session.scalars(query))
    if name is not None and not sources:
        known = ", ".join(session.scalars(select(SourceState.name).order_by(SourceState.name)))
        raise ConfigError(f"no stored source named {name!r} (known: {known or 'none yet'})")
    return [audit_source(session, source, raw=raw) for source in sources]


def poll_jumps(session: Session, source: SourceState) -> list[str]:
    """What jumped in the notices `source`'s last poll wrote (they share its `last_seen_at`)
    compared with its `USUAL` earlier ones."""
    last = session.scalar(
        select(func.max(Notice.last_seen_at)).where(Notice.source_id == source.id)
    )
    if last is None:
        return []
    mine = Notice.source_id == source.id
    recent = _streamed(session, select(Notice.snapshot).where(mine, Notice.last_seen_at == last))
    usual = _streamed(
        session,
        select(Notice.snapshot)
        .where(mine, Notice.last_seen_at < last)
        .order_by(Notice.id.desc())
        .limit(USUAL),
    )
    return jumps(
        audit(source.name, ((s, None) for s in recent)),
        audit(source.name, ((s, None) for s in usual)),
    )


def audit_after_polls(
    runtime: Runtime, results: Sequence[RunResult], now: dt.datetime
) -> list[str]:
    """After a round: open (or close) each polled source's `audit` maintainers' alert; the
    alerts are sent with the other maintainers' alerts. Lines for a person; never raises."""
    lines: list[str] = []
    try:
        with session_scope(runtime.sessions) as session:
            for result in results:
                if not result.ok or not (result.new or result.changed):
                    continue
                source = session.scalar(
                    select(SourceState).where(SourceState.name == result.source)
                )
                if source is None:
                    continue
                found = poll_jumps(session, source)
                _streak(session, source.name, found, now)
                if found:
                    lines.append(f"audit: {source.name}: " + "; ".join(found))
    except Exception as exc:  # noqa: BLE001 - an audit never makes a poll fail
        log.error("audit after polls failed: %s", exc)
    return lines


def _streak(session: Session, source: str, found: list[str], now: dt.datetime) -> None:
    current = session.scalar(
        select(MaintainerAlert).where(
            MaintainerAlert.source == source,
            MaintainerAlert.kind == "audit",
            MaintainerAlert.closed_at.is_(None),
        )
    )
    if found and current is None:
        reason = "the last poll's notices look incomplete (parser drift?): " + "; ".join(found)
        session.add(MaintainerAlert(source=source, kind="audit", reason=reason, opened_at=now))
        log.warning("source %s: %s; the maintainers are told", source, reason)
    elif not found and current is not None:
        current.closed_at = now
