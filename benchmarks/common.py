"""What every benchmark part shares: child processes measured for time and peak memory, a fast
loopback HTTP server, throw-away databases, and the rows of the closing table.

Each measured piece of work runs in a process of its own, so its peak resident memory (the kernel's
high-water mark, `ru_maxrss` from `wait4`) belongs to that work alone and one part's leftovers
never weigh on the next.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
PG_ADMIN_URL = os.environ.get("WATCHER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Measured:
    """One finished child process: wall seconds, peak resident MiB, and what it printed."""

    seconds: float
    peak_mib: float
    returncode: int
    stdout: str
    stderr: str

    def payload(self) -> dict[str, Any]:
        """The JSON object a benchmark child prints as its last line of output."""
        self.check()
        lines = [line for line in self.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"child printed no result:\n{self.stdout}\n{self.stderr}")
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    def check(self) -> Measured:
        """Self, or a RuntimeError with the child's output when it failed."""
        if self.returncode != 0:
            tail = "\n".join((self.stdout + self.stderr).splitlines()[-30:])
            raise RuntimeError(f"child exited {self.returncode}:\n{tail}")
        return self


# Linux carries a process's peak RSS across exec, so a child started straight from this (large)
# process would report this process's peak as its own: children are started from a tiny launcher.
_LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{time.perf_counter() - started} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def spawn(argv: list[str], *, env: dict[str, str] | None = None, cwd: Path = ROOT) -> Measured:
    """Run `argv` to the end; its wall time and its own peak resident memory."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as verdict,
    ):
        launcher = [PYTHON, "-I", "-S", "-c", _LAUNCHER, verdict.name, *argv]
        subprocess.run(launcher, stdout=out, stderr=err, env=full_env, cwd=cwd, check=False)
        elapsed, peak_kib, code = verdict.read().split()
        out.seek(0)
        err.seek(0)
        return Measured(
            seconds=float(elapsed),
            peak_mib=int(peak_kib) / 1024,
            returncode=int(code),
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def child(name: str, **kwargs: Any) -> Measured:
    """Run the benchmark child `name` (see `benchmarks.children`) with JSON keyword arguments."""
    return spawn([PYTHON, "-m", "benchmarks.children", name, json.dumps(kwargs)])


def report(**values: Any) -> None:
    """What a child prints last: its measurements as one JSON line (parsed by `Measured`)."""
    print(json.dumps(values, default=str), flush=True)


# A handler maps (path, query) to (status, body, content type).
Handler = Callable[[str, dict[str, list[str]]], tuple[int, bytes, str]]


class LoopbackServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 (keep-alive, Content-Length), for portals and
    pages whose answers are built in memory before the clock starts."""

    def __init__(self, handler: Handler, *, etags: bool = False) -> None:
        """With `etags`, every 200 answer carries an `ETag` (a hash of its body) and a request
        whose `If-None-Match` names it gets `304 Not Modified` with no body, as most web
        servers do for pages that have not changed (`etags` can be switched between rounds)."""
        self.requests = 0
        self.not_modified = 0
        self.etags = etags
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # No Nagle: a keep-alive client would otherwise wait for a delayed ACK (40 ms)
                # between a response's headers and its body.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                outer.requests += 1
                status, body, kind = handler(parts.path, parse_qs(parts.query))
                extra = ""
                if outer.etags and status == HTTPStatus.OK:
                    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
                    if self.headers.get("If-None-Match") == etag:
                        outer.not_modified += 1
                        status, body = HTTPStatus.NOT_MODIFIED, b""
                    extra = f"ETag: {etag}\r\n"
                head = (
                    f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n{extra}"
                    f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n"
                )
                self.wfile.write(head.encode() + body)  # headers and body in one write

            def log_message(self, *_args: object) -> None:
                pass

        class _Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

            def handle_error(self, request: object, client_address: object) -> None:
                """A client that hung up is not the server's problem."""

        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def postgres_reachable() -> str | None:
    """None when PostgreSQL answers at `PG_ADMIN_URL`, else why not (one line)."""
    try:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure means "skip PostgreSQL"
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:120]}"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one run (dropped afterwards): its URL."""
    import psycopg  # noqa: PLC0415

    name = f"watcher_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the closing table: a measurement, what it is compared with, and the target."""

    part: str
    what: str
    value: str
    reference: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None


def seconds(value: float) -> str:
    """`0.84 s` / `12 ms`."""
    return f"{value * 1000:.0f} ms" if value < 0.1 else f"{value:.2f} s"


def mib(value: float) -> str:
    """`123 MiB`."""
    return f"{value:.0f} MiB"


def times(value: float, reference: float) -> str:
    """`2.41×`."""
    return f"{value / reference:.2f}×" if reference else "—"


def table(rows: list[Row]) -> str:
    """The rows as an aligned plain-text table with a verdict column."""
    header = ("part", "measurement", "value", "compared with", "ratio", "target", "met")
    cells = [header] + [
        (
            r.part,
            r.what,
            r.value,
            r.reference,
            r.ratio,
            r.target,
            "" if r.met is None else ("yes" if r.met else "NO"),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


REPS = 5  # every series: at least five runs, interleaved with the others (A B C A B C …)


@dataclass(frozen=True, slots=True)
class Series:
    """Repeated measurements of one thing, taken interleaved with the others: the median and
    the range (never the best) of the wall seconds (or a value the child reported) and of the
    peak resident memory."""

    values: tuple[float, ...]
    peaks: tuple[float, ...]

    @classmethod
    def of(cls, measured: list[Measured], key: str | None = None) -> Series:
        """Wall seconds from outside, or the child's reported `key` (e.g. the poll alone)."""
        values = tuple(m.seconds if key is None else float(m.payload()[key]) for m in measured)
        return cls(values, tuple(m.peak_mib for m in measured))

    @property
    def median(self) -> float:
        """The median value."""
        return statistics.median(self.values)

    @property
    def peak(self) -> float:
        """The median peak memory."""
        return statistics.median(self.peaks)

    def text(self, *, memory: bool = True) -> str:
        """`1.23 s (1.10–1.50), 62 MiB`: median, min–max, median peak."""
        spread = f"{seconds(min(self.values))}–{seconds(max(self.values))}"
        found = f"{seconds(self.median)} ({spread}, n={len(self.values)})"
        return f"{found}, {mib(self.peak)}" if memory else found


def load_line() -> str:
    """The machine's load average now (printed with every table)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} on {os.cpu_count()} cores"


def stop(server: subprocess.Popen[Any]) -> None:
    """End a server started for a benchmark: SIGTERM, then SIGKILL after 20 s."""
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
