"""Part 6, growth: a database of 100,000 notices built by the real pipeline, and the work that
grows with it (issue 29, part 3).

The database is grown by `watcher run --once` itself, from a loopback BOAMP portal (records built
from `tests/fixtures/boamp` as in part 1): first a small step (1% of the scale, at least 500
notices, one source), then the rest (one `boamp` source per 10,000 records, the API's paging
limit, each under its own path prefix). At both sizes, five times over and interleaved, each a
process of its own (wall time and peak memory, medians with min–max):

- a round with nothing new and a round with one changed notice (`watcher run --once` of the
  first source only, so that both sizes see the same news);
- `watcher export --ocds`, `watcher rematch`;
- the fixed cost of a command with nothing to do: `watcher feed build` again, `watcher run
  --once` with no source (a fresh data dir), and urlwatch's empty run when it is installed.

At the full size: the pages `/`, a site's page, `/notices/<id>` (a procedure), `/companies`,
`/radar` and the API's text search under 20 keep-alive clients against `watcher serve` (p50 / p99
of the requests after each client's first: the page cache warm; `python -m benchmarks.scale
pages` measures the first readers after a commit too), and `python -X importtime` of `watcher run
--once` (the imports that cost most). Targets (issue 29): rounds flat from the small step to the full size (≤ 1.25× time and
memory); export and rematch, which read every notice, flat in time a notice and in memory; pages p99 < 100 ms, a command with nothing to do
< 0.3 s and < 50 MiB. `run.py --scale N` picks the size (default 100,000; `--quick`: 2,000).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.boamp_data import RECORDS_PATH, write_pages
from benchmarks.common import (
    REPS,
    ROOT,
    LoopbackServer,
    Measured,
    Row,
    Series,
    load_line,
    mib,
    seconds,
    spawn,
    stop,
    times,
)
from benchmarks.pages import PYTHON, WATCHER, urlwatch_argv
from benchmarks.serving import free_port

SCALE, QUICK_SCALE, PAGE_SIZE, PER_SOURCE = 100_000, 2_000, 100, 10_000
CLIENTS, REQUESTS = 20, 5  # each client's requests per page, after one warm-up
FLAT_MAX, PAGE_P99_MAX, IDLE_SECONDS_MAX, IDLE_MEMORY_MAX = 1.25, 0.100, 0.3, 50.0
# Commands that read every notice: flat means the same time a notice and the same memory.
WHOLE_DATABASE = ("export --ocds", "rematch")
CHANGED = 0  # the record of the first source changed in a round (a relevant one: i % 40 == 0)


class Portal:
    """The loopback BOAMP portal: source `k` asks `where=… slice = k …` (its `query`), pages read
    from disk per request;
    `edit` appends a suffix to one record's title (the round with one changed notice)."""

    def __init__(self, slices: list[list[Path]]) -> None:
        self.slices = slices
        self.edit = ""

    def __call__(self, path: str, query: dict[str, list[str]]) -> tuple[int, bytes, str]:
        found = re.search(r"slice = (\d+)", " ".join(query.get("where") or []))
        if path != RECORDS_PATH or found is None or int(found.group(1)) >= len(self.slices):
            return 404, b'{"error": "not found"}', "application/json"
        pages = self.slices[int(found.group(1))]
        number = int((query.get("offset") or ["0"])[0]) // PAGE_SIZE
        if number >= len(pages):
            return 200, b'{"total_count": 0, "results": []}', "application/json"
        body = pages[number].read_bytes()
        if self.edit and found.group(1) == "0" and number == CHANGED // PAGE_SIZE:
            page = json.loads(body)
            page["results"][CHANGED % PAGE_SIZE]["objet"] += self.edit
            body = json.dumps(page, ensure_ascii=False).encode()
        return 200, body, "application/json; charset=utf-8"


def _sources(folder: Path, base_url: str, count: int) -> Path:
    path = folder / f"sources-{count}.yaml"
    entries = "".join(
        f"  - name: boamp-{k}\n    kind: boamp\n    min_interval: 0\n"
        f"    base_url: {base_url}\n    query: ['slice = {k}']\n"
        for k in range(count)
    )
    path.write_text(f"sources:\n{entries}" if count else "sources: []\n", "utf-8")
    return path


def _env(folder: Path, sources: Path, database: Path) -> dict[str, str]:
    return {
        "WATCHER_SOURCES": str(sources),
        "WATCHER_DATA_DIR": str(folder / "data"),
        "WATCHER_DATABASE_URL": f"sqlite:///{database}",
        "HOME": str(folder),
    }


def _fetched(measured: Measured) -> int:
    return sum(int(n) for n in re.findall(r"(\d+) notices fetched", measured.stdout))


