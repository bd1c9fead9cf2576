"""Small helpers shared by tests that drive the real command line."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.loopback import Reply, Request
from watcher.pipeline.runtime import Runtime

BOAMP_FIXTURES = Path(__file__).parent / "fixtures" / "boamp"


def runtime_env(runtime: Runtime, *, inherit: bool = False, **extra: str) -> dict[str, str]:
    """The `WATCHER_*` variables that point a `watcher` command at `runtime`'s files and database
    (polite waits off), plus `extra`; with `inherit`, on top of this process's environment."""
    settings = runtime.settings
    env = {
        "WATCHER_SOURCES": str(settings.sources),
        "WATCHER_DATA_DIR": str(settings.data_dir),
        "WATCHER_DATABASE_URL": settings.db_url,
        "WATCHER_BASE_URL": settings.base_url,
        "WATCHER_HTTP_BACKOFF": "0",
        **extra,
    }
    return {**os.environ, **env} if inherit else env


class BoampPortal:
    """Serves `results` of a fixture page through the Explore v2.1 API with offset paging."""

    path = "/api/explore/v2.1/catalog/datasets/boamp/records"

    def __init__(self, page: str = "poll_page.json") -> None:
        self.load(page)

    def load(self, page: str) -> None:
        self.records: list[dict[str, Any]] = json.loads((BOAMP_FIXTURES / page).read_text("utf-8"))[
            "results"
        ]

    def __call__(self, request: Request) -> Reply:
        if request.path != self.path:
            return Reply(404, b'{"error": "not found"}')
        offset = int(request.param("offset", "0") or 0)
        limit = int(request.param("limit", "10") or 10)
        body = {"total_count": len(self.records), "results": self.records[offset : offset + limit]}
        return Reply(200, json.dumps(body).encode())
