"""A per-source `proxy` (HTTP or SOCKS5, e.g. Tor) carries every request to the portal, so a
collective does not show its own address to the portals it watches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.loopback import LoopbackServer, Reply, Request
from tests.test_pipeline import BoampPortal
from watcher.errors import ConfigError
from watcher.pipeline.config import load_config
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime


def test_requests_go_through_the_proxy(make_runtime: Callable[..., Runtime]) -> None:
    portal = BoampPortal()
    seen: list[Request] = []

    def proxy(request: Request) -> Reply:
        # An HTTP proxy receives requests meant for another host.
        seen.append(request)
        return portal(request)

    with LoopbackServer(proxy) as server:
        runtime = make_runtime(
            "sources:\n  - name: boamp\n    kind: boamp\n"
            "    base_url: http://portal.invalid\n"  # unresolvable: only the proxy can reach it
            f"    proxy: {server.url}\n"
        )
        [result] = run_sources(runtime.config.build(), runtime.context())
    assert result.ok, result.error
    assert result.fetched == len(portal.records)
    assert seen and all(r.headers["host"] == "portal.invalid" for r in seen)


def test_proxy_must_be_http_or_socks(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - {name: b, kind: boamp, proxy: 'ftp://x:1'}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="proxy: must be an http://, https://, socks5://"):
        load_config(path)
    path.write_text(
        "sources:\n  - {name: b, kind: boamp, proxy: 'socks5h://127.0.0.1:9050'}\n", "utf-8"
    )
    assert load_config(path).sources[0].proxy == "socks5h://127.0.0.1:9050"
