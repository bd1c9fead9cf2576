"""The first hour of a non-engineer (issue 19): every mistake and every missing network is one line
in words that names the setting and the fix; no traceback. Messages are asserted word for word."""

from __future__ import annotations

import os
import pty
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tests.helpers import runtime_env
from watcher.cli import main
from watcher.pipeline.runtime import Runtime
from watcher.sources import netdiag

HINT = (
    "write sqlite:///path/to/watcher.sqlite3 (or leave it unset for the default) or "
    "postgresql://user:password@host:5432/watcher"
)


def invoke(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args, env=env)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result.exit_code, result.stdout, result.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "WATCHER_DATABASE_URL",
            "notaurl",
            f"error: environment: WATCHER_DATABASE_URL: this is not a database address; {HINT}",
        ),
        (
            "WATCHER_DATABASE_URL",
            "mysql://user:secret@db.example/watcher",
            "error: environment: WATCHER_DATABASE_URL: mysql databases are not supported, only "
            f"SQLite and PostgreSQL; {HINT}",
        ),
        (
            "WATCHER_LOG_FORMAT",
            "xml",
            "error: environment: WATCHER_LOG_FORMAT=xml: must be one of: text, json",
        ),
        (
            "WATCHER_HTTP_RETRIES",
            "-1",
            "error: environment: WATCHER_HTTP_RETRIES=-1: must be 0 or more",
        ),
        (
            "WATCHER_HTTP_TIMEOUT",
            "soon",
            "error: environment: WATCHER_HTTP_TIMEOUT=soon: must be a number (like 2.5)",
        ),
    ],
    ids=["notaurl", "mysql", "log-format", "retries", "timeout"],
)
def test_bad_settings_are_one_line_naming_the_variable(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    env = {"WATCHER_SOURCES": str(tmp_path / "none.yaml"), variable: value}
    code, out, err = invoke(["run", "--once"], env)
    assert (code, out, err) == (1, "", message + "\n")
    assert "secret" not in err


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            'sources:\n  - name: boamp\n    kind: boamp\n    schedule: "2h"\n    schedule: "3h"\n',
            "error: sources.yaml: line 5, column 5: key 'schedule' is written twice here; "
            "keep only one",
        ),
        (
            "sources:\n  - name: boamp\n    kind: boamp\n    schedule: 30\n",
            "error: sources.yaml: source 'boamp' (kind 'boamp'): schedule: must be text in "
            'quotes: an interval like "30m", "6h", "1d" or a cron expression like "0 7 * * *" '
            '(for 30 minutes write "30m")',
        ),
        (
            "sources:\n  - name: BOAMP Nord\n    kind: boamp\n",
            "error: sources.yaml: source 'BOAMP Nord' (kind 'boamp'): name: 'BOAMP Nord' is not "
            "a usable name: use lower-case letters, digits, '-' or '_', starting with a letter "
            "or a digit (like 'boamp-nord')",
        ),
        (
            "sources:\n  - name: boamp\n    kind: boamp\n    departments: 59\n",
            "error: sources.yaml: source 'boamp' (kind 'boamp'): departments: must be a list "
            '(write it as ["a", "b"] or as lines starting with "- ")',
        ),
    ],
    ids=["twice", "schedule-number", "name", "tuple"],
)
def test_sources_mistakes_in_plain_words(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    code, out, err = invoke(["check-config", str(path)], {})
    assert (code, out, err) == (1, "", message + "\n")
    assert "Input should be" not in err


def test_feed_build_into_a_folder_that_cannot_be_written(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    runtime = make_runtime("sources: []\n")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    code, out, err = invoke(["feed", "build", "--out", str(blocked)], runtime_env(runtime))
    assert code == 1 and out == ""
    assert err.startswith(f"error: cannot write the feeds in {blocked} (")
    assert err.endswith("); make that folder writable, or give --out a folder you can write\n")
    assert "Traceback" not in err


def test_run_once_with_a_feeds_folder_that_cannot_be_written(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime("sources: []\n")
    feeds = runtime.settings.data_dir / "feeds"
    feeds.parent.mkdir(parents=True)
    feeds.write_text("not a folder")
    code, _out, err = invoke(["run", "--once"], runtime_env(runtime))
    assert code == 1  # the polls are stored; the feeds come at the next run (exit 1 says so)
    line = next(x for x in err.splitlines() if "feeds" in x)
    assert line.startswith(f"error: feeds not written: cannot write the feeds in {feeds} (")
    assert line.endswith(
        "); make that folder writable, or set WATCHER_DATA_DIR to a folder you can write"
    )


def test_run_once_offline_says_so_in_words(make_runtime: Callable[..., Runtime]) -> None:
    port = _closed_port()
    runtime = make_runtime(
        "sources:\n"
        f"  - name: boamp\n    kind: boamp\n    base_url: http://127.0.0.1:{port}\n"
        f"  - name: boamp-nord\n    kind: boamp\n    base_url: http://127.0.0.1:{port}\n"
    )
    code, out, err = invoke(["run", "--once"], runtime_env(runtime, WATCHER_HTTP_RETRIES="0"))
    assert code == 1
    lines = err.splitlines()
    assert lines[0].startswith("boamp: FAILED after ")
    assert (
        "s: 127.0.0.1: cannot reach the portal — check the internet connection or the proxy "
        "(the connection was refused) [ConnectError: "
    ) in lines[0]
    assert lines[2] == (
        "summary: 0 of 2 source(s) polled, 2 failed (boamp, boamp-nord); 0 new, 0 changed, "
        "0 event(s)"
    )
    assert lines[3] == (
        "none of the portals could be reached: cannot reach the portal — check the internet "
        "connection or the proxy. Nothing was lost; the next run tries again. To see the site "
        "with sample data and no network, run `watcher demo`."
    )
    assert lines[-1] == "error: 2 source(s) failed: boamp, boamp-nord"
    assert any(line.startswith("feeds: ") for line in out.splitlines()), out


def test_run_once_shows_progress_only_in_a_terminal(
    make_runtime: Callable[..., Runtime],
    portal: tuple[object, object],
) -> None:
    _handler, server = portal
    runtime = make_runtime(
        f"sources:\n  - name: boamp\n    kind: boamp\n    base_url: {server.url}\n"  # type: ignore[attr-defined]
    )
    env = runtime_env(runtime, inherit=True)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "watcher", "run", "--once"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.communicate(timeout=60)
    terminal = b"".join(chunks).decode()
    assert "[1/1] boamp: polling…" in terminal
    piped = subprocess.run(
        [sys.executable, "-m", "watcher", "run", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "polling…" not in piped.stderr
    assert "summary: 1 of 1 source(s) polled; 0 new" in piped.stdout


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watcher", "serve", "--no-scheduler", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_on_an_impossible_port(make_runtime: Callable[..., Runtime]) -> None:
    env = runtime_env(make_runtime("sources: []\n"), inherit=True)
    done = _serve(env, "--port", "80000")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--port': 80000 is not in the range 1<=x<=65535."
    )


def test_serve_on_a_busy_port_says_so_before_serving(make_runtime: Callable[..., Runtime]) -> None:
    env = runtime_env(make_runtime("sources: []\n"), inherit=True)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _serve(env, "--port", str(port))
    assert done.returncode == 1
    assert "serving on" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"error: serve: port {port} on 127.0.0.1 is already in use (is another `watcher serve` "
        f"running?); stop it or choose another port with --port, e.g. --port {port + 1}"
    )


def _error(exc: Exception) -> str:
    return netdiag.explain(exc, "https://boamp-datadila.opendatasoft.com/api")


@pytest.mark.parametrize(
    ("exc", "words", "retry"),
    [
        (
            httpx.ConnectError("[Errno -2] Name or service not known"),
            "boamp-datadila.opendatasoft.com: cannot reach the portal — check the internet "
            "connection or the proxy (the portal's name could not be looked up: DNS) "
            "[ConnectError: [Errno -2] Name or service not known]",
            False,
        ),
        (
            httpx.ConnectError("[Errno 111] Connection refused"),
            "boamp-datadila.opendatasoft.com: cannot reach the portal — check the internet "
            "connection or the proxy (the connection was refused) "
            "[ConnectError: [Errno 111] Connection refused]",
            True,
        ),
        (
            httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
            "boamp-datadila.opendatasoft.com: cannot open a secure connection (TLS) to the portal "
            "— check the computer's date and time, and any proxy or antivirus that intercepts "
            "HTTPS [ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed]",
            False,
        ),
        (
            httpx.ProxyError("503 Service Unavailable"),
            "boamp-datadila.opendatasoft.com: cannot reach the portal through the proxy — check "
            "the proxy address (the source's `proxy:` key, or HTTPS_PROXY) and that the proxy is "
            "running [ProxyError: 503 Service Unavailable]",
            False,
        ),
        (
            httpx.ConnectTimeout("timed out"),
            "boamp-datadila.opendatasoft.com: the portal did not answer in time — check the "
            "internet connection or the proxy; the portal may also be slow or down "
            "(WATCHER_HTTP_TIMEOUT sets the patience) [ConnectTimeout: timed out]",
            True,
        ),
    ],
    ids=["dns", "refused", "tls", "proxy", "timeout"],
)
def test_network_failures_in_words(exc: Exception, words: str, retry: bool) -> None:
    assert _error(exc) == words
    assert netdiag.retryable(exc) is retry


def test_the_scheduler_says_when_the_next_poll_comes(
    make_runtime: Callable[..., Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    from watcher.pipeline.scheduler import build_scheduler  # noqa: PLC0415

    port = _closed_port()
    runtime = make_runtime(
        f"sources:\n  - name: boamp\n    kind: boamp\n    base_url: http://127.0.0.1:{port}\n"
        '    schedule: "6h"\n',
        http_retries=0,
    )
    caplog.set_level("INFO")
    scheduler = build_scheduler(runtime, runtime.config.build())
    scheduler.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "next poll" not in caplog.text.split("FAILED")[-1]:
            time.sleep(0.1)
    finally:
        scheduler.shutdown(wait=True)
    after = caplog.text.split("FAILED")[-1]
    assert "boamp: next poll " in after
    assert after.split("boamp: next poll ")[1].split("\n")[0].endswith(("CET", "CEST"))


def test_no_maintainer_is_not_said_to_be_told(
    make_runtime: Callable[..., Runtime],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from watcher.notify import alert_maintainers  # noqa: PLC0415
    from watcher.pipeline.poll import run_sources  # noqa: PLC0415

    monkeypatch.delenv("WATCHER_MAINTAINERS", raising=False)
    monkeypatch.setenv("WATCHER_MAINTAINER_FAILURES", "1")
    port = _closed_port()
    runtime = make_runtime(
        f"sources:\n  - name: boamp\n    kind: boamp\n    base_url: http://127.0.0.1:{port}\n",
        http_retries=0,
    )
    results = run_sources(runtime.config.build(), runtime.context())
    caplog.set_level("WARNING")
    assert alert_maintainers(runtime, results) == 0
    assert "the maintainers are told" not in caplog.text
    assert (
        "(no maintainer is told: set WATCHER_MAINTAINERS to an e-mail address to be told next time)"
    ) in caplog.text
