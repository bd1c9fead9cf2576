"""Part 1, ingest: 9,900 BOAMP records over 99 API pages from a loopback portal.

A first poll (everything is new) and an unchanged re-poll, on SQLite and on PostgreSQL, each in a
process of its own, against a floor measured in the same run: a bare httpx client that fetches the
same pages, decodes every record and its `donnees`, and hashes the record. Targets: first poll
within 3× the floor, re-poll within 1.2×, peak memory under 150 MiB.

The poll rows time `run_source` alone (no interpreter start-up, imports, migrations, feeds). The
"whole command" rows time `watcher run --once` from outside, as cron runs it (start-up, the poll,
feeds and alerts after it) against the floor's own process from outside (its start-up included).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.boamp_data import RECORDS_PATH, BoampPages, write_pages
from benchmarks.common import (
    LoopbackServer,
    Row,
    child,
    mib,
    postgres_database,
    postgres_reachable,
    report,
    seconds,
    times,
)

RECORDS, PAGE_SIZE = 9_900, 100
FIRST_MAX, REPOLL_MAX, MEMORY_MAX = 3.0, 1.2, 150.0
REPS = 2  # polls per database, each on a fresh one; the best counts, as for the floor


def floor(base_url: str, pages: int, page_size: int) -> None:
    """Child: fetch every page with a bare httpx client, decode each record and its `donnees`,
    hash the record (compact sorted JSON, sha256) — what any ingest must at least do."""
    import hashlib  # noqa: PLC0415
    import json  # noqa: PLC0415
    import time  # noqa: PLC0415

    import httpx  # noqa: PLC0415

    started, cpu = time.perf_counter(), time.process_time()
    hashed = 0
    with httpx.Client(timeout=30) as client:
        for number in range(pages):
            params = {"limit": page_size, "offset": number * page_size}
            answer = client.get(base_url + RECORDS_PATH, params=params)
            for record in json.loads(answer.content)["results"]:
                json.loads(record["donnees"])
                raw = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
                hashlib.sha256(raw.encode()).hexdigest()
                hashed += 1
    report(seconds=time.perf_counter() - started, cpu=time.process_time() - cpu, records=hashed)


def poll(database_url: str, workdir: str, base_url: str, profile: str | None = None) -> None:
    """Child: one poll of the `boamp` source through `run_source`, timed without the start-up
    (imports, migrations, loading the matcher's rules)."""
    import time  # noqa: PLC0415

    from watcher.pipeline.poll import run_source  # noqa: PLC0415
    from watcher.pipeline.runtime import Runtime  # noqa: PLC0415
    from watcher.settings import Settings  # noqa: PLC0415

    folder = Path(workdir)
    sources = folder / "sources.yaml"
    sources.write_text(
        "sources:\n  - name: boamp\n    kind: boamp\n    min_interval: 0\n"
        f"    base_url: {base_url}\n    query: []\n",
        "utf-8",
    )
    settings = Settings(sources=sources, data_dir=folder / "data", database_url=database_url)
    runtime = Runtime(settings)
    [source] = runtime.config.build()
    context = runtime.context()
    _ = runtime.matcher, runtime.engine
    profiler = _profiler(profile)
    started, cpu = time.perf_counter(), time.process_time()
    result = run_source(source, context)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profiler is not None:
        profiler.stop()
        Path(profile or "").write_text(profiler.output_text(unicode=True))
    if not result.ok:
        raise SystemExit(f"poll failed: {result.error}")
    report(
        seconds=elapsed,
        cpu=cpu,
        fetched=result.fetched,
        new=result.new,
        changed=result.changed,
        unchanged=result.unchanged,
        relevant=result.relevant,
        events=result.events,
    )


def _profiler(path: str | None) -> Any:
    if not path:
        return None
    from pyinstrument import Profiler  # noqa: PLC0415 - only when asked

    profiler = Profiler(interval=0.001)
    profiler.start()
    return profiler


def run(*, quick: bool = False) -> list[Row]:
    """Build the pages, serve them, measure the floor and the polls; the table's rows."""
    records = 1_000 if quick else RECORDS
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        paths = write_pages(Path(tmp) / "pages", records, PAGE_SIZE, dt.date.today())
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        with LoopbackServer(BoampPages(paths, PAGE_SIZE)) as server:
            args = {"base_url": server.url, "pages": len(paths), "page_size": PAGE_SIZE}
            child("ingest.floor", **args).payload()  # warm the page cache and the server
            best = min((child("ingest.floor", **args) for _ in range(3)), key=_seconds)
            base = best.payload()["seconds"]
            what = f"{records:,} records, {len(paths)} pages, {megabytes:.0f} MB"
            rows.append(Row("ingest", f"floor: httpx + decode + hash ({what})", seconds(base)))
            rows.append(Row("ingest", "floor peak memory", mib(best.peak_mib)))
            rows += _whole_command(Path(tmp) / "command", server.url, best.seconds, records)
            databases: list[tuple[str, Any]] = [("sqlite", None)]
            why = postgres_reachable()
            if why is None:
                databases.append(("postgresql", postgres_database))
            reps = 1 if quick else REPS
            for name, make in databases:
                measured = []
                for rep in range(reps):  # each on a fresh database
                    folder = Path(tmp) / f"{name}-{rep}"
                    if make is None:
                        url = f"sqlite:///{folder / 'watcher.sqlite3'}"
                        measured.append(_poll_pair(url, folder, server.url, records))
                        continue
                    with make() as url:
                        measured.append(_poll_pair(url, folder, server.url, records))
                rows += _poll_rows(name, measured, base)
            if why is not None:
                rows.append(Row("ingest", f"postgresql skipped: {why}", "—"))
    return rows


def _seconds(measured: Any) -> float:
    return float(measured.payload()["seconds"])


def _poll_pair(url: str, folder: Path, base_url: str, records: int) -> tuple[Any, Any]:
    """A first poll and an unchanged re-poll of one fresh database: (child, payload) each."""
    folder.mkdir(parents=True, exist_ok=True)
    args = {"database_url": url, "workdir": str(folder), "base_url": base_url}
    first = child("ingest.poll", **args)
    done = first.payload()
    if done["new"] != records:
        raise RuntimeError(f"first poll stored {done['new']} new notices, expected {records}")
    again = child("ingest.poll", **args)
    redone = again.payload()
    if redone["unchanged"] != records:
        raise RuntimeError(f"re-poll found {redone['unchanged']} unchanged, expected {records}")
    return (first, done), (again, redone)


def _poll_rows(db: str, measured: list[tuple[Any, Any]], base: float) -> list[Row]:
    """The rows of one database: the best of the repetitions (as for the floor)."""
    _, done = min((m[0] for m in measured), key=lambda pair: pair[1]["seconds"])
    _, redone = min((m[1] for m in measured), key=lambda pair: pair[1]["seconds"])
    first_peak = max(m[0][0].peak_mib for m in measured)
    again_peak = max(m[1][0].peak_mib for m in measured)
    found = f"{done['relevant']} relevant, {done['events']} events"
    best = f"best of {len(measured)}"
    return [
        Row(
            "ingest",
            f"{db}: first poll ({found}; {best})",
            seconds(done["seconds"]),
            f"floor {seconds(base)}",
            times(done["seconds"], base),
            f"≤ {FIRST_MAX:g}×",
            done["seconds"] <= FIRST_MAX * base,
        ),
        Row(
            "ingest",
            f"{db}: unchanged re-poll ({best})",
            seconds(redone["seconds"]),
            f"floor {seconds(base)}",
            times(redone["seconds"], base),
            f"≤ {REPOLL_MAX:g}×",
            redone["seconds"] <= REPOLL_MAX * base,
        ),
        Row(
            "ingest",
            f"{db}: peak memory (first / re-poll; highest of {len(measured)})",
            f"{mib(first_peak)} / {mib(again_peak)}",
            target=f"< {MEMORY_MAX:g} MiB",
            met=max(first_peak, again_peak) < MEMORY_MAX,
        ),
    ]


def _whole_command(folder: Path, base_url: str, floor_wall: float, records: int) -> list[Row]:
    """`watcher run --once` from outside (SQLite), first poll and re-poll, against the floor's
    process from outside."""
    from benchmarks.common import spawn  # noqa: PLC0415
    from benchmarks.pages import WATCHER  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sources.yaml").write_text(
        "sources:\n  - name: boamp\n    kind: boamp\n    min_interval: 0\n"
        f"    base_url: {base_url}\n    query: []\n",
        "utf-8",
    )
    env = {
        "WATCHER_SOURCES": str(folder / "sources.yaml"),
        "WATCHER_DATA_DIR": str(folder / "data"),
        "WATCHER_DATABASE_URL": f"sqlite:///{folder / 'data' / 'watcher.sqlite3'}",
        "HOME": str(folder),
    }
    spawn([WATCHER, "db", "upgrade"], env=env).check()  # installing is not polling
    first = spawn([WATCHER, "run", "--once"], env=env).check()
    again = spawn([WATCHER, "run", "--once"], env=env).check()
    if f"{records} notices fetched" not in first.stdout + again.stdout:
        raise RuntimeError(f"unexpected summary: {first.stdout[-300:]}")
    reference = f"floor process {seconds(floor_wall)}"
    return [
        Row(
            "ingest",
            "sqlite: whole `watcher run --once`, first poll (start-up, feeds, alerts)",
            f"{seconds(first.seconds)}, {mib(first.peak_mib)}",
            reference,
            times(first.seconds, floor_wall),
            f"≤ {FIRST_MAX:g}×",
            first.seconds <= FIRST_MAX * floor_wall,
        ),
        Row(
            "ingest",
            "sqlite: whole `watcher run --once`, unchanged re-poll",
            f"{seconds(again.seconds)}, {mib(again.peak_mib)}",
            reference,
            times(again.seconds, floor_wall),
            f"≤ {REPOLL_MAX:g}×",
            again.seconds <= REPOLL_MAX * floor_wall,
        ),
    ]