def _interleaved(
    portal: Portal, tmp: Path, env: dict[str, str], first_only: dict[str, str], step: int
) -> dict[str, list[Measured]]:
    """The measurements repeated at one size, A B C A B C …"""
    found: dict[str, list[Measured]] = defaultdict(list)
    idle = _env(tmp / "idle", _sources(tmp, "http://127.0.0.1:9", 0), tmp / "idle.sqlite3")
    (tmp / "idle").mkdir(exist_ok=True)
    spawn([WATCHER, "db", "upgrade"], env=idle).check()
    empty_urlwatch = urlwatch_argv(tmp / "urlwatch-idle", "")
    for rep in range(REPS):
        found["round, nothing new"].append(
            spawn([WATCHER, "run", "--once"], env=first_only).check()
        )
        portal.edit = f" (modifié {step}-{rep})"
        changed = spawn([WATCHER, "run", "--once"], env=first_only).check()
        found["round, one changed notice"].append(changed)
        out = tmp / "export.json"
        found["export --ocds"].append(
            spawn([WATCHER, "export", "--ocds", "--out", str(out)], env=env).check()
        )
        found["rematch"].append(spawn([WATCHER, "rematch"], env=env).check())
        feeds = [WATCHER, "feed", "build", "--out", str(Path(env["WATCHER_DATA_DIR"]) / "feeds")]
        found["feed build again"].append(spawn(feeds, env=env).check())
        found["run --once, no source"].append(spawn([WATCHER, "run", "--once"], env=idle).check())
        if empty_urlwatch is not None:
            found["urlwatch, no job"].append(spawn(empty_urlwatch, env={"HOME": str(tmp)}).check())
    return found


