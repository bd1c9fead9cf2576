"""The `boamp` source: parsing every `donnees` shape, tolerating anything, paging the API politely."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from watcher.errors import ParseError
from watcher.records import NoticeRecord, PollWindow, RawPage
from watcher.sources.boamp import (
    DEFAULT_QUERY,
    MAX_RESULTS,
    BoampConfig,
    BoampSource,
    parse_record,
)
from watcher.sources.boamp_donnees import read_donnees
from watcher.sources.http import Fetcher

FIXTURES = Path(__file__).parent.parent / "fixtures" / "boamp"
UTC = dt.UTC


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def source(**keys: Any) -> BoampSource:
    return BoampSource(BoampConfig(name="boamp", kind="boamp", **keys))


def notices(name: str) -> dict[str, NoticeRecord]:
    page = RawPage(url=f"file:{name}", content=load(name))
    return {n.native_id: n for n in source().parse(page)}


def at(year: int, month: int, day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


# ------------------------------------------------------------------------------------- parsing

SOISY = "COMMUNE DE SOISY-SOUS-MONTMORENCY"
SOISY_FOLDER = "0df69801-9633-409b-8216-41d5900b694e"
MULHOUSE = "CA MULHOUSE ALSACE AGGLOMERATION"
MULHOUSE_TITLE = "Assurance Dommage Ouvrage (DO) et Assurance Tous Risques Chantier (TRC)"
DUNKERQUE = "Construction du centre de rétention administrative de Dunkerque (Loon-Plage)"

# fixture, idweb: title, buyer, notice_type, cpv, deadline, winners, related_ids, procedure_id
CASES: list[tuple[str, str, tuple[Any, ...]]] = [
    (
        "page_eforms.json",
        "25-123573",
        ("Marché de prestation de géomètre", SOISY, "notice", ("71351810",),
         at(2025, 12, 15, 11), (), (), SOISY_FOLDER),
    ),
    (
        "page_eforms.json",
        "25-127510",
        ("Marché de prestation de géomètre", SOISY, "cancellation", ("71351810",),
         at(2025, 12, 15, 11), (), ("25-123573",), SOISY_FOLDER),
    ),
    (
        "page_eforms.json",
        "25-123631",
        ("réalisation de relevés topographiques et de plans des réseaux d'assainissement (lot 1) "
         "et l'étude géologique et géotechnique préalable q (lot 2)",
         "SYNDICAT INTERCOMMUNAUTAIRE POUR L'ASSAINISSEMENT DE LA REGION DE CERGY-PONTOISE ET DU "
         "VEXIN - SIARP", "notice", ("71351810", "71332000"), at(2025, 12, 8, 11), (), (),
         "7107d708-cb22-456d-b33d-03ac30eccfbb"),
    ),
    (
        "page_eforms.json",
        "25-123130",
        ("Nettoyage des parkings", "Ville de Puteaux", "notice", ("90910000", "90914000"),
         at(2025, 12, 9, 11), (), (), "5a7e27ff-d4bf-458b-8afb-4eb699804566"),
    ),
    (
        "page_v1.json",
        "25-127510",
        ("Marché de prestation de géomètre", SOISY, "cancellation", ("71351810",),
         at(2025, 12, 15, 11), (), ("25-123573",), SOISY_FOLDER),
    ),
    (
        "page_national.json",
        "26-79114",
        (MULHOUSE_TITLE, MULHOUSE, "notice", ("66515200",), at(2026, 9, 15, 12), (), (), None),
    ),
    (
        "page_national.json",
        "26-81230",
        (MULHOUSE_TITLE, MULHOUSE, "corrigendum", (), at(2026, 9, 22, 12), (), ("26-79114",),
         None),
    ),
    (
        "page_national.json",
        "26-90412",
        (MULHOUSE_TITLE, MULHOUSE, "award", (), None, ("ASSUREUR EXEMPLE MUTUELLE",),
         ("26-79114",), None),
    ),
    (
        "page_national.json",
        "26-85517",
        ("Entretien des espaces verts des collèges du Pas-de-Calais",
         "DEPARTEMENT DU PAS-DE-CALAIS", "notice", ("77313000", "77314000"),
         at(2026, 10, 2, 10), (), (), None),
    ),
    (
        "page_national.json",
        "26-30117",
        ("Nettoyage des parkings", "Ville de Puteaux", "award", ("90910000", "90914000"), None,
         ("PROPRETE EXEMPLE SAS",), ("25-123130",), "5a7e27ff-d4bf-458b-8afb-4eb699804566"),
    ),
    (
        "page_national.json",
        "26-70011",
        ("Maintenance des installations de chauffage des bâtiments communaux",
         "COMMUNE D'EXEMPLE-SUR-MER", "prior_information", ("50720000",), None, (), (),
         "1b9e3c5d-0a2f-4e6b-8c7d-9e0f1a2b3c4d"),
    ),
    (
        "page_national.json",
        "20-152081",
        ("services de spectacles musicaux, de théâtre, de cirque et assimilés, d'animations "
         "culturelles, socio culturelles et de loisirs", "Commune de Berre l'Etang", "notice", (),
         at(2021, 3, 1, 11), (), (), None),
    ),
    (
        "page_national.json",
        "19-112233",
        ("Travaux de réhabilitation de l'hôtel de police", "SGAMI NORD", "notice",
         ("45216111", "45310000"), at(2019, 6, 14, 14), (), (), None),
    ),
    (
        "page_national.json",
        "26-95000",
        # Unreadable `donnees`: the top-level `+00:00` is Paris wall-clock time (issue 13).
        ("Fourniture de sel de déneigement", "COMMUNE D'EXEMPLE", "notice", (),
         at(2026, 11, 30, 10), (), (), None),
    ),
    (
        "page_national.json",
        "26-96001",
        ("Location de bungalows de chantier", "COMMUNE D'EXEMPLE", "notice", (), None, (), (),
         None),
    ),
    (
        "poll_page.json",
        "26-118204",
        (DUNKERQUE, "MINISTERE DE L'INTERIEUR - SGAMI NORD", "notice", ("45216113", "71000000"),
         at(2027, 1, 4, 12), (), (), "4c2f6a10-7b7e-4d2b-9a55-3e1f0d8c5b21"),
    ),
    (
        "poll_page.json",
        "26-117950",
        ("Fourniture et livraison de repas pour les personnes retenues au centre de rétention "
         "administrative de Lesquin", "SGAMI NORD", "notice", ("55321000", "55520000"),
         at(2026, 12, 14, 11), (), (), None),
    ),
    (
        "poll_page.json",
        "26-117802",
        ("Création d'un bassin de rétention des eaux pluviales – quartier de la Devèze",
         "VILLE DE BEZIERS", "notice", ("45232130",), at(2026, 12, 18, 11), (), (), None),
    ),
    (
        "poll_page_moved_deadline.json",
        "26-118204",
        (DUNKERQUE, "MINISTERE DE L'INTERIEUR - SGAMI NORD", "notice", ("45216113", "71000000"),
         at(2027, 1, 18, 12), (), (), "4c2f6a10-7b7e-4d2b-9a55-3e1f0d8c5b21"),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("fixture", "idweb", "expected"), CASES, ids=[c[1] for c in CASES])
def test_each_shape_gives_the_fields_a_reader_sees(
    fixture: str, idweb: str, expected: tuple[Any, ...]
) -> None:
    notice = notices(fixture)[idweb]
    got = (
        notice.title,
        notice.buyer,
        notice.notice_type,
        notice.cpv,
        notice.deadline,
        notice.winners,
        notice.related_ids,
        notice.procedure_id,
    )
    assert got == expected
    assert notice.url == f"https://www.boamp.fr/pages/avis/?q=idweb:{idweb}"
    assert notice.raw and json.loads(notice.raw)
    assert notice.language == "fr"


def test_a_record_without_any_id_is_skipped_and_the_rest_are_kept() -> None:
    assert len(notices("page_national.json")) == 10


def test_details_from_donnees_lots_values_places_documents() -> None:
    national = notices("page_national.json")
    fns = national["26-85517"]
    assert [(lot.number, lot.title, lot.cpv) for lot in fns.lots] == [
        ("1", "Secteur Artois", ("77313000",)),
        ("2", "Secteur Littoral", ("77314000",)),
    ]
    assert (fns.value, fns.currency, fns.place) == (1_250_000.0, "EUR", "Arras, Lens et Béthune")
    assert fns.description == "Tonte, taille et élagage dans les collèges publics."
    assert fns.department == "62"  # a string in v1 pages, a list in v2.1
    award = national["26-30117"]
    assert (award.value, award.lots[0].winners) == (612_000.0, ("PROPRETE EXEMPLE SAS",))
    assert national["26-90412"].value == 48_250.0
    assert national["26-79114"].documents[0].startswith("https://www.marches-publics.gouv.fr/")
    assert national["26-95000"].department == "06"
    assert national["26-96001"].department == "2A"
    assert national["26-70011"].lots[0].title == "Maintenance du chauffage"
    dunkerque = notices("poll_page.json")["26-118204"]
    assert (dunkerque.place, dunkerque.department, dunkerque.value) == (
        "Loon-Plage (59279)",
        "59",
        30_000_000.0,
    )
    assert dunkerque.published == dt.date(2026, 11, 20)
    assert dunkerque.lots[0].deadline == at(2027, 1, 4, 12)
    assert any("refConsultation=1234567" in url for url in dunkerque.documents)


def test_text_is_cleaned_and_keeps_accents() -> None:
    siarp = notices("page_eforms.json")["25-123631"]
    assert siarp.description is not None
    assert '"méthode de pose - canalisation"' in siarp.description  # was &amp;quot; twice escaped
    assert "  " not in siarp.title


def test_the_moved_deadline_is_the_only_difference_between_the_poll_pages() -> None:
    before, after = notices("poll_page.json"), notices("poll_page_moved_deadline.json")
    assert before.keys() == after.keys() == {"26-118204", "26-117950", "26-117802"}
    for idweb in ("26-117950", "26-117802"):
        assert before[idweb] == after[idweb]
    moved = after["26-118204"]
    assert moved.deadline == at(2027, 1, 18, 12)
    assert moved.lots[0].deadline == at(2027, 1, 18, 12)
    assert moved.title == before["26-118204"].title


def test_raw_is_canonical_so_the_same_record_hashes_the_same() -> None:
    record = json.loads(load("poll_page.json"))["results"][1]
    reordered = dict(reversed(list(record.items())))
    first, second = parse_record(record), parse_record(reordered)
    assert first is not None and second is not None
    assert first.raw == second.raw
    assert first.raw == json.dumps(
        record, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    assert "rétention" in first.raw


def test_an_export_list_and_a_records_page_give_the_same_notices() -> None:
    results = json.loads(load("page_eforms.json"))["results"]
    exported = RawPage(url="export", content=json.dumps(results).encode())
    assert list(source().parse(exported)) == list(notices("page_eforms.json").values())


def test_donnees_given_as_an_object_reads_like_a_string() -> None:
    record = json.loads(load("page_eforms.json"))["results"][2]
    as_object = dict(record, donnees=json.loads(record["donnees"]))
    assert read_donnees(as_object["donnees"]) == read_donnees(record["donnees"])


@pytest.mark.parametrize(
    "content",
    [
        b"<html><body>Maintenance en cours</body></html>",
        b'{"error_code": "ODSQLError", "message": "bad where"}',
        b'"just a string"',
        b"",
    ],
    ids=["html", "error-object", "string", "empty"],
)
def test_a_page_that_is_not_a_page_of_records_is_a_parse_error(content: bytes) -> None:
    with pytest.raises(ParseError):
        list(source().parse(RawPage(url="https://x.example/records", content=content)))


# ------------------------------------------------------------------------ tolerance (Hypothesis)

ALL_RECORDS = [
    record
    for name in ("page_eforms.json", "page_national.json", "poll_page.json")
    for record in json.loads(load(name))["results"]
]
TOP_KEYS = sorted({key for record in ALL_RECORDS for key in record})
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(paths(value, (*prefix, index)))
    return found


def decoded(donnees: Any) -> Any:
    try:
        return json.loads(donnees) if isinstance(donnees, str) else None
    except ValueError:
        return None  # the garbage-donnees record, or a random string drawn above


def mutate(node: Any, path: tuple[Any, ...], value: Any, *, delete: bool) -> None:
    for step in path[:-1]:
        node = node[step]
    if delete and isinstance(node, dict):
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_parse_never_raises_whatever_keys_are_missing_or_wrong(data: st.DataObject) -> None:
    record = copy.deepcopy(data.draw(st.sampled_from(ALL_RECORDS)))
    for key in data.draw(st.lists(st.sampled_from(TOP_KEYS), max_size=8)):
        record.pop(key, None)
    for key in data.draw(st.lists(st.sampled_from(TOP_KEYS), max_size=4)):
        record[key] = data.draw(JSON)
    donnees = decoded(record.get("donnees"))
    if donnees:
        found = paths(donnees)
        for _ in range(data.draw(st.integers(0, 12))):
            path = data.draw(st.sampled_from(found))
            try:
                mutate(donnees, path, data.draw(JSON), delete=data.draw(st.booleans()))
            except (KeyError, IndexError, TypeError):
                continue  # an earlier mutation removed or replaced this path
        as_string = data.draw(st.booleans())
        record["donnees"] = json.dumps(donnees) if as_string else donnees
    read_donnees(record.get("donnees"))  # no exception, not even one parse_record would absorb
    notice = parse_record(record)
    if notice is not None:
        assert notice.native_id and notice.title
        assert notice.deadline is None or notice.deadline.utcoffset() == dt.timedelta(0)
        assert all(len(code) == 8 and code.isdigit() for code in notice.cpv)
    elif isinstance(record.get("idweb"), str) and record["idweb"].strip():
        pytest.fail("a record with an idweb was dropped")


SHAPES = ["25-123631", "26-118204", "26-30117", "26-90412", "26-81230", "26-85517", "19-112233"]


@pytest.mark.parametrize("idweb", SHAPES)
def test_every_single_key_of_donnees_may_be_missing_or_odd(idweb: str) -> None:
    record = next(r for r in ALL_RECORDS if r.get("idweb") == idweb)
    donnees = json.loads(record["donnees"])
    for path in paths(donnees):
        odd: Any
        for odd in (None, [], {}, "x", 0, [{"#text": "y"}, None]):
            changed = copy.deepcopy(donnees)
            mutate(changed, path, odd, delete=odd is None)
            read_donnees(changed)  # must not raise


@given(donnees=JSON | st.text(max_size=40))
def test_any_donnees_value_reads_without_error(donnees: Any) -> None:
    read_donnees(donnees)


# ------------------------------------------------------------------------------------- fetching


def window(first: dt.date, last: dt.date) -> PollWindow:
    """A poll window whose start is `first` and whose Paris date of `now` is `last`."""
    now = dt.datetime(last.year, last.month, last.day, 10, tzinfo=UTC)
    since = dt.datetime(first.year, first.month, first.day, 10, tzinfo=UTC) + BoampSource.overlap
    return PollWindow(now=now, since=since)


class FakePortal:
    """Answers like the Explore API: `per_day` notices a day, `limit`/`offset` paging."""

    def __init__(self, per_day: int = 0, *, total: int | None = None, head: bool = True) -> None:
        self.per_day, self.total, self.head = per_day, total, head
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        query = {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}
        limit, offset = int(query["limit"]), int(query["offset"])
        assert limit <= 100
        assert offset + limit <= MAX_RESULTS, "the API refuses offset + limit > 10000"
        first, last = dates_of(query["where"])
        total = self.total if self.total is not None else self.per_day * ((last - first).days + 1)
        results = [{"idweb": f"{first:%y}-{offset + i}"} for i in range(min(limit, total - offset))]
        body: dict[str, Any] = {"total_count": total, "results": results}
        if not self.head:
            body = {"results": results}
        return httpx.Response(200, json=body)

    def params(self, index: int) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(str(self.requests[index].url)).query).items()}


def dates_of(where: str) -> tuple[dt.date, dt.date]:
    first = where.split("dateparution>=date'")[1][:10]
    last = where.split("dateparution<=date'")[1][:10]
    return dt.date.fromisoformat(first), dt.date.fromisoformat(last)


def fetch_all(portal: FakePortal, boamp: BoampSource, poll: PollWindow) -> list[RawPage]:
    client = httpx.Client(transport=httpx.MockTransport(portal))
    with client:
        return list(boamp.fetch(Fetcher(client, backoff=0), poll))


def test_offset_paging_stops_at_total_count() -> None:
    portal = FakePortal(total=250)
    pages = fetch_all(portal, source(), window(dt.date(2026, 11, 1), dt.date(2026, 11, 3)))
    assert [page.meta["offset"] for page in pages] == [0, 100, 200]
    assert [portal.params(i)["offset"] for i in range(3)] == ["0", "100", "200"]
    assert sum(len(list(source().parse(page))) for page in pages) == 250


def test_paging_stops_when_results_run_out_even_without_total_count() -> None:
    portal = FakePortal(total=130, head=False)
    pages = fetch_all(portal, source(), window(dt.date(2026, 11, 1), dt.date(2026, 11, 3)))
    assert len(pages) == 2
    empty = FakePortal(total=0)
    assert len(fetch_all(empty, source(), window(dt.date(2026, 11, 1), dt.date(2026, 11, 1)))) == 1


def test_a_window_beyond_10000_records_is_split_by_dates_and_nothing_is_lost() -> None:
    first, last = dt.date(2026, 1, 1), dt.date(2026, 1, 25)
    portal = FakePortal(per_day=1000)  # the whole window: 25,000 notices
    pages = fetch_all(portal, source(), window(first, last))
    windows = sorted({dates_of(portal.params(i)["where"]) for i in range(len(portal.requests))})
    assert portal.params(0)["where"].count("2026-01-01") == 1 and (first, last) in windows
    fetched = sorted({tuple(p.meta["window"].split("..")) for p in pages})
    spans = [(dt.date.fromisoformat(a), dt.date.fromisoformat(b)) for a, b in fetched]
    assert spans[0][0] == first and spans[-1][1] == last
    assert all(b + dt.timedelta(days=1) == c for (_, b), (c, _) in itertools.pairwise(spans))
    assert all(((b - a).days + 1) * 1000 <= MAX_RESULTS for a, b in spans)
    assert sum(len(list(source().parse(page))) for page in pages) == 25_000


def test_the_where_clause_has_the_window_the_query_and_the_departments() -> None:
    portal = FakePortal(total=1)
    boamp = source(
        query=['search("centre de rétention")', 'search("Loon-Plage")'], departments=[59]
    )
    now = dt.datetime(2026, 11, 26, 23, 30, tzinfo=UTC)  # already the 27th in Paris
    since = dt.datetime(2026, 11, 20, 8, tzinfo=UTC)
    fetch_all(portal, boamp, PollWindow(now=now, since=since))
    params = portal.params(0)
    assert params["where"] == (
        "dateparution>=date'2026-11-17' AND dateparution<=date'2026-11-27' AND "
        '(search("centre de rétention") OR search("Loon-Plage")) AND code_departement in ("59")'
    )
    assert params["order_by"].startswith("dateparution")
    assert params["limit"] == "100"


def test_the_default_query_casts_the_wide_net_without_cra() -> None:
    where = source().where(dt.date(2026, 1, 1), dt.date(2026, 1, 2))
    for clause in DEFAULT_QUERY:
        assert clause in where
    assert 'search("rétention administrative")' in where and 'search("Loon-Plage")' in where
    assert '"CRA"' not in where


def test_a_first_poll_reaches_back_the_first_window() -> None:
    portal = FakePortal(total=0)
    now = dt.datetime(2026, 11, 26, 9, tzinfo=UTC)
    fetch_all(portal, source(), PollWindow(now=now))
    assert dates_of(portal.params(0)["where"]) == (dt.date(2026, 10, 27), dt.date(2026, 11, 26))


def test_the_base_url_of_a_mirror_is_respected() -> None:
    portal = FakePortal(total=3)
    boamp = source(base_url="http://127.0.0.1:8765/", page_size=2)
    pages = fetch_all(portal, boamp, window(dt.date(2026, 11, 1), dt.date(2026, 11, 2)))
    urls = [urlsplit(str(request.url)) for request in portal.requests]
    assert {(u.scheme, u.netloc, u.path) for u in urls} == {
        ("http", "127.0.0.1:8765", "/api/explore/v2.1/catalog/datasets/boamp/records")
    }
    assert [page.meta["offset"] for page in pages] == [0, 2]


def test_a_maintenance_page_instead_of_json_is_a_parse_error() -> None:
    def maintenance(request: httpx.Request) -> httpx.Response:
        html = b"<html><h1>Service en maintenance</h1></html>"
        return httpx.Response(200, content=html, headers={"content-type": "text/html"})

    client = httpx.Client(transport=httpx.MockTransport(maintenance))
    poll = window(dt.date(2026, 11, 1), dt.date(2026, 11, 2))
    with client, pytest.raises(ParseError, match="maintenance"):
        list(source().fetch(Fetcher(client, backoff=0), poll))


def test_a_json_answer_without_results_is_a_parse_error() -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})))
    poll = window(dt.date(2026, 11, 1), dt.date(2026, 11, 2))
    with client, pytest.raises(ParseError, match="results"):
        list(source().fetch(Fetcher(client, backoff=0), poll))


# --------------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"page_size": 101}, "less than or equal to 100"),
        ({"departments": ["590"]}, "590: not a département code"),
        ({"query": ["  "]}, "an empty clause"),
        ({"base_url": "https://boamp-datadila.opendatasoft.com/api"}, "scheme and host only"),
        ({"limit": 5}, "Extra inputs are not permitted"),
    ],
    ids=["page-size", "department", "empty-clause", "base-url-path", "unknown-key"],
)
def test_config_errors_say_what_is_wrong(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BoampConfig(name="boamp", kind="boamp", **keys)


def test_config_accepts_departments_as_numbers_and_lower_case() -> None:
    yaml_keys: dict[str, Any] = {"departments": [59, "2a", "6"]}  # as YAML reads them
    config = BoampConfig(name="boamp", kind="boamp", **yaml_keys)
    assert config.departments == ("59", "2A", "06")
