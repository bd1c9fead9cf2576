"""`html`: a list-then-detail scraper described in config, tested on pages served on loopback."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from tests.loopback import LoopbackServer, Reply, Request
from watcher.errors import ParseError
from watcher.records import NoticeRecord, PollWindow, RawPage
from watcher.sources.html import HtmlSource
from watcher.sources.http import Fetcher
from watcher.sources.scrape import clean

FIXTURES = Path(__file__).parent.parent / "fixtures" / "html"
WINDOW = PollWindow(now=dt.datetime(2026, 3, 12, tzinfo=dt.UTC))
FIELDS = {
    "id": "@data-ref",
    "title": "h2.titre a",
    "link": "h2.titre a",
    "buyer": ".acheteur",
    "place": ".lieu",
    "published": ".publication",
    "deadline": ".limite",
    "description": ".resume",
}
DETAIL = {"buyer": "dd.acheteur", "description": ".objet p", "documents": "ul.documents a"}


def serve_folder(folder: Path) -> Callable[[Request], Reply]:
    """A loopback handler that serves the files of `folder`, 404 for anything else."""

    def handler(request: Request) -> Reply:
        path = (folder / request.path.lstrip("/")).resolve()
        if folder.resolve() not in path.parents or not path.is_file():
            return Reply(404, b"Not Found", {"Content-Type": "text/plain"})
        kind = "text/html" if path.suffix == ".html" else "application/xml"
        return Reply(200, path.read_bytes(), {"Content-Type": kind})

    return handler


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """`tests/fixtures/html/` served on a loopback port: the base URL."""
    with LoopbackServer(serve_folder(FIXTURES)) as server:
        yield server.url


def source(list_urls: list[str], **config: object) -> HtmlSource:
    config.setdefault("item", "li.avis")
    config.setdefault("fields", FIELDS)
    return HtmlSource(
        HtmlSource.Config(name="prefecture-nord", kind="html", list_urls=list_urls, **config)
    )


def poll(src: HtmlSource, transport: httpx.BaseTransport | None = None):
    with httpx.Client(transport=transport, trust_env=False) as client:
        fetcher = Fetcher(client, min_interval=0, sleep=lambda _: None, retries=0)
        pages = list(src.fetch(fetcher, WINDOW))
    return pages, [notice for page in pages for notice in src.parse(page)]


def test_list_pages_on_loopback_become_notices(site):
    pages, notices = poll(source([f"{site}/list.html"], next_page="a.suivant"))
    assert [p.url for p in pages] == [f"{site}/list.html", f"{site}/list_page2.html"]
    assert [n.native_id for n in notices] == [
        "PREF59-2026-014",
        "PREF59-2026-015",
        "PREF59-2026-016",
    ]
    cra = notices[0]
    assert cra.title == (
        "Entretien des espaces verts du centre de rétention administrative de Lille-Lesquin"
    )
    assert cra.url == f"{site}/avis/2026-014.html"
    assert cra.buyer == "Préfecture du Nord"
    assert cra.department == "59"
    assert cra.published == dt.date(2026, 3, 2)
    assert cra.deadline == dt.datetime(2026, 4, 15, 10, 0, tzinfo=dt.UTC)  # 12h00 in Paris
    assert cra.description == "Tonte, taille et entretien des espaces extérieurs du CRA."
    # A deadline given as a bare date runs to the end of that day, Paris time.
    assert notices[1].deadline == dt.datetime(2026, 3, 30, 21, 59, tzinfo=dt.UTC)


def test_detail_selectors_fill_fields_from_the_detail_page(site):
    src = source([f"{site}/list.html"], next_page="a.suivant", detail=DETAIL)
    pages, notices = poll(src)
    assert [p.meta["role"] for p in pages] == ["list", "detail", "detail", "list", "detail"]
    assert len(notices) == 3  # one per item; list pages give none when details follow
    cra, furniture, waiting_zone = notices
    assert cra.buyer == "Préfecture du Nord – Bureau de la logistique"
    assert cra.description.startswith("Le marché porte sur l'entretien des espaces verts")
    assert cra.description.endswith("Durée : un an, reconductible trois fois.")
    assert cra.documents == (f"{site}/docs/2026-014-rc.pdf", f"{site}/docs/2026-014-cctp.pdf")
    assert cra.published == dt.date(2026, 3, 2)  # only on the list: kept
    # Its detail page is gone (404): the notice keeps what the list said.
    assert furniture.title == "Fourniture de mobilier de bureau"
    assert "error" in pages[2].meta
    assert waiting_zone.buyer == "Préfecture du Nord – Direction des migrations"
    assert waiting_zone.deadline == dt.datetime(2026, 4, 20, 15, 0, tzinfo=dt.UTC)


def test_max_pages_and_id_defaulting_to_the_link(site):
    fields = {k: v for k, v in FIELDS.items() if k != "id"}
    _, notices = poll(
        source([f"{site}/list.html"], next_page="a.suivant", max_pages=1, fields=fields)
    )
    assert [n.native_id for n in notices] == [
        f"{site}/avis/2026-014.html",
        f"{site}/avis/2026-015.html",
    ]


def mock_site(pages: dict[str, bytes]) -> tuple[httpx.MockTransport, list[str]]:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        body = pages.get(request.url.path)
        if body is None:
            return httpx.Response(404)
        return httpx.Response(200, headers={"content-type": "text/html"}, content=body)

    return httpx.MockTransport(handler), asked


def test_mock_transport_and_a_next_link_that_loops_back():
    looping = (FIXTURES / "list_page2.html").read_bytes().replace(b"precedent", b"suivant")
    transport, asked = mock_site(
        {"/list.html": (FIXTURES / "list.html").read_bytes(), "/list_page2.html": looping}
    )
    src = source(["https://prefecture.example/list.html"], next_page="a.suivant")
    _, notices = poll(src, transport)
    assert asked == ["/list.html", "/list_page2.html"]  # page 2 links back to page 1: stop
    assert len(notices) == 3


def test_date_format_and_attribute_selectors():
    html = b"""<table><tr class="row" data-id="A-1"><td><a href="/a1">Gardiennage du CRA</a></td>
    <td class="until">2026.05.04</td></tr></table>"""
    src = source(
        ["https://port.example/marches"],
        item="tr.row",
        fields={"id": "@data-id", "title": "a", "link": "a@href", "deadline": "td.until"},
        date_format="%Y.%m.%d",
    )
    (notice,) = src.parse(RawPage("https://port.example/marches", html, "text/html"))
    assert notice == NoticeRecord(
        native_id="A-1",
        title="Gardiennage du CRA",
        url="https://port.example/a1",
        deadline=dt.datetime(2026, 5, 4, 21, 59, tzinfo=dt.UTC),
        # A date without a time stays a date for readers (issue 12, point 3).
        deadline_local="2026-05-04",
        deadline_zone="Europe/Paris",
        raw=notice.raw,
    )


def test_empty_list_is_an_error_unless_allowed():
    empty = RawPage(
        "https://prefecture.example/list.html", b"<html><body><p>Refonte</p></body></html>"
    )
    with pytest.raises(ParseError, match=r"no item matches 'li\.avis'"):
        list(source([empty.url]).parse(empty))
    assert list(source([empty.url], allow_empty=True).parse(empty)) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"item": "li..avis"}, "invalid CSS selector 'li..avis'"),
        ({"fields": {"title": "h2"}}, "give `id` or `link`"),
        ({"fields": {**FIELDS, "deadline": "p[class="}}, "invalid CSS selector"),
        ({"list_urls": ["/avis.html"]}, "is not an absolute http(s) URL"),
        ({"detail": {"winner": ".titulaire"}}, "detail.winner"),
        ({"fields": {**FIELDS, "price": ".prix"}}, "fields.price"),
    ],
    ids=["item", "no-id-no-link", "field", "relative-url", "detail-key", "unknown-field"],
)
def test_config_errors_name_the_problem(change, message):
    config = {"list_urls": ["https://prefecture.example/list.html"], "item": "li.avis"}
    config["fields"] = FIELDS
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        HtmlSource.Config(name="p", kind="html", **{**config, **change})


def test_clean_collapses_whitespace_as_the_regular_expression_did() -> None:
    spaces = [chr(c) for c in range(0x3100) if re.fullmatch(r"\s", chr(c))]
    assert spaces == [chr(c) for c in range(0x3100) if chr(c).isspace()]
    for text in [
        "",
        " ",
        "a",
        " a\u00a0 b\n\tc ",
        "".join(spaces) + "x" + "".join(spaces),
        "é\u2028è",
    ]:
        assert clean(text) == (re.sub(r"\s+", " ", text).strip() or None)
