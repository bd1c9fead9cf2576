"""Issue 28: the questions a procedure raises are asked once when it is compiled and kept with
its compiled record, so lists filter by question (`?question=<code>`) without asking again."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.web.test_asking import make_award
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
