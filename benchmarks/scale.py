"""Part 3, scale: a SQLite database grown to 100,000 notices and 20,000 events (synthetic rows,
bulk-inserted), then every feed written (`write_feeds`, what each round of polls does) and the
pages `/`, `/notices/<id>` and `/sites/<slug>` served (Starlette's TestClient, no network).

Feeds are built at 10,000, 50,000 and 100,000 notices, each in a fresh process writing to an
empty folder: its time, and its peak memory, which should stay flat as the database grows (the
build streams events; it never loads a table). Targets: all feeds under 2 s, each page under
50 ms (median of 20 requests after two warm-ups), peak memory at 100,000 notices within 25% of
the peak at 10,000.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import Row, child, mib, report, seconds, stop

STEPS = (10_000, 50_000, 100_000)
EVENTS_PER_NOTICE = 0.2  # 20,000 events for 100,000 notices
RELEVANT_SHARE = 0.15
SOURCES = ("boamp", "ted-fr", "place", "find-a-tender", "decp")
SITES = (
    "bordeaux", "coquelles", "hendaye", "lille-lesquin", "lyon", "marseille", "mesnil-amelot",
    "metz", "nice", "nimes", "palaiseau", "paris-cite", "perpignan", "rennes", "rouen", "sete",
    "strasbourg", "toulouse", "vincennes", "dunkerque",
)  # fmt: skip
FEEDS_MAX, PAGE_MAX, FLAT_MAX = 2.0, 0.050, 1.25
WORDS = (
    "marché", "fourniture", "travaux", "entretien", "nettoyage", "centre", "rétention",
    "administrative", "lot", "bâtiment", "maintenance", "prestations", "restauration", "sécurité",
    "gardiennage", "transport", "accompagnement", "hébergement",
)  # fmt: skip


def _sources_yaml(folder: Path) -> Path:
    path = folder / "sources.yaml"
    entries = "".join(
        f"  - name: {name}\n    kind: feed\n    url: https://{name}.example/rss\n"
        for name in SOURCES
    )
    path.write_text(f"sources:\n{entries}", "utf-8")
    return path


def _snapshot(rng: random.Random, n: int, title: str, deadline: dt.datetime) -> dict[str, Any]:
    description = " ".join(rng.choice(WORDS) for _ in range(90))
    return {
        "title": title,
        "buyer": f"Préfecture {n % 97}",
        "url": f"https://portal.example/avis/{n}",
        "published": (deadline - dt.timedelta(days=40)).date().isoformat(),
        "deadline": deadline.isoformat(),
        "notice_type": "notice",
        "cpv": ["45000000", "79710000"][: 1 + n % 2],
        "place": f"Ville {n % 300}",
        "department": f"{n % 95 + 1:02d}",
        "value": float(10_000 + n % 900_000),
        "currency": "EUR",
        "winners": [],
        "description": description,
        "documents": [f"https://portal.example/docs/{n}.pdf"],
        "lots": [],
        "language": "fr",
        "procedure_id": f"proc-{n}",
        "related_ids": [],
    }


def grow(database_url: str, start: int, stop: int) -> None:
    """Child: add notices `start`…`stop - 1` (and their version and events) in bulk."""
    import time  # noqa: PLC0415

    from sqlalchemy import insert, select  # noqa: PLC0415

    from watcher.core.compiled import Member, compile_procedure  # noqa: PLC0415
    from watcher.db.models import Event, Notice, NoticeVersion, SourceState  # noqa: PLC0415
    from watcher.db.session import make_engine, upgrade  # noqa: PLC0415

    started = time.perf_counter()
    engine = make_engine(database_url)
    upgrade(engine)
    rng = random.Random(start)
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        rows = conn.execute(select(SourceState.name, SourceState.id)).tuples().all()
        known: dict[str, int] = dict(rows)
        for name in SOURCES:
            if name not in known:
                row = {"name": name, "kind": "feed", "consecutive_failures": 0, "created_at": base}
                made = conn.execute(insert(SourceState).values(row).returning(SourceState.id))
                known[name] = made.scalar_one()
        for chunk in range(start, stop, 5_000):
            notices, versions, events = [], [], []
            for n in range(chunk, min(chunk + 5_000, stop)):
                seen = base + dt.timedelta(minutes=10 * n)
                deadline = seen + dt.timedelta(days=rng.randint(-30, 400))
                relevant = rng.random() < RELEVANT_SHARE
                title = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} n°{n}"
                snap = _snapshot(rng, n, title, deadline)
                source = SOURCES[n % len(SOURCES)]
                notices.append(
                    {
                        "id": n + 1,
                        "source_id": known[source],
                        "native_id": f"{source}-{n}",
                        "url": snap["url"],
                        "title": title,
                        "buyer": snap["buyer"],
                        "published": deadline.date() - dt.timedelta(days=40),
                        "deadline": deadline,
                        "notice_type": "notice",
                        "department": snap["department"],
                        "procedure_id": snap["procedure_id"],
                        "snapshot": snap,
                        "content_hash": f"{n:064x}",
                        "version": 1,
                        "relevant": relevant,
                        "site": rng.choice(SITES) if relevant else None,
                        "score": 3.0 if relevant else 0.0,
                        "reasons": ["phrase 'centre de rétention' in title"] if relevant else [],
                        "announced": relevant,
                        "first_seen_at": seen,
                        "last_seen_at": seen,
                    }
                )
                # Each notice is a procedure of its own, compiled as the poll store does.
                one = Member(n + 1, f"{source}-{n}", source, "feed", "tender", "notice", snap,
                             url=snap["url"], site=notices[-1]["site"])  # fmt: skip
                notices[-1]["compiled"] = compile_procedure([one])
                versions.append(
                    {
                        "notice_id": n + 1,
                        "version": 1,
                        "content_hash": f"{n:064x}",
                        "raw": "x" * 1000,
                        "snapshot": snap,
                        "fetched_at": seen,
                        "fetch_url": snap["url"],
                    }
                )
                if relevant:
                    events += _events(rng, n, source, notices[-1])
            conn.execute(insert(Notice), notices)
            conn.execute(insert(NoticeVersion), versions)
            if events:
                conn.execute(insert(Event), events)
    engine.dispose()
    report(seconds=time.perf_counter() - started)


def _events(
    rng: random.Random, n: int, source: str, notice: dict[str, Any]
) -> list[dict[str, Any]]:
    """A relevant notice's events: `new`, and for a third of them a moved deadline."""
    seen = notice["first_seen_at"]
    common = {"notice_id": n + 1, "version": 1, "site": notice["site"], "detail": None}
    made = [
        {**common, "key": f"{source}/{n}/v1/new", "type": "new", "created_at": seen, "changes": []}
    ]
    # 1/RELEVANT_SHARE * EVENTS_PER_NOTICE - 1 ≈ a third of relevant notices get a second event.
    if rng.random() < EVENTS_PER_NOTICE / RELEVANT_SHARE - 1:
        old = notice["deadline"]
        new = old + dt.timedelta(days=14)
        change = {
            "field": "deadline",
            "label": "Date limite de réception des offres",
            "old": old.strftime("%d/%m/%Y"),
            "new": new.strftime("%d/%m/%Y"),
        }
        made.append(
            {
                **common,
                "key": f"{source}/{n}/v1/deadline_moved",
                "type": "deadline_moved",
                "created_at": seen + dt.timedelta(days=3),
                "changes": [change],
            }
        )
    return made


