"""Issue 28: a reminder 7 days before a remedy window closes, made once, mailed only to the
subscribers who named `remedy_closing` in their event filter."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from tests.web.test_asking import make_award
from watcher.core.calendar import add_months
from watcher.db.models import Event
from watcher.db.session import session_scope
from watcher.notify import deliver_pending
from watcher.notify import subscribers as subs
from watcher.notify.memory import MemoryMailer
from watcher.pipeline.remedies import remind_remedies
from watcher.pipeline.runtime import Runtime


def test_a_remedy_closing_in_five_days_is_told_once_to_who_asked(polled: Runtime) -> None:
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    # No OJEU award notice (BOAMP): the référé contractuel closes six months after the day
    # after notification; notified so that it closes in five days, a working day or not.
    notified = add_months(today + dt.timedelta(days=5), -6) - dt.timedelta(days=1)
    make_award(polled, notified=notified.isoformat(), winners=["SPIE BATIGNOLLES NORD"])
    with session_scope(polled.sessions) as session:
        subs.add_confirmed(
            session, "asked@example.org", subs.Filters(events=("remedy_closing",)), now
        )
        subs.add_confirmed(session, "all@example.org", subs.Filters(), now)
    with session_scope(polled.sessions) as session:
        assert remind_remedies(session, now) == 1
    with session_scope(polled.sessions) as session:
        assert remind_remedies(session, now + dt.timedelta(hours=1)) == 0  # once
        [event] = session.scalars(select(Event).where(Event.type == "remedy_closing")).all()
        assert event.detail["remedy"] == "refere_contractuel"
        closes = dt.date.fromisoformat(event.detail["closes"])
        assert today <= closes <= today + dt.timedelta(days=7)
    mailer = MemoryMailer()
    deliver_pending(polled, mailer=mailer)
    told = [(str(m["To"]), str(m["Subject"])) for m in mailer.outbox]
    reminded = [to for to, subject in told if "Délai de recours bientôt clos" in subject]
    assert reminded == ["asked@example.org"]
    again = MemoryMailer()
    deliver_pending(polled, mailer=again)
    assert not any("Délai de recours" in str(m["Subject"]) for m in again.outbox)
