"""Feeds are valid Atom 1.0 and say what happened in words a reader understands."""

from __future__ import annotations

import datetime as dt
import json

import lxml.html
import pytest
from lxml import etree

from tests.atom_schema import ATOM, atom_problems
from watcher.publish.atom import FeedMeta, build_atom
from watcher.publish.entries import Entry, render_entry
from watcher.publish.jsonfeed import JsonFeedMeta, assemble_json, item_json

WHEN = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)
SNAP = {
    "title": "Construction du centre de rétention administrative de Dunkerque <Loon-Plage> & co",
    "buyer": "SGAMI Nord",
    "url": "https://www.boamp.fr/pages/avis/?q=idweb:26-00001",
    "deadline": "2027-01-18T11:00:00+00:00",
    "notice_type": "notice",
    "winners": [],
}
META = FeedMeta(
    feed_id="https://w.example/feeds/all.atom",
    title="Tous les avis",
    self_url="https://w.example/feeds/all.atom",
    site_url="https://w.example/",
)


def moved() -> list[dict[str, str]]:
    return [
        {
            "field": "deadline",
            "label": "Date limite de réception des offres",
            "old": "04/01/2027",
            "new": "18/01/2027",
        }
    ]


def test_entry_says_what_happened() -> None:
    entry = render_entry(
        key="boamp/26-00001/v2/deadline_moved",
        kind="deadline_moved",
        created_at=WHEN,
        changes=moved(),
        snapshot=SNAP,
        site="dunkerque",
        source="boamp",
    )
    assert entry.title.startswith("Date limite modifiée : Construction du centre")
    assert "Date limite de réception des offres : 04/01/2027 → 18/01/2027" in entry.html
    assert "&lt;Loon-Plage&gt;" not in entry.html  # the title is not repeated in the body
    assert "Acheteur : SGAMI Nord" in entry.html
    assert "18/01/2027 12:00" in entry.html  # deadlines in Paris time
    english = render_entry(
        key="k",
        kind="deadline_moved",
        created_at=WHEN,
        changes=moved(),
        snapshot=SNAP,
        site=None,
        source="boamp",
        lang="en",
    )
    assert english.title.startswith("Deadline moved: ")


def test_feed_is_valid_atom_with_stable_ids() -> None:
    entries = [
        render_entry(
            key=f"boamp/26-0000{i}/v1/new",
            kind="new",
            created_at=WHEN,
            changes=[],
            snapshot=SNAP,
            site="dunkerque",
            source="boamp",
        )
        for i in range(3)
    ]
    document = build_atom(entries, META, "https://w.example")
    assert atom_problems(document) == []
    root = etree.fromstring(document)
    ids = [e.findtext(f"{ATOM}id") for e in root.iter(f"{ATOM}entry")]
    assert ids == [f"tag:w.example,2026:boamp/26-0000{i}/v1/new" for i in range(3)]
    assert root.findtext(f"{ATOM}updated") == "2026-11-26T09:30:00+00:00"
    # the same input gives the same bytes: ids and dates never drift
    assert build_atom(entries, META, "https://w.example") == document


def test_empty_feed_is_valid() -> None:
    assert atom_problems(build_atom([], META, "https://w.example")) == []


HOSTILE = {
    **SNAP,
    "title": 'CRA <script>alert("x")</script> & <img src=x onerror=alert(1)>',
    "buyer": "</content><entry>",
    "url": "javascript:alert(1)",
}


def test_portal_text_never_becomes_markup() -> None:
    entry = render_entry(
        key="boamp/26-66666/v1/new",
        kind="new",
        created_at=WHEN,
        changes=[{"field": "title", "label": "Objet", "old": "<b>a</b>", "new": "b"}],
        snapshot=HOSTILE,
        site=None,
        source="boamp",
        detail={"ref": "26-7<x>", "url": "javascript:alert(2)", "source": "boamp"},
    )
    assert entry.link is None  # not an http(s) link: dropped
    document = build_atom([entry], META, "https://w.example")
    assert atom_problems(document) == []
    root = etree.fromstring(document)
    [node] = root.findall(f"{ATOM}entry")
    assert node.find(f"{ATOM}link") is None
    assert node.findtext(f"{ATOM}title") == "Nouveau marché : " + HOSTILE["title"]
    # The content is HTML: parsed as such it holds list items and text, never a script or image.
    html = lxml.html.fromstring(node.findtext(f"{ATOM}content") or "")
    assert {el.tag for el in html.iter()} <= {"div", "p", "strong", "ul", "li"}
    assert "javascript" not in (node.findtext(f"{ATOM}content") or "")
    item = json.loads(item_json(entry, "https://w.example"))
    assert "url" not in item
    assert item["content_html"] == entry.html


