"""The `find_a_tender` source and the shared OCDS reading: release packages, one stage per call."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from watcher.errors import ParseError
from watcher.records import NOTICE_TYPES, NoticeRecord, PollWindow, RawPage
from watcher.sources.find_a_tender import FindATenderConfig, FindATenderSource
from watcher.sources.http import Fetcher
from watcher.sources.ocds import next_url, notice_type

FIXTURES = Path(__file__).parent.parent / "fixtures" / "find_a_tender"
PAGES = ("packages_page1.json", "packages_page2.json", "packages_award.json")
MIRROR = "http://127.0.0.1:8999"
ENDPOINT = f"{MIRROR}/api/1.0/ocdsReleasePackages"
UTC = dt.UTC
IRC = "ocds-h6vhtk-05c3a1"


def _source(**keys: Any) -> FindATenderSource:
    return FindATenderSource(FindATenderConfig(name="fts", kind="find_a_tender", **keys))


def _read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _notices() -> dict[str, NoticeRecord]:
    source = _source()
    return {
        r.native_id: r
        for name in PAGES
        for r in source.parse(RawPage(url=ENDPOINT, content=_read(name)))
    }


RAW_RELEASES = [r for name in PAGES for r in json.loads(_read(name))["releases"]]


@pytest.mark.parametrize(
    ("native_id", "expected"),
    [
        pytest.param(
            "038412-2026",
            {
                "title": "Heathrow Immigration Removal Centre escorting services",
                "notice_type": "notice",
                "buyer": "Home Office",
                "procedure_id": IRC,
                "published": dt.date(2026, 4, 29),
                "deadline": dt.datetime(2026, 6, 1, 11, 0, tzinfo=UTC),
                "cpv": ("60130000", "79710000"),
                "place": "Harmondsworth",
                "value": 48_000_000.0,
                "currency": "GBP",
                "url": "https://www.find-tender.service.gov.uk/Notice/038412-2026",
                "documents": (
                    "https://homeoffice.app.jaggaer.com/web/login.html?opportunity=itt_7814",
                ),
            },
            id="irc-tender",
        ),
        pytest.param(
            "040918-2026",
            {
                "notice_type": "corrigendum",
                "procedure_id": IRC,
                "deadline": dt.datetime(2026, 6, 15, 11, 0, tzinfo=UTC),
            },
            id="irc-amendment",
        ),
        pytest.param(
            "041302-2026",
            {
                "notice_type": "award",
                "procedure_id": IRC,
                "winners": ("Exemplar Secure Transport Ltd",),
                "value": 46_250_000.0,
                "currency": "GBP",
            },
            id="irc-award",
        ),
        pytest.param(
            "038455-2026",
            {"title": "Office removals and storage services", "place": "Cardiff"},
            id="office-removals",
        ),
        pytest.param("041003-2026", {"notice_type": "cancellation"}, id="removals-cancelled"),
    ],
)
def test_fixture_releases_have_the_fields_a_reader_sees(
    native_id: str, expected: dict[str, Any]
) -> None:
    record = _notices()[native_id]
    for key, value in expected.items():
        assert getattr(record, key) == value, key


def test_every_fixture_release_is_a_valid_notice() -> None:
    records = _notices()
    assert len(records) == 5
    for record in records.values():
        assert record.title
        assert record.url == f"https://www.find-tender.service.gov.uk/Notice/{record.native_id}"
        assert record.notice_type in NOTICE_TYPES
        assert record.published is not None
        assert record.procedure_id is not None
        assert record.language == "en"
        assert json.loads(record.raw)["id"] == record.native_id
    lot = records["041302-2026"].lots[0]
    assert (lot.number, lot.cpv, lot.winners) == (
        "1",
        ("79710000",),
        ("Exemplar Secure Transport Ltd",),
    )


def test_releases_of_one_procedure_come_out_together() -> None:
    releases = [
        {"id": "000001-2026", "ocid": "ocds-h6vhtk-00000a", "tag": ["tender"]},
        {"id": "000002-2026", "ocid": "ocds-h6vhtk-00000b", "tag": ["tender"]},
        {"id": "000003-2026", "ocid": "ocds-h6vhtk-00000a", "tag": ["award"]},
        {"ocid": "ocds-h6vhtk-00000c", "tag": ["tender"]},
    ]
    page = RawPage(url=ENDPOINT, content=json.dumps({"releases": releases}).encode())
    records = list(_source().parse(page))
    assert [(r.native_id, r.procedure_id) for r in records] == [
        ("000001-2026", "ocds-h6vhtk-00000a"),
        ("000003-2026", "ocds-h6vhtk-00000a"),
        ("000002-2026", "ocds-h6vhtk-00000b"),
    ]


@pytest.mark.parametrize(
    ("tags", "status", "expected"),
    [
        (["tender"], "active", "notice"),
        (["award", "contract"], "complete", "award"),
        (["contract"], None, "award"),
        (["planning"], "planned", "prior_information"),
        (["tenderAmendment"], "active", "corrigendum"),
        (["amendment"], None, "corrigendum"),
        (["tenderCancellation"], "cancelled", "cancellation"),
        (["tender"], "cancelled", "cancellation"),
        ("tender", None, "notice"),
        ([], None, "notice"),
    ],
)
def test_notice_type_from_release_tags(tags: Any, status: str | None, expected: str) -> None:
    assert notice_type(tags, status) == expected


@pytest.mark.parametrize(
    ("package", "expected"),
    [
        pytest.param(
            {
                "releases": [{}],
                "links": {
                    "next": "https://www.find-tender.service.gov.uk/api/1.0/"
                    "ocdsReleasePackages?cursor=MTAwM==&stages=tender"
                },
            },
            f"{ENDPOINT}?cursor=MTAwM==&stages=tender",
            id="absolute-link-rebased",
        ),
        pytest.param(
            {"releases": [{}], "links": {"next": "?cursor=MjAw"}},
            f"{ENDPOINT}?cursor=MjAw",
            id="relative-link",
        ),
        pytest.param({"releases": [{}], "links": {}}, None, id="last-page"),
        pytest.param({"releases": [], "links": {"next": "?cursor=x"}}, None, id="empty-page"),
        pytest.param(
            {"releases": [{}], "links": {"next": "https://x.example/"}}, None, id="no-cursor"
        ),
        pytest.param(["not", "a", "package"], None, id="not-a-package"),
    ],
)
def test_next_url(package: Any, expected: str | None) -> None:
    assert next_url(package, ENDPOINT) == expected


WINDOW = PollWindow(
    now=dt.datetime(2026, 7, 15, 8, 0, tzinfo=UTC), since=dt.datetime(2026, 7, 10, 8, 0, tzinfo=UTC)
)
EMPTY = b'{"version": "1.1", "releases": [], "links": {}}'


def _fetcher(handler: Any) -> Fetcher:
    return Fetcher(httpx.Client(transport=httpx.MockTransport(handler)), backoff=0)


def test_fetch_asks_one_stage_per_call_and_follows_links_onto_the_mirror() -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        url = request.url
        assert f"{url.scheme}://{url.netloc.decode()}{url.path}" == ENDPOINT
        params = url.params
        assert len(params.get_list("stages")) == 1
        assert "," not in params["stages"]
        assert int(params["limit"]) <= 100
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", params["updatedFrom"])
        seen.append((params["stages"], params.get("cursor")))
        if params["stages"] == "tender":
            return httpx.Response(200, content=_read(PAGES[1] if "cursor" in params else PAGES[0]))
        if params["stages"] == "award":
            return httpx.Response(200, content=_read(PAGES[2]))
        return httpx.Response(200, content=EMPTY)

    source = _source(base_url=MIRROR)
    pages = list(source.fetch(_fetcher(handler), WINDOW))
    assert seen == [
        ("tender", None),
        ("tender", "MjAyNjA0MjkxMTAyNDc="),
        ("award", None),
        ("planning", None),
    ]
    first = httpx.URL(pages[0].url).params
    assert (first["updatedFrom"], first["updatedTo"]) == (
        "2026-07-07T08:00:00",
        "2026-07-15T08:00:00",
    )
    assert [page.meta["stages"] for page in pages] == ["tender", "tender", "award", "planning"]
    assert len([r for page in pages for r in source.parse(page)]) == 5


def test_fetch_asks_only_the_configured_stages() -> None:
    stages: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        stages.append(request.url.params["stages"])
        return httpx.Response(200, content=EMPTY)

    list(_source(stages=["award"], limit=50).fetch(_fetcher(handler), WINDOW))
    assert stages == ["award"]


def test_a_maintenance_page_is_a_parse_error() -> None:
    fetcher = _fetcher(lambda request: httpx.Response(200, text="<html>Service unavailable</html>"))
    with pytest.raises(ParseError, match="expected JSON"):
        list(_source().fetch(fetcher, WINDOW))


@pytest.mark.parametrize("content", [b"<html></html>", b'{"message": "Bad cursor"}', b"[]"])
def test_parse_rejects_what_is_not_a_release_package(content: bytes) -> None:
    with pytest.raises(ParseError):
        list(_source().parse(RawPage(url=ENDPOINT, content=content)))


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"limit": 101}, "less than or equal to 100"),
        ({"stages": ["implementation"]}, "planning"),
        ({"stages": []}, "at least 1"),
    ],
)
def test_config_rejects(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _source(**keys)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _damage(data: st.DataObject, value: dict[str, Any]) -> dict[str, Any]:
    """Keys removed at every level, lists shortened, a few values replaced by any JSON."""
    damaged = dict(value)
    for key in data.draw(st.sets(st.sampled_from(sorted(damaged)))) if damaged else ():
        del damaged[key]
    for key in data.draw(st.sets(st.sampled_from(sorted(damaged)), max_size=2)) if damaged else ():
        damaged[key] = data.draw(JSON)
    for key, inner in list(damaged.items()):
        if isinstance(inner, dict) and data.draw(st.booleans()):
            damaged[key] = _damage(data, inner)
        elif isinstance(inner, list) and inner and isinstance(inner[0], dict):
            damaged[key] = data.draw(st.sampled_from([inner[0], [], [_damage(data, inner[0])]]))
    return damaged


@given(data=st.data())
def test_parse_never_raises_on_damaged_releases(data: st.DataObject) -> None:
    release = _damage(data, data.draw(st.sampled_from(RAW_RELEASES)))
    page = RawPage(url=ENDPOINT, content=json.dumps({"releases": [release]}).encode())
    records = list(_source().parse(page))
    assert all(isinstance(r, NoticeRecord) and r.native_id for r in records)
