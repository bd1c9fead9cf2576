"""The floors every product measurement is set beside (issue 29): the same work with nothing extra.

- `storage`: a first poll's floor. Fetch the BOAMP pages on one keep-alive `http.client`
  connection, decode them and every record's `donnees` with orjson (as the product does), hash
  each record, and insert every row with one `executemany` in one transaction, into SQLite or
  PostgreSQL (the same database server the product is measured on).
- `hashes`: a re-poll's floor. Read the stored hashes of that table, fetch and decode the same
  pages, hash every record and compare.
- `html`: the `html` kind's floor. A stdlib `http.client` keep-alive client in 10 threads fetches
  the list and every detail page, hashes each body and compares it with the hashes of the last
  run (a JSON file).

Each runs as a benchmark child (`python -m benchmarks.children floors.NAME '{…}'`).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from benchmarks.boamp_data import RECORDS_PATH
from benchmarks.common import report

TABLE = "floor_notice"
THREADS = 10


def _pages(base_url: str, pages: int, page_size: int) -> Iterator[bytes]:
    """The bodies of the BOAMP pages, over one keep-alive connection."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        for number in range(pages):
            conn.request("GET", f"{RECORDS_PATH}?limit={page_size}&offset={number * page_size}")
            answer = conn.getresponse()
            body = answer.read()
            if answer.status != 200:
                raise RuntimeError(f"page {number}: HTTP {answer.status}")
            yield body
    finally:
        conn.close()


def _hashed(record: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _connect(database_url: str) -> Any:
    """A DB-API connection: sqlite3 for `sqlite:///PATH`, psycopg for `postgresql://…`."""
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(path)
    import psycopg  # noqa: PLC0415 - only for PostgreSQL

    return psycopg.connect(database_url)


def storage(database_url: str, base_url: str, pages: int, page_size: int) -> None:
    """Child: fetch + parse + `donnees` + hash + `executemany` in one transaction."""
    started, cpu = time.perf_counter(), time.process_time()
    conn = _connect(database_url)
    postgres = not database_url.startswith("sqlite:")
    mark = "%s" if postgres else "?"
    donnees_type = "JSONB" if postgres else "TEXT"
    cursor = conn.cursor()
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (native_id TEXT PRIMARY KEY, content_hash TEXT "
        f"NOT NULL, title TEXT, published TEXT, deadline TEXT, raw TEXT NOT NULL, "
        f"donnees {donnees_type})"
    )
    rows = []
    for body in _pages(base_url, pages, page_size):
        for record in orjson.loads(body)["results"]:
            donnees = orjson.loads(record["donnees"]) if record.get("donnees") else None
            raw = orjson.dumps(record).decode()
            rows.append(
                (
                    record["idweb"],
                    _hashed(record),
                    record.get("objet"),
                    record.get("dateparution"),
                    record.get("datelimitereponse"),
                    raw,
                    orjson.dumps(donnees).decode() if donnees is not None else None,
                )
            )
    cursor.executemany(f"INSERT INTO {TABLE} VALUES ({', '.join([mark] * 7)})", rows)
    conn.commit()
    conn.close()
    report(seconds=time.perf_counter() - started, cpu=time.process_time() - cpu, records=len(rows))


def hashes(database_url: str, base_url: str, pages: int, page_size: int) -> None:
    """Child: read the stored hashes, fetch + parse + hash every record, compare."""
    started, cpu = time.perf_counter(), time.process_time()
    conn = _connect(database_url)
    cursor = conn.cursor()
    cursor.execute(f"SELECT native_id, content_hash FROM {TABLE}")
    stored = dict(cursor.fetchall())
    conn.close()
    unchanged = changed = 0
    for body in _pages(base_url, pages, page_size):
        for record in orjson.loads(body)["results"]:
            if stored.get(record["idweb"]) == _hashed(record):
                unchanged += 1
            else:
                changed += 1
    report(
        seconds=time.perf_counter() - started,
        cpu=time.process_time() - cpu,
        unchanged=unchanged,
        changed=changed,
    )


def html(base_url: str, paths: list[str], state: str) -> None:
    """Child: 10 threads, each on one keep-alive connection, fetch every path, hash its body
    and compare with the last run's hashes (the JSON file `state`, rewritten)."""
    started, cpu = time.perf_counter(), time.process_time()
    state_file = Path(state)
    before: dict[str, str] = json.loads(state_file.read_text()) if state_file.exists() else {}
    after: dict[str, str] = {}
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for path in paths:
        todo.put(path)
    parts = urlsplit(base_url)
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        mine: dict[str, str] = {}
        try:
            while True:
                try:
                    path = todo.get_nowait()
                except queue.Empty:
                    break
                conn.request("GET", path)
                answer = conn.getresponse()
                body = answer.read()
                if answer.status != 200:
                    errors.append(f"{path}: HTTP {answer.status}")
                mine[path] = hashlib.sha256(body).hexdigest()
        finally:
            conn.close()
        with lock:
            after.update(mine)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit("; ".join(errors[:5]))
    changed = sum(1 for path, digest in after.items() if before.get(path) != digest)
    state_file.write_text(json.dumps(after))
    report(
        seconds=time.perf_counter() - started,
        cpu=time.process_time() - cpu,
        fetched=len(after),
        changed=changed,
    )
