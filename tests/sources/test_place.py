"""`place`: Atexo result rows and consultation pages parse into notices; PRADO paging posts back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from watcher.errors import ParseError
from watcher.records import PollWindow, RawPage
from watcher.sources.http import Fetcher
from watcher.sources.place import PAGER_NEXT, PlaceSource

FIXTURES = Path(__file__).parent.parent / "fixtures" / "place"
PLACE = "https://www.marches-publics.gouv.fr"
MAXIMILIEN = "https://marches.maximilien.fr"
SEARCH = f"{PLACE}/?page=Entreprise.EntrepriseAdvancedSearch&AllCons"
WINDOW = PollWindow(now=dt.datetime(2026, 3, 12, tzinfo=dt.UTC))
UTC = dt.UTC


def source(**config: object) -> PlaceSource:
    return PlaceSource(PlaceSource.Config(name="place", kind="place", **config))


def page(name: str, url: str, **meta: object) -> RawPage:
    return RawPage(url, (FIXTURES / name).read_bytes(), "text/html; charset=utf-8", meta=meta)


CASES = [
    pytest.param(
        "maximilien_allcons.html",
        f"{MAXIMILIEN}/?AllCons=&page=Entreprise.EntrepriseAdvancedSearch",
        10,
        "a0z:903785",
        {
            "buyer": "RESAH",
            "procedure_id": "2025-R016-000-000",
            "published": dt.date(2025, 2, 25),
            "deadline": dt.datetime(2033, 4, 1, 15, 30, tzinfo=UTC),
            "url": f"{MAXIMILIEN}/?page=Entreprise.EntrepriseDetailsConsultation"
            "&refConsultation=903785&orgAcronyme=a0z",
            "documents": (
                f"{MAXIMILIEN}/index.php?page=Entreprise.EntrepriseDownloadReglement"
                "&id=OTAzNzg1&orgAcronyme=a0z",
            ),
        },
        id="maximilien-all-consultations",
    ),
    pytest.param(
        "maximilien_keyword_1hit.html",
        f"{MAXIMILIEN}/?page=Entreprise.EntrepriseAdvancedSearch&searchAnnCons",
        1,
        "a2l:925651",
        {
            "title": "MISSION D’ETUDES TECHNIQUES POUR UN DIAGNOSTIC GEOMETRE Démolition et "
            "reconstruction du centre de Secours de Meudon, 5 rue charles",
            "buyer": "PREFECTURE DE POLICE DE PARIS",
            "procedure_id": "2500188",
            "published": dt.date(2025, 11, 18),
            "deadline": dt.datetime(2025, 12, 18, 16, 30, tzinfo=UTC),
            "place": "(92) Hauts-de-Seine",
            "department": "92",
        },
        id="maximilien-keyword",
    ),
    pytest.param(
        "place_dce_page.html",
        f"{PLACE}/index.php?page=entreprise.EntrepriseDemandeTelechargementDce"
        "&refConsultation=625746&orgAcronyme=x7c",
        1,
        "x7c:625746",
        {
            "title": "AOO Prestations d'assurance Risques Statutaires pour les 4 Etablissements "
            "du GHT de l'Artois",
            # entité publique — entité d'achat (issue 13)
            "buyer": "Etablissements de Santé et Médico-sociaux — "
            "ESMS / 62 CH / 62 CH SM - CH BETHUNE - service marchés",
            "procedure_id": "2020-141",
            "deadline": dt.datetime(2020, 9, 16, 10, 0, tzinfo=UTC),
            "cpv": ("66512000",),
            "department": "62",
            "documents": (
                f"{PLACE}/index.php?page=Entreprise.EntrepriseDemandeTelechargementDce"
                "&refConsultation=625746&orgAcronyme=x7c",
            ),
        },
        id="place-consultation-page",
    ),
    pytest.param(
        "results_page1.html",
        SEARCH,
        2,
        "g7h:2412345",
        {
            "title": "Marché de restauration des personnes retenues au CRA de Lille-Lesquin",
            "buyer": "SGAMI NORD",
            "procedure_id": "2026-SGAMI-N-014",
            "published": dt.date(2026, 3, 3),
            "deadline": dt.datetime(2026, 4, 14, 10, 0, tzinfo=UTC),
            "department": "59",
            "url": f"{PLACE}/?page=Entreprise.EntrepriseDetailsConsultation"
            "&refConsultation=2412345&orgAcronyme=g7h",
        },
        id="place-results-cra",
    ),
    pytest.param(
        "detail_2412345.html",
        f"{PLACE}/?page=Entreprise.EntrepriseDetailsConsultation"
        "&refConsultation=2412345&orgAcronyme=g7h",
        1,
        "g7h:2412345",
        {
            "buyer": "Ministère de l'Intérieur — SGAMI NORD / Bureau zonal des achats",
            "cpv": ("55321000", "55520000"),
            "deadline": dt.datetime(2026, 4, 14, 10, 0, tzinfo=UTC),
            "documents": (
                f"{PLACE}/index.php?page=Entreprise.EntrepriseDownloadReglement"
                "&id=MjQxMjM0NQ==&orgAcronyme=g7h",
                f"{PLACE}/index.php?page=Entreprise.EntrepriseDemandeTelechargementDce"
                "&refConsultation=2412345&orgAcronyme=g7h",
            ),
        },
        id="place-consultation-cra",
    ),
]


@pytest.mark.parametrize(("name", "url", "count", "native_id", "expected"), CASES)
def test_fixture_parses_into_notices(name, url, count, native_id, expected):
    notices = list(source().parse(page(name, url)))
    assert len(notices) == count
    assert all(n.native_id and n.title and n.language == "fr" for n in notices)
    assert all(n.deadline is None or n.deadline.tzinfo is not None for n in notices)
    notice = next(n for n in notices if n.native_id == native_id)
    for field, value in expected.items():
        assert getattr(notice, field) == value, field


def test_description_names_procedure_and_category():
    notice = next(source().parse(page("results_page1.html", SEARCH)))
    assert "Procédure : Appel d'offres ouvert (AOO)" in notice.description
    assert "Catégorie : Services" in notice.description
    assert "centre de rétention administrative de Lille-Lesquin" in notice.description


def test_page_without_results_markup_is_an_error():
    maintenance = RawPage(SEARCH, b"<html><body><h1>Maintenance en cours</h1></body></html>")
    with pytest.raises(ParseError, match="no Atexo results list"):
        list(source().parse(maintenance))


def test_search_urls_by_keyword_and_organisation():
    urls = source(keywords=["rétention", "CRA Lille"], organisations=["g7h"]).search_urls()
    assert urls == [
        f"{SEARCH}&keyWord=r%C3%A9tention",
        f"{SEARCH}&keyWord=CRA%20Lille",
        f"{SEARCH}&orgAcronyme=g7h",
    ]
    assert source().search_urls() == [SEARCH]
    other = source(base_url=MAXIMILIEN).search_urls()
    assert other == [f"{MAXIMILIEN}/?page=Entreprise.EntrepriseAdvancedSearch&AllCons"]


def test_polite_by_default():
    assert source().interval() == 2.0
    assert source(min_interval=0).interval() == 0


class Portal:
    """A fake PLACE: the results of one search over two PRADO pages, and consultation pages."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        query = parse_qs(urlsplit(str(request.url)).query)
        html = {"content-type": "text/html; charset=utf-8"}
        if request.method == "POST":
            form = parse_qs(request.content.decode())
            assert form["PRADO_POSTBACK_TARGET"] == [PAGER_NEXT]
            assert form["PRADO_PAGESTATE"] == ["UExBQ0UtUkVTVUxUUy1QQUdFLTE="]
            return httpx.Response(200, headers=html, content=self.read("results_page2.html"))
        if "EntrepriseDetailsConsultation" in query.get("page", [""])[0]:
            if query["refConsultation"] == ["2412345"]:
                return httpx.Response(200, headers=html, content=self.read("detail_2412345.html"))
            return httpx.Response(404, text="Consultation introuvable")
        return httpx.Response(200, headers=html, content=self.read("results_page1.html"))

    @staticmethod
    def read(name: str) -> bytes:
        return (FIXTURES / name).read_bytes()