def feeds(database_url: str, workdir: str) -> None:
    """Child: write every feed into an empty folder, as a round of polls does."""
    import time  # noqa: PLC0415

    from sqlalchemy import func, select  # noqa: PLC0415

    from watcher.db.models import Event, Notice  # noqa: PLC0415
    from watcher.pipeline.runtime import Runtime  # noqa: PLC0415
    from watcher.publish.feeds import write_feeds  # noqa: PLC0415
    from watcher.settings import Settings  # noqa: PLC0415

    folder = Path(workdir)
    settings = Settings(sources=_sources_yaml(folder), data_dir=folder, database_url=database_url)
    runtime = Runtime(settings)
    sites = runtime.matcher.site_slugs
    with runtime.sessions() as session:
        notices = session.scalar(select(func.count(Notice.id)))
        events = session.scalar(select(func.count(Event.id)))
        before = _hwm_mib()
        started = time.perf_counter()
        written = write_feeds(session, settings, folder / "feeds", sites=sites)
        elapsed = time.perf_counter() - started
        after = _hwm_mib()
        started = time.perf_counter()
        write_feeds(session, settings, folder / "feeds", sites=sites)  # the next round's build
        again = time.perf_counter() - started
    report(
        seconds=elapsed,
        again=again,
        files=len(written),
        notices=notices,
        events=events,
        before_mib=before,
        after_mib=after,
    )


