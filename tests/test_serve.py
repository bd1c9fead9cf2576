"""`watcher serve`: the feed over HTTP with validators, and the scheduler polling by itself."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
from starlette.testclient import TestClient

from tests.helpers import runtime_env
from tests.loopback import LoopbackServer
from tests.test_pipeline import BoampPortal, sources_yaml
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime
from watcher.web.server import create_app


def test_feed_served_with_etag_and_304(make_runtime: Callable[..., Runtime]) -> None:
    with LoopbackServer(BoampPortal()) as server:
        runtime = make_runtime(sources_yaml(server.url))
        run_sources(runtime.config.build(), runtime.context())
    with TestClient(create_app(runtime)) as client:
        first = client.get("/feeds/all.atom")
        assert first.status_code == 200
        assert first.headers["content-type"].startswith("application/atom+xml")
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert b"<entry>" in first.content
        again = client.get("/feeds/all.atom", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        since = client.get("/feeds/all.atom", headers={"If-Modified-Since": modified})
        assert since.status_code == 304
        other = client.get("/feeds/all.atom", headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200
        assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_polls_at_start_and_stops_on_sigterm(make_runtime: Callable[..., Runtime]) -> None:
    with LoopbackServer(BoampPortal()) as server:
        runtime = make_runtime(sources_yaml(server.url))
        port = _free_port()
        env = runtime_env(runtime, inherit=True)
        proc = subprocess.Popen(
            [sys.executable, "-m", "watcher", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            body = b""
            while time.monotonic() < deadline:
                try:
                    body = httpx.get(f"http://127.0.0.1:{port}/feeds/all.atom", timeout=2).content
                except httpx.TransportError:
                    body = b""
                if b"<entry>" in body:
                    break
                time.sleep(0.3)
            assert b"<entry>" in body, "the never-polled source was not polled at start"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            output = proc.communicate()[0].decode()
        assert "Traceback" not in output, output
