"""Small helpers shared by tests that drive the real command line."""

from __future__ import annotations

import html
import json
import os
import re
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


def press(client: Any, page: Any) -> Any:
    """Press the button of `page`'s form as a browser would: its action, its hidden fields."""
    found = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert found is not None, "the page has no form"
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    return client.post(html.unescape(found.group(1)), data=fields)


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


def migrate_to(engine: Any, revision: str) -> None:
    """Migrate the database of `engine` up to `revision` only (an older release's schema)."""
    from alembic import command  # noqa: PLC0415

    from watcher.db.session import alembic_config  # noqa: PLC0415

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def database_at(database_url: str, revision: str) -> Any:
    """An engine on a database migrated up to `revision` only, with one source (id 1, `s`):
    what a migration test fills before `upgrade` brings it to head."""
    from sqlalchemy import text  # noqa: PLC0415

    from watcher.db.session import make_engine  # noqa: PLC0415

    engine = make_engine(database_url)
    migrate_to(engine, revision)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sources (id, name, kind, consecutive_failures, created_at)"
                " VALUES (1, 's', 'boamp', 0, :now)"
            ),
            {"now": OLD_SCHEMA_NOW},
        )
    return engine


# When rows written into an older schema were seen (`database_at`).
OLD_SCHEMA_NOW = "2026-12-01 08:00:00+00:00"