def pages(database_url: str, workdir: str) -> None:
    """Child: `/`, `/notices/<id>` and `/sites/dunkerque` through the application, 20 times each after 2 warm-ups."""
    import statistics  # noqa: PLC0415
    import time  # noqa: PLC0415

    from sqlalchemy import select  # noqa: PLC0415
    from starlette.testclient import TestClient  # noqa: PLC0415

    from watcher.db.models import Event  # noqa: PLC0415
    from watcher.pipeline.runtime import Runtime  # noqa: PLC0415
    from watcher.settings import Settings  # noqa: PLC0415
    from watcher.web.server import create_app  # noqa: PLC0415

    folder = Path(workdir)
    settings = Settings(sources=_sources_yaml(folder), data_dir=folder, database_url=database_url)
    runtime = Runtime(settings)
    with runtime.sessions() as session:
        notice_id = session.scalar(
            select(Event.notice_id).where(Event.type == "deadline_moved").limit(1)
        )
    timings: dict[str, float] = {}
    with TestClient(create_app(runtime)) as client:
        for path in ("/", f"/notices/{notice_id}", "/sites/dunkerque"):
            samples = []
            for attempt in range(22):
                started = time.perf_counter()
                answer = client.get(path)
                if attempt >= 2:
                    samples.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    raise SystemExit(f"{path}: HTTP {answer.status_code}")
            key = {"/": "home", "/sites/dunkerque": "site"}.get(path, "notice")
            timings[key] = statistics.median(samples)
            timings[key + "_max"] = max(samples)
    report(**timings)


