"""`watcher serve` as a service: it polls by itself, its pages show what it found, it answers
health and metrics, logs one JSON line per poll on request, and SIGTERM stops it cleanly (exit 0
within 15 seconds), even in the middle of a poll that hangs."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import func, select

from tests.helpers import runtime_env
from tests.loopback import LoopbackServer, Reply, Request
from tests.test_pipeline import BoampPortal, sources_yaml
from watcher.db.models import Notice, SourceState
from watcher.pipeline.runtime import Runtime


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(runtime: Runtime, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    variables = runtime_env(runtime, inherit=True, **env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "watcher", "serve", "--port", str(port)],
        env=variables,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.TransportError:
        return None


def stop(proc: subprocess.Popen[bytes]) -> tuple[int, float, str]:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=20)[0]
    return proc.returncode, time.monotonic() - started, output.decode()


def test_serve_on_an_empty_database_polls_and_shows_the_notices(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    with LoopbackServer(BoampPortal()) as server:
        runtime = make_runtime(
            sources_yaml(server.url), database_url=f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        )
        with serving(runtime, WATCHER_LOG_FORMAT="json") as (proc, base):

            def shows_notices() -> bool:
                home = get(f"{base}/")
                return home is not None and "Dunkerque" in home.text

            assert wait_for(shows_notices, 60), "the home page never showed the polled notices"
            health = get(f"{base}/healthz")
            assert health is not None and health.json() == {"status": "ok", "database": "ok"}

            def counts_the_poll() -> bool:
                metrics = get(f"{base}/metrics")
                wanted = 'watcher_polls_total{outcome="ok",source="boamp"} 1.0'
                return metrics is not None and wanted in metrics.text

            # (a loaded machine may answer the page a moment before the metrics' own read)
            assert wait_for(counts_the_poll, 10), get(f"{base}/metrics")
            sources = get(f"{base}/sources")
            assert sources is not None and sources.status_code == 200
            assert 'class="status status-ok"' in sources.text
            code, seconds, output = stop(proc)
    assert code == 0, output
    assert seconds < 15
    assert "Traceback" not in output
    polls = [json.loads(line) for line in output.splitlines() if '"poll"' in line]
    assert len(polls) == 1, output
    assert polls[0]["logger"] == "watcher.pipeline.poll" and polls[0]["level"] == "INFO"
    assert polls[0]["poll"]["source"] == "boamp" and polls[0]["poll"]["fetched"] == 3
    assert polls[0]["poll"]["seconds"] > 0 and polls[0]["poll"]["ok"] is True


class HangingPortal(BoampPortal):
    """Answers nothing until released: a portal that hangs in the middle of a poll."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def __call__(self, request: Request) -> Reply:
        self.release.wait(60)
        return super().__call__(request)


def test_sigterm_during_a_hanging_poll_abandons_it_and_exits_0(
    make_runtime: Callable[..., Runtime],
) -> None:
    handler = HangingPortal()
    with LoopbackServer(handler) as server:
        runtime = make_runtime(sources_yaml(server.url))
        runtime.engine  # noqa: B018 - migrated before the service starts
        try:
            with serving(runtime, WATCHER_HTTP_TIMEOUT="60") as (proc, base):
                assert wait_for(lambda: bool(server.requests), 30), "the poll never started"
                assert get(f"{base}/healthz") is not None
                code, seconds, output = stop(proc)
        finally:
            handler.release.set()
    assert code == 0, output
    assert seconds < 15, output
    assert "abandoning the poll of boamp" in output
    assert "Traceback" not in output
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(Notice.id))) == 0
        state = session.scalars(select(SourceState)).one()
        assert state.last_polled_at is None  # so the next start polls it at once
