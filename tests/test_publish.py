"""Feeds are valid Atom 1.0 and say what happened in words a reader understands."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from tests.atom_schema import ATOM, atom_problems
from watcher.publish.atom import FeedMeta, build_atom
from watcher.publish.entries import render_entry

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
    assert english.title.startswith("Deadline moved : ")


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