def _hwm_mib() -> float:
    """This process's resident high-water mark so far."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def run(*, quick: bool = False) -> list[Row]:
    """Grow the database step by step; feeds at each step, pages at the last."""
    steps = tuple(s // 10 for s in STEPS) if quick else STEPS
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'watcher.sqlite3'}"
        built: list[tuple[int, dict[str, Any], float]] = []
        done = 0
        for step in steps:
            child("scale.grow", database_url=url, start=done, stop=step).check()
            done = step
            folder = Path(tmp) / f"feeds-{step}"
            folder.mkdir()
            measured = child("scale.feeds", database_url=url, workdir=str(folder))
            built.append((step, measured.payload(), measured.peak_mib))
        for step, result, _ in built:
            what = f"all feeds ({result['files']} files), {step:,} notices, {result['events']:,} events"
            final = step == steps[-1]
            rows.append(
                Row(
                    "scale",
                    what,
                    seconds(result["seconds"]),
                    target=f"< {FEEDS_MAX:g} s" if final else "",
                    met=result["seconds"] < FEEDS_MAX if final else None,
                )
            )
            if final:
                rows.append(
                    Row(
                        "scale",
                        f"all feeds again, nothing new (the next round), {step:,} notices",
                        seconds(result["again"]),
                        target=f"< {FEEDS_MAX:g} s",
                        met=result["again"] < FEEDS_MAX,
                    )
                )
        (first, _, low), (last, _, high) = built[0], built[-1]
        rows.append(
            Row(
                "scale",
                f"feed build peak memory at {', '.join(f'{s:,}' for s, _, _ in built)} notices",
                " / ".join(mib(p) for _, _, p in built),
                f"{first:,} notices: {mib(low)}",
                f"{high / low:.2f}×",
                f"≤ {FLAT_MAX:g}× (flat)",
                high <= FLAT_MAX * low,
            )
        )
        folder = Path(tmp) / "pages"
        folder.mkdir()
        served = child("scale.pages", database_url=url, workdir=str(folder)).payload()
        for key, label in (("home", "/"), ("notice", "/notices/<id>"), ("site", "/sites/<slug>")):
            value = served[key]
            rows.append(
                Row(
                    "scale",
                    f"page {label} at {last:,} notices (median of 20; max {seconds(served[key + '_max'])})",
                    seconds(value),
                    target=f"< {PAGE_MAX * 1000:g} ms",
                    met=value < PAGE_MAX,
                )
            )
    return rows


# --- Pages under 20 clients against `watcher serve` (issue 29, part 3) ----------------------------
# `python -m benchmarks.scale pages` builds this part's 100,000-notice database in bulk (SQLite, and
# PostgreSQL with --pg; kept in --keep to measure again), then serves it with `watcher serve` and
# sends each page from 20 keep-alive clients: first (a fresh server, the 20 first requests sent
# together: one render, the others wait for it), cold (the same right after a commit changed the
# data), warm (5 more each), and uncached (`WATCHER_PAGE_CACHE_MB=0`: every request renders). `--root DIR` serves another checkout (the
# code before a change), interleaved with this one.

COLD_ROUNDS = 3  # bursts of 20 first requests after a data change, per page
SERVED = ("/", "/notices/{notice}", "/sites/dunkerque", "/companies", "/radar", "/sources")


def served(
    database_url: str,
    *,
    root: Path | None = None,
    cache: bool = True,
    paths: tuple[str, ...] = SERVED,
    requests: int = 5,
    cold_rounds: int = COLD_ROUNDS,
) -> dict[str, dict[str, list[float]]]:
    """`watcher serve` (from `root`, else this checkout) over `database_url`: per page, the
    latencies of the first requests of 20 clients sent together to a fresh server (`first`), of
    the same after a commit changed the data generation (`cold`, COLD_ROUNDS times), and of
    `requests` more each (`warm`)."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import time  # noqa: PLC0415

    from sqlalchemy import create_engine  # noqa: PLC0415

    from benchmarks.common import ROOT  # noqa: PLC0415
    from benchmarks.growth import _get, load  # noqa: PLC0415
    from benchmarks.serving import WATCHER, free_port  # noqa: PLC0415
    from watcher.settings import normalize_url  # noqa: PLC0415

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-served-") as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": str(root or ROOT),
            "WATCHER_DATABASE_URL": database_url,
            "WATCHER_DATA_DIR": tmp,
            "WATCHER_SOURCES": str(_sources_yaml(Path(tmp))),
        } | ({} if cache else {"WATCHER_PAGE_CACHE_MB": "0"})
        argv = [WATCHER, "serve", "--no-scheduler", "--host", "127.0.0.1", "--port", str(port)]
        log = (Path(tmp) / "serve.log").open("w")
        server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + 120
            while True:
                if server.poll() is not None:
                    said = (Path(tmp) / "serve.log").read_text()[-500:]
                    raise RuntimeError(f"watcher serve exited with {server.returncode}: {said}")
                try:
                    _get(port, "/healthz")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
            _, listing = _get(port, "/api/events?type=deadline_moved&per_page=1")
            found = re.search(rb'"html":\s*"/notices/(\d+)', listing)
            notice = int(found.group(1)) if found else 1
            results = {}
            engine = create_engine(normalize_url(database_url))
            for path in paths:
                url = path.format(notice=notice)
                first, warm = load(port, url, requests)
                cold: list[float] = []
                for _ in range(cold_rounds):
                    # A poll commits (another process): the cached pages are stale now.
                    with engine.begin() as conn:
                        conn.exec_driver_sql("UPDATE generation SET value = value + 1")
                    cold += load(port, url, 0)[0]
                results[path] = {"first": first, "warm": warm} | ({"cold": cold} if cold else {})
            engine.dispose()
        finally:
            stop(server)
            log.close()
    return results


