"""Who profits: after the Dunkerque story (the tender, then its award to SPIE BATIGNOLLES NORD for
36 500 000 €, polled from the BOAMP loopback portal), the companies pages, API and feeds tell it."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path

import lxml.html
import pytest
from lxml import etree
from sqlalchemy import select
from starlette.testclient import TestClient

from tests.atom_schema import atom_problems
from tests.loopback import LoopbackServer
from tests.test_pipeline import BoampPortal, sources_yaml
from tests.test_timeline import award
from watcher.db.models import Delivery, Event, Notice
from watcher.db.session import session_scope
from watcher.notify import ledger
from watcher.notify import subscribers as subs
from watcher.notify.render import filters_text
from watcher.pipeline.cycle import after_polls
from watcher.pipeline.poll import run_sources, utcnow
from watcher.pipeline.runtime import Runtime
from watcher.publish.feeds import feeds_outdated, write_feeds
from watcher.web.gazetteer import load_sites
from watcher.web.server import create_app

ATOM = "{http://www.w3.org/2005/Atom}"
SVG = "{http://www.w3.org/2000/svg}"


def awarded_runtime(make_runtime: Callable[..., Runtime], companies_yaml: str = "") -> Runtime:
    """A database after two rounds: the Dunkerque tender, then its award (with a SIRET)."""
    portal = BoampPortal()
    with LoopbackServer(portal) as server:
        runtime = make_runtime(sources_yaml(server.url))
        if companies_yaml:
            (runtime.settings.sources.parent / "companies.yaml").write_text(companies_yaml)
        sources = runtime.config.build()
        after_polls(runtime, run_sources(sources, runtime.context()))
        original = portal.records[0]
        record = award(original)
        record["titulaire"] = ["SPIE BATIGNOLLES NORD"]
        portal.records.append(record)
        results = run_sources(sources, runtime.context())
        assert all(r.ok for r in results)
        lines = after_polls(runtime, results)
        assert any(line.startswith("companies: ") for line in lines), lines
    return runtime


@pytest.fixture
def awarded(make_runtime: Callable[..., Runtime]) -> Runtime:
    return awarded_runtime(
        make_runtime,
        "companies:\n"
        "  spie-batignolles-nord:\n    parent: spie\n"
        "  spie:\n    name: SPIE (groupe)\n",
    )


@pytest.fixture
def client(awarded: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(awarded)) as test_client:
        yield test_client


def test_companies_page_lists_the_winner_with_the_dunkerque_contract(client: TestClient) -> None:
    page = client.get("/companies")
    assert page.status_code == 200
    html = page.text
    assert "SPIE BATIGNOLLES NORD" in html
    assert (
        "36 500 000 € (valeur d&#39;attribution)" in html
        or "36 500 000 € (valeur d'attribution)" in html
    )
    assert "CRA de Dunkerque" in html
    assert 'href="/companies/spie-batignolles-nord"' in html
    # The group counts its subsidiary's contract.
    assert "SPIE (groupe)" in html

    english = client.get("/companies?lang=en").text
    assert "36 500 000 € (award value)" in english


def test_company_page_links_the_procedure_and_evidence(client: TestClient) -> None:
    page = client.get("/companies/spie-batignolles-nord")
    assert page.status_code == 200
    html = page.text
    assert "Construction du centre de rétention" in html
    assert 'href="/notices/' in html
    assert "/versions/1/raw" in html  # the stored award notice, as evidence
    assert "attribution" in html
    svg = html[html.index("<svg") : html.index("</svg>") + 6]
    root = etree.fromstring(svg.encode())
    assert root.tag == f"{SVG}svg" and root.find(f"{SVG}title") is not None
    assert client.get("/companies/nobody").status_code == 404


def test_company_feed_validates_and_carries_the_award(client: TestClient) -> None:
    answer = client.get("/feeds/companies/spie-batignolles-nord.atom")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    assert atom_problems(answer.content) == []
    entries = etree.fromstring(answer.content).findall(f"{ATOM}entry")
    titles = [e.findtext(f"{ATOM}title") or "" for e in entries]
    assert titles[0].startswith("Marché attribué : ")
    content = entries[0].findtext(f"{ATOM}content") or ""
    assert "SPIE BATIGNOLLES NORD" in content and "36 500 000 €" in content
    # The group's feed carries it too; JSON Feed and English exist.
    assert atom_problems(client.get("/feeds/companies/spie.atom").content) == []
    feed = client.get("/feeds/companies/spie-batignolles-nord.json").json()
    assert feed["items"] and feed["version"].startswith("https://jsonfeed.org/")
    english = client.get("/feeds/en/companies/spie-batignolles-nord.atom")
    assert atom_problems(english.content) == []
    assert client.get("/feeds/companies/nobody.atom").status_code == 404
    # The other feeds still answer; `/feeds` tells where the company feeds are.
    assert client.get("/feeds/all.atom").status_code == 200
    for lang, heading in (("fr", "Par entreprise"), ("en", "By company")):
        help_page = client.get(f"/feeds?lang={lang}").text
        assert heading in help_page and 'href="/companies' in help_page


def test_feed_build_writes_the_company_feeds_the_server_serves(
    awarded: Runtime, client: TestClient, tmp_path: Path
) -> None:
    out = tmp_path / "feeds"
    with awarded.sessions() as session:
        first = write_feeds(session, awarded.settings, out)
    for name in ("spie-batignolles-nord", "spie"):
        for prefix in ("", "en/"):
            for fmt in ("atom", "json"):
                path = f"{prefix}companies/{name}.{fmt}"
                assert (out / path).read_bytes() == client.get(f"/feeds/{path}").content, path
                assert out / path in first
    built = (out / "companies/spie-batignolles-nord.atom").read_bytes()
    assert atom_problems(built) == [] and b"SPIE BATIGNOLLES NORD" in built
    # Nothing new: nothing rewritten; a deleted company file comes back.
    with awarded.sessions() as session:
        assert write_feeds(session, awarded.settings, out) == []
        (out / "en/companies/spie.json").unlink()
        assert feeds_outdated(session, out) == "en/companies/spie.json missing"
        assert write_feeds(session, awarded.settings, out) == [out / "en/companies/spie.json"]


def test_csv_and_api(client: TestClient) -> None:
    table = client.get("/companies.csv")
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(StringIO(table.text)))
    spie = next(r for r in rows if r["slug"] == "spie-batignolles-nord")
    assert spie["total"] == "36500000.00" and spie["currency"] == "EUR"
    assert spie["amount_kind"] == "award_value" and spie["sites"] == "dunkerque"

    listing = client.get("/api/companies").json()
    assert {i["slug"] for i in listing["items"]} >= {"spie-batignolles-nord", "spie"}
    one = client.get("/api/companies/spie-batignolles-nord").json()
    [contract] = one["items"]
    assert contract["amount"] == 36500000.0 and contract["currency"] == "EUR"
    assert contract["amount_kind"] == "award_value" and contract["site"] == "dunkerque"
    assert contract["procedure"]["html"].startswith("/notices/")
    paths = client.get("/api/openapi.json").json()["paths"]
    assert "/api/companies" in paths and "/api/companies/{slug}" in paths


def test_sites_map_draws_every_site(client: TestClient) -> None:
    answer = client.get("/sites.svg")
    assert answer.headers["content-type"].startswith("image/svg+xml")
    root = etree.fromstring(answer.content)  # well-formed
    drawn = {a.get("id") for a in root.iter(f"{SVG}a")}
    sites = load_sites()
    assert {f"site-{slug}" for slug in sites} <= drawn
    dunkerque = root.find(f".//{SVG}a[@id='site-dunkerque']")
    assert dunkerque is not None
    label = dunkerque.findtext(f"{SVG}title") or ""
    assert "en construction" in label and "1 procédure" in label
    page = client.get("/sites").text
    assert "<svg" in page and 'id="site-dunkerque"' in page
    site = client.get("/sites/dunkerque").text
    assert 'class="picture timeline"' in site


def test_company_subscription_gets_only_its_procedures(
    awarded: Runtime, client: TestClient
) -> None:

    rejected = client.post("/subscribe", data={"email": "a@example.org", "company": "nobody"})
    assert rejected.status_code == 400
    now = utcnow()
    with session_scope(awarded.sessions) as session:
        sub, _ = subs.add_confirmed(
            session, "a@example.org", subs.Filters(companies=["spie-batignolles-nord"]), now
        )
        everyone, _ = subs.add_confirmed(session, "b@example.org", subs.Filters(), now)
        sub.since_event_id = everyone.since_event_id = 0
        assert "companies=spie-batignolles-nord" in subs.describe(sub)
        # The mails' footer says which filters brought them, the company included.
        assert filters_text(sub).endswith("entreprises : spie-batignolles-nord")
        sub.lang = "en"
        assert filters_text(sub).endswith("; companies: spie-batignolles-nord")
        sub.lang = "fr"
        assert "compan" not in filters_text(everyone) and "entreprises" not in filters_text(
            everyone
        )
    with session_scope(awarded.sessions) as session:
        ledger.enqueue(session, now)
    with awarded.sessions() as session:

        def titles(address: str) -> set[str]:
            return set(
                session.scalars(
                    select(Notice.title)
                    .join(Event, Event.notice_id == Notice.id)
                    .join(Delivery, Delivery.event_id == Event.id)
                    .join(Delivery.subscriber)
                    .where(Delivery.subscriber.has(address=address))
                )
            )

        mine, all_titles = titles("a@example.org"), titles("b@example.org")
    assert mine and all("Dunkerque" in t for t in mine)
    assert len(all_titles) > len(mine)


def test_the_company_page_offers_e_mails_and_its_feed(client: TestClient) -> None:
    html = client.get("/companies/spie-batignolles-nord").text
    assert '<a class="follow-mail" href="#sub-email">' in html
    assert (
        '<a class="follow-feed" href="/feeds/companies/spie-batignolles-nord.atom"'
        ' type="application/atom+xml">'
    ) in html


def test_follow_links_are_under_the_page_title_in_plain_words(
    client: TestClient, awarded: Runtime
) -> None:
    """Issue 25: « Recevoir un e-mail pour ceci » and « Suivre ce flux » right under the title of
    the site, company and procedure pages (not only at their end), in French and in English."""
    with awarded.sessions() as session:
        procedure = session.scalars(select(Notice.id).where(Notice.parent_id.is_(None))).first()
    pages = ["/sites/dunkerque", "/companies/spie-batignolles-nord", f"/notices/{procedure}"]
    for lang, words in (
        ("fr", ["Recevoir un e-mail pour ceci", "Suivre ce flux"]),
        ("en", ["Get e-mails for this", "Follow this feed"]),
    ):
        for path in pages:
            doc = lxml.html.fromstring(client.get(f"{path}?lang={lang}").text)
            [title] = doc.cssselect("main h1")
            after = title.getnext()
            assert after is not None and after.tag == "nav", path
            assert "follow" in after.get("class", ""), path
            assert [" ".join(a.text_content().split()) for a in after.cssselect("a")] == words


def test_company_page_counts_the_questions_of_its_procedures(
    client: TestClient, awarded: Runtime
) -> None:
    """Issue 28: the award stated a single tender; the company page counts it and filters."""
    from watcher.db.compiled import recompile  # noqa: PLC0415

    with awarded.sessions() as session:
        award_notice = session.scalars(select(Notice).where(Notice.notice_type == "award")).first()
        assert award_notice is not None
        award_notice.snapshot = dict(award_notice.snapshot) | {"tenders_received": 1}
        recompile(session, [award_notice.parent_id or award_notice.id])
        session.commit()
    html = client.get("/companies/spie-batignolles-nord").text
    assert 'href="/companies/spie-batignolles-nord?question=single_offer"' in html
    assert "Une seule offre" in html
    filtered = client.get("/companies/spie-batignolles-nord?question=single_offer").text
    assert "Construction du centre de rétention" in filtered
    other = client.get("/companies/spie-batignolles-nord?question=value_growth").text
    assert "Construction du centre de rétention" not in other.split('id="contracts-h"')[1]
