"""Issue 25: a feed opened in a browser is a page, by an XSLT sheet the feeds reference (served and
written alike): each entry a link to its page, its date in words, in the feed's language. The
documents stay feedgen's valid Atom."""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree
from starlette.testclient import TestClient

from tests.atom_schema import ATOM, atom_problems
from watcher.pipeline.runtime import Runtime
from watcher.publish.feeds import write_feeds

PI = b'<?xml-stylesheet type="text/xsl" href="/static/feed.xsl"?>'
FR_DATE = re.compile(
    r"^\d{1,2} (janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|"
    r"décembre) \d{4} à \d\d:\d\d \(UTC\)$"
)
EN_DATE = re.compile(
    r"^\d{1,2} (January|February|March|April|May|June|July|August|September|October|November|"
    r"December) \d{4}, \d\d:\d\d \(UTC\)$"
)


def _sheet(client: TestClient) -> etree.XSLT:
    response = client.get("/static/feed.xsl")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == "application/xslt+xml"
    return etree.XSLT(etree.fromstring(response.content))


def test_the_feeds_reference_the_served_stylesheet_and_stay_valid_atom(
    client: TestClient,
) -> None:
    _sheet(client)
    for url in ("/feeds/all.atom", "/feeds/sites/dunkerque.atom?lang=en"):
        body = client.get(url).content
        assert body.split(b"\n")[1] == PI, url
        assert atom_problems(body) == [], url


def test_written_feeds_reference_the_stylesheet_too(polled: Runtime, tmp_path: Path) -> None:
    with polled.sessions() as session:
        written = [
            p for p in write_feeds(session, polled.settings, tmp_path) if p.suffix == ".atom"
        ]
    assert written
    for path in written:
        body = path.read_bytes()
        assert body.split(b"\n")[1] == PI, path
        assert atom_problems(body) == [], path


def test_the_page_a_browser_shows_has_a_link_and_a_date_in_words_per_entry(
    client: TestClient,
) -> None:
    sheet = _sheet(client)
    for url, lang, date in (
        ("/feeds/all.atom", "fr", FR_DATE),
        ("/feeds/all.atom?lang=en", "en", EN_DATE),
    ):
        feed = etree.fromstring(client.get(url).content)
        entries = feed.findall(f"{ATOM}entry")
        assert entries, url
        shown = sheet(feed).getroot()
        assert shown.get("lang") == lang
        links = shown.cssselect("li.feed-entry h2 a")
        assert [a.text for a in links] == [e.findtext(f"{ATOM}title") for e in entries]
        pages = [e.find(f"{ATOM}link[@rel='related']").get("href") for e in entries]
        assert [a.get("href") for a in links] == pages
        assert all(href.startswith("https://watcher.example/notices/") for href in pages)
        times = shown.cssselect("li.feed-entry time")
        assert [t.get("datetime") for t in times] == [e.findtext(f"{ATOM}updated") for e in entries]
        assert all(date.match("".join(t.itertext())) for t in times), [
            "".join(t.itertext()) for t in times
        ]
