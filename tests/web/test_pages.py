"""The pages people read: what a poll found, filtered and searched, each notice's timeline with its
evidence, the sites and the sources' health, in French or English, escaped and accessible."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable

import lxml.html
import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from tests.loopback import LoopbackServer
from tests.test_pipeline import BoampPortal, sources_yaml
from watcher.db.models import Notice
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime
from watcher.web.server import create_app

LESQUIN = "Fourniture et livraison de repas pour les personnes retenues"
DUNKERQUE = "Construction du centre de rétention administrative de Dunkerque"
BASIN = "bassin de rétention des eaux pluviales"


def page(
    client: TestClient, url: str, status: int = 200, **kwargs: object
) -> lxml.html.HtmlElement:
    response = client.get(url, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return lxml.html.fromstring(response.text)


def text(doc: lxml.html.HtmlElement) -> str:
    return " ".join(doc.text_content().split())


def item_titles(doc: lxml.html.HtmlElement) -> list[str]:
    return [" ".join(a.text_content().split()) for a in doc.cssselect("ol.items h3 a")]


def notice_id(runtime: Runtime, fragment: str) -> int:
    with runtime.sessions() as session:
        ids = session.scalars(select(Notice.id).where(Notice.title.contains(fragment))).all()
    assert len(ids) == 1
    return ids[0]


def test_home_shows_the_relevant_events_newest_first(client: TestClient) -> None:
    doc = page(client, "/")
    titles = item_titles(doc)
    assert len(titles) == 3  # two new notices, then the Dunkerque deadline moved
    assert titles[0].startswith(DUNKERQUE)
    assert sum(DUNKERQUE in t for t in titles) == 2 and sum(LESQUIN in t for t in titles) == 1
    assert BASIN not in text(doc)
    badges = [b.text_content() for b in doc.cssselect("ol.items .badge")]
    assert badges[0] == "Date limite modifiée"
    assert "04/01/2027 → 18/01/2027" in text(doc.cssselect("ol.items li")[0])
    assert "3 événement(s)" in text(doc)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("site=dunkerque", [DUNKERQUE, DUNKERQUE], id="site"),
        pytest.param("site=lille-lesquin", [LESQUIN], id="other-site"),
        pytest.param("source=boamp", [DUNKERQUE, DUNKERQUE, LESQUIN], id="source"),
        pytest.param("source=nope", [], id="unknown-source"),
        pytest.param("type=deadline_moved", [DUNKERQUE], id="event-type"),
        pytest.param("type=new", [DUNKERQUE, LESQUIN], id="new-only"),
        pytest.param("q=repas", [LESQUIN], id="search-title"),
        pytest.param("q=sgami", [DUNKERQUE, DUNKERQUE, LESQUIN], id="search-buyer-any-case"),
        pytest.param("q=conception-réalisation", [DUNKERQUE, DUNKERQUE], id="search-description"),
        pytest.param("q=repas+Dunkerque", [], id="every-word-must-match"),
        pytest.param("q=bassin", [], id="irrelevant-never-listed"),
        pytest.param("q=100%25", [], id="like-wildcards-are-literal"),
        pytest.param("q=REPAS", [LESQUIN], id="search-any-case"),
        pytest.param("q=conception-realisation", [DUNKERQUE, DUNKERQUE], id="accents-ignored"),
        pytest.param("q=concep", [DUNKERQUE, DUNKERQUE], id="a-word-start-is-enough"),
        pytest.param("q=onception", [], id="not-inside-a-word"),
        pytest.param("site=dunkerque&type=new", [DUNKERQUE], id="combined"),
        pytest.param("show=notices", [DUNKERQUE, LESQUIN], id="relevant-notices"),
        pytest.param("show=notices&q=repas", [LESQUIN], id="notices-searched"),
    ],
)
def test_home_filters_and_search(client: TestClient, query: str, expected: list[str]) -> None:
    doc = page(client, f"/?{query}")
    titles = item_titles(doc)
    assert len(titles) == len(expected), titles
    for title, fragment in zip(titles, expected, strict=True):
        assert fragment in title
    if not expected:
        assert "Rien pour l'instant avec ces filtres." in text(doc)


def test_home_filter_form_keeps_choices_and_pages(client: TestClient) -> None:
    doc = page(client, "/?site=dunkerque&q=centre&per_page=1")
    assert doc.cssselect("select#site option[selected]")[0].get("value") == "dunkerque"
    assert doc.cssselect("input#q")[0].get("value") == "centre"
    [older] = doc.cssselect("nav.pager a[rel=next]")
    second = page(client, older.get("href"))
    assert len(item_titles(second)) == 1
    assert second.cssselect("nav.pager a[rel=prev]")
    assert page(client, "/?type=exploded", status=400) is not None
    assert page(client, "/?page=0", status=400) is not None


def test_pages_are_accessible_and_readable_on_a_phone(client: TestClient, polled: Runtime) -> None:
    dunkerque = notice_id(polled, DUNKERQUE)
    for url in [
        "/",
        "/?show=notices",
        f"/notices/{dunkerque}",
        "/sites",
        "/sites/dunkerque",
        "/sources",
    ]:
        doc = page(client, url)
        assert doc.get("lang") == "fr"
        assert (
            doc.cssselect('meta[name="viewport"]')[0]
            .get("content")
            .startswith("width=device-width")
        )
        assert doc.cssselect("header") and doc.cssselect("main#main") and doc.cssselect("footer")
        assert doc.cssselect("nav[aria-label]")
        assert len(doc.cssselect("h1")) == 1
        assert doc.cssselect('a.skip-link[href="#main"]')
        for control in doc.cssselect("input:not([type=hidden]), select"):
            assert doc.cssselect(f'label[for="{control.get("id")}"]'), url
        assert not doc.cssselect("script")
        nav = [a.get("href") for a in doc.cssselect("nav[aria-label] a")]
        assert "/subscribe" in nav and "/sources" in nav
    css = client.get("/static/style.css")
    assert css.status_code == 200 and "@media" in css.text


@pytest.mark.parametrize(
    ("url", "headers", "lang", "marker"),
    [
        pytest.param("/", {}, "fr", "Date limite modifiée", id="default-french"),
        pytest.param("/?lang=en", {}, "en", "Deadline moved", id="query"),
        pytest.param(
            "/", {"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"}, "en", "Deadline moved", id="header"
        ),
        pytest.param(
            "/", {"Accept-Language": "de-DE,fr;q=0.3"}, "fr", "Date limite modifiée", id="fallback"
        ),
        pytest.param(
            "/?lang=fr", {"Accept-Language": "en"}, "fr", "Date limite modifiée", id="query-wins"
        ),
    ],
)
def test_language_choice(
    client: TestClient, url: str, headers: dict[str, str], lang: str, marker: str
) -> None:
    doc = page(client, url, headers=headers)
    assert doc.get("lang") == lang
    assert marker in text(doc)
    switch = doc.cssselect("a.lang-switch")[0]
    other = "fr" if lang == "en" else "en"
    assert switch.get("hreflang") == other and f"lang={other}" in switch.get("href")


def test_chosen_language_follows_the_links(client: TestClient) -> None:
    doc = page(client, "/?lang=en&site=dunkerque")
    links = [a.get("href") for a in doc.cssselect("ol.items h3 a")]
    assert links and all(link.endswith("?lang=en") for link in links)
    notice = page(client, links[0])
    assert notice.get("lang") == "en"
    assert "Timeline of the procedure" in text(notice)
    assert doc.cssselect('input[type=hidden][name=lang][value="en"]')


def test_notice_timeline_with_diff_portal_link_and_evidence(
    client: TestClient, polled: Runtime
) -> None:
    doc = page(client, f"/notices/{notice_id(polled, DUNKERQUE)}")
    assert DUNKERQUE in doc.cssselect("h1")[0].text_content()
    portal = doc.cssselect("a.portal")[0].get("href")
    assert portal.startswith("https://www.boamp.fr/")
    steps = doc.cssselect(".timeline li.step")
    assert len(steps) == 2
    assert "Version 1" in text(steps[0]) and "Première version vue" in text(steps[0])
    assert "Nouveau marché" in text(steps[0])
    assert "Version 2" in text(steps[1]) and "Date limite modifiée" in text(steps[1])
    assert "Date limite de réception des offres : 04/01/2027 → 18/01/2027" in text(steps[1])
    for step in steps:
        raw_link = step.cssselect(".evidence a")[0].get("href")
        shown_hash = step.cssselect("code.hash")[0].text_content()
        raw = client.get(raw_link)
        assert raw.status_code == 200
        assert raw.headers["content-type"].startswith("application/json")
        assert (
            raw.headers["x-content-sha256"] == hashlib.sha256(raw.content).hexdigest() == shown_hash
        )
        assert raw.headers["x-content-type-options"] == "nosniff"
    assert client.get(raw_link.replace("/versions/2/", "/versions/9/")).status_code == 404


def test_scraped_text_is_escaped_and_bad_links_dropped(client: TestClient, polled: Runtime) -> None:
    target = notice_id(polled, LESQUIN)
    with polled.sessions() as session:
        session.execute(
            update(Notice)
            .where(Notice.id == target)
            .values(
                title='<script>alert("x")</script> Repas',
                url="javascript:alert(1)",
                buyer="<b>SGAMI</b>",
                # The procedure's compiled title, which the lists show (issue 23).
                compiled={"title": '<script>alert("x")</script> Repas', "buyer": "<b>SGAMI</b>"},
            )
        )
        session.commit()
    for url in ["/", f"/notices/{target}", "/?show=notices"]:
        response = client.get(url)
        assert "<script>" not in response.text and "<b>SGAMI" not in response.text
        assert "&lt;script&gt;" in response.text
        assert "javascript:" not in response.text
        assert "script-src" not in response.headers["content-security-policy"]


def test_missing_pages_are_404_with_the_site_around_them(client: TestClient) -> None:
    for url in ["/notices/999999", "/sites/nowhere", "/no/such/page"]:
        doc = page(client, url, status=404)
        assert "Page introuvable" in text(doc) and doc.cssselect("nav[aria-label]")
    assert client.get("/api/nothing").json() == {"error": "Not Found"}


def test_sites_list_and_site_page(client: TestClient, polled: Runtime) -> None:
    doc = page(client, "/sites")
    rows = {
        row.cssselect("th a")[0].get("href"): [
            " ".join(c.text_content().split()) for c in row.cssselect("td")
        ]
        for row in doc.cssselect("tbody tr")
    }
    assert len(rows) > 20  # the whole gazetteer, even sites without notices
    assert rows["/sites/dunkerque"][3] == "1" and rows["/sites/lille-lesquin"][3] == "1"
    assert rows["/sites/dunkerque"][0] == "Centre de rétention administrative"
    assert rows["/sites/coquelles"][3] == "0"
    site = page(client, "/sites/dunkerque")
    titles = item_titles(site)
    assert titles and all(DUNKERQUE in t for t in titles)
    assert site.cssselect('a[href="/?site=dunkerque"]')


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sources_health(make_runtime: Callable[..., Runtime]) -> None:
    with LoopbackServer(BoampPortal()) as server:
        extra = (
            f"  - name: broken\n    kind: boamp\n    base_url: http://127.0.0.1:{_dead_port()}\n"
            f"  - name: resting\n    kind: boamp\n    enabled: false\n    base_url: {server.url}\n"
        )
        runtime = make_runtime(sources_yaml(server.url, extra), http_retries=0)
        run_sources(runtime.config.build(), runtime.context())
    with TestClient(create_app(runtime)) as client:
        doc = page(client, "/sources")
    rows = {
        row.get("id"): [" ".join(c.text_content().split()) for c in row.cssselect("td")]
        for row in doc.cssselect("tbody tr")
    }
    boamp, broken, resting = rows["source-boamp"], rows["source-broken"], rows["source-resting"]
    # Six columns (issue 19): status, schedule in words, last success (with the last poll, its
    # duration and the time zone), last error, counts.
    assert len(boamp) == 5
    assert boamp[0] == "OK" and boamp[1] == "toutes les 2 heures"
    assert boamp[2].endswith(" s)") and ("CET" in boamp[2] or "CEST" in boamp[2])
    assert boamp[4] == "3 avis, 2 pertinent(s), 2 événement(s)"
    assert broken[0] == "En échec 1 échec(s) de suite" and broken[2].startswith("— ")
    assert "impossible de joindre le portail — vérifiez la connexion internet" in broken[3]
    assert resting[0] == "Désactivée"
    banner = text(doc.cssselect(".notice-banner")[0])
    assert banner == ("1 source(s) sur 2 en échec (broken) : des avis récents peuvent manquer.")


def test_every_message_exists_in_both_languages() -> None:
    from watcher.web.i18n import MESSAGES  # noqa: PLC0415

    assert set(MESSAGES["fr"]) == set(MESSAGES["en"])


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("", None),
        ("en", "en"),
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ("de,en;q=0.5,fr;q=0.4", "en"),
        ("en;q=0,fr;q=0.1", "fr"),
        ("es, it", None),
        ("en;q=bogus, fr;q=0.2", "fr"),
    ],
)
def test_accept_language(header: str, lang: str | None) -> None:
    from watcher.web.i18n import accept_language  # noqa: PLC0415

    assert accept_language(header) == lang


def test_raw_markup_evidence_is_served_as_text(client: TestClient, polled: Runtime) -> None:
    from watcher.db.models import NoticeVersion  # noqa: PLC0415

    target = notice_id(polled, LESQUIN)
    markup = "<html><body><script>alert(1)</script>Avis n° 26-1</body></html>"
    with polled.sessions() as session:
        session.execute(
            update(NoticeVersion)
            .where(NoticeVersion.notice_id == target, NoticeVersion.version == 1)
            .values(raw=markup)
        )
        session.commit()
    raw = client.get(f"/notices/{target}/versions/1/raw")
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "text/plain; charset=utf-8"
    assert raw.text == markup
    assert raw.headers["x-content-sha256"] == hashlib.sha256(markup.encode()).hexdigest()
    assert raw.headers["content-security-policy"].startswith("sandbox")
    assert raw.headers["content-disposition"] == 'inline; filename="boamp-26-117950-v1.txt"'
