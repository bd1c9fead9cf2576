"""The fault and abuse campaign (issue 17): faults and abuse from outside, bounded in time, each
reporting its figures on the terminal (`CAMPAIGN …` lines).

Marked `campaign`: the everyday `pytest -q` leaves it out (`-m "not campaign"` in `addopts`);
`.ci/run` runs it on SQLite and on PostgreSQL (`pytest -q -m campaign`), a few minutes each:

- `kill -9` of a poll at 10 random moments, then a full run: same notices, versions, events and
  feed entries as a clean run (nothing lost, nothing doubled);
- `kill -9` of an alert run (`watcher notify`) at 10 random moments, then a full run: no alert
  sent twice; an alert is missing only inside the documented at-most-once window (a row left in
  `sending` by the kill), at most one per kill;
- the SMTP server down, then up: every alert delivered once;
- SQLite locked by another process during a poll (SQLite only);
- PostgreSQL connections dropped mid-poll with `pg_terminate_backend` (PostgreSQL only);
- the web site under 50 concurrent clients for 20 s on `/`, a procedure page and
  `/feeds/all.atom` with 10,000 notices: no error, p99 printed;
- 1,000 subscription attempts from one client: rate-limited, at most the allowed number of
  confirmation e-mails reach the SMTP server;
- issue 26: an answer `Content-Encoding: gzip, gzip` declaring 1 GiB (peak memory of `run
  --once`), an award naming 6,000 winners (feed disk and seconds), 1,100 slow connections to
  `watcher serve` under 1,024 open files (`/healthz` latency, connections closed), an `html`
  page of 300 relevant items (mails per poll), `kill -9` during `watcher db upgrade`.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select, text, update
from starlette.testclient import TestClient

from tests.helpers import runtime_env
from tests.loopback import LoopbackServer, Reply
from tests.mailbox import Mailbox
from tests.test_crash import SlowPortal, run_once, state
from watcher.db.models import Delivery, Notice, Subscriber
from watcher.db.session import normalize_url, session_scope
from watcher.notify import deliver_pending
from watcher.notify.subscribers import Filters, add_confirmed
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime
from watcher.web.server import create_app

pytestmark = pytest.mark.campaign
PG = bool(os.environ.get("WATCHER_TEST_DATABASE_URL"))
SEED = int(os.environ.get("WATCHER_CAMPAIGN_SEED") or time.time())
KILLS = 10


@pytest.fixture
def figure(capsys: pytest.CaptureFixture[str]) -> Callable[..., None]:
    """`figure("name", key=value, …)` prints one `CAMPAIGN name: key=value …` line."""

    def report(name: str, **values: Any) -> None:
        line = " ".join(f"{k}={v}" for k, v in values.items())
        with capsys.disabled():
            print(f"\nCAMPAIGN [{'postgresql' if PG else 'sqlite'}] {name}: {line}", flush=True)

    return report


@pytest.fixture
def slow_portal() -> Iterator[LoopbackServer]:
    with LoopbackServer(SlowPortal()) as server:
        yield server


def _wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def boamp_yaml(url: str) -> str:
    return f"sources:\n  - {{name: boamp, kind: boamp, base_url: '{url}', page_size: 2, min_interval: 0}}\n"


def test_kill_9_of_a_poll_at_10_random_moments(
    tmp_path: Path,
    slow_portal: LoopbackServer,
    make_runtime: Callable[..., Runtime],
    figure: Callable[..., None],
) -> None:
    rng = random.Random(SEED)
    runtime = make_runtime(boamp_yaml(slow_portal.url))
    runtime.engine  # noqa: B018 - migrated before the first kill
    landed = mid_poll = 0
    for _ in range(KILLS):
        asked = len(slow_portal.requests)
        victim = run_once(runtime, runtime.settings.sources)
        # A random moment of the poll itself (~3 s: 20 pages of 0.15 s), not of Python starting.
        _wait_for(lambda a=asked, v=victim: len(slow_portal.requests) > a or v.poll() is not None)
        time.sleep(rng.uniform(0.0, 2.8))
        if victim.poll() is None:
            landed += 1
            mid_poll += len(slow_portal.requests) > asked  # pages fetched: inside the poll
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=30)
    final = run_once(runtime, runtime.settings.sources)
    output = final.communicate(timeout=120)[0].decode()
    assert final.returncode == 0, output
    after = state(runtime)

    clean_dir = tmp_path / "clean"
    clean = make_runtime(
        boamp_yaml(slow_portal.url),
        data_dir=clean_dir,
        database_url=f"sqlite:///{clean_dir}/w.sqlite3",
    )
    clean_run = run_once(clean, clean.settings.sources)
    clean_run.communicate(timeout=120)
    expected = state(clean)
    lost = max(expected[2] - after[2], 0)
    doubled = max(after[2] - expected[2], 0) + len(after[3]) - len(set(after[3]))
    figure(
        "kill -9 of a poll",
        seed=SEED,
        kills=KILLS,
        landed_while_running=landed,
        landed_mid_poll=mid_poll,
        notices=after[0],
        versions=after[1],
        events=after[2],
        events_lost=lost,
        events_doubled=doubled,
    )
    assert after == expected and after[0] == 40
    assert lost == doubled == 0


class SlowMailbox(Mailbox):
    """An SMTP server that takes `delay` seconds per message."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def start(self) -> None:
        super().start()
        handler: Any = self._controller.handler  # type: ignore[union-attr]
        original = handler.handle_DATA
        delay = self.delay

        async def slow(*args: Any) -> str:
            import asyncio  # noqa: PLC0415

            await asyncio.sleep(delay)
            return str(await original(*args))

        handler.handle_DATA = slow


