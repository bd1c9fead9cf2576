"""Following a search (issue 27): `/search`, `/api/search`, the search feeds, `watcher search`, and
a subscriber to a search alerted once per matching event, through the usual ledger."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from tests.atom_schema import atom_problems
from tests.mailbox import Mailbox
from tests.test_linking import _poll
from tests.test_notify import _close_cli_databases, cli, use_env  # noqa: F401 - fixture
from watcher.db.search import index_notices
from watcher.notify import deliver_pending
from watcher.notify.memory import MemoryMailer
from watcher.pipeline.runtime import Runtime
from watcher.records import NoticeRecord
from watcher.web.server import create_app

T0 = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
MEAL = NoticeRecord(
    native_id="26-1001",
    title="Restauration des personnes retenues au centre de rétention administrative de Lesquin",
    buyer="SGAMI Nord",
    published=dt.date(2026, 11, 2),
    department="59",
    cpv=("55520000",),
    procedure_id="P-MEAL",
    description="Fourniture et livraison de repas en liaison froide.",
)
ESCORT = NoticeRecord(
    native_id="26-1002",
    title="Escortes et transferts des personnes retenues au centre de rétention administrative "
    "du Mesnil-Amelot",
    buyer="Préfecture de police",
    published=dt.date(2026, 11, 3),
    department="77",
    cpv=("60100000",),
    procedure_id="P-ESCORT",
)


def _award(record: NoticeRecord, native_id: str, winner: str) -> NoticeRecord:
    return dataclasses.replace(
        record,
        native_id=native_id,
        notice_type="award",
        winners=(winner,),
        published=dt.date(2026, 11, 20),
    )


@pytest.fixture
def runtime(
    make_runtime: Callable[..., Runtime], mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> Runtime:
    rt = make_runtime("sources: []\n")
    use_env(rt, mailbox, monkeypatch)
    _poll(rt, "boamp", "boamp", [MEAL, ESCORT], T0)
    return rt


@pytest.mark.parametrize("deferred", [False, True])
def test_a_search_subscriber_gets_one_mail_for_a_matching_award_and_none_for_another(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, deferred: bool
) -> None:
    if deferred:  # as a scheduled poll on PostgreSQL: words indexed after the poll commits
        import watcher.db.store  # noqa: PLC0415

        monkeypatch.setattr(
            watcher.db.store,
            "index_notices",
            lambda session, notices, **_: index_notices(session, notices, deferred=True),
        )
    added = cli("subscribers", "add", "carol@example.org", "--query", '"restauration" dep:59')
    assert added.exit_code == 0, added.output
    assert "query='\"restauration\" dep:59'" in added.output
    mailer = MemoryMailer()
    assert deliver_pending(runtime, T0, mailer=mailer).sent == 0  # nothing since subscribing

    later = T0 + dt.timedelta(days=1)
    _poll(
        runtime,
        "boamp",
        "boamp",
        [_award(MEAL, "26-2001", "Elior Services"), _award(ESCORT, "26-2002", "Gepsa")],
        later,
    )
    report = deliver_pending(runtime, later, mailer=mailer)
    assert report.sent == 1
    [mail] = mailer.outbox
    assert "Restauration des personnes retenues" in str(mail["Subject"])
    assert deliver_pending(runtime, later + dt.timedelta(minutes=5), mailer=mailer).sent == 0
    assert len(mailer.outbox) == 1


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


def test_the_search_page_ranks_highlights_and_offers_to_follow(client: TestClient) -> None:
    page = client.get("/search", params={"q": "retention lesquin"})
    assert page.status_code == 200
    assert "<mark>rétention</mark>" in page.text
    assert "Restauration des personnes retenues" in page.text
    assert "Mesnil-Amelot" not in page.text
    assert 'name="query" value="retention lesquin"' in page.text
    assert "/feeds/search.atom?q=retention+lesquin" in page.text
    home = client.get("/")
    assert 'action="/search"' in home.text


@pytest.mark.parametrize(
    "q",
    [
        '"centre de rétention',
        "*",
        "a" * 10_000,
        "rétention " * 1000,
        "x' OR 1=1; DROP TABLE notices; --",
        "NEAR(a b) AND c^ {d} title:x",
        "\x00\u202e\ufffe",
        "cpv:* dep: after:9999-99 before:",
        "-",
        "OR OR OR",
    ],
)
def test_hostile_queries_answer_200(client: TestClient, q: str) -> None:
    for path in ("/search", "/api/search", "/feeds/search.atom", "/feeds/search.json"):
        answer = client.get(path, params={"q": q, "after": "nan_x", "per_page": "-5"})
        assert answer.status_code == 200, (path, answer.text[:300])


def test_a_query_of_bad_utf8_answers_200(client: TestClient) -> None:
    assert client.get("/search?q=%00%ED%A0%80%FF%22").status_code == 200
    assert client.get("/api/search?q=%ED%A0%80%22&after=1e999_1").status_code == 200


def test_the_api_pages_with_a_cursor_and_counts_facets(client: TestClient) -> None:
    first = client.get("/api/search", params={"q": "rétention", "per_page": "1"}).json()
    assert first["total"] == 2
    assert first["facets"]["source"] == [{"value": "boamp", "count": 2}]
    assert first["next"]
    second = client.get(first["next"]).json()
    assert second["next"] is None
    titles = [i["title"] for i in first["items"] + second["items"]]
    assert len(set(titles)) == 2
    assert "<mark>" in first["items"][0]["snippets"][0]["html"]
    spec = client.get("/api/openapi.json").json()
    assert "/api/search" in spec["paths"]


def test_the_search_feeds_validate_and_hold_the_matching_events(client: TestClient) -> None:
    atom = client.get("/feeds/search.atom", params={"q": "restauration dep:59"})
    assert atom.status_code == 200
    assert atom_problems(atom.content) == []
    assert atom.text.count("<entry") == 1 and "Restauration des personnes" in atom.text
    feed = client.get("/feeds/search.json", params={"q": "retention", "lang": "en"}).json()
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert len(feed["items"]) == 2


def test_the_search_command(runtime: Runtime) -> None:
    shown = cli("search", "retention", "dep:77")
    assert shown.exit_code == 0, shown.output
    assert "1 procedure(s)" in shown.output and "Mesnil-Amelot" in shown.output
    as_json = json.loads(cli("search", "--json", "restauration").output)
    assert [i["title"] for i in as_json["items"]] == [MEAL.title]


def test_the_follow_form_stores_the_query_unconfirmed(client: TestClient, runtime: Runtime) -> None:
    from sqlalchemy import select  # noqa: PLC0415

    from watcher.db.models import Subscriber  # noqa: PLC0415

    answer = client.post(
        "/subscribe", data={"email": "dan@example.org", "query": '"restauration" dep:59'}
    )
    assert answer.status_code == 200
    with runtime.sessions() as session:
        sub = session.scalar(select(Subscriber))
    assert sub is not None and sub.query == '"restauration" dep:59' and not sub.confirmed
