"""The `contracts_finder` source: OCDS search pages, all stages in one call, GUID notice links."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from watcher.errors import ParseError
from watcher.records import NOTICE_TYPES, NoticeRecord, PollWindow, RawPage
from watcher.sources.contracts_finder import ContractsFinderConfig, ContractsFinderSource
from watcher.sources.http import Fetcher

FIXTURES = Path(__file__).parent.parent / "fixtures" / "contracts_finder"
PAGES = ("search_page1.json", "search_page2.json")
MIRROR = "http://127.0.0.1:8999"
ENDPOINT = f"{MIRROR}/Published/Notices/OCDS/Search"
UTC = dt.UTC
NOTICE = "https://www.contractsfinder.service.gov.uk/Notice/"
DERWENTSIDE = "ocds-b5fd17-3f6a2b1c-8d4e-4f1a-9c2b-7e5d6a8b9c01"


def _source(**keys: Any) -> ContractsFinderSource:
    return ContractsFinderSource(ContractsFinderConfig(name="cf", kind="contracts_finder", **keys))


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
            "b7e2c4d1-6a3f-4e8b-9d2c-1f5a7e3b8c60-913455",
            {
                "title": "Derwentside IRC healthcare services",
                "notice_type": "notice",
                "buyer": "Home Office",
                "procedure_id": DERWENTSIDE,
                "published": dt.date(2025, 3, 10),
                "deadline": dt.datetime(2025, 4, 11, 11, 0, tzinfo=UTC),
                "cpv": ("85100000",),
                "place": "North East",
                "value": 5_200_000.0,
                "currency": "GBP",
                "url": f"{NOTICE}b7e2c4d1-6a3f-4e8b-9d2c-1f5a7e3b8c60",
            },
            id="derwentside-tender",
        ),
        pytest.param(
            "c91d0e55-2b7a-4c3e-8f10-6d2a9b4e7f31-925001",
            {
                "notice_type": "award",
                "procedure_id": DERWENTSIDE,
                "winners": ("Northfield Healthcare Partnership Ltd",),
                "value": 4_975_000.0,
                "url": f"{NOTICE}c91d0e55-2b7a-4c3e-8f10-6d2a9b4e7f31",
            },
            id="derwentside-award",
        ),
        pytest.param(
            "e4a19b07-3c5d-4f28-a1e6-8b9d2c7f0e13-926118",
            {"notice_type": "prior_information", "deadline": None, "value": None},
            id="home-office-planning",
        ),
        pytest.param(
            "8a0c89fe-3eed-4f9c-b17a-ae7c1badee7d-833021",
            {
                "title": "Azure Virtual Desktop - Phase 2",
                "notice_type": "award",
                "buyer": "NHS Resolution",
                "winners": ("TRUSTMARQUE SOLUTIONS LIMITED",),
                "value": 33671.64,
                "place": "England",
                # the real release names its own notice page: the rule agrees with it
                "url": f"{NOTICE}8a0c89fe-3eed-4f9c-b17a-ae7c1badee7d",
            },
            id="real-nhs-award",
        ),
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
    assert len(records) == 4
    for record in records.values():
        assert record.title
        assert record.url is not None
        assert record.url.startswith(NOTICE)
        assert record.notice_type in NOTICE_TYPES
        assert record.published is not None
        assert record.procedure_id is not None
        assert record.procedure_id.startswith("ocds-b5fd17-")


@pytest.mark.parametrize(
    ("release", "expected"),
    [
        pytest.param(
            {"id": "09BD4F79-FCE6-47EB-9505-49C9822D7486-123456"},
            f"{NOTICE}09bd4f79-fce6-47eb-9505-49c9822d7486",
            id="guid-and-number",
        ),
        pytest.param(
            {"id": "09bd4f79-fce6-47eb-9505-49c9822d7486"},
            f"{NOTICE}09bd4f79-fce6-47eb-9505-49c9822d7486",
            id="guid-alone",
        ),
        pytest.param(
            {
                "id": "ocds-b5fd17-09bd4f79-fce6-47eb-9505-49c9822d7486-ra15",
                "awards": [{"documents": [{"url": f"{NOTICE}aaaa-bbbb"}]}],
            },
            f"{NOTICE}aaaa-bbbb",
            id="link-in-award-documents",
        ),
        pytest.param({"id": "not-a-guid"}, None, id="unknown"),
    ],
)
def test_notice_url(release: dict[str, Any], expected: str | None) -> None:
    assert _source().notice_url(release) == expected


WINDOW = PollWindow(
    now=dt.datetime(2026, 7, 15, 8, 0, tzinfo=UTC), since=dt.datetime(2026, 7, 10, 8, 0, tzinfo=UTC)
)


def _fetcher(handler: Any) -> Fetcher:
    return Fetcher(httpx.Client(transport=httpx.MockTransport(handler)), backoff=0)


def test_fetch_asks_all_stages_at_once_and_follows_links_onto_the_mirror() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        url = request.url
        assert f"{url.scheme}://{url.netloc.decode()}{url.path}" == ENDPOINT
        requests.append(request)
        return httpx.Response(200, content=_read(PAGES[1] if "cursor" in url.params else PAGES[0]))

    source = _source(base_url=MIRROR)
    pages = list(source.fetch(_fetcher(handler), WINDOW))
    assert len(pages) == len(requests) == 2
    first = requests[0].url
    # one `stages` parameter, comma-separated (CF keeps only the last of repeated ones)
    assert first.params.get_list("stages") == ["tender,award,planning"]
    assert b"stages=tender,award,planning" in first.query
    assert (first.params["publishedFrom"], first.params["publishedTo"]) == (
        "2026-07-07T08:00:00",
        "2026-07-15T08:00:00",
    )
    assert int(first.params["limit"]) <= 100
    assert requests[1].url.params["cursor"] == "MjAyNTAzMTExMjU3MDA="
    assert len([r for page in pages for r in source.parse(page)]) == 4


def test_a_maintenance_page_is_a_parse_error() -> None:
    fetcher = _fetcher(
        lambda request: httpx.Response(200, text="<html>Down for maintenance</html>")
    )
    with pytest.raises(ParseError, match="expected JSON"):
        list(_source().fetch(fetcher, WINDOW))


@pytest.mark.parametrize("content", [b"<html></html>", b'{"error": "Invalid cursor"}'])
def test_parse_rejects_what_is_not_a_release_package(content: bytes) -> None:
    with pytest.raises(ParseError):
        list(_source().parse(RawPage(url=ENDPOINT, content=content)))


def test_config() -> None:
    assert _source().config.base_url == "https://www.contractsfinder.service.gov.uk"
    assert _source(stages=["implementation"]).config.stages == ("implementation",)
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        _source(limit=250)


@given(data=st.data())
def test_parse_never_raises_on_releases_with_keys_removed(data: st.DataObject) -> None:
    release = dict(data.draw(st.sampled_from(RAW_RELEASES)))
    for key in data.draw(st.sets(st.sampled_from(sorted(release)))):
        del release[key]
    if isinstance(release.get("tender"), dict):
        tender = dict(release["tender"])
        for key in data.draw(st.sets(st.sampled_from(sorted(tender)))):
            del tender[key]
        release["tender"] = tender
    page = RawPage(url=ENDPOINT, content=json.dumps({"releases": release}).encode())
    records = list(_source().parse(page))
    assert all(isinstance(r, NoticeRecord) and r.native_id for r in records)