def run(*, quick: bool = False, scale: int | None = None) -> list[Row]:
    """Grow the database with the pipeline, measure at the small step and at the full size."""
    total = scale or (QUICK_SCALE if quick else SCALE)
    small = min(max(total // 100, 500), total // 2)
    sizes = [small] + [min(PER_SOURCE, total - start) for start in range(small, total, PER_SOURCE)]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-growth-") as tmp_name:
        tmp = Path(tmp_name)
        slices, start, today = [], 0, dt.date.today()
        for k, size in enumerate(sizes):
            slices.append(write_pages(tmp / f"pages-{k}", size, PAGE_SIZE, today, start))
            start += size
        portal = Portal(slices)
        database = tmp / "watcher.sqlite3"
        with LoopbackServer(portal) as server:
            first_only = _env(tmp, _sources(tmp, server.url, 1), database)
            everything = _env(tmp, _sources(tmp, server.url, len(sizes)), database)
            spawn([WATCHER, "db", "upgrade"], env=everything).check()
            grown = spawn([WATCHER, "run", "--once"], env=first_only).check()
            rows.append(_grow_row(small, grown))
            at_small = _interleaved(portal, tmp, everything, first_only, small)
            print(f"growth: {small:,} notices measured ({load_line()})", flush=True)
            grown = spawn([WATCHER, "run", "--once"], env=everything).check()
            rows.append(_grow_row(total - small, grown))
            at_full = _interleaved(portal, tmp, everything, first_only, total)
            rows += _compare(small, total, at_small, at_full)
            rows += _pages(everything, total)
            rows += _imports(tmp)
    return rows


def _grow_row(count: int, measured: Measured) -> Row:
    fetched = _fetched(measured)
    if fetched < count:
        raise RuntimeError(
            f"the pipeline fetched {fetched} notices, expected {count}: {measured.stdout[-400:]}"
        )
    return Row(
        "growth",
        f"growing the database by {count:,} notices: whole `watcher run --once` (once)",
        f"{seconds(measured.seconds)}, {mib(measured.peak_mib)}",
        f"{measured.seconds / count * 1000:.2f} ms a notice",
    )


def _compare(
    small: int, total: int, low: dict[str, list[Measured]], high: dict[str, list[Measured]]
) -> list[Row]:
    rows = []
    for name in high:
        a, b = Series.of(low[name]), Series.of(high[name])
        idle = name in ("feed build again", "run --once, no source", "urlwatch, no job")
        rows.append(Row("growth", f"{name} at {small:,} notices", a.text()))
        if name == "urlwatch, no job":
            rows.append(Row("growth", f"{name} (for scale)", b.text()))
            continue
        if idle:
            rows.append(
                Row(
                    "growth",
                    f"{name} at {total:,} notices (fixed cost)",
                    b.text(),
                    target=f"< {IDLE_SECONDS_MAX:g} s, < {IDLE_MEMORY_MAX:g} MiB",
                    met=b.median < IDLE_SECONDS_MAX and b.peak < IDLE_MEMORY_MAX,
                )
            )
            continue
        if name.startswith(WHOLE_DATABASE):
            # Work over every notice: its memory flat, its time per notice flat (issue 29).
            per_small, per_total = a.median / small, b.median / total
            ratio = f"{times(per_total, per_small)} a notice / {times(b.peak, a.peak)}"
            goal, worse = "time a notice and memory", max(per_total / per_small, b.peak / a.peak)
        else:
            ratio = f"{times(b.median, a.median)} / {times(b.peak, a.peak)}"
            goal, worse = "time and memory", max(b.median / a.median, b.peak / a.peak)
        rows.append(
            Row(
                "growth",
                f"{name} at {total:,} notices",
                b.text(),
                f"{small:,}: {seconds(a.median)}, {mib(a.peak)}",
                ratio,
                f"flat (≤ {FLAT_MAX:g}× {goal})",
                worse <= FLAT_MAX,
            )
        )
    if "urlwatch, no job" not in high:
        rows.append(Row("growth", "urlwatch's empty run skipped: urlwatch not installed", "—"))
    return rows


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def load(port: int, path: str, requests: int = REQUESTS) -> tuple[list[float], list[float]]:
    """CLIENTS threads, each on one keep-alive connection, sending their first request together
    (cold: a page not rendered yet) and then `requests` more (warm); both latencies, sorted."""
    cold: list[float] = []
    warm: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        mine: list[float] = []
        try:
            conn.connect()
            for attempt in range(requests + 1):
                if attempt <= 1:
                    barrier.wait()  # the first requests together, then the warm ones
                started = time.perf_counter()
                conn.request("GET", path)
                answer = conn.getresponse()
                answer.read()
                if answer.status != 200:
                    errors.append(f"{path}: HTTP {answer.status}")
                mine.append(time.perf_counter() - started)
        finally:
            conn.close()
        with lock:
            cold.append(mine[0])
            warm.extend(mine[1:])

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError("; ".join(errors[:3]))
    return sorted(cold), sorted(warm)


def _pages(env: dict[str, str], total: int) -> list[Row]:
    """`watcher serve` on the grown database; each page under CLIENTS clients."""
    port = free_port()
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    argv = [WATCHER, "serve", "--no-scheduler", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(
        argv, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    rows = []
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"watcher serve exited with {server.returncode}")
            try:
                status, body = _get(port, "/api/notices?per_page=1")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        notice = re.search(rb'"id":\s*(\d+)', body)
        site = re.search(rb'"site":\s*"([a-z0-9-]+)"', body)
        paths = ["/", "/companies", "/radar", "/api/notices?q=nettoyage"]
        if status == 200 and notice is not None:
            paths.insert(1, f"/notices/{int(notice.group(1))}")
        if site is not None:
            paths.insert(1, f"/sites/{site.group(1).decode()}")
        for path in paths:
            _cold, found = load(port, path)
            p50, p99 = found[len(found) // 2], found[max(0, int(len(found) * 0.99) - 1)]
            rows.append(
                Row(
                    "growth",
                    f"page {path} at {total:,} notices, {CLIENTS} clients × {REQUESTS} (p50 / p99)",
                    f"{seconds(p50)} / {seconds(p99)}",
                    target=f"p99 < {PAGE_P99_MAX * 1000:g} ms",
                    met=p99 < PAGE_P99_MAX,
                )
            )
    finally:
        stop(server)
    return rows


def _imports(tmp: Path) -> list[Row]:
    """`python -X importtime` of `watcher run --once` with no source: the costliest imports."""
    env = _env(tmp / "idle", tmp / "sources-0.yaml", tmp / "idle.sqlite3")
    found = spawn([PYTHON, "-X", "importtime", WATCHER, "run", "--once"], env=env).check()
    entries = []
    for line in found.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            entries.append((int(parts[0]), int(parts[1]), parts[2].rstrip()))
    total = max((cumulative for _, cumulative, _ in entries), default=0)
    top_level = [e for e in entries if not e[2].startswith("  ")]
    rows = [
        Row(
            "growth",
            "`python -X importtime watcher run --once` (no source): all imports",
            seconds(sum(own for own, _, _ in entries) / 1e6),
            f"largest top-level {seconds(total / 1e6)}",
        )
    ]
    for _own, cumulative, name in sorted(top_level, key=lambda e: -e[1])[:6]:
        rows.append(
            Row("growth", f"  import {name.strip()} (cumulative)", seconds(cumulative / 1e6))
        )
    heavy = sorted(entries, key=lambda e: -e[0])[:6]
    for own, _cumulative, name in heavy:
        rows.append(Row("growth", f"  import {name.strip()} (self)", seconds(own / 1e6)))
    return rows
