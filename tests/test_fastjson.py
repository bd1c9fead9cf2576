"""The fast paths of ingest (issue 29) give the results of the slow ones they replaced.

`fastjson.dumps_sorted` writes the exact text `json.dumps(sort_keys=True)` writes (stored hashes
of raw payloads were computed on it, so a re-poll after an upgrade finds every record unchanged),
or says it cannot; `storable()` and `visible()` answer as their regex scans did.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watcher.core import fastjson
from watcher.core.sanitize import INVISIBLE, storable, visible
from watcher.sources.boamp import record_raw


def _stdlib(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8")


def test_every_code_point_is_escaped_as_the_standard_library_escapes_it() -> None:
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    value = {"text": every, every[:300]: [every[-50:]], "\U0001f600": 1, "\uffff": 2}
    assert fastjson.dumps_sorted(value) == _stdlib(value)


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_JSONISH)
def test_the_same_text_as_the_standard_library(value: Any) -> None:
    found = fastjson.dumps_sorted(value)
    if found is not None:  # lone surrogates in generated text: orjson refuses, json is used
        assert found == _stdlib(value)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({"amount": 1e16}, "floats: json writes 1e+16"),
        ({"n": 0.00001}, "floats: json writes 1e-05"),
        ({"n": 2**64}, "beyond 64 bits"),
        ({"t": "x\udc80"}, "a lone surrogate"),
        ({1: "a"}, "a key that is not text"),
        ({"t": ("a", {1.5})}, "a set"),
    ],
)
def test_none_when_orjson_cannot_promise_the_same_text(value: Any, why: str) -> None:
    assert fastjson.dumps_sorted(value) is None, why


def test_a_record_raw_is_the_standard_library_text_whatever_it_holds() -> None:
    for record in (
        {"idweb": "26-1", "objet": "Entretien", "montant": 1e16, "donnees": '{"a": 1}'},
        {"idweb": "26-2", "objet": "x\udc80", "lots": [{"b": None, "a": True}]},
        {"idweb": "26-3", "objet": "é\u202e\x00", "code": ["59", "62"]},
    ):
        assert record_raw(record).encode("utf-8", "surrogatepass") == json.dumps(
            record, ensure_ascii=False, sort_keys=True, separators=(",", ":")
        ).encode("utf-8", "surrogatepass")


_STORE_BAD = re.compile("[\x00\ud800-\udfff]")
_FIELD_BAD = re.compile(f"[\x00\ud800-\udfff{INVISIBLE}]")


@pytest.mark.parametrize(
    "text",
    ["", "plain", "café", "x\x00y", "x\udc80", "\ud83d", "é\x00\udfff", "a\u202eb", "\ufeffé"],
)
def test_the_fast_sanitiser_answers_as_the_regex_scan(text: str) -> None:
    assert (storable(text) is text) == (_STORE_BAD.search(text) is None)
    assert (visible(text) is text) == (_FIELD_BAD.search(text) is None)
    assert _STORE_BAD.search(storable(text)) is None
    assert _FIELD_BAD.search(visible(text)) is None
