"""The pictures are well-formed SVG, draw every site of the gazetteer with a text alternative, and
tell status and phase by shape as well as colour."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from watcher.web.gazetteer import load_sites
from watcher.web.pictures import Line, Step, marker, site_map, timeline
from watcher.web.steps import step_of

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("narrow", [False, True])
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_map_draws_every_site_with_a_name(lang: str, narrow: bool) -> None:
    sites = load_sites()
    assert all(s.lat is not None and s.status for s in sites.values())  # the gazetteer has them
    root = etree.fromstring(site_map(list(sites.values()), {"dunkerque": 2}, lang, narrow=narrow))
    prefix = "n-" if narrow else ""
    marks = {a.get("id"): a for a in root.iter(f"{SVG}a")}
    assert set(marks) == {f"{prefix}site-{slug}" for slug in sites}
    assert all(a.findtext(f"{SVG}title") for a in marks.values())
    assert root.findtext(f"{SVG}title") and root.findtext(f"{SVG}desc")
    words = "en construction" if lang == "fr" else "under construction"
    assert words in (marks[f"{prefix}site-dunkerque"].findtext(f"{SVG}title") or "")


def test_each_status_has_its_own_shape() -> None:
    shapes = {
        s: marker(s, 10, 10).split(" ", 1)[0] + str('fill="#fff"' in marker(s, 10, 10))
        for s in ("existing", "under_construction", "planned", "closed", None)
    }
    assert len(set(shapes.values())) == 5


@pytest.mark.parametrize(
    ("notice_type", "after_award", "phase"),
    [
        ("prior_information", False, "planning"),
        ("notice", False, "tender"),
        ("corrigendum", False, "tender"),
        ("award", False, "award"),
        ("corrigendum", True, "modification"),
        ("cancellation", False, "cancelled"),
    ],
)
def test_step_of(notice_type: str, after_award: bool, phase: str) -> None:
    assert step_of(notice_type, after_award=after_award) == phase


def test_timeline_is_well_formed_and_empty_without_dates() -> None:
    steps = (
        Step(dt.date(2025, 3, 1), "planning", "25-1"),
        Step(dt.date(2025, 11, 21), "award", "25-2"),
    )
    svg = timeline([Line("Construction <du> CRA & co", "/notices/1", steps)], "en")
    root = etree.fromstring(svg)
    assert root.findtext(f"{SVG}desc") == "1 procedure(s), from 2025-03-01 to 2025-11-21."
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert "2025-11-21 — award — 25-2" in titles
    assert timeline([Line("x", "/", ())], "fr") == ""
