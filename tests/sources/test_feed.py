"""`feed`: RSS and Atom items become notices; hostile XML is refused, never expanded."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from tests.loopback import LoopbackServer
from tests.sources.test_html import serve_folder
from watcher.errors import ParseError
from watcher.records import PollWindow, RawPage
from watcher.sources.feed import FeedSource
from watcher.sources.http import Fetcher

FIXTURES = Path(__file__).parent.parent / "fixtures" / "feed"
PLACE = "https://www.marches-publics.gouv.fr"


def source(url: str = "https://prefecture.example/marches/atom.xml") -> FeedSource:
    return FeedSource(FeedSource.Config(name="feed", kind="feed", url=url))


def parse(name: str, url: str = "https://prefecture.example/marches/atom.xml"):
    return list(source(url).parse(RawPage(url, (FIXTURES / name).read_bytes(), "text/xml")))


CASES = [
    pytest.param(
        "rss.xml",
        0,
        {
            "native_id": "g7h-2412345",
            "title": "Marché de restauration des personnes retenues au CRA de Lille-Lesquin",
            "url": f"{PLACE}/?page=Entreprise.EntrepriseDetailsConsultation"
            "&refConsultation=2412345&orgAcronyme=g7h",
            "description": "SGAMI NORD : préparation et livraison des repas des personnes "
            "retenues au centre de rétention administrative de Lille-Lesquin.Date limite : "
            "14/04/2026 12:00",
            "published": dt.date(2026, 3, 3),
        },
        id="rss-item",
    ),
    pytest.param(
        "rss.xml",
        1,
        {
            "native_id": "g7h-2412399",
            # U+000B and U+0001 are illegal in XML: removed, and the feed still parses.
            "description": "Nettoyage courant et vitrerie des locaux.",
            # The date as the feed writes it (00:30 at +01:00), not shifted to UTC.
            "published": dt.date(2026, 3, 5),
        },
        id="rss-illegal-characters",
    ),
    pytest.param(
        "atom.xml",
        0,
        {
            "native_id": "tag:prefecture.example,2026:marches/PREF62-2026-007",
            "title": "Remplacement des portes sécurisées du CRA de Coquelles",
            "url": "https://prefecture.example/marches/PREF62-2026-007.html",
            "description": "Travaux de remplacement des portes et des contrôles d'accès de la "
            "zone de vie du centre de rétention administrative de Coquelles.",
            "published": dt.date(2026, 3, 10),
        },
        id="atom-entry",
    ),
    pytest.param(
        "atom.xml",
        1,
        {
            "url": "https://prefecture.example/marches/PREF62-2026-009.html",
            "description": "Réfection partielle des toitures.",
            "published": dt.date(2026, 3, 12),
        },
        id="atom-entry-updated-only",
    ),
]


@pytest.mark.parametrize(("name", "index", "expected"), CASES)
def test_feed_items_become_notices(name, index, expected):
    notices = parse(name)
    assert len(notices) == 2
    assert all(n.native_id and n.title and n.raw for n in notices)
    for field, value in expected.items():
        assert getattr(notices[index], field) == value, field


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """`tests/fixtures/feed/` served on a loopback port: the base URL."""
    with LoopbackServer(serve_folder(FIXTURES)) as server:
        yield server.url


@pytest.mark.parametrize("name", ["rss.xml", "atom.xml"])
def test_feed_served_on_loopback(site, name):
    src = source(f"{site}/{name}")
    with httpx.Client(trust_env=False) as client:
        pages = list(src.fetch(Fetcher(client, retries=0), PollWindow(now=dt.datetime.now(dt.UTC))))
    assert len(pages) == 1
    notices = list(src.parse(pages[0]))
    assert len(notices) == 2
    if name == "atom.xml":  # a relative link resolves against where the feed was read
        assert notices[0].url == f"{site}/marches/PREF62-2026-007.html"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><item><title>&lol9;</title><guid>x</guid></item></channel></rss>
"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><item><title>&secret;</title><guid>x</guid></item></channel></rss>
"""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(BILLION_LAUGHS, "EntitiesForbidden", id="billion-laughs"),
        pytest.param(XXE, "EntitiesForbidden", id="external-entity"),
        pytest.param(
            b"<html><body>Maintenance</body></html>", "not an RSS or Atom feed", id="html"
        ),
        pytest.param(b"<rss><channel><item>", "not a well-formed feed", id="truncated"),
    ],
)
def test_hostile_or_broken_feeds_are_refused(content, message):
    started = time.monotonic()
    with pytest.raises(ParseError, match=message):
        list(source().parse(RawPage("https://bad.example/feed.xml", content)))
    assert time.monotonic() - started < 1  # refused at once, never expanded


def test_feed_url_must_be_absolute():
    with pytest.raises(ValidationError, match="not an absolute http"):
        source("/rss.xml")
