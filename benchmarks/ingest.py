"""Part 1, ingest: 9,900 BOAMP records over 99 API pages from a loopback portal.

On SQLite and on PostgreSQL, five times over, interleaved (old floor, then per database: storage
floor, hash floor, whole command first poll and re-poll, poll alone first and re-poll; A B C A B C
…), each in a process of its own on a fresh database; every row is the median with its min–max.

- The floors (`benchmarks.floors`): the storage floor (http.client keep-alive, orjson, `donnees`,
  one `executemany` in one transaction, on the same database server) for a first poll; the hash
  floor (read the stored hashes, fetch, parse, hash, compare) for a re-poll.
- The whole `watcher run --once` from outside, with a fresh data dir (start-up, poll, companies,
  feeds, audit, alerts), and the poll alone as its summary line reports it. Issue 29's targets:
  first poll ≤ 2× the storage floor, re-poll ≤ 1.3× the hash floor, peak memory < 120 MiB.
- The poll alone in-process in CPU seconds against the floors' CPU seconds (SQLite's work is in
  the process; PostgreSQL's server is not, for either): steadier than wall seconds on a machine
  shared with other work.
- The old benchmark, kept: `run_source` in-process (no start-up, no after-poll work) against a
  bare httpx client that decodes with stdlib `json` and hashes (first ≤ 3×, re-poll ≤ 1.2×).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.boamp_data import RECORDS_PATH, BoampPages, write_pages
from benchmarks.common import (
    REPS,
    LoopbackServer,
    Measured,
    Row,
    Series,
    child,
    mib,
    postgres_database,
    postgres_reachable,
    report,
    seconds,
    spawn,
    times,
)
from benchmarks.pages import WATCHER, poll_seconds

RECORDS, PAGE_SIZE = 9_900, 100
FIRST_MAX, REPOLL_MAX = 3.0, 1.2  # the old benchmark's targets (poll alone, against the old floor)
# Issue 29: the whole command against the floors of `benchmarks.floors`, measured in the same run.
WHOLE_FIRST_MAX, WHOLE_REPOLL_MAX, MEMORY_NEW_MAX = 2.0, 1.3, 120.0


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
    sources = boamp_sources(folder, base_url)
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


@contextmanager
def _fresh(db: str, folder: Path) -> Iterator[str]:
    """The URL of an empty database of kind `db` (`sqlite` in `folder`, or a new PostgreSQL one)."""
    if db == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{folder / 'watcher.sqlite3'}"
        return
    with postgres_database() as url:
        yield url


def boamp_sources(folder: Path, base_url: str) -> Path:
    """`folder/sources.yaml` with one `boamp` source reading `base_url`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sources.yaml"
    path.write_text(
        "sources:\n  - name: boamp\n    kind: boamp\n    min_interval: 0\n"
        f"    base_url: {base_url}\n    query: []\n",
        "utf-8",
    )
    return path


def whole_command(url: str, folder: Path, base_url: str, records: int) -> tuple[Measured, Measured]:
    """`watcher run --once` from outside with a fresh data dir: a first poll, then the unchanged
    re-poll (the install, `watcher db upgrade`, is not timed)."""
    env = {
        "WATCHER_SOURCES": str(boamp_sources(folder, base_url)),
        "WATCHER_DATA_DIR": str(folder / "data"),
        "WATCHER_DATABASE_URL": url,
        "HOME": str(folder),
    }
    spawn([WATCHER, "db", "upgrade"], env=env).check()
    first = spawn([WATCHER, "run", "--once"], env=env).check()
    again = spawn([WATCHER, "run", "--once"], env=env).check()
    if f"{records} notices fetched" not in first.stdout:
        raise RuntimeError(f"unexpected summary: {first.stdout[-300:]}")
    return first, again


def run(*, quick: bool = False) -> list[Row]:
    """Build the pages, serve them; measure floors, whole commands and polls, interleaved."""
    records = 1_000 if quick else RECORDS
    series: dict[str, list[Measured]] = defaultdict(list)
    databases = ["sqlite"]
    why = postgres_reachable()
    if why is None:
        databases.append("postgresql")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        paths = write_pages(Path(tmp) / "pages", records, PAGE_SIZE, dt.date.today())
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        with LoopbackServer(BoampPages(paths, PAGE_SIZE)) as server:
            args = {"base_url": server.url, "pages": len(paths), "page_size": PAGE_SIZE}
            child("ingest.floor", **args).check()  # warm the page cache and the server
            for rep in range(REPS):  # A B C A B C …: each series gets the same machine
                series["old floor"].append(child("ingest.floor", **args).check())
                for db in databases:
                    folder = Path(tmp) / f"{db}-{rep}"
                    with _fresh(db, folder / "floor") as url:
                        store = child("floors.storage", database_url=url, **args).check()
                        rehash = child("floors.hashes", database_url=url, **args).check()
                        if rehash.payload()["unchanged"] != records:
                            raise RuntimeError(f"hash floor: {rehash.payload()}")
                    series[f"{db} storage floor"].append(store)
                    series[f"{db} hash floor"].append(rehash)
                    with _fresh(db, folder / "command") as url:
                        first, again = whole_command(url, folder / "command", server.url, records)
                    series[f"{db} whole first"].append(first)
                    series[f"{db} whole again"].append(again)
                    with _fresh(db, folder / "poll") as url:
                        done, redone = _poll_pair(url, folder / "poll", server.url, records)
                    series[f"{db} poll first"].append(done)
                    series[f"{db} poll again"].append(redone)
    what = f"{records:,} records, {len(paths)} pages, {megabytes:.0f} MB"
    old = Series.of(series["old floor"], "seconds")
    rows = [
        Row("ingest", f"old floor: httpx + stdlib json + hash, in-process ({what})", old.text())
    ]
    for db in databases:
        rows += _db_rows(db, series, old)
    if why is not None:
        rows.append(Row("ingest", f"postgresql skipped: {why}", "—"))
    return rows


