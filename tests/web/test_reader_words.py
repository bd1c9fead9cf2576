"""Issue 25, round 2: the procedure page speaks to a reader (no score, no internal ids), tells each
change once, and every event row gives the deadline its own notice stated."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from sqlalchemy import update
from starlette.testclient import TestClient

from tests.web.test_pages import DUNKERQUE, LESQUIN, notice_id, page, text
from watcher.db.models import Notice
from watcher.db.session import session_scope
from watcher.pipeline.runtime import Runtime
from watcher.records import FieldChange
from watcher.web.listing import TimelineItem, told_once

UUID = "5f0c8a3e-1b2d-4c6e-9f80-7a1b2c3d4e5f"


def test_procedure_page_shows_no_score_and_no_internal_ids(
    client: TestClient, polled: Runtime
) -> None:
    target = notice_id(polled, DUNKERQUE)
    with session_scope(polled.sessions) as session:
        session.execute(update(Notice).where(Notice.id == target).values(procedure_id=UUID))
    for lang, relevant in (("fr", "pertinent"), ("en", "relevant")):
        doc = page(client, f"/notices/{target}?lang={lang}")
        words = text(doc)
        assert "score" not in words.lower()
        assert UUID not in words
        facts = {
            " ".join(d.getparent().cssselect("dt")[0].text_content().split()): d.text_content()
            for d in doc.cssselect("dl.facts dd")
        }
        assert facts["Pertinence" if lang == "fr" else "Relevance"].strip() == relevant
        # The reasons it is relevant are still told, in words.
        assert doc.cssselect("ul.reasons li")


def test_procedure_page_tells_a_change_once(client: TestClient, polled: Runtime) -> None:
    doc = page(client, f"/notices/{notice_id(polled, DUNKERQUE)}")
    timeline = text(doc.cssselect("section.timeline")[0])
    # The moved deadline is both an event and the version's diff: it is shown once.
    assert timeline.count("04/01/2027 → 18/01/2027") == 1
    second = doc.cssselect(".timeline li.step")[1]
    assert "Date limite modifiée" in text(second)
    assert "Changements déjà indiqués plus haut." in text(second)
    assert "Aucun changement visible" not in text(second)
    english = page(client, f"/notices/{notice_id(polled, DUNKERQUE)}?lang=en")
    assert "Changes already shown above." in text(english.cssselect("section.timeline")[0])


def _item(notice: int, version: int, changes: list[FieldChange], events: list[object]) -> object:
    return TimelineItem(
        notice=SimpleNamespace(id=notice),  # type: ignore[arg-type]
        version=SimpleNamespace(version=version),  # type: ignore[arg-type]
        changes=changes,
        events=events,  # type: ignore[arg-type]
    )


def test_a_change_told_by_two_portals_notices_is_shown_once() -> None:
    moved = FieldChange("deadline", "Date limite", "04/01/2027", "18/01/2027")
    other = FieldChange("title", "Objet", "Repas", "Repas et entretien")
    event = SimpleNamespace(
        id=7,
        changes=[{"field": "deadline", "label": "x", "old": "04/01/2027", "new": "18/01/2027"}],
    )
    items = told_once(
        [
            _item(1, 2, [moved], [event]),  # type: ignore[list-item]
            _item(2, 2, [moved, other], []),  # type: ignore[list-item]
            _item(3, 1, [moved], []),  # type: ignore[list-item]
        ]
    )
    assert items[0].told == {7: event.changes} and items[0].changes == [] and items[0].said_above
    assert items[1].changes == [other] and not items[1].said_above
    # A first version's diff is not shown, so it is left as it is.
    assert items[2].changes == [moved]


def test_event_rows_give_the_deadline_their_notice_stated(
    client: TestClient, polled: Runtime
) -> None:
    # The notice row's deadline column says something else than what the notice stated (its
    # procedure's later deadline, say): the event rows show what the notice itself said.
    later = dt.datetime(2031, 3, 3, 12, tzinfo=dt.UTC)
    with session_scope(polled.sessions) as session:
        session.execute(update(Notice).values(deadline=later))
    doc = page(client, "/")
    rows = doc.cssselect("ol.items li.item")
    dunkerque = [r for r in rows if DUNKERQUE in text(r)]
    assert dunkerque and all("18/01/2027" in text(r) for r in dunkerque)
    assert "03/03/2031" not in text(doc)
    lesquin = [r for r in rows if LESQUIN in text(r)]
    assert lesquin and "03/03/2031" not in text(lesquin[0])