def _subscribers(runtime: Runtime, n: int) -> list[str]:
    addresses = [f"reader{i}@example.org" for i in range(n)]
    with session_scope(runtime.sessions) as session:
        for address in addresses:
            add_confirmed(session, address, Filters(), dt.datetime.now(dt.UTC))
        session.execute(update(Subscriber).values(since_event_id=0))  # the whole backlog
    return addresses


def _mail_keys(box: Mailbox) -> list[tuple[str, str]]:
    return [(r, str(m["X-Watcher-Events"])) for rcpts, m in box.received for r in rcpts]


def test_kill_9_of_an_alert_run_at_10_random_moments(
    slow_portal: LoopbackServer, make_runtime: Callable[..., Runtime], figure: Callable[..., None]
) -> None:
    rng = random.Random(SEED + 1)
    box = SlowMailbox(0.1)
    box.start()
    try:
        runtime = make_runtime(boamp_yaml(slow_portal.url), alerts_per_round=0)
        run_sources(runtime.config.build(), runtime.context())
        _subscribers(runtime, 5)
        with session_scope(runtime.sessions) as session:
            from watcher.notify import ledger  # noqa: PLC0415

            ledger.enqueue(session, dt.datetime.now(dt.UTC))
        with runtime.sessions() as session:
            alerts = len(session.scalars(select(Delivery.id)).all())
        # Every alert on its own (no per-round cap, issue 26): this test counts delivery.
        env = runtime_env(
            runtime, inherit=True, WATCHER_SMTP_URL=box.url, WATCHER_ALERTS_PER_ROUND="0"
        )
        notify = [sys.executable, "-m", "watcher", "notify"]
        landed = mid_send = 0
        for _ in range(KILLS):
            received = len(box.received)
            victim = subprocess.Popen(
                notify, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            # A random moment of the round itself: once its first mail is out.
            _wait_for(lambda r=received, v=victim: len(box.received) > r or v.poll() is not None)
            time.sleep(rng.uniform(0.0, 1.5))
            if victim.poll() is None:
                landed += 1
                mid_send += len(box.received) > received  # mails went out: inside the round
            victim.send_signal(signal.SIGKILL)
            victim.communicate(timeout=30)
        done = subprocess.run(notify, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        with runtime.sessions() as session:
            rows = session.execute(select(Delivery.status, Delivery.last_error)).all()
    finally:
        box.stop()
    keys = _mail_keys(box)
    mails = Tally(keys)
    doubled = sum(n - 1 for n in mails.values() if n > 1)
    statuses = Tally(status for status, _ in rows)
    window = sum(
        1
        for status, error in rows
        if status == "sending" or (status == "failed" and "interrupted" in (error or ""))
    )
    delivered = len(mails)
    arrived_in_window = delivered - statuses["sent"]  # sent, but the kill came before `sent`
    figure(
        "kill -9 of an alert run",
        seed=SEED + 1,
        kills=KILLS,
        landed_while_running=landed,
        landed_mid_send=mid_send,
        alerts=alerts,
        mails_received=len(keys),
        distinct=delivered,
        doubled=doubled,
        at_most_once_window=window,
        window_arrived=arrived_in_window,
        window_not_arrived=window - arrived_in_window,
        lost_outside_window=alerts - statuses["sent"] - window,
        ledger=dict(statuses),
    )
    assert doubled == 0
    assert statuses["sent"] + window == alerts  # every alert is sent, or in the window…
    assert 0 <= arrived_in_window <= window <= KILLS  # …one per kill at most


def test_smtp_down_then_up_delivers_every_alert_once(
    slow_portal: LoopbackServer,
    make_runtime: Callable[..., Runtime],
    figure: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    box = Mailbox()
    monkeypatch.setenv("WATCHER_SMTP_URL", box.url)
    runtime = make_runtime(boamp_yaml(slow_portal.url), alerts_per_round=0)
    run_sources(runtime.config.build(), runtime.context())
    _subscribers(runtime, 3)
    down = deliver_pending(runtime)  # nothing listens on the port
    again = deliver_pending(runtime, force=True)
    with runtime.sessions() as session:
        alerts = len(session.scalars(select(Delivery.id)).all())
    box.start()
    try:
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        up = deliver_pending(runtime, later)
        extra = deliver_pending(runtime, later + dt.timedelta(hours=1), force=True)
    finally:
        box.stop()
    mails = Tally(_mail_keys(box))
    figure(
        "SMTP down then up",
        alerts=alerts,
        sent_while_down=down.sent + again.sent,
        sent_after=up.sent + extra.sent,
        mails=sum(mails.values()),
        doubled=sum(n - 1 for n in mails.values() if n > 1),
    )
    assert down.sent == again.sent == 0 and alerts > 0
    assert sum(mails.values()) == len(mails) == alerts


@pytest.mark.skipif(PG, reason="SQLite's file lock")
def test_sqlite_locked_by_another_process(
    slow_portal: LoopbackServer, make_runtime: Callable[..., Runtime], figure: Callable[..., None]
) -> None:
    runtime = make_runtime(boamp_yaml(slow_portal.url))
    runtime.engine  # noqa: B018
    path = runtime.settings.db_url.removeprefix("sqlite:///")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(4)\n"
            "c.execute('COMMIT')",
            path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    started = time.monotonic()
    [result] = run_sources(runtime.config.build(), runtime.context())
    waited = time.monotonic() - started
    holder.communicate(timeout=30)
    after = state(runtime)
    figure(
        "SQLite locked by another process for 4 s",
        poll_ok=result.ok,
        poll_seconds=f"{waited:.1f}",
        notices=after[0],
        events=after[2],
    )
    assert result.ok, result.error
    assert after[0] == 40 and len(after[3]) == after[2]


@pytest.mark.skipif(not PG, reason="PostgreSQL connections")
def test_postgresql_connection_dropped_mid_poll(
    slow_portal: LoopbackServer,
    make_runtime: Callable[..., Runtime],
    figure: Callable[..., None],
    database_url: str,
) -> None:
    # The poll's connections carry an application name: only they are dropped.
    runtime = make_runtime(
        boamp_yaml(slow_portal.url), database_url=f"{database_url}&application_name=campaign_poll"
    )
    runtime.engine  # noqa: B018
    admin = create_engine(normalize_url(database_url), isolation_level="AUTOCOMMIT")
    results: list[Any] = []
    poll = threading.Thread(
        target=lambda: results.extend(run_sources(runtime.config.build(), runtime.context()))
    )
    poll.start()
    time.sleep(1.5)
    with admin.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'campaign_poll'"
            )
        ).scalar_one()
    poll.join(120)
    admin.dispose()
    [first] = results
    [second] = run_sources(runtime.config.build(), runtime.context())
    after = state(runtime)
    figure(
        "PostgreSQL connections dropped mid-poll",
        connections_terminated=killed,
        first_poll_ok=first.ok,
        first_error=repr((first.error or "")[:60]),
        second_poll_ok=second.ok,
        notices=after[0],
        events=after[2],
    )
    assert killed >= 1
    assert second.ok, second.error
    assert after[0] == 40 and len(after[3]) == after[2] == len(set(after[3]))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_web_site_under_50_concurrent_clients_with_10000_notices(
    make_runtime: Callable[..., Runtime], figure: Callable[..., None], database_url: str
) -> None:
    from benchmarks.scale import grow  # noqa: PLC0415

    grow(database_url, 0, 10_000)
    runtime = make_runtime("sources: []\n")
    with runtime.sessions() as session:
        notice_id = session.scalar(select(Notice.id).where(Notice.relevant).limit(1))
    port = _free_port()
    env = runtime_env(runtime, inherit=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "watcher", "serve", "--no-scheduler", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    paths = ["/", f"/notices/{notice_id}", "/feeds/all.atom"]
    latencies: dict[str, list[float]] = {p: [] for p in paths}
    errors: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                probe.request("GET", "/healthz")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                pass
            finally:
                probe.close()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        stop = time.monotonic() + 20

        def client(n: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            i = n
            while time.monotonic() < stop:
                path = paths[i % len(paths)]
                i += 1
                started = time.perf_counter()
                try:
                    conn.request("GET", path)
                    answer = conn.getresponse()
                    answer.read()
                except OSError as exc:
                    errors.append(f"{path}: {type(exc).__name__}")
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    continue
                latencies[path].append(time.perf_counter() - started)
                if answer.status != 200:
                    errors.append(f"{path}: HTTP {answer.status}")
            conn.close()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        server.send_signal(signal.SIGTERM)
        _out, err = server.communicate(timeout=30)

    def p99(values: list[float]) -> str:
        ordered = sorted(values)
        return f"{ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000:.0f}ms"

    everything = [v for values in latencies.values() for v in values]
    figure(
        "web site, 50 clients for 20 s, 10,000 notices",
        requests=len(everything),
        per_second=f"{len(everything) / 20:.1f}",
        errors=len(errors),
        p99_all=p99(everything),
        **{f"p99_{p.strip('/').split('/')[0] or 'home'}": p99(v) for p, v in latencies.items()},
    )
    assert errors == [], errors[:5]
    assert all(latencies.values()), "every page was asked for"
    assert server.returncode == 0, err.decode()[-500:]


def test_1000_subscription_attempts_from_one_client(
    make_runtime: Callable[..., Runtime],
    mailbox: Mailbox,
    figure: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WATCHER_SMTP_URL", mailbox.url)
    runtime = make_runtime("sources: []\n")
    allowed = 10  # WATCHER_SUBSCRIBE_PER_CLIENT's default
    codes: Tally[int] = Tally()
    started = time.monotonic()
    with TestClient(create_app(runtime), client=("198.51.100.66", 4242)) as client:
        for n in range(1000):
            # Most name one victim, the others a new address each; some fill the honeypot.
            email = "victim@example.org" if n % 2 else f"target{n}@example.org"
            form = {"email": email}
            if n % 7 == 0:
                form["website"] = "http://spam.example"
            forwarded = {"X-Forwarded-For": f"203.0.113.{n % 250}"}  # not believed
            codes[client.post("/subscribe", data=form, headers=forwarded).status_code] += 1
    seconds = time.monotonic() - started
    figure(
        "1,000 subscription attempts from one client",
        attempts=1000,
        answers=dict(codes),
        mails_sent=len(mailbox.received),
        mails_to_victim=len(mailbox.to("victim@example.org")),
        allowed=allowed,
        seconds=f"{seconds:.1f}",
    )
    assert codes[429] >= 1000 - allowed
    assert len(mailbox.received) <= allowed
    assert len(mailbox.to("victim@example.org")) <= 1


# Issue 26: bounded memory, disk, mail and connections.


def _peak_rss_mib(argv: list[str], env: dict[str, str]) -> tuple[int, float, str]:
    """Run `argv`; its exit code, its own peak resident memory in MiB and its output. Started
    from the benchmarks' tiny launcher: Linux carries a process's peak RSS across exec, so a
    child started straight from this pytest process would report pytest's own peak (208 MiB
    after the campaign's 10,000-notice site test, for a run that peaks at 145)."""
    from benchmarks.common import spawn  # noqa: PLC0415

    done = spawn(argv, env=env)
    return done.returncode, done.peak_mib, done.stdout + done.stderr


def test_double_gzip_answer_of_1_gib_from_a_portal_and_a_document(
    make_runtime: Callable[..., Runtime], figure: Callable[..., None]
) -> None:
    from tests.test_bounds import double_gzip  # noqa: PLC0415
    from tests.test_documents import set_notice  # noqa: PLC0415

    body = double_gzip(1024 * 1024 * 1024)
    bomb = {"Content-Type": "application/json", "Content-Encoding": "gzip, gzip"}
    with LoopbackServer(lambda r: Reply(200, body, bomb)) as server:
        runtime = make_runtime(boamp_yaml(server.url))
        runtime.engine  # noqa: B018 - migrated
        set_notice(runtime, "26-100", [f"{server.url}/docs/bomb.pdf"])
        env = runtime_env(
            runtime, inherit=True, WATCHER_FETCH_ALLOW="127.0.0.0/8", WATCHER_DOCUMENTS="1"
        )
        started = time.monotonic()
        code, peak, output = _peak_rss_mib([sys.executable, "-m", "watcher", "run", "--once"], env)
        seconds = time.monotonic() - started
    figure(
        "Content-Encoding: gzip, gzip (1,827 bytes per 1 GiB), run --once",
        answer_bytes=len(body),
        declared="1 GiB",
        peak_memory=f"{peak:.0f}MiB",
        seconds=f"{seconds:.1f}",
        refused="larger than" in output,
    )
    assert "Traceback" not in output, output[-2000:]
    assert "larger than" in output, output[-2000:]
    assert peak < 200, f"{peak:.0f} MiB"
    assert code in (0, 1), output[-2000:]


def test_an_award_notice_naming_6000_winners(
    make_runtime: Callable[..., Runtime], figure: Callable[..., None]
) -> None:
    from tests.test_bounds import many_winners_notice, ted_yaml, tree_bytes  # noqa: PLC0415

    notice = many_winners_notice(6000)
    body = json.dumps({"notices": [notice], "totalNoticeCount": 1}).encode()
    with LoopbackServer(lambda _r: Reply(200, body)) as server:
        runtime = make_runtime(ted_yaml(server.url))
        runtime.engine  # noqa: B018 - migrated
        env = runtime_env(runtime, inherit=True)
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "watcher", "run", "--once"], env=env, capture_output=True
        )
        seconds = time.monotonic() - started
        again = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "watcher", "run", "--once"], env=env, capture_output=True
        )
        later = time.monotonic() - again
    files, size = tree_bytes(runtime.settings.data_dir / "feeds")
    figure(
        "award notice naming 6,000 winners",
        record_bytes=len(json.dumps(notice)),
        feed_files=files,
        feed_disk=f"{size / 1e6:.1f}MB",
        seconds=f"{seconds:.1f}",
        next_round_seconds=f"{later:.1f}",
    )
    assert done.returncode == 0, done.stdout.decode()[-2000:]
    assert size < 50e6 and seconds < 10


