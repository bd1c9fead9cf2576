"""Two `watcher run --once` at the same time on one database: nothing is corrupted, nothing is
stored or announced twice, and the second one says clearly why it did not poll."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.loopback import LoopbackServer
from tests.test_crash import SlowPortal, run_once, state
from watcher.pipeline.runtime import Runtime


def test_two_runs_at_once(make_runtime: Callable[..., Runtime]) -> None:
    portal = SlowPortal()
    with LoopbackServer(portal) as server:
        yaml = (
            f"sources:\n  - {{name: boamp, kind: boamp, base_url: '{server.url}', page_size: 4,"
            " min_interval: 0}\n"
        )
        runtime = make_runtime(yaml)
        runtime.engine  # noqa: B018 - migrate first
        first = run_once(runtime, runtime.settings.sources)
        time.sleep(0.5)
        second = run_once(runtime, runtime.settings.sources)
        outputs = [p.communicate(timeout=120)[0].decode() for p in (first, second)]
        codes = [first.returncode, second.returncode]
        # The first run's check of each portal's home page (`/`) is not a poll.
        portal_requests = [r for r in server.requests if r.path != "/"]
        requests = len(portal_requests)
    assert codes == [0, 0], outputs
    assert "Traceback" not in "".join(outputs)
    assert "skipped (another poll of this source is running)" in outputs[1], outputs[1]
    notices, versions, events, feed = state(runtime)
    assert notices == versions == len(portal.records) == 40
    assert len(feed) == events > 0
    assert requests == len({r.param("offset") for r in portal_requests})  # each page asked once
