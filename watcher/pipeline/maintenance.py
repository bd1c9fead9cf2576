"""Work on the stored notices, apart from polling: re-running the matcher after the rules change,
deadline reminders, and the evidence export of a procedure."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session, joinedload

from watcher import __version__
from watcher.core.normalize import format_deadline
from watcher.db.models import Event, Notice, NoticeVersion, SourceState
from watcher.errors import WatcherError

if TYPE_CHECKING:
    from watcher.match.matcher import Matcher

BATCH = 500


@dataclass
class RematchReport:
    """What `watcher rematch` changed."""

    checked: int = 0
    became_relevant: int = 0
    became_irrelevant: int = 0
    site_changed: int = 0
    events: int = 0
    indexed: int = 0  # search entries written again (issue 27)


_NOTICES = Notice.metadata.tables["notices"]
# One plain executemany for the notices whose verdict changed (few: most keep theirs).
_WRITE_VERDICT = (
    update(_NOTICES)
    .where(_NOTICES.c.id == bindparam("ident"))
    .values(
        relevant=bindparam("relevant"),
        site=bindparam("site"),
        score=bindparam("score"),
        reasons=bindparam("reasons"),
        announced=bindparam("announced"),
    )
)


def _batches(session: Session) -> Iterator[list[Row[Any]]]:
    """Every notice, BATCH at a time in id order, as the plain columns the matcher and the
    verdict need (no ORM objects: memory is one batch's, whatever the number of notices)."""
    last = 0
    while True:
        batch = session.execute(
            select(
                Notice.id,
                Notice.parent_id,
                Notice.snapshot,
                Notice.relevant,
                Notice.site,
                Notice.score,
                Notice.reasons,
                Notice.announced,
                Notice.phase,
                Notice.version,
                Notice.native_id,
                SourceState.name,
            )
            .join(SourceState, SourceState.id == Notice.source_id)
            .where(Notice.id > last)
            .order_by(Notice.id)
            .limit(BATCH)
        ).all()
        if not batch:
            return
        yield list(batch)
        last = batch[-1].id


def rematch(
    session: Session,
    matcher: Matcher,
    now: dt.datetime,
    progress: Callable[[str, int, int], None] | None = None,
) -> RematchReport:
    """Re-run the matcher on every stored notice, a batch at a time; a notice that became
    relevant is announced. Every procedure is compiled again (`watcher.db.compiled`) and the
    search index rebuilt. `progress(stage, done, total)` is told after each batch of each stage
    (`notices`, `procedures`, `search`)."""
    # The poll store, the compiler and the search index: imported here, not for the reminders
    # that every round sends (`watcher.pipeline.cycle`).
    from watcher.db.compiled import compile_all  # noqa: PLC0415
    from watcher.db.search import rebuild as rebuild_search  # noqa: PLC0415
    from watcher.db.store import event_key, match_input  # noqa: PLC0415

    report = RematchReport()
    total = session.scalar(select(func.count(Notice.id))) or 0
    for batch in _batches(session):
        verdicts: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for row in batch:
            report.checked += 1
            verdict = matcher.match(match_input(row.snapshot))
            relevant = verdict.relevant or (row.parent_id is not None and row.relevant)
            if relevant != row.relevant:
                if relevant:
                    report.became_relevant += 1
                else:
                    report.became_irrelevant += 1
            if verdict.site != row.site and relevant:
                report.site_changed += 1
            site = verdict.site or (row.site if row.parent_id else None)
            reasons = list(verdict.reasons)
            announce = relevant and not row.announced and row.parent_id is None
            if announce:
                kind = "planned" if row.phase == "planning" else "new"
                events.append(
                    {
                        "key": event_key(row.name, row.native_id, row.version, kind),
                        "notice_id": row.id,
                        "type": kind,
                        "created_at": now,
                        "version": row.version,
                        "changes": [],
                        "site": site,
                    }
                )
                report.events += 1
            now_is = {
                "relevant": relevant,
                "site": site,
                "score": verdict.score,
                "reasons": reasons,
                "announced": row.announced or announce,
            }
            if any(value != getattr(row, name) for name, value in now_is.items()):
                verdicts.append({**now_is, "ident": row.id})
        if verdicts:
            session.execute(_WRITE_VERDICT, verdicts)
        if events:
            session.execute(insert(Event), events)
        if progress:
            progress("notices", report.checked, total)
    # Sites may have changed, and the compiling rules with the release: every procedure again.
    compile_all(session, progress=_stage(progress, "procedures"))
    # The search index, in step with what is stored.
    report.indexed = rebuild_search(session, progress=_stage(progress, "search"))
    return report


def _stage(
    progress: Callable[[str, int, int], None] | None, stage: str
) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress(stage, done, total)


def remind_deadlines(session: Session, now: dt.datetime, days: int) -> int:
    """A `deadline_soon` event for each open procedure whose deadline falls within `days` days.

    Once per deadline: a moved deadline gets its own reminder, a re-run adds nothing.
    """
    due = session.scalars(
        select(Notice)
        .options(joinedload(Notice.source))
        .where(Notice.relevant.is_(True), Notice.parent_id.is_(None))
        .where(Notice.deadline > now, Notice.deadline <= now + dt.timedelta(days=days))
    ).all()
    made = 0
    for notice in due:
        assert notice.deadline is not None
        made += remind_once(
            session,
            notice,
            "deadline_soon",
            notice.deadline.strftime("%Y%m%dT%H%M"),
            {
                "field": "deadline",
                "label": "Date limite de réception des offres",
                "old": None,
                "new": format_deadline(notice.deadline, with_time=True),
            },
            now,
        )
    session.flush()
    return made


def remind_once(
    session: Session,
    notice: Notice,
    kind: str,
    stamp: str,
    change: dict[str, Any],
    now: dt.datetime,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Add a reminder event of `kind` on `notice` with its one `change`, unless the event of the
    same key (`source/native id/kind/stamp`) exists: whether it was added. Reminders are made
    again at every round; their key makes each one once."""
    key = f"{notice.source.name}/{notice.native_id}/{kind}/{stamp}"
    if session.scalar(select(func.count(Event.id)).where(Event.key == key)):
        return False
    event = Event(
        key=key,
        notice=notice,
        type=kind,
        created_at=now,
        version=notice.version,
        changes=[change],
        site=notice.site,
    )
    if detail is not None:  # left unset otherwise: SQL NULL, as before, not JSON null
        event.detail = detail
    session.add(event)
    return True


def find_notice(session: Session, ident: str) -> Notice:
    """A notice by database id (`42`) or by `source:native_id` (`boamp:26-118204`)."""
    query = select(Notice).options(joinedload(Notice.source))
    if ident.isdigit():
        found = session.scalar(query.where(Notice.id == int(ident)))
    elif ":" in ident:
        source, native = ident.split(":", 1)
        found = session.scalar(
            query.join(Notice.source).where(SourceState.name == source, Notice.native_id == native)
        )
    else:
        found = session.scalar(query.where(Notice.native_id == ident))
    if found is None:
        raise WatcherError(
            f"no notice {ident!r} (give its number or source:id, e.g. boamp:26-118204)"
        )
    return found


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value else None


def export_procedure(session: Session, ident: str, now: dt.datetime) -> dict[str, Any]:
    """A procedure's whole history as JSON-ready data: every notice, version (raw payload, sha256,
    fetch time and URL) and event, for a journalist to archive and cite."""
    notice = find_notice(session, ident)
    root = session.get(Notice, notice.parent_id) if notice.parent_id else notice
    assert root is not None
    members = session.scalars(
        select(Notice)
        .options(joinedload(Notice.source))
        .where(or_(Notice.id == root.id, Notice.parent_id == root.id))
        .order_by(Notice.first_seen_at, Notice.id)
    ).all()
    notices = []
    for member in members:
        versions = session.scalars(
            select(NoticeVersion)
            .where(NoticeVersion.notice_id == member.id)
            .order_by(NoticeVersion.version)
        ).all()
        notices.append(
            {
                "id": member.id,
                "source": member.source.name,
                "kind": member.source.kind,
                "native_id": member.native_id,
                "url": member.url,
                "title": member.title,
                "buyer": member.buyer,
                "notice_type": member.notice_type,
                "relevant": member.relevant,
                "site": member.site,
                "reasons": member.reasons,
                "linked_by": member.link_method,
                "link_confidence": member.link_confidence,
                "first_seen_at": _iso(member.first_seen_at),
                "versions": [
                    {
                        "version": v.version,
                        "fetched_at": _iso(v.fetched_at),
                        "fetch_url": v.fetch_url,
                        "sha256": v.content_hash,
                        "sha256_verified": hashlib.sha256(v.raw.encode("utf-8")).hexdigest()
                        == v.content_hash,
                        "snapshot": v.snapshot,
                        "raw": v.raw,
                    }
                    for v in versions
                ],
            }
        )
    events = session.scalars(
        select(Event)
        .where(Event.notice_id.in_([m.id for m in members]))
        .order_by(Event.created_at, Event.id)
    ).all()
    return {
        "exported_at": now.isoformat(),
        "exported_by": f"detention-watcher {__version__}",
        "procedure": {"id": root.id, "title": root.title, "site": root.site, "url": root.url},
        "notices": notices,
        "events": [
            {
                "id": e.key,
                "type": e.type,
                "at": _iso(e.created_at),
                "notice_id": e.notice_id,
                "changes": e.changes,
                "detail": e.detail,
            }
            for e in events
        ],
    }
