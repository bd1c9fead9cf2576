"""`kill -9` in the middle of a poll, then a restart, gives the same database and the same feed as
a clean run: a poll is one transaction, and events have stable identities."""

from __future__ import annotations

import copy
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from tests.helpers import runtime_env
from tests.loopback import LoopbackServer, Reply, Request
from tests.test_pipeline import BoampPortal, feed_entries
from watcher.db.models import Event, Notice, NoticeVersion
from watcher.pipeline.runtime import Runtime

ATOM = "{http://www.w3.org/2005/Atom}"


class SlowPortal(BoampPortal):
    """Forty notices, two per page, each page a little slow: a poll takes a few seconds."""

    def __init__(self) -> None:
        super().__init__()
        base = self.records[1]
        for n in range(37):
            extra = copy.deepcopy(base)
            extra["idweb"] = f"26-2{n:05d}"
            extra["id"] = f"26_2{n:05d}"
            extra["url_avis"] = None
            extra["objet"] = f"Nettoyage des locaux du centre de rétention administrative, lot {n}"
            self.records.append(extra)

    def __call__(self, request: Request) -> Reply:
        reply = super().__call__(request)
        reply.delay = 0.15
        return reply


def run_once(runtime: Runtime, sources: Path) -> subprocess.Popen[bytes]:
    env = runtime_env(runtime, inherit=True, WATCHER_SOURCES=str(sources))
    return subprocess.Popen(
        [sys.executable, "-m", "watcher", "run", "--once"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def state(runtime: Runtime) -> tuple[int, int, int, list[str]]:
    with runtime.sessions() as session:
        counts = (
            session.scalar(select(func.count(Notice.id))) or 0,
            session.scalar(select(func.count(NoticeVersion.id))) or 0,
            session.scalar(select(func.count(Event.id))) or 0,
        )
    return (*counts, sorted(e.findtext(f"{ATOM}id") or "" for e in feed_entries(runtime)))


def test_kill_9_mid_poll_then_restart_equals_clean_run(
    tmp_path: Path, make_runtime: Callable[..., Runtime]
) -> None:
    with LoopbackServer(SlowPortal()) as server:
        yaml = f"sources:\n  - {{name: boamp, kind: boamp, base_url: '{server.url}', page_size: 2, min_interval: 0}}\n"
        runtime = make_runtime(yaml)
        sources = runtime.settings.sources
        runtime.engine  # noqa: B018 - migrate first, so the kill lands in the poll

        victim = run_once(runtime, sources)
        time.sleep(1.5)  # a few pages stored inside the poll's transaction
        assert victim.poll() is None, "the poll finished before it could be killed"
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=10)
        assert state(runtime)[:3] == (0, 0, 0)  # nothing half-way

        restart = run_once(runtime, sources)
        output = restart.communicate(timeout=60)[0].decode()
        assert restart.returncode == 0, output
        after_crash = state(runtime)

        clean_dir = tmp_path / "clean"
        clean = make_runtime(
            yaml, data_dir=clean_dir, database_url=f"sqlite:///{clean_dir}/w.sqlite3"
        )
        clean_run = run_once(clean, sources)
        clean_run.communicate(timeout=60)
        assert clean_run.returncode == 0
        assert after_crash == state(clean)
        assert after_crash[0] == 40 and len(after_crash[3]) == after_crash[2] > 0
