"""The `ted` source: recorded search answers parse into notices, and paging follows TED's token."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from watcher.errors import FetchError, ParseError
from watcher.records import NOTICE_TYPES, NoticeRecord, PollWindow, RawPage
from watcher.sources.http import Fetcher
from watcher.sources.ted import FIELDS, TedConfig, TedSource, notice_record

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ted"
PAGES = ("search_page1.json", "search_page2.json")
MIRROR = "http://127.0.0.1:8999"
UTC = dt.UTC


def _source(**keys: Any) -> TedSource:
    return TedSource(TedConfig(name="ted-fr", kind="ted", **keys))


def _page(name: str) -> RawPage:
    return RawPage(url=f"{MIRROR}/v3/notices/search", content=(FIXTURES / name).read_bytes())


def _notices() -> dict[str, NoticeRecord]:
    source = _source()
    return {r.native_id: r for name in PAGES for r in source.parse(_page(name))}


RAW_NOTICES = [n for name in PAGES for n in json.loads((FIXTURES / name).read_bytes())["notices"]]
LOON_PLAGE = "France – Travaux de construction de prisons – Construction d'un centre de rétention"


@pytest.mark.parametrize(
    ("native_id", "expected"),
    [
        pytest.param(
            "612845-2025",
            {
                "notice_type": "notice",
                "buyer": "Ministère de l'Intérieur - DEPAFI - Sous-direction de l'immobilier",
                "published": dt.date(2025, 10, 3),
                # the later of the two lots' deadlines, 16:00 Paris time
                "deadline": dt.datetime(2025, 11, 24, 15, 0, tzinfo=UTC),
                "cpv": ("45216113", "35120000"),
                "place": "Loon-Plage",
                "department": "59",
                "value": 30_000_000.0,
                "language": "fr",
                "url": "https://ted.europa.eu/fr/notice/-/detail/612845-2025",
                "documents": (
                    "https://www.marches-publics.gouv.fr/index.php?page=Entreprise."
                    "EntrepriseDetailsConsultation&refConsultation=2654321&orgAcronyme=g7h",
                ),
            },
            id="loon-plage-contract-notice",
        ),
        pytest.param(
            "634102-2025",
            {"notice_type": "corrigendum", "deadline": dt.datetime(2025, 12, 8, 11, 0, tzinfo=UTC)},
            id="loon-plage-corrigendum",
        ),
        pytest.param(
            "301177-2026",
            {
                "notice_type": "award",
                "title": "France – Services de gardiennage – Escortes et sécurité des centres de "
                "rétention administrative de Lesquin et Coquelles",
                "buyer": "SGAMI Nord",
                "winners": ("SÛRETÉ NORD ESCORTES SAS", "GARDIENNAGE CÔTE D'OPALE SARL"),
                "value": 4_180_000.0,
                "currency": "EUR",
                "place": "Lesquin",
                "department": "59",
                "deadline": None,
            },
            id="cra-escorts-award",
        ),
        pytest.param(
            "479730-2026",
            {
                "title": "Germany – Guard services – Bewachung Henning-von-Tresckow-Kaserne",
                "buyer": "Bundeswehr-Dienstleistungszentrum Berlin",
                "language": "en",
                "department": None,
                # restricted procedure: the deadline for requests, a date without a time
                "deadline": dt.datetime(2026, 8, 9, 22, 0, tzinfo=UTC),
                "published": dt.date(2026, 7, 13),
            },
            id="real-german-notice",
        ),
        pytest.param(
            "443934-2026",
            {
                "title": "Assurances de la construction",
                "buyer": "HABELLIS (21)",
                "deadline": dt.datetime(2026, 9, 29, 22, 0, tzinfo=UTC),
                "cpv": ("66510000", "66516000"),
                "lots": (),
                "documents": (
                    "https://www.marches-publics.info/index.cfm?fuseaction=dematEnt.login"
                    "&type=DCE&IDM=1",
                ),
            },
            id="real-french-extract",
        ),
        pytest.param(
            "291981-2026",
            {
                "notice_type": "award",
                "winners": ("Wach- und Werkschutz Kurt Strube GmbH", "AWD-Gebäudedienste"),
                "value": pytest.approx(537_287.72),
                "currency": "EUR",
            },
            id="real-german-award",
        ),
    ],
)
def test_fixture_notices_have_the_fields_a_reader_sees(
    native_id: str, expected: dict[str, Any]
) -> None:
    record = _notices()[native_id]
    for key, value in expected.items():
        assert getattr(record, key) == value, key


def test_every_fixture_notice_is_valid() -> None:
    records = _notices()
    assert len(records) == 6
    for record in records.values():
        assert record.title
        assert record.url == f"https://ted.europa.eu/fr/notice/-/detail/{record.native_id}"
        assert record.notice_type in NOTICE_TYPES
        assert record.published is not None
        assert record.deadline is None or record.deadline.tzinfo == UTC
        assert json.loads(record.raw)["publication-number"] == record.native_id
    assert any("rétention administrative" in r.title for r in records.values())
    assert records["612845-2025"].title.startswith(LOON_PLAGE)


@pytest.mark.parametrize(
    ("title", "expected", "language"),
    [
        ({"eng": "In English", "fra": "En français"}, "En français", "fr"),
        ({"deu": "Auf Deutsch", "eng": "In English"}, "In English", "en"),
        ({"deu": ["Auf Deutsch"]}, "Auf Deutsch", "de"),
        ({"FRA": ["En français"], "ENG": "In English"}, "En français", "fr"),
        ({"fra": [], "eng": [" In English "]}, "In English", "en"),
        ("Plain string", "Plain string", None),
        (["One-element list"], "One-element list", None),
    ],
)
def test_texts_prefer_french_then_english_then_any(
    title: Any, expected: str, language: str | None
) -> None:
    record = notice_record({"publication-number": "1-2026", "notice-title": title})
    assert record is not None
    assert (record.title, record.language) == (expected, language)


def test_lots_take_a_value_only_from_arrays_with_one_entry_per_lot() -> None:
    records = _notices()
    loon = records["612845-2025"].lots
    assert [lot.number for lot in loon] == ["LOT-0001", "LOT-0002"]
    assert [lot.title for lot in loon] == [
        "Conception-réalisation du bâtiment",
        "Sûreté, contrôle d'accès et vidéoprotection",
    ]
    assert [lot.deadline for lot in loon] == [
        dt.datetime(2025, 11, 17, 11, 0, tzinfo=UTC),
        dt.datetime(2025, 11, 24, 15, 0, tzinfo=UTC),
    ]
    # three CPV codes and one estimated value for two lots: not guessed
    assert [(lot.cpv, lot.value) for lot in loon] == [((), None), ((), None)]
    # the corrigendum gives one time for two dates: it applies to both
    assert [lot.deadline for lot in records["634102-2025"].lots] == [
        dt.datetime(2025, 12, 1, 11, 0, tzinfo=UTC),
        dt.datetime(2025, 12, 8, 11, 0, tzinfo=UTC),
    ]
    assert [lot.value for lot in records["291981-2026"].lots] == [320649.86, 210787.86, 5850.0]


def test_deadlines_of_fewer_lots_than_identifiers_still_give_the_latest() -> None:
    record = notice_record(
        {
            "publication-number": "2-2026",
            "notice-title": {"fra": "Nettoyage du CRA"},
            "identifier-lot": ["LOT-0001", "LOT-0002", "LOT-0003"],
            "deadline-receipt-tender-date-lot": ["2026-09-01+02:00", "2026-09-15+02:00"],
            "deadline-receipt-tender-time-lot": ["10:00:00+02:00", "11:00:00+02:00", "12:00:00Z"],
            "procedure-identifier": "5a1d3c1e-0b9f-4e7c-9f7e-2b8a1c3d4e5f",
        }
    )
    assert record is not None
    assert [lot.deadline for lot in record.lots] == [None, None, None]
    assert record.deadline == dt.datetime(2026, 9, 14, 22, 0, tzinfo=UTC)
    assert record.procedure_id == "5a1d3c1e-0b9f-4e7c-9f7e-2b8a1c3d4e5f"


@pytest.mark.parametrize(
    ("notice_type", "form_type", "expected"),
    [
        ("cn-standard", "competition", "notice"),
        ("cn-social", None, "notice"),
        ("can-standard", "result", "award"),
        ("veat", None, "award"),
        ("pin-only", "planning", "prior_information"),
        ("corr", "change", "corrigendum"),
        ("can-modif", None, "corrigendum"),
        (None, "change", "corrigendum"),
        (None, "result", "award"),
        ("something-new", None, "notice"),
    ],
)
def test_notice_types(notice_type: str | None, form_type: str | None, expected: str) -> None:
    notice = {"publication-number": "3-2026", "notice-type": notice_type, "form-type": form_type}
    record = notice_record({k: v for k, v in notice.items() if v is not None})
    assert record is not None
    assert record.notice_type == expected


def _serve(handler: Any, **fetcher_keys: Any) -> Fetcher:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return Fetcher(client, backoff=0, **fetcher_keys)


WINDOW = PollWindow(
    now=dt.datetime(2026, 7, 15, 8, 0, tzinfo=UTC), since=dt.datetime(2026, 7, 10, 8, 0, tzinfo=UTC)
)


def test_fetch_follows_the_iteration_token_with_the_window_in_the_query() -> None:
    token = json.loads((FIXTURES / PAGES[0]).read_bytes())["iterationNextToken"]
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert (request.method, str(request.url)) == ("POST", f"{MIRROR}/v3/notices/search")
        body = json.loads(request.content)
        bodies.append(body)
        name = PAGES[1] if body.get("iterationNextToken") == token else PAGES[0]
        return httpx.Response(200, content=(FIXTURES / name).read_bytes())

    source = _source(base_url=MIRROR)
    pages = list(source.fetch(_serve(handler), WINDOW))
    assert len(pages) == 2
    assert "iterationNextToken" not in bodies[0]
    assert bodies[1]["iterationNextToken"] == token
    for body in bodies:
        assert body["limit"] <= 250
        assert (body["scope"], body["paginationMode"]) == ("ALL", "ITERATION")
        assert body["fields"] == list(FIELDS)
        # the last success minus three days of overlap, as YYYYMMDD
        assert " AND publication-date>=20260707 SORT BY publication-date DESC" in body["query"]
        assert 'FT~("rétention administrative")' in body["query"]
    assert len([r for page in pages for r in source.parse(page)]) == 6


def test_fetch_stops_when_the_token_repeats() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, content=(FIXTURES / PAGES[0]).read_bytes())

    assert len(list(_source().fetch(_serve(handler), WINDOW))) == 2
    assert len(calls) == 2


def test_firewall_403_is_retried_for_ted_only() -> None:
    answers = [httpx.Response(403, text="Request blocked"), httpx.Response(200, content=b"{}")]
    fetcher = _serve(lambda request: answers.pop(0), retry_statuses=TedSource.retry_statuses)
    assert len(list(_source().fetch(fetcher, WINDOW))) == 1
    assert fetcher.requests == 2
    assert TedSource.min_interval == 1.0
    blocked = _serve(lambda request: httpx.Response(403, text="Request blocked"))
    with pytest.raises(FetchError, match="403"):
        list(_source().fetch(blocked, WINDOW))


@pytest.mark.parametrize(
    "content", [b"<html><body>Maintenance</body></html>", b'{"message": "QUERY_SYNTAX_ERROR"}']
)
def test_an_answer_that_is_not_a_search_result_is_a_parse_error(content: bytes) -> None:
    with pytest.raises(ParseError):
        list(_source().parse(RawPage(url=MIRROR, content=content)))


def test_fetching_a_maintenance_page_is_a_parse_error() -> None:
    fetcher = _serve(lambda request: httpx.Response(200, text="<html>Maintenance</html>"))
    with pytest.raises(ParseError, match="expected JSON"):
        list(_source().fetch(fetcher, WINDOW))


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"limit": 500}, "less than or equal to 250"),
        ({"query": 'FT~("cra") SORT BY publication-date ASC'}, "must not sort"),
        ({"query": "  "}, "must not be empty"),
        ({"base_url": "https://api.ted.europa.eu/v3"}, "scheme and host only"),
    ],
)
def test_config_rejects(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _source(**keys)


def test_config_defaults() -> None:
    config = _source().config
    assert (config.base_url, config.limit, config.scope) == (
        "https://api.ted.europa.eu",
        100,
        "ALL",
    )


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@given(data=st.data())
def test_parse_never_raises_on_damaged_notices(data: st.DataObject) -> None:
    notice = dict(data.draw(st.sampled_from(RAW_NOTICES)))
    for key in data.draw(st.sets(st.sampled_from(sorted(notice)))):
        del notice[key]
    for key in data.draw(
        st.sets(st.sampled_from(sorted(notice)), max_size=3) if notice else st.just(set())
    ):
        notice[key] = data.draw(JSON)
    page = RawPage(url=MIRROR, content=json.dumps({"notices": [notice]}).encode())
    records = list(_source().parse(page))
    assert all(isinstance(r, NoticeRecord) and r.native_id for r in records)


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"deadline-receipt-tender-date-lot": ["2026-07-13+02:00"]}, "13/07/2026"),
        (
            {
                "deadline-receipt-tender-date-lot": ["2026-07-13+02:00"],
                "deadline-receipt-tender-time-lot": ["12:00:00+02:00"],
            },
            "13/07/2026 12:00",
        ),
        (
            {
                "deadline-receipt-tender-date-lot": ["2026-07-13Z"],
                "deadline-receipt-tender-time-lot": ["10:00:00Z"],
            },
            "13/07/2026 10:00 (UTC)",
        ),
    ],
    ids=["date-only", "paris-time", "utc"],
)
def test_deadline_is_shown_as_ted_gives_it(fields: dict[str, Any], shown: str) -> None:
    """A date alone is a date, not 00:00; a time keeps its zone (issues 12 and 13)."""
    from watcher.core.deadlines import shown_for  # noqa: PLC0415

    notice = notice_record({"publication-number": "1-2026", "notice-title": {"fra": "x"}, **fields})
    assert notice is not None
    assert shown_for(notice.deadline, notice.deadline_local, notice.deadline_zone) == shown


def test_every_departement_of_the_place_of_performance() -> None:
    notice = notice_record(
        {
            "publication-number": "2-2026",
            "notice-title": {"fra": "x"},
            "place-of-performance-country-lot": ["FRA", "FRA"],
            "place-of-performance-post-code-lot": ["67100", "57000"],
            "buyer-post-code": ["75008"],
        }
    )
    assert notice is not None
    assert (notice.departments, notice.department) == (("67", "57"), "67")
