"""Reminders that a remedy window is about to close (issue 28): a `remedy_closing` event on a
procedure `DAYS` days (or fewer) before the last day of one of its legal-clock windows
(`watcher.core.legal_clock`), once per window and last day (its key). Subscribers get it only
when they ask for it by name (`--event remedy_closing`, `watcher.notify.ledger.OPT_IN`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from watcher.core import legal_clock
from watcher.db.compiled import notice_dicts
from watcher.db.models import Notice
from watcher.pipeline.maintenance import remind_once

DAYS = 7


def remind_remedies(session: Session, now: dt.datetime, days: int = DAYS) -> int:
    """A `remedy_closing` event for each relevant procedure with an award whose remedy window
    closes within `days` days of `now` (still open); how many were made."""
    today = now.date()
    root = func.coalesce(Notice.parent_id, Notice.id)
    awarded = select(root).where(Notice.notice_type == "award", Notice.relevant.is_(True))
    members = session.scalars(
        select(Notice).options(joinedload(Notice.source)).where(root.in_(awarded.distinct()))
    ).all()
    procedures: dict[int, list[Notice]] = {}
    for notice in members:
        procedures.setdefault(notice.parent_id or notice.id, []).append(notice)
    made = 0
    for ident, notices in procedures.items():
        first = next((n for n in notices if n.id == ident), None)
        if first is None or not first.relevant:
            continue
        for window in legal_clock.windows(notice_dicts(notices)):
            last = window.extended or window.closes
            if last is None or not today <= last <= today + dt.timedelta(days=days):
                continue
            made += remind_once(
                session,
                first,
                "remedy_closing",
                f"{window.code}/{last}",
                {
                    "field": "remedy",
                    "label": window.name_fr,
                    "old": None,
                    "new": last.strftime("%d/%m/%Y"),
                },
                now,
                {"remedy": window.code, "closes": last.isoformat(), "rule": window.rule},
            )
    session.flush()
    return made