def poll(src: PlaceSource, portal: Portal) -> tuple[list[RawPage], list]:
    client = httpx.Client(transport=httpx.MockTransport(portal))
    fetcher = Fetcher(client, min_interval=0, sleep=lambda _: None)
    pages = list(src.fetch(fetcher, WINDOW))
    return pages, [notice for p in pages for notice in src.parse(p)]


def test_prado_paging_posts_back_page_state_and_pager_target():
    portal = Portal()
    pages, notices = poll(source(keywords=["rétention"]), portal)
    assert [r.method for r in portal.requests] == ["GET", "POST"]
    # The postback goes to the form's action, as a browser would send it.
    assert portal.requests[1].url == (
        f"{PLACE}/?AllCons=&page=Entreprise.EntrepriseAdvancedSearch&keyWord=r%C3%A9tention"
    )
    assert [p.meta["page"] for p in pages] == [1, 2]  # stops at nombrePageTop
    assert [n.native_id for n in notices] == ["g7h:2412345", "g7h:2412399", "k2p:2413001"]


def test_max_pages_bounds_the_paging():
    portal = Portal()
    _, notices = poll(source(max_pages=1), portal)
    assert len(portal.requests) == 1
    assert len(notices) == 2


def test_detail_mode_reads_consultation_pages_once_and_keeps_row_values():
    portal = Portal()
    pages, notices = poll(source(keywords=["rétention", "CRA"], detail=True), portal)
    details = [r for r in portal.requests if "Details" in str(r.url)]
    assert len(details) == 3  # the second search finds the same three: not read again
    assert [p.meta["role"] for p in pages].count("detail") == 3
    by_id = {n.native_id: n for n in notices}
    assert len(notices) == 3 == len(by_id)  # one notice per consultation, not one per page
    cra = by_id["g7h:2412345"]
    assert cra.cpv == ("55321000", "55520000")
    assert cra.buyer == "Ministère de l'Intérieur — SGAMI NORD / Bureau zonal des achats"
    assert cra.published == dt.date(2026, 3, 3)  # from the results row
    assert len(cra.documents) == 2
    # A consultation page that is gone (404) still gives the notice from its results row.
    assert by_id["g7h:2412399"].title == "Nettoyage des locaux du commissariat de Roubaix"
    assert by_id["k2p:2413001"].department == "62"
