"""Part 4, serving: `/feeds/all.atom` under load from a loopback client, against `watcher serve`
(uvicorn, one process, scheduler off) over the 100,000-notice database of part 3.

The load generator is wrk (Debian's package, installed by the benchmark when missing); without
it, a small Python generator (threads, keep-alive connections) stands in. Two runs: full answers,
and conditional requests (`If-None-Match` with the feed's ETag) answered 304. Requests per
second and p99 latency are printed; there is no target, the numbers are for comparison.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import PYTHON, ROOT, Row, child, seconds, stop

WATCHER = str(Path(PYTHON).with_name("watcher"))
CONNECTIONS, THREADS, DURATION = 16, 2, 10


def _wrk() -> str | None:
    """wrk's path, installed from Debian's packages when missing and allowed (root)."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("installing wrk (apt-get install -y wrk)…", flush=True)
    for argv in (["apt-get", "install", "-y", "wrk"], ["apt-get", "update"]) * 2:
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        if shutil.which("wrk"):
            break
    return shutil.which("wrk")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(port: int, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/feeds/all.atom", headers=headers or {})
    answer = conn.getresponse()
    body = answer.read()
    conn.close()
    return answer.status, {k.lower(): v for k, v in answer.getheaders()}, len(body)


def _with_wrk(wrk: str, port: int, headers: dict[str, str], duration: int) -> tuple[float, float]:
    argv = [wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency"]
    for key, value in headers.items():
        argv += ["-H", f"{key}: {value}"]
    out = subprocess.run(
        [*argv, f"http://127.0.0.1:{port}/feeds/all.atom"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx or 3xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    if p99 is None:
        raise RuntimeError(f"no latency distribution in wrk's output:\n{out}")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0}[p99.group(2)]
    return rate, float(p99.group(1)) * scale


def _with_python(port: int, headers: dict[str, str], duration: int) -> tuple[float, float]:
    """A stand-in for wrk: CONNECTIONS threads on keep-alive connections for `duration` s."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + duration

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        while time.monotonic() < stop:
            started = time.perf_counter()
            conn.request("GET", "/feeds/all.atom", headers=headers)
            answer = conn.getresponse()
            answer.read()
            if answer.status not in (200, 304):
                raise RuntimeError(f"HTTP {answer.status}")
            mine.append(time.perf_counter() - started)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return len(latencies) / duration, latencies[int(len(latencies) * 0.99) - 1]


def run(*, quick: bool = False) -> list[Row]:
    """Serve the part 3 database and load `/feeds/all.atom`."""
    notices, duration = (10_000, 3) if quick else (100_000, DURATION)
    wrk = _wrk()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'watcher.sqlite3'}"
        child("scale.grow", database_url=url, start=0, stop=notices).check()
        (Path(tmp) / "sources.yaml").write_text("sources: []\n", "utf-8")
        port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "WATCHER_DATABASE_URL": url,
            "WATCHER_DATA_DIR": tmp,
            "WATCHER_SOURCES": str(Path(tmp) / "sources.yaml"),
        }
        argv = [WATCHER, "serve", "--no-scheduler", "--host", "127.0.0.1", "--port", str(port)]
        server = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp
        )
        try:
            status, headers, size = _ready(port, server)
            etag = headers.get("etag")
            if status != 200 or not etag:
                raise RuntimeError(f"/feeds/all.atom: HTTP {status}, ETag {etag!r}")
            if _get(port, {"If-None-Match": etag})[0] != 304:
                raise RuntimeError("/feeds/all.atom does not answer 304 to its own ETag")
            tool = "wrk" if wrk else "python load generator"
            for label, extra in (("full", {}), ("304", {"If-None-Match": etag})):
                if wrk:
                    rate, p99 = _with_wrk(wrk, port, extra, duration)
                else:
                    rate, p99 = _with_python(port, extra, duration)
                what = (
                    f"/feeds/all.atom, full answers ({size // 1024} KB)"
                    if label == "full"
                    else "/feeds/all.atom, 304 answers (If-None-Match)"
                )
                rows.append(
                    Row(
                        "serve",
                        f"{what}: {tool}, {CONNECTIONS} connections, {duration} s",
                        f"{rate:,.0f} req/s",
                        f"p99 latency {seconds(p99)}",
                    )
                )
            peak = _peak_mib(server.pid)
            rows.append(Row("serve", "watcher serve peak memory under load", f"{peak:.0f} MiB"))
        finally:
            stop(server)
    return rows


def _ready(port: int, server: subprocess.Popen[bytes]) -> tuple[int, dict[str, str], int]:
    """The first answer of `/feeds/all.atom` once the server listens (60 s at most)."""
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"watcher serve exited with {server.returncode}")
        try:
            return _get(port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _peak_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024
