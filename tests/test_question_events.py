"""Issue 28: a procedure whose compiled record gains a question tells it once, as a
`question_raised` event (« Question à poser »), which reaches the feeds and the subscribers'
mails; polling the same notice again tells nothing.

The award is the real eForms award 607986-2024 (BT-759 3 tenders for LOT-0001) retold as the
Dunkerque award with a single tender, so that the matcher finds it relevant."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from sqlalchemy import select

from tests.test_amounts import eforms
from tests.test_pipeline import ATOM, feed_entries
from watcher.db.models import Event, Notice, SourceState
from watcher.db.session import session_scope
from watcher.db.store import PollStore
from watcher.notify import deliver_pending
from watcher.notify import subscribers as subs
from watcher.notify.memory import MemoryMailer
from watcher.pipeline.runtime import Runtime
from watcher.publish.entries import TITLE_PREFIX
from watcher.records import NoticeRecord, RawPage, RunResult

NOW = dt.datetime(2026, 12, 5, 8, tzinfo=dt.UTC)
TITLE = "Construction du centre de rétention administrative de Dunkerque (Loon-Plage)"


def _award() -> NoticeRecord:
    real = eforms()["607986-2024"]
    assert real.tenders_received == 3
    return dataclasses.replace(real, title=TITLE, tenders_received=1, tenders_by_lot=())


def _poll(
    runtime: Runtime, record: NoticeRecord, now: dt.datetime, *, announce: bool = True
) -> int:
    with session_scope(runtime.sessions) as session:
        state = session.scalars(select(SourceState).where(SourceState.name == "boamp")).first()
        if state is None:
            state = SourceState(name="boamp", kind="boamp", consecutive_failures=0)
            session.add(state)
            session.flush()
        result = RunResult(source="boamp")
        poll = PollStore(session, state, runtime.matcher, now, result, announce=announce)
        poll.add_page(RawPage(url="https://boamp.example/", content=b""), [record])
        poll.finish()
        return result.events


def test_a_single_offer_award_raises_one_question_event_and_a_repoll_none(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime("sources: []\n")
    with session_scope(runtime.sessions) as session:
        # Questions come by mail to those who ask for them (`--event question_raised`).
        subs.add_confirmed(
            session, "reader@example.org", subs.Filters(events=("question_raised",)), NOW
        )
        subs.add_confirmed(session, "everything@example.org", subs.Filters(), NOW)
    record = _award()
    _poll(runtime, record, NOW)
    with runtime.sessions() as session:
        notice = session.scalars(select(Notice).where(Notice.native_id == "607986-2024")).one()
        assert notice.relevant, notice.reasons
        assert "single_offer" in (notice.compiled or {})["question_codes"]
        raised = session.scalars(select(Event).where(Event.type == "question_raised")).all()
        assert [e.detail for e in raised if e.detail["question"] == "single_offer"] == [
            {"question": "single_offer"}
        ]
        count = len(raised)
    _poll(runtime, record, NOW + dt.timedelta(hours=1))
    with runtime.sessions() as session:
        again = session.scalars(select(Event).where(Event.type == "question_raised")).all()
        assert len(again) == count
    titles = [e.findtext(f"{ATOM}title") or "" for e in feed_entries(runtime)]
    assert sum(t.startswith(TITLE_PREFIX["fr"]["question_raised"]) for t in titles) == count
    assert any(t == f"Question à poser : {TITLE}" for t in titles), titles
    mailer = MemoryMailer()
    deliver_pending(runtime, mailer=mailer)
    subjects = [str(m["Subject"]) for m in mailer.outbox]
    bodies = "".join(
        str(m.get_body(preferencelist=("plain",)).get_content()) for m in mailer.outbox
    )
    assert "Question à poser" in bodies, subjects
    # A subscriber to everything is not told questions by mail (they are in the feeds).
    to_all = [m for m in mailer.outbox if "everything@" in str(m["To"])]
    assert all("Question à poser" not in str(m["Subject"]) for m in to_all), subjects
    # The change line names the question in words, never its code.
    assert "Question à poser : Une seule offre" in bodies, bodies
    assert "single_offer" not in bodies


def test_a_backfill_tells_no_question_and_the_next_poll_none_either(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime("sources: []\n")
    record = _award()
    _poll(runtime, record, NOW, announce=False)
    _poll(runtime, record, NOW + dt.timedelta(hours=1))
    with runtime.sessions() as session:
        notice = session.scalars(select(Notice).where(Notice.native_id == "607986-2024")).one()
        assert "single_offer" in (notice.compiled or {})["question_codes"]
        assert not session.scalars(select(Event).where(Event.type == "question_raised")).all()
