"""`decp`: awarded contracts in the 2019 and 2022 formats become award notices, filtered."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from watcher.errors import ParseError
from watcher.records import PollWindow, RawPage
from watcher.settings import Settings
from watcher.sources.decp import DecpSource
from watcher.sources.http import Fetcher, build_client

FIXTURES = Path(__file__).parent.parent / "fixtures" / "decp"
RESOURCE = "https://www.data.gouv.fr/fr/datasets/r/5cd57bf6-0000-0000-0000-000000000000"


def source(**config: object) -> DecpSource:
    config.setdefault("urls", ["/fr/datasets/r/5cd57bf6-0000-0000-0000-000000000000"])
    return DecpSource(DecpSource.Config(name="decp", kind="decp", **config))


def parse(name: str, src: DecpSource | None = None):
    page = RawPage(RESOURCE, (FIXTURES / name).read_bytes())
    return list((src or source()).parse(page))


CASES = [
    pytest.param(
        "interieur_2019format.json",
        15,
        "13002036500016:2019100013482100",
        {
            "buyer": "Ministère de l'Intérieur - SGAMI OUEST - Rennes - Bureau Zonal des Achats "
            "et des Marchés Publics",
            "winners": ("MEIGNAN ENGASSER PERAUD ARCHITECTES",),
            "value": 247100.0,
            "cpv": ("71000000",),
            "department": "35",
            "procedure_id": "2019100013482100",
        },
        id="2019-format-interieur",
    ),
    pytest.param(
        "maximilien_2022format.json",
        4,
        "13001845000028:D2F0000502",
        {
            "buyer": "13001845000028",  # the 2022 format names buyers by SIRET only
            "winners": ("SIRET 13001845000010",),
            "value": 50.0,  # modifications[0].montant: the value after amendment (issue 24)
            "published": dt.date(2024, 10, 6),
            "place": "Code département 75",
            "department": "75",
        },
        id="2022-format-maximilien",
    ),
    pytest.param(
        "decp_processing_2022_fixture.json",
        1,
        "21974022200019:2022VI2022.242",
        {
            "winners": ("SIRET 34027049500021", "TVA 99999999999"),
            "cpv": ("45316110",),
            "department": "974",
            "published": dt.date(2022, 12, 5),
        },
        id="2022-format-two-winners",
    ),
    pytest.param(
        "cra_2019format_reconstructed.json",
        2,
        "13002036500032:2026-SGAMI-N-014",
        {
            # U+FFFD comes from the source and stays as it is.
            "title": "Pr\ufffdparation et livraison des repas des personnes retenues au centre de "
            "r\ufffdtention administrative de Lille-Lesquin - lot 1 : repas",
            "buyer": "Minist\ufffdre de l'Int\ufffdrieur - SGAMI NORD - Bureau zonal des achats",
            "procedure_id": "2026-SGAMI-N-014",
            "winners": ("RESTAURATION COLLECTIVE DU NORD",),
            "value": 1310000.0,  # modifications[0].montant (montant 1250000 before, issue 24)
            "published": dt.date(2026, 7, 3),
        },
        id="2019-format-cra",
    ),
]


@pytest.mark.parametrize(("name", "count", "native_id", "expected"), CASES)
def test_contracts_become_award_notices(name, count, native_id, expected):
    notices = parse(name)
    assert len(notices) == count
    assert all(n.notice_type == "award" and n.title and n.url == RESOURCE for n in notices)
    assert all(n.currency == "EUR" for n in notices if n.value is not None)
    notice = next(n for n in notices if n.native_id == native_id)
    for field, value in expected.items():
        assert getattr(notice, field) == value, field


def test_modifications_are_folded_into_the_description():
    (notice,) = [n for n in parse("maximilien_2022format.json") if n.title == "test avenant"]
    assert notice.description.endswith(
        "Modification 1 du 2019-06-25 : montant 50 € HT, titulaires SIRET 13001845000010"
    )
    cra = parse("cra_2019format_reconstructed.json")[0]
    assert "Modification du 2026-11-02 : Ajout de repas pour régimes spécifiques, montant " in (
        cra.description
    )


def test_french_written_amount_and_postal_code():
    doors = parse("cra_2019format_reconstructed.json")[1]
    assert doors.value == 184500.5
    assert doors.department == "62"
    assert doors.winners == ("SIRET 40123456700027",)  # no name: type and identifier


LILLE = "13002036500032:2026-SGAMI-N-014"
COQUELLES = "17620001300014:2026-PREF62-007"
RENNES = "13002036500016:2019100013482100"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"buyers": ["SGAMI OUEST"]}, [RENNES]),
        ({"buyers": ["sgami nord"]}, [LILLE]),
        ({"buyers": ["Ministère de l’Intérieur - SGAMI NORD"]}, [LILLE]),  # across U+FFFD
        ({"buyers": ["Ministère de l’Intérieur - SGAMI OUEST"]}, [RENNES]),  # ’ or '
        ({"buyers": ["130020365"]}, [LILLE, RENNES]),  # a SIRET prefix
        ({"cpv_prefixes": ["5532"]}, [LILLE]),
        ({"cpv_prefixes": ["454", "71"]}, [COQUELLES, RENNES]),
        ({"keywords": ["rétention"]}, [LILLE]),  # "r\ufffdtention" in the source
        ({"keywords": ["CRA"]}, [COQUELLES]),  # whole words: not "crayon", not "écran"
        ({"buyers": ["Pas-de-Calais"], "keywords": ["rétention"]}, []),  # filters combine
        (
            {"buyers": ["Intérieur"], "cpv_prefixes": ["45"], "keywords": ["CRA", "rétention"]},
            [COQUELLES],
        ),
    ],
    ids=[
        "buyer-name",
        "buyer-case",
        "buyer-broken-accents",
        "buyer-apostrophe",
        "buyer-siret",
        "cpv",
        "cpv-any",
        "keyword-broken-accents",
        "keyword-whole-word",
        "all-must-match",
        "three-filters",
    ],
)
def test_filters(filters, expected):
    src = source(**filters)
    found = parse("cra_2019format_reconstructed.json", src) + parse(
        "interieur_2019format.json", src
    )
    assert sorted(n.native_id for n in found) == sorted(expected)


def test_fetch_reads_each_resource_by_path_or_absolute_url():
    asked: list[str] = []
    files = {
        "/fr/datasets/r/aife": "interieur_2019format.json",
        "/decp/maximilien.json": "maximilien_2022format.json",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if request.url.path == "/fr/datasets/r/aife":  # data.gouv redirects to the file
            return httpx.Response(302, headers={"location": "https://static.example/aife.json"})
        if request.url.host == "static.example":
            return httpx.Response(
                200, content=(FIXTURES / files["/fr/datasets/r/aife"]).read_bytes()
            )
        return httpx.Response(200, content=(FIXTURES / files[request.url.path]).read_bytes())

    src = source(
        base_url="http://127.0.0.1:8080",
        urls=["/fr/datasets/r/aife", "https://decp.example/decp/maximilien.json"],
    )
    with build_client(Settings(), transport=httpx.MockTransport(handler)) as client:
        pages = list(
            src.fetch(Fetcher(client), PollWindow(now=dt.datetime(2026, 3, 12, tzinfo=dt.UTC)))
        )
    assert asked == [
        "http://127.0.0.1:8080/fr/datasets/r/aife",
        "https://static.example/aife.json",
        "https://decp.example/decp/maximilien.json",
    ]
    notices = [n for page in pages for n in src.parse(page)]
    assert len(notices) == 19
    # The link is the configured resource, stable across redirects.
    assert notices[0].url == "http://127.0.0.1:8080/fr/datasets/r/aife"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"<html>Maintenance</html>", "not JSON"), (b'{"data": []}', "not a DECP file")],
    ids=["html", "other-json"],
)
def test_unreadable_files_are_errors(content, message):
    with pytest.raises(ParseError, match=message):
        list(source().parse(RawPage(RESOURCE, content)))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"cpv_prefixes": ["79-713"]}, "not the start of a CPV code"),
        ({"urls": []}, "at least 1 item"),
        ({"base_url": "https://www.data.gouv.fr/api/1"}, "give scheme and host only"),
    ],
    ids=["cpv", "no-urls", "base-url-path"],
)
def test_config_errors(config, message):
    with pytest.raises(ValidationError, match=message):
        source(**config)