def _pages_main(argv: list[str] | None = None) -> None:
    import argparse  # noqa: PLC0415
    import statistics  # noqa: PLC0415

    from benchmarks.common import load_line  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale pages")
    parser.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "bench-pages")
    parser.add_argument("--pg", help="also a PostgreSQL database (its URL), built once")
    parser.add_argument("--root", type=Path, help="another checkout to compare (the old code)")
    parser.add_argument("--root-keep", type=Path, help="its own copy of --keep's database")
    parser.add_argument("--root-pg", help="its own copy of --pg's database")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--notices", type=int, default=100_000)
    args = parser.parse_args(argv)

    def databases(keep: Path, pg: str | None) -> list[str]:
        keep.mkdir(parents=True, exist_ok=True)
        urls = [f"sqlite:///{keep / 'watcher.sqlite3'}"] + ([pg] if pg else [])
        for url in urls:
            name = url.rsplit("/", 1)[-1].replace(".", "-")
            marker = keep / f"built-{url.split(':')[0]}-{name}-{args.notices}"
            if not marker.exists():
                child("scale.grow", database_url=url, start=0, stop=args.notices).check()
                marker.touch()
        return urls

    urls = databases(args.keep, args.pg)
    # (name, checkout, cache on, databases, warm requests per client, pages); without a cache
    # every request renders: one warm request each, no rounds after a commit.
    variants: list[tuple[str, Path | None, bool, list[str], int, tuple[str, ...]]] = [
        ("cached", None, True, urls, 5, SERVED),
        ("uncached", None, False, urls, 1, SERVED),
    ]
    if args.root:
        # The old `/radar` takes seconds a request at 100k notices: measured apart.
        old = databases(args.root_keep or args.keep, args.root_pg or args.pg)
        slow = tuple(p for p in SERVED if p != "/radar")
        variants.insert(0, ("before", args.root, True, old, 1, slow))
    table: dict[tuple[str, str, str, str], list[float]] = {}
    print(load_line(), flush=True)
    for run in range(args.runs):
        for index in range(len(urls)):
            for name, root, cache, where, requests, paths in variants:
                url = where[index]
                found = served(
                    url,
                    root=root,
                    cache=cache,
                    paths=paths,
                    requests=requests,
                    cold_rounds=COLD_ROUNDS if name == "cached" else 0,
                )
                for path, series in found.items():
                    for when, latencies in series.items():
                        ordered = sorted(latencies)
                        p50 = ordered[len(ordered) // 2]
                        p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
                        db = url.split(":")[0]
                        table.setdefault((db, path, when, name + " p50"), []).append(p50)
                        table.setdefault((db, path, when, name + " p99"), []).append(p99)
        print(f"run {run + 1}/{args.runs} done, {load_line()}", flush=True)
        print(
            f"\n{args.notices:,} notices, 20 keep-alive clients; medians of {run + 1} runs (min–max)"
        )
        for (db, path, when, what), values in sorted(table.items()):
            print(
                f"{db:10} {path:20} {when:5} {what:13} {statistics.median(values) * 1000:8.1f} ms"
                f"  ({min(values) * 1000:.1f}–{max(values) * 1000:.1f})",
                flush=True,
            )
    print(load_line())


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["pages"]:
        _pages_main(sys.argv[2:])
