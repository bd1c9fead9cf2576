"""The data folder on a full disk (issue 18, row 10): one line instead of a traceback, nothing
lost, and the feeds a failed build left missing or stale are rebuilt at the next run once there
is room again; on SQLite and PostgreSQL."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from lxml import etree

from tests.helpers import BoampPortal, runtime_env
from tests.loopback import LoopbackServer
from tests.test_pipeline import sources_yaml
from watcher.cli import main
from watcher.pipeline.runtime import Runtime

ATOM = "{http://www.w3.org/2005/Atom}"
FILES = ["deadlines.ics", "all.atom", "all.json", "en/all.atom", "sites/dunkerque.atom"]
FILES += ["sources/boamp.atom", "events/new.json"]


def run_once(runtime: Runtime) -> Result:
    result = CliRunner().invoke(main, ["run", "--once"], env=runtime_env(runtime))
    assert "Traceback" not in result.output, result.output
    return result


def entries(runtime: Runtime, name: str = "all.atom") -> list[str]:
    root = etree.parse(str(runtime.settings.data_dir / "feeds" / name)).getroot()
    return [e.findtext(f"{ATOM}id") or "" for e in root.findall(f"{ATOM}entry")]


@contextmanager
def disk_full(monkeypatch: pytest.MonkeyPatch, under: Path) -> Iterator[None]:
    """Every file written under `under` fails as on a full disk (ENOSPC)."""
    write_bytes = Path.write_bytes

    def full(self: Path, data: bytes) -> int:  # type: ignore[override]
        if self.is_relative_to(under):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return write_bytes(self, data)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_bytes", full)
        yield


def error_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def test_a_full_disk_is_one_line_and_the_missing_feeds_come_back(
    portal: tuple[BoampPortal, LoopbackServer],
    make_runtime: Callable[..., Runtime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler, server = portal
    runtime = make_runtime(sources_yaml(server.url))
    feeds = runtime.settings.data_dir / "feeds"
    with disk_full(monkeypatch, feeds):
        first = run_once(runtime)
    assert first.exit_code == 1
    [line] = error_lines(first)
    assert line.startswith("error: feeds not written (No space left on device: "), line
    assert "boamp: 3 notices fetched" in first.output  # the poll itself is stored
    assert not any((feeds / f).exists() for f in FILES)

    # Room again, and nothing new at the portal: the missing feeds are rebuilt all the same.
    second = run_once(runtime)
    assert second.exit_code == 0, second.output
    assert "feeds:" in second.output
    assert all((feeds / f).is_file() for f in FILES), [f for f in FILES if not (feeds / f).exists()]
    before = entries(runtime)
    assert len(before) == 2

    # A change arrives while the disk is full: stored, and in the feeds at the next run.
    handler.load("poll_page_moved_deadline.json")
    with disk_full(monkeypatch, feeds):
        third = run_once(runtime)
    assert third.exit_code == 1 and len(error_lines(third)) == 1, third.output
    assert "1 changed" in third.output
    assert entries(runtime) == before  # the old feeds stay whole (atomic writes)
    (feeds / "deadlines.ics").unlink()  # and a file lost by hand comes back too
    fourth = run_once(runtime)
    assert fourth.exit_code == 0, fourth.output
    assert len(entries(runtime)) == 3 and entries(runtime)[1:] == before
    assert (feeds / "deadlines.ics").is_file()

    # Then nothing to do: the feeds are not rewritten.
    fifth = run_once(runtime)
    assert fifth.exit_code == 0 and "feeds:" not in fifth.output, fifth.output


def test_a_full_disk_anywhere_is_one_line_not_a_traceback(
    portal: tuple[BoampPortal, LoopbackServer],
    make_runtime: Callable[..., Runtime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = make_runtime(sources_yaml(portal[1].url))
    assert run_once(runtime).exit_code == 0
    with disk_full(monkeypatch, runtime.settings.data_dir):
        result = CliRunner().invoke(
            main,
            ["feed", "build", "--out", str(runtime.settings.data_dir / "elsewhere")],
            env=runtime_env(runtime),
        )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    [line] = error_lines(result)
    assert line.startswith("error: No space left on device: "), line


def _mount_tmpfs(path: Path, size: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", f"i18-{uuid.uuid4().hex[:6]}", str(path)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _fill(fd: int) -> None:
    while os.write(fd, b"\0" * 4096):
        pass


def test_a_real_full_filesystem(
    portal: tuple[BoampPortal, LoopbackServer], make_runtime: Callable[..., Runtime]
) -> None:
    """The same on a real tiny filesystem (a tmpfs), where the machine allows mounting one."""
    runtime = make_runtime(sources_yaml(portal[1].url))
    data = runtime.settings.data_dir
    if not _mount_tmpfs(data, "16m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        filler = data / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            with pytest.raises(OSError, match="No space left") as filled:
                _fill(fd)
            assert filled.value.errno == errno.ENOSPC
        finally:
            os.close(fd)
        first = run_once(runtime)
        assert first.exit_code == 1, first.output
        assert any("No space left on device" in line for line in error_lines(first)), first.output
        filler.unlink()
        second = run_once(runtime)
        assert second.exit_code == 0, second.output
        assert (data / "feeds" / "deadlines.ics").is_file() and len(entries(runtime)) == 2
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)
