"""The JSON API: the same filters as the home page, pages with a `next` link, and an OpenAPI
document that is valid and describes what the API really answers."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from starlette.testclient import TestClient

DUNKERQUE = "Construction du centre de rétention administrative de Dunkerque"
LESQUIN = "Fourniture et livraison de repas"


@pytest.mark.parametrize(
    ("query", "total", "first"),
    [
        pytest.param("", 2, DUNKERQUE, id="relevant-by-default"),
        pytest.param("relevant=any", 3, DUNKERQUE, id="all"),
        pytest.param("relevant=false", 1, "Création d'un bassin", id="not-relevant"),
        pytest.param("site=lille-lesquin", 1, LESQUIN, id="site"),
        pytest.param("q=loon-plage", 1, DUNKERQUE, id="search"),
        pytest.param("source=boamp&q=repas", 1, LESQUIN, id="source-and-search"),
        pytest.param("source=elsewhere", 0, None, id="nothing"),
    ],
)
def test_notices(client: TestClient, query: str, total: int, first: str | None) -> None:
    body = client.get(f"/api/notices?{query}").json()
    assert body["total"] == total == len(body["items"])
    assert body["page"] == 1 and body["per_page"] == 50 and body["next"] is None
    if first:
        assert body["items"][0]["title"].startswith(first)
        assert body["items"][0]["source"] == "boamp"


def test_notice_detail_lists_versions_with_evidence(client: TestClient) -> None:
    [item] = client.get("/api/notices?site=dunkerque").json()["items"]
    assert item["site"] == "dunkerque" and item["relevant"] is True and item["version"] == 2
    assert item["deadline"].startswith("2027-01-18")
    detail = client.get(f"/api/notices/{item['id']}").json()
    assert [v["version"] for v in detail["versions"]] == [1, 2]
    raw = client.get(detail["versions"][1]["raw"])
    assert raw.headers["x-content-sha256"] == detail["versions"][1]["sha256"]
    assert detail["snapshot"]["title"].startswith(DUNKERQUE)
    missing = client.get("/api/notices/999999")
    assert missing.status_code == 404 and missing.json() == {"error": "no such notice"}


def test_events_paginate_with_next_links(client: TestClient) -> None:
    first = client.get("/api/events?per_page=2").json()
    assert first["total"] == 3 and len(first["items"]) == 2
    assert first["items"][0]["type"] == "deadline_moved"
    assert first["items"][0]["changes"][0]["old"] == "04/01/2027"
    assert first["items"][0]["notice"]["title"].startswith(DUNKERQUE)
    assert "page=2" in first["next"] and "per_page=2" in first["next"]
    second = client.get(first["next"]).json()
    assert len(second["items"]) == 1 and second["next"] is None
    ids = [e["id"] for e in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True)
    moved = client.get("/api/events?type=deadline_moved").json()
    assert [e["type"] for e in moved["items"]] == ["deadline_moved"]
    assert client.get("/api/events?site=lille-lesquin").json()["total"] == 1


@pytest.mark.parametrize(
    "query",
    ["per_page=0", "per_page=1000", "page=-1", "page=two", "type=exploded", "relevant=maybe"],
)
def test_bad_parameters_are_400_with_a_reason(client: TestClient, query: str) -> None:
    path = "/api/notices" if "relevant" in query else "/api/events"
    response = client.get(f"{path}?{query}")
    assert response.status_code == 400
    assert response.json()["error"]


def test_openapi_document_is_valid_and_matches_the_answers(client: TestClient) -> None:
    doc = client.get("/api/openapi.json").json()
    validate(doc)
    assert set(doc["paths"]) == {
        "/api/notices",
        "/api/notices/{notice_id}",
        "/api/events",
        "/api/procedures/{notice_id}.ocds.json",
        "/api/procedures/{notice_id}/questions.json",
        "/api/companies",
        "/api/companies/{slug}",
        "/api/search",
    }
    assert doc["servers"] == [{"url": "https://watcher.example"}]
    schemas = doc["components"]["schemas"]
    notice = client.get("/api/notices").json()["items"][0]
    assert set(notice) == set(schemas["Notice"]["properties"])
    event = client.get("/api/events").json()["items"][0]
    assert set(event) == set(schemas["Event"]["properties"])
    listing = client.get("/api/events").json()
    assert set(listing) == set(schemas["EventList"]["properties"])
    detail = client.get(notice["html"].replace("/notices/", "/api/notices/")).json()
    assert set(detail) == set(schemas["NoticeDetail"]["properties"])
    found = client.get("/api/search?q=rétention").json()
    assert set(found) == set(schemas["SearchResults"]["properties"])
    assert set(found["items"][0]) == set(
        schemas["SearchResults"]["properties"]["items"]["items"]["properties"]
    )
    assert set(detail["versions"][0]) == set(
        schemas["NoticeDetail"]["properties"]["versions"]["items"]["properties"]
    )
    for path, item in doc["paths"].items():
        for parameter in item["get"]["parameters"]:
            if parameter["in"] == "query" and "{notice_id}" not in path:
                value = (
                    parameter["schema"].get("default")
                    or parameter["schema"].get("minimum")  # `after`: an id (issue 26)
                    or (parameter["schema"].get("enum") or ["x"])[0]
                )
                assert client.get(f"{path}?{parameter['name']}={value}").status_code == 200


def test_a_procedure_as_ocds(client: TestClient) -> None:
    from watcher.pipeline.ocds import release_errors  # noqa: PLC0415

    notice = client.get("/api/notices").json()["items"][0]
    response = client.get(f"/api/procedures/{notice['id']}.ocds.json")
    assert response.status_code == 200
    [record] = response.json()["records"]
    assert record["ocid"].startswith("ocds-watcher-boamp-")
    assert release_errors(record["releases"]) == []
    assert record["compiledRelease"]["tag"] == ["compiled"]
    assert client.get("/api/procedures/999999.ocds.json").status_code == 404
    page = client.get(notice["html"]).text
    assert f"/api/procedures/{notice['id']}.ocds.json" in page
