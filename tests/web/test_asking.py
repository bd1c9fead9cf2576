"""The procedure page's questions, remedy deadlines and request letter, and the renewal radar
page and feeds (issue 28), over a database filled by real polls of the BOAMP loopback portal.

The Dunkerque notice is stored as the portal gave it; its snapshot is then given the facts an
award states (a single offer, a DECP amendment of +20 %, a notification date), as the parsers
read them (tested in tests/test_questions.py), to show what a reader sees."""

from __future__ import annotations

import datetime as dt
from typing import Any

import icalendar
import lxml.etree
from sqlalchemy import select
from starlette.testclient import TestClient

from tests.web.test_pages import DUNKERQUE, notice_id, page, text
from watcher.core.calendar import add_months
from watcher.db.models import Notice
from watcher.pipeline.runtime import Runtime


def make_award(runtime: Runtime, **facts: Any) -> int:
    """The Dunkerque notice turned into an award with `facts` in its snapshot."""
    ident = notice_id(runtime, DUNKERQUE)
    with runtime.sessions() as session:
        notice = session.get(Notice, ident)
        assert notice is not None
        notice.notice_type = "award"
        notice.snapshot = dict(notice.snapshot) | {"notice_type": "award"} | facts
        session.commit()
    return ident


def test_the_procedure_page_asks_its_questions_with_evidence(
    client: TestClient, polled: Runtime
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    notified = add_months(today, -2)
    ident = make_award(
        polled,
        value=36500000.0,
        currency="EUR",
        winners=["SPIE BATIGNOLLES NORD"],
        tenders_received=1,
        procedure_type="open",
        notified=notified.isoformat(),
        duration_months=48,
        modifications=[{"date": today.isoformat(), "amount": 43800000.0}],
    )
    doc = page(client, f"/notices/{ident}")
    questions = doc.cssselect("section.questions li.question")
    shown = {q.get("class").split()[-1]: text(q) for q in questions}
    assert "Pourquoi une seule offre a-t-elle été reçue ?" in shown["q-single_offer"]
    assert "36 500 000 €" in shown["q-value_growth"] and "+20 %" in shown["q-value_growth"]
    clock = text(doc.cssselect("section.clock")[0])
    assert "Information, pas un conseil juridique." in clock
    assert "Référé contractuel" in clock and "R551-7" in clock
    # No OJEU award notice here (BOAMP): six months from the day after the notification.
    closes = add_months(notified + dt.timedelta(days=1), 6)
    assert closes.strftime("%d/%m/%Y") in clock
    end = add_months(notified, 48)
    assert f"Fin du marché : {end:%d/%m/%Y}" in clock
    letter = doc.cssselect("section.documents")[0]
    assert letter.cssselect("a.mailto")[0].get("href").startswith("mailto:?subject=")
    assert "L311-1" in text(letter) and "SPIE BATIGNOLLES NORD" in text(letter)
    api = client.get(f"/api/procedures/{ident}/questions.json").json()
    codes = [q["code"] for q in api["questions"]]
    assert codes == ["single_offer", "award_without_call", "value_growth"]  # no call stored
    assert api["questions"][2]["figures"]["percent"] == 20.0
    assert api["end"]["date"] == end.isoformat()
    assert api["windows"][0]["closes"] == closes.isoformat() and api["windows"][0]["open"]
    assert client.get("/api/procedures/999999/questions.json").status_code == 404
    english = page(client, f"/notices/{ident}?lang=en")
    assert "Why was only one tender received?" in text(english)
    assert "Information, not legal advice." in text(english)


def test_the_radar_lists_the_contract_and_its_open_windows(
    client: TestClient, polled: Runtime
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    notified = add_months(today, -20)
    ident = make_award(
        polled, notified=notified.isoformat(), duration_months=24, winners=["SPIE BATIGNOLLES NORD"]
    )
    end = add_months(notified, 24)  # within 6 months
    doc = page(client, "/radar")
    band = doc.cssselect("section.radar-band")[0]
    assert "Dans les 6 mois (1)" in text(band)
    assert f"/notices/{ident}" in band.cssselect("a")[0].get("href")
    assert end.strftime("%d/%m/%Y") in text(band)
    assert "Dans les 24 mois (0)" in text(page(client, "/radar"))
    assert "Within 6 months (1)" in text(page(client, "/radar?lang=en"))
    atom = client.get("/feeds/radar.atom")
    assert atom.status_code == 200 and atom.headers["content-type"].startswith(
        "application/atom+xml"
    )
    feed = lxml.etree.fromstring(atom.content)
    titles = [e.text for e in feed.iter("{http://www.w3.org/2005/Atom}title")]
    assert any(t and t.startswith("Fin du marché : ") for t in titles)
    ics = client.get("/feeds/radar.ics")
    assert ics.headers["content-type"].startswith("text/calendar")
    events = icalendar.Calendar.from_ical(ics.content).walk("VEVENT")
    ends = [e for e in events if str(e["summary"]).startswith("Fin du marché")]
    assert [e.decoded("dtstart") for e in ends] == [end]
    assert ends[0].walk("VALARM")[0].decoded("trigger") == dt.timedelta(days=-7)


def test_a_notice_without_facts_says_so_rather_than_guess(
    client: TestClient, polled: Runtime
) -> None:
    doc = page(client, f"/notices/{notice_id(polled, DUNKERQUE)}")
    clock = text(doc.cssselect("section.clock")[0])
    assert "Fin du marché : inconnue" in clock
    with polled.sessions() as session:
        assert session.scalars(select(Notice.id)).first() is not None
