"""Issue 28: the questions a procedure raises are asked once when it is compiled and kept with
its compiled record, so lists filter by question (`?question=<code>`) without asking again."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.web.test_asking import make_award
from tests.web.test_pages import DUNKERQUE, item_titles, page, text
from watcher.core.compiled import question_codes as compiled_codes
from watcher.db.compiled import recompile
from watcher.db.models import Notice
from watcher.pipeline.runtime import Runtime


def _recompiled(runtime: Runtime, ident: int) -> dict[str, Any]:
    with runtime.sessions() as session:
        recompile(session, [ident])
        session.commit()
        notice = session.get(Notice, ident)
        assert notice is not None and notice.compiled is not None
        return notice.compiled


def test_a_single_offer_award_is_found_by_its_question(client: TestClient, polled: Runtime) -> None:
    before = client.get("/api/notices?question=single_offer").json()
    assert before["total"] == 0  # the call for tenders raises no question yet
    ident = make_award(polled, tenders_received=1, winners=["SPIE BATIGNOLLES NORD"])
    compiled = _recompiled(polled, ident)
    asked = {q["code"]: q["figures"] for q in compiled["questions"]}
    assert asked["single_offer"]["tenders_received"] == 1
    assert compiled_codes(compiled) == list(asked)
    found = client.get("/api/notices?question=single_offer").json()
    assert [item["id"] for item in found["items"]] == [ident]
    assert client.get("/api/notices?question=value_growth").json()["total"] == 0
    refused = client.get("/api/notices?question=nonsense")
    assert refused.status_code == 400 and "single_offer" in refused.json()["error"]


def test_the_site_page_counts_its_procedures_per_question_and_filters(
    client: TestClient, polled: Runtime
) -> None:
    ident = make_award(polled, tenders_received=1, winners=["SPIE BATIGNOLLES NORD"])
    _recompiled(polled, ident)
    site = page(client, "/sites/dunkerque")
    counts = site.cssselect("section.question-counts li.q-single_offer")[0]
    assert text(counts) == "Une seule offre : 1"
    assert counts.cssselect("a")[0].get("href") == "/sites/dunkerque?question=single_offer"
    assert any(
        DUNKERQUE in t for t in item_titles(page(client, counts.cssselect("a")[0].get("href")))
    )
    assert not item_titles(page(client, "/sites/dunkerque?question=value_growth"))
    assert client.get("/sites/dunkerque?question=nonsense").status_code == 400
    english = page(client, "/sites/dunkerque?lang=en")
    assert "Single tender : 1" in text(english.cssselect("section.question-counts")[0])
    # The home page's event list takes the same filter.
    assert client.get("/?question=single_offer").status_code == 200
    assert client.get("/api/events?question=single_offer").json()["total"] >= 1
    assert client.get("/api/events?question=value_growth").json()["total"] == 0
