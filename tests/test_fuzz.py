"""Property tests: whatever a portal sends, a parser yields valid notices or says `ParseError`;
it never crashes with anything else, and never hangs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_registry import PARSE, valid
from watcher.errors import ParseError
from watcher.records import RawPage
from watcher.sources import SOURCES

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
# Keys the portals really use, so that the fuzzer reaches past the first lookup.
KEYS = st.sampled_from(
    [
        "results",
        "total_count",
        "notices",
        "releases",
        "marches",
        "marche",
        "idweb",
        "objet",
        "donnees",
        "publication-number",
        "notice-title",
        "tender",
        "id",
        "ocid",
        "title",
        "tag",
        "links",
        "next",
        "objet",
        "acheteur",
        "titulaires",
        "montant",
        "codeCPV",
        "buyer",
        "awards",
    ]
)
portal_json = st.recursive(
    st.none() | st.text(max_size=20) | st.integers() | st.booleans(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=30,
)
markup = st.lists(
    st.sampled_from(
        [
            "<html>",
            "<body>",
            "<div class='item_consultation'>",
            "<li class='avis' data-ref='1'>",
            "<h2 class='titre'><a href='/x'>",
            "</a></h2>",
            "<rss><channel><item><title>",
            "</title></item></channel></rss>",
            "<feed xmlns='http://www.w3.org/2005/Atom'><entry>",
            "</entry></feed>",
            "&amp;",
            "&#0;",
            "<!DOCTYPE x [<!ENTITY a 'b'>]>",
            "é",
            "\x00",
        ]
    )
    | st.text(max_size=15),
    max_size=25,
).map("".join)


def _check(kind: str, content: bytes) -> None:
    config, _fixture, url, media = PARSE[kind]
    cls = SOURCES[kind]
    source = cls(cls.Config(name=f"fuzz-{kind}", kind=kind, **config))
    try:
        notices = list(source.parse(RawPage(url, content, media)))
    except ParseError:
        return
    for notice in notices:
        assert valid(notice) == [], (kind, notice)


JSON_KINDS = sorted(k for k, v in PARSE.items() if v[3] == "application/json")
MARKUP_KINDS = sorted(k for k, v in PARSE.items() if v[3] != "application/json")
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("kind", JSON_KINDS)
@FUZZ
@given(data=st.one_of(portal_json, json_values))
def test_json_parsers_never_crash(kind: str, data: Any) -> None:
    _check(kind, json.dumps(data).encode())


@pytest.mark.parametrize("kind", MARKUP_KINDS)
@FUZZ
@given(text=markup)
def test_markup_parsers_never_crash(kind: str, text: str) -> None:
    _check(kind, text.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("kind", sorted(PARSE))
@FUZZ
@given(content=st.binary(max_size=300))
def test_any_bytes(kind: str, content: bytes) -> None:
    _check(kind, content)
