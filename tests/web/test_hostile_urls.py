"""Numbers no row can have, in paths and query strings (issue 18, row 8), against the real server
on loopback: a styled 404 or 400, never a 500 or a reset connection, on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from watcher.pipeline.runtime import Runtime
from watcher.web.ids import MAX_ID, db_id
from watcher.web.server import create_app

HUGE = "9" * 23
ENORMOUS = "9" * 5000  # beyond Python's int-from-string limit

NOT_FOUND = [
    f"/notices/{HUGE}",
    f"/notices/{ENORMOUS}",
    f"/notices/{MAX_ID + 1}",
    f"/notices/{2**63}",
    f"/notices/{MAX_ID}",
    "/notices/0",
    "/notices/000000000000000000000001000",
    f"/notices/1/versions/{HUGE}/raw",
    f"/notices/{MAX_ID + 1}/versions/1/raw",
    f"/notices/{HUGE}/versions/{HUGE}/raw",
]
API_NOT_FOUND = [f"/api/notices/{HUGE}", f"/api/notices/{MAX_ID + 1}", f"/api/notices/{ENORMOUS}"]
BAD_PAGE = [
    f"/?page={HUGE}",
    f"/?page={ENORMOUS}",
    f"/?page={MAX_ID + 1}",
    "/?page=-1",
    f"/?per_page={HUGE}",
    f"/?show=notices&page={2**63}",
    f"/sites/dunkerque?page={HUGE}",
    f"/sites/nowhere?page={2**64}",
]
API_BAD_PAGE = [
    f"/api/notices?page={HUGE}",
    f"/api/events?page={2**63}",
    f"/api/events?per_page={HUGE}",
    f"/api/notices?page={ENORMOUS}",
]
FEEDS_NOT_FOUND = [f"/feeds/archive/all/{HUGE}.atom", "/feeds/archive/all/999999999.json"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def site(polled: Runtime) -> Iterator[str]:
    """The application served by uvicorn on a loopback port."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(polled), host="127.0.0.1", port=port, log_level="critical")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_ids_and_pages_no_row_can_have_are_404_and_400_with_the_styled_page(site: str) -> None:
    tried = 0
    with httpx.Client(base_url=site, timeout=10) as client:
        for path, status in [
            *((p, 404) for p in NOT_FOUND),
            *((p, 400) for p in BAD_PAGE),
        ]:
            response = client.get(path)
            tried += 1
            assert response.status_code == status, (path[:80], response.status_code)
            assert "text/html" in response.headers["content-type"], path[:80]
            assert "<nav" in response.text, path[:80]  # the site's page around the error
            assert "Traceback" not in response.text
        for path, status in [
            *((p, 404) for p in API_NOT_FOUND),
            *((p, 400) for p in API_BAD_PAGE),
        ]:
            response = client.get(path)
            tried += 1
            assert response.status_code == status, (path[:80], response.status_code)
            assert "error" in response.json()
        for path in FEEDS_NOT_FOUND:
            tried += 1
            assert client.get(path).status_code == 404, path
        # The real pages still answer.
        assert client.get("/notices/1").status_code == 200
        assert client.get("/api/notices/1").status_code == 200
        assert client.get("/?page=200").status_code == 200  # MAX_PAGE; deeper: `after` (issue 26)
        assert client.get("/?page=1000000").status_code == 400
    assert tried == 27


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", 1), ("0001", 1), (str(MAX_ID), MAX_ID), (str(MAX_ID + 1), 0), (HUGE, 0), ("١٢", 0)],
)
def test_db_id(text: str, expected: int) -> None:
    assert db_id(text) == expected
