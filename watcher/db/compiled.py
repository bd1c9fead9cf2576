"""Keeping the compiled procedures (`Notice.compiled`, `watcher.core.compiled`) in the database.

The poll store calls `recompile` once per page with the first notices of the procedures the page
touched (a notice joined, changed, or two procedures merged); `compile_all` rebuilds every procedure
(`watcher rematch`, migration 0011). Both read plain columns (no ORM objects) in one query per batch
of procedures and write in one statement, so a page costs two statements more.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, null, or_, select, update
from sqlalchemy.orm import Session

from watcher.core.compiled import Member, compile_procedure
from watcher.db.models import Notice, SourceState

_TABLE = Notice.metadata.tables["notices"]
# One plain executemany (the ORM's bulk update by primary key costs as much again).
_WRITE = update(_TABLE).where(_TABLE.c.id == bindparam("root")).values(compiled=bindparam("record"))
# Procedures compiled per query by `compile_all`.
BATCH = 500
_COLUMNS = (
    Notice.id,
    Notice.parent_id,
    Notice.native_id,
    SourceState.name,
    SourceState.kind,
    Notice.phase,
    Notice.notice_type,
    Notice.snapshot,
    Notice.url,
    Notice.site,
    Notice.first_seen_at,
)


def _members(session: Session, ids: Collection[int]) -> tuple[dict[int, list[Member]], set[int]]:
    """The notices of the procedures whose first notices are `ids`, by first notice; and those
    of `ids` that are no longer first notices (merged into another procedure)."""
    query = (
        select(*_COLUMNS)
        .join(SourceState, SourceState.id == Notice.source_id)
        .where(or_(Notice.id.in_(ids), Notice.parent_id.in_(ids)))
    )
    found: dict[int, list[Member]] = {}
    demoted: set[int] = set()
    for row in session.execute(query):
        notice_id, parent_id, ref, source, kind, phase, notice_type, snap, url, site, seen = row
        if parent_id is not None and notice_id in ids:
            demoted.add(notice_id)
        root = parent_id if parent_id is not None else notice_id
        if root not in ids:
            continue
        found.setdefault(root, []).append(
            Member(
                id=notice_id,
                ref=ref,
                source=source,
                kind=kind,
                phase=phase,
                notice_type=notice_type,
                snapshot=snap or {},
                url=url,
                site=site,
                seen=seen.isoformat() if seen else None,
            )
        )
    return found, demoted


def member(notice: Notice, source: str, kind: str) -> Member:
    """A notice held in memory (its id given) as the compiler reads it."""
    assert notice.id is not None
    seen = notice.first_seen_at
    return Member(
        id=notice.id,
        ref=notice.native_id,
        source=source,
        kind=kind,
        phase=notice.phase,
        notice_type=notice.notice_type,
        snapshot=notice.snapshot or {},
        url=notice.url,
        site=notice.site,
        seen=seen.isoformat() if seen else None,
    )


def recompile(
    session: Session, ids: Iterable[int], known: dict[int, list[Member]] | None = None
) -> int:
    """Compile again the procedures whose first notices are `ids` (read from the database), and
    those of `known` (first notice id → all its notices, held in memory: a poll's new procedures,
    not read back); how many were written."""
    wanted = set(ids) - set(known or {})
    found, demoted = _members(session, wanted) if wanted else ({}, set())
    found.update(known or {})
    rows: list[dict[str, Any]] = [
        {"root": root, "record": compile_procedure(members)}
        for root, members in found.items()
        if root not in demoted
    ]
    if rows:
        session.execute(_WRITE, rows)
    if demoted:
        session.execute(
            update(Notice).where(Notice.id.in_(demoted)).values(compiled=null()),
            execution_options={"synchronize_session": False},
        )
    return len(rows) + len(demoted)


def question_codes(session: Session, roots: Collection[int]) -> dict[int, list[str]]:
    """The codes of the questions the procedures whose first notices are `roots` raise, as
    they were last compiled (`question_codes`: one text read the same way by both databases)."""
    if not roots:
        return {}
    query = select(Notice.id, Notice.compiled["question_codes"].as_string()).where(
        Notice.id.in_(roots)
    )
    return {ident: (codes or "").split() for ident, codes in session.execute(query)}


def notice_dicts(members: Sequence[Notice]) -> list[dict[str, Any]]:
    """The procedure as `core/questions.py` reads it: each notice's snapshot with its portal id
    and source kind, oldest publication first."""
    ordered = sorted(members, key=lambda n: (n.published or dt.date.max, n.first_seen_at, n.id))
    return [
        dict(n.snapshot or {}) | {"id": n.native_id, "kind": n.source.kind if n.source else None}
        for n in ordered
    ]


def compile_all(
    session: Session, batch: int = BATCH, progress: Callable[[int, int], None] | None = None
) -> int:
    """Compile every procedure again (a rebuild); how many. `progress(done, total)` is told
    after each batch."""
    roots = sorted(set(session.scalars(select(Notice.id).where(Notice.parent_id.is_(None)))))
    done = 0
    for start in range(0, len(roots), batch):
        done += recompile(session, roots[start : start + batch])
        if progress:
            progress(min(start + batch, len(roots)), len(roots))
    # Notices that are no longer first notices keep no compiled record.
    session.execute(
        update(Notice)
        .where(Notice.parent_id.is_not(None), Notice.compiled.is_not(None))
        .values(compiled=null()),
        execution_options={"synchronize_session": False},
    )
    return done