def _db_rows(db: str, series: dict[str, list[Measured]], old: Series) -> list[Row]:
    store = Series.of(series[f"{db} storage floor"])
    rehash = Series.of(series[f"{db} hash floor"])
    store_cpu = Series.of(series[f"{db} storage floor"], "cpu")
    rehash_cpu = Series.of(series[f"{db} hash floor"], "cpu")
    first_cpu = Series.of(series[f"{db} poll first"], "cpu")
    again_cpu = Series.of(series[f"{db} poll again"], "cpu")
    first = Series.of(series[f"{db} whole first"])
    again = Series.of(series[f"{db} whole again"])
    first_poll = Series(tuple(poll_seconds(m) for m in series[f"{db} whole first"]), first.peaks)
    again_poll = Series(tuple(poll_seconds(m) for m in series[f"{db} whole again"]), again.peaks)
    done = Series.of(series[f"{db} poll first"], "seconds")
    redone = Series.of(series[f"{db} poll again"], "seconds")
    relevant = series[f"{db} poll first"][0].payload()["relevant"]
    storage_ref = f"storage floor {seconds(store.median)}"
    hash_ref = f"hash floor {seconds(rehash.median)}"
    peak = max(first.peak, again.peak)
    return [
        Row(
            "ingest",
            f"{db}: storage floor (http.client + orjson + `donnees` + executemany, one transaction; process)",
            store.text(),
        ),
        Row(
            "ingest",
            f"{db}: hash floor (read hashes, fetch, parse, hash, compare; process)",
            rehash.text(),
        ),
        Row(
            "ingest",
            f"{db}: whole `watcher run --once`, first poll ({relevant} relevant)",
            first.text(),
            storage_ref,
            times(first.median, store.median),
            f"≤ {WHOLE_FIRST_MAX:g}× storage floor",
            first.median <= WHOLE_FIRST_MAX * store.median,
        ),
        Row(
            "ingest",
            f"{db}: … of which the poll alone (its summary line)",
            first_poll.text(memory=False),
            storage_ref,
            times(first_poll.median, store.median),
        ),
        Row(
            "ingest",
            f"{db}: whole `watcher run --once`, unchanged re-poll",
            again.text(),
            hash_ref,
            times(again.median, rehash.median),
            f"≤ {WHOLE_REPOLL_MAX:g}× hash floor",
            again.median <= WHOLE_REPOLL_MAX * rehash.median,
        ),
        Row(
            "ingest",
            f"{db}: … of which the poll alone (its summary line)",
            again_poll.text(memory=False),
            hash_ref,
            times(again_poll.median, rehash.median),
        ),
        Row(
            "ingest",
            f"{db}: whole command peak memory (first / re-poll, medians)",
            f"{mib(first.peak)} / {mib(again.peak)}",
            f"storage floor {mib(store.peak)}",
            times(peak, store.peak),
            f"< {MEMORY_NEW_MAX:g} MiB",
            peak < MEMORY_NEW_MAX,
        ),
        # CPU seconds (the process's own, the database's when it is SQLite): on a machine
        # shared with other work, wall seconds swing with the load far more than these.
        Row(
            "ingest",
            f"{db}: poll alone in-process, first poll, CPU seconds",
            first_cpu.text(memory=False),
            f"storage floor CPU {seconds(store_cpu.median)}",
            times(first_cpu.median, store_cpu.median),
        ),
        Row(
            "ingest",
            f"{db}: poll alone in-process, unchanged re-poll, CPU seconds",
            again_cpu.text(memory=False),
            f"hash floor CPU {seconds(rehash_cpu.median)}",
            times(again_cpu.median, rehash_cpu.median),
        ),
        Row(
            "ingest",
            f"{db}: poll alone in-process, first (old benchmark, now median of {len(done.values)})",
            done.text(memory=False),
            f"old floor {seconds(old.median)}",
            times(done.median, old.median),
            f"≤ {FIRST_MAX:g}× (old)",
            done.median <= FIRST_MAX * old.median,
        ),
        Row(
            "ingest",
            f"{db}: poll alone in-process, unchanged re-poll (old benchmark)",
            redone.text(memory=False),
            f"old floor {seconds(old.median)}",
            times(redone.median, old.median),
            f"≤ {REPOLL_MAX:g}× (old)",
            redone.median <= REPOLL_MAX * old.median,
        ),
    ]


def _poll_pair(url: str, folder: Path, base_url: str, records: int) -> tuple[Measured, Measured]:
    """A first poll and an unchanged re-poll of one fresh database, through `run_source`."""
    folder.mkdir(parents=True, exist_ok=True)
    args = {"database_url": url, "workdir": str(folder), "base_url": base_url}
    first = child("ingest.poll", **args)
    if first.payload()["new"] != records:
        raise RuntimeError(f"first poll stored {first.payload()['new']} new, expected {records}")
    again = child("ingest.poll", **args)
    if again.payload()["unchanged"] != records:
        raise RuntimeError(f"re-poll found {again.payload()['unchanged']} unchanged")
    return first, again
