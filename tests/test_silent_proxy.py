"""Behind a proxy that never answers (issue 25, item 5): a first `run --once` stops after a few
seconds instead of minutes, `watcher init` prints each portal's line as it is checked, and every
message names the proxy in use."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from watcher.cli.firstrun import probe
from watcher.cli.init import network_lines
from watcher.cli.main import main
from watcher.sources.netdiag import proxy_in_use

SOURCES = (
    "sources:\n"
    "  - name: boamp\n    kind: boamp\n    base_url: http://boamp.example\n"
    "  - name: ted\n    kind: ted\n    base_url: http://ted.example\n"
)


@pytest.fixture
def silent_proxy() -> Iterator[str]:
    """A proxy that takes connections and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def _env(tmp_path: Path, proxy: str) -> dict[str, str | None]:
    (tmp_path / "sources.yaml").write_text(SOURCES)
    return {
        "WATCHER_SOURCES": str(tmp_path / "sources.yaml"),
        "WATCHER_DATA_DIR": str(tmp_path / "data"),
        "WATCHER_DATABASE_URL": None,
        "WATCHER_HTTP_TIMEOUT": "1",
        "HTTP_PROXY": proxy,
        "HTTPS_PROXY": proxy,
        "NO_PROXY": None,
        "no_proxy": None,
        "http_proxy": None,
        "https_proxy": None,
        "ALL_PROXY": None,
        "all_proxy": None,
    }


def test_a_first_run_behind_a_silent_proxy_stops_early_naming_the_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent_proxy: str
) -> None:
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    result = CliRunner().invoke(main, ["run", "--once"], env=_env(tmp_path, silent_proxy))
    took = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert took < 15, f"took {took:.0f} s"
    lines = result.stderr.splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["  FAIL  boamp", "  FAIL  ted"]
    assert all(f"through the proxy {silent_proxy} (HTTP_PROXY)" in line for line in lines[:2])
    assert lines[2].startswith("first run stopped early: none of the 2 portal(s) answered")
    assert f"through the proxy {silent_proxy} (HTTP_PROXY)" in lines[2]


def test_init_prints_each_portal_as_it_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent_proxy: str
) -> None:
    (tmp_path / "sources.yaml").write_text(SOURCES)
    checked: list[str] = []

    def fake_check(p: probe.Probe, _agent: str, _timeout: float) -> str | None:
        checked.append(p.url)
        return None

    monkeypatch.setattr(probe, "check", fake_check)
    lines = network_lines(tmp_path / "sources.yaml", "ua", 1.0)
    assert next(lines).startswith("checking the network to 2 portal(s)")
    assert next(lines) == "  ok    boamp: http://boamp.example/ answers"
    assert checked == ["http://boamp.example/"]  # the second portal is not tried yet
    assert next(lines) == "  ok    ted: http://ted.example/ answers"


def test_init_names_the_proxy_that_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent_proxy: str
) -> None:
    env = _env(tmp_path, silent_proxy)
    result = CliRunner().invoke(main, ["init", "--dir", str(tmp_path), "--timeout", "0.5"], env=env)
    fails = [line for line in result.stdout.splitlines() if line.startswith("  FAIL")]
    assert len(fails) == 2
    assert all(f"(through the proxy {silent_proxy} (HTTP_PROXY))" in line for line in fails)


def test_the_proxy_is_named_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "http_proxy", "https_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://me:secret@proxy.example:3128")
    assert (
        proxy_in_use("https://www.boamp.fr/") == "the proxy http://proxy.example:3128 (HTTPS_PROXY)"
    )
    assert proxy_in_use("http://www.boamp.fr/") is None
    assert proxy_in_use("http://x.example/", "socks5://u:p@10.0.0.1:1080") == (
        "the proxy socks5://10.0.0.1:1080 (the source's proxy:)"
    )
    monkeypatch.setenv("NO_PROXY", "boamp.fr")
    assert proxy_in_use("https://www.boamp.fr/") is None


def test_run_once_says_each_failure_once_in_paris_time(tmp_path: Path) -> None:
    """Issue 25: the poll's log line repeated each failure, in the machine's time without zone."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    (tmp_path / "sources.yaml").write_text(
        f"sources:\n  - name: boamp\n    kind: boamp\n    base_url: http://127.0.0.1:{dead}\n"
    )
    env = {"PATH": "/usr/bin:/bin", "WATCHER_HTTP_RETRIES": "0", "WATCHER_SOURCES": "sources.yaml"}
    done = subprocess.run(
        [sys.executable, "-m", "watcher", "run", "--once"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.count("Connection refused") == 1, done.stderr
    assert " INFO " not in done.stderr