def test_1100_slow_connections_to_watcher_serve(
    make_runtime: Callable[..., Runtime], figure: Callable[..., None]
) -> None:
    from tests.test_bounds import SlowClients, probe, start_server  # noqa: PLC0415

    runtime = make_runtime("sources: []\n")
    server, port = start_server(runtime)  # WATCHER_SERVE_READ_TIMEOUT's default: 10 s
    try:
        with SlowClients(port, 1100, every=5.0) as slow:
            times: list[float | None] = []
            for _ in range(30):  # 15 s: past the read timeout
                times.append(probe(port, timeout=5.0))
                time.sleep(0.5)
            time.sleep(11.0)  # two more drips: each closed connection has noticed
            closed = slow.closed_by_server
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    answered = [t for t in times if t is not None]
    figure(
        "1,100 connections sending one byte every 5 s, 1,024 open files",
        healthz_probes=len(times),
        answered=len(answered),
        healthz_max=f"{max(answered) * 1000:.0f}ms" if answered else "none",
        slow_connections_closed=closed,
    )
    assert len(answered) == len(times) and max(answered) < 1.0, times
    assert closed >= 1000


def test_an_html_page_of_300_relevant_items_renamed_at_each_poll(
    make_runtime: Callable[..., Runtime],
    mailbox: Mailbox,
    figure: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.test_bounds import flood  # noqa: PLC0415

    monkeypatch.setenv("WATCHER_SMTP_URL", mailbox.url)
    runtime = make_runtime("sources: []\n")
    started = time.monotonic()
    counts = flood(runtime, rounds=3)
    figure(
        "html page with 300 relevant items, ids renamed at each poll, 3 polls",
        alerts_per_poll=300,
        mails_per_poll=counts,
        mails_in_all=len(mailbox.received),
        seconds=f"{time.monotonic() - started:.1f}",
    )
    assert counts == [21, 21, 21]


def test_kill_9_during_watcher_db_upgrade(
    tmp_path: Path, figure: Callable[..., None], database_url: str
) -> None:
    from tests.helpers import migrate_to  # noqa: PLC0415
    from watcher.db.session import make_engine  # noqa: PLC0415

    rng = random.Random(SEED)
    kills = 24
    landed = broken = 0
    for n in range(kills):
        url = database_url if PG else f"sqlite:///{tmp_path / f'k{n}.sqlite3'}"
        engine = make_engine(url)
        if PG:
            with engine.begin() as conn:  # an empty schema for each try
                for table in sorted(inspect(conn).get_table_names(), reverse=True):
                    conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
        if n % 2:
            migrate_to(engine, "0007")
        engine.dispose()
        env = {**os.environ, "WATCHER_DATABASE_URL": url, "WATCHER_DATA_DIR": str(tmp_path)}
        victim = subprocess.Popen(
            [sys.executable, "-m", "watcher", "db", "upgrade"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 2.0))
        landed += victim.poll() is None
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        after = subprocess.run(
            [sys.executable, "-m", "watcher", "db", "upgrade"], env=env, capture_output=True
        )
        broken += after.returncode != 0
    figure(
        "kill -9 during watcher db upgrade (fresh, or from 0007)",
        seed=SEED,
        kills=kills,
        landed_while_running=landed,
        databases_left_unopenable=broken,
    )
    assert broken == 0