def test_english_entry_names_fields_in_english() -> None:
    entry = render_entry(
        key="k",
        kind="deadline_moved",
        created_at=WHEN,
        changes=moved(),
        snapshot=SNAP,
        site="dunkerque",
        source="boamp",
        lang="en",
    )
    assert "Tender deadline: 04/01/2027 → 18/01/2027" in entry.html
    assert "Buyer: SGAMI Nord" in entry.html


def test_json_feed_document() -> None:
    entry = render_entry(
        key="boamp/26-00001/v1/new",
        kind="new",
        created_at=WHEN,
        changes=[],
        snapshot=SNAP,
        site="dunkerque",
        source="boamp",
    )
    meta = JsonFeedMeta(
        title="Tous les avis",
        feed_url="https://w.example/feeds/all.json",
        home_page_url="https://w.example/",
        next_url="https://w.example/feeds/archive/all/1.json",
    )
    feed = json.loads(assemble_json(meta, [item_json(entry, "https://w.example")]))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["next_url"].endswith("/archive/all/1.json")
    [item] = feed["items"]
    assert item["id"] == "tag:w.example,2026:boamp/26-00001/v1/new"
    assert item["url"] == SNAP["url"]
    assert item["date_published"] == "2026-11-26T09:30:00+00:00"
    assert item["tags"] == ["new", "dunkerque", "boamp"]
    assert json.loads(assemble_json(meta, []))["items"] == []


def test_same_tender_elsewhere_is_linked() -> None:
    also = [
        {
            "source": "ted",
            "url": "https://ted.europa.eu/fr/notice/-/detail/700001-2026",
            "ref": "700001-2026",
        },
        {"source": "evil", "url": "javascript:alert(1)", "ref": "x"},
    ]
    entry = _entry(also, kind="new")
    assert (
        '<p>Aussi publié sur : <a href="https://ted.europa.eu/fr/notice/-/detail/700001-2026">'
        "ted 700001-2026</a></p>"
    ) in entry.html
    assert "javascript" not in entry.html
    assert "Aussi publié sur : ted 700001-2026 https://ted.europa.eu/" in entry.text


TED_AWARD = {
    "source": "ted",
    "ref": "301234-2027",
    "url": "https://ted.europa.eu/fr/notice/-/detail/301234-2027",
    "phase": "award",
}
BOAMP_AWARD = {
    "source": "boamp",
    "ref": "27-41000",
    "url": "https://www.boamp.fr/pages/avis/?q=idweb:27-41000",
    "phase": "award",
}
TED_TENDER = {
    "source": "ted",
    "ref": "712345-2026",
    "url": "https://ted.europa.eu/fr/notice/-/detail/712345-2026",
    "phase": "tender",
}


def _entry(
    also: list[dict[str, object]],
    lang: str = "fr",
    kind: str = "awarded",
    detail: dict[str, object] | None = None,
) -> Entry:
    return render_entry(
        key="k",
        kind=kind,
        created_at=WHEN,
        changes=[],
        snapshot=SNAP,
        site=None,
        source="boamp",
        lang=lang,
        detail=detail,
        also=also,
    )


def _award(detail: dict[str, object], also: list[dict[str, object]], lang: str = "fr") -> str:
    return _entry(also, lang, detail=detail).text


@pytest.mark.parametrize(
    ("detail", "twin"),
    [
        (BOAMP_AWARD, {**TED_AWARD, "twin_of": "boamp:27-41000"}),
        (TED_AWARD, {**BOAMP_AWARD, "twin_of": "ted:301234-2027"}),
    ],
    ids=["boamp_first", "ted_first"],
)
def test_an_award_on_two_portals_names_both_whichever_came_first(
    detail: dict[str, object], twin: dict[str, object]
) -> None:
    text = _award(detail, [TED_TENDER, twin])
    assert (
        "Publié sur : boamp 27-41000 https://www.boamp.fr/pages/avis/?q=idweb:27-41000, "
        "ted 301234-2027 https://ted.europa.eu/fr/notice/-/detail/301234-2027"
    ) in text
    assert "Avis lié" not in text
    # The call for tenders on TED is still "also published on"; the award twin is not repeated.
    assert "Aussi publié sur : ted 712345-2026 https://ted.europa.eu/" in text
    assert text.count("301234-2027") == 2  # its name and its link, once
    assert "Published on: boamp 27-41000" in _award(detail, [TED_TENDER, twin], "en")


def test_a_twin_of_another_award_stays_out_of_this_one() -> None:
    other = {**TED_AWARD, "twin_of": "boamp:27-49999"}
    text = _award(BOAMP_AWARD, [other])
    assert "Avis lié : 27-41000 (boamp) https://www.boamp.fr/" in text
    assert "Publié sur" not in text and "301234-2027" not in text


def test_a_link_by_similarity_says_so_in_the_reader_language() -> None:
    also = [{**TED_TENDER, "confidence": 0.93}]
    assert "ted 712345-2026 (similarité 0.93)" in _entry(also, kind="new").text
    assert "ted 712345-2026 (similarity 0.93)" in _entry(also, "en", kind="new").text
