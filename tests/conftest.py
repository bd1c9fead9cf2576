"""Shared fixtures: recorded portal pages, a migrated database (SQLite, or PostgreSQL when
`WATCHER_TEST_DATABASE_URL` is set), a runtime wired to it, loopback portals."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.helpers import BoampPortal
from tests.loopback import LoopbackServer
from tests.mailbox import Mailbox
from watcher.db.session import normalize_url

FIXTURES = Path(__file__).parent / "fixtures"
PG_URL = os.environ.get("WATCHER_TEST_DATABASE_URL")


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`watcher check-config` keeps what it found valid in `$XDG_CACHE_HOME`: never the tester's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture
def fixtures_dir() -> Path:
    """`tests/fixtures/`: recorded portal answers, one folder per source kind."""
    return FIXTURES


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database for one test: a SQLite file, or a fresh PostgreSQL schema."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'watcher.sqlite3'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def make_runtime(tmp_path: Path, database_url: str) -> Iterator[object]:
    """A factory: `make_runtime(sources_yaml_text)` → a Runtime on the test database."""
    from watcher.pipeline.runtime import Runtime  # noqa: PLC0415
    from watcher.settings import Settings  # noqa: PLC0415

    made: list[Runtime] = []

    def factory(sources_yaml: str, **overrides: object) -> Runtime:
        path = tmp_path / "sources.yaml"
        path.write_text(sources_yaml, encoding="utf-8")
        values: dict[str, object] = {
            "sources": path,
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "base_url": "https://watcher.example",
            "http_backoff": 0.0,
            "http_retries": 1,
            "http_timeout": 5.0,
        }
        values.update(overrides)
        runtime = Runtime(Settings(**values))  # type: ignore[arg-type]
        made.append(runtime)
        return runtime

    yield factory
    for runtime in made:
        if "engine" in runtime.__dict__:
            runtime.engine.dispose()


@pytest.fixture
def portal() -> Iterator[tuple[BoampPortal, LoopbackServer]]:
    """A loopback server speaking the BOAMP API from `tests/fixtures/boamp/poll_page.json`."""
    handler = BoampPortal()
    with LoopbackServer(handler) as server:
        yield handler, server


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""
    box = Mailbox()
    box.start()
    yield box
    box.stop()
