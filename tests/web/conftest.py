"""A database filled by real polls of the BOAMP loopback portal: two relevant notices (Lesquin,
Dunkerque) and one that is not (a stormwater basin), then the Dunkerque deadline moves."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient

from tests.loopback import LoopbackServer
from tests.test_pipeline import BoampPortal, sources_yaml
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime
from watcher.web.server import create_app


@pytest.fixture
def polled(make_runtime: Callable[..., Runtime]) -> Runtime:
    """A runtime whose database holds two polls of the loopback BOAMP portal."""
    handler = BoampPortal()
    with LoopbackServer(handler) as server:
        runtime = make_runtime(sources_yaml(server.url))
        sources = runtime.config.build()
        [first] = run_sources(sources, runtime.context())
        assert first.ok, first.error
        handler.load("poll_page_moved_deadline.json")
        [second] = run_sources(sources, runtime.context())
        assert second.ok and second.changed == 1, second
    return runtime


@pytest.fixture
def client(polled: Runtime) -> Iterator[TestClient]:
    """The web application over the polled database."""
    with TestClient(create_app(polled)) as test_client:
        yield test_client
