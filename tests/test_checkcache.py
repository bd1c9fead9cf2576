"""`watcher check-config` answers from its cache only for the very files it found valid."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from watcher.cli import main

GOOD = """sources:
  - name: boamp
    kind: boamp
"""


def check(path: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check-config", *extra, str(path)])
    return result.exit_code, result.output


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(GOOD, encoding="utf-8")
    return path


def test_a_valid_file_is_answered_again_from_the_cache(sources: Path) -> None:
    assert check(sources) == (0, f"{sources}: OK, 1 sources (1 enabled)\n")
    assert check(sources) == (0, f"{sources}: OK, 1 sources (1 enabled)\n")
    assert check(sources, "--full") == (0, f"{sources}: OK, 1 sources (1 enabled)\n")


def test_an_edited_file_is_validated_again(sources: Path) -> None:
    assert check(sources)[0] == 0
    sources.write_text(GOOD + "    schedule: 30\n", encoding="utf-8")
    code, output = check(sources)
    assert code == 1
    assert "schedule" in output


def test_another_setting_is_validated_again(
    sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert check(sources)[0] == 0
    monkeypatch.setenv("WATCHER_HTTP_TIMEOUT", "not a number")
    code, output = check(sources)
    assert code == 1
    assert "WATCHER_HTTP_TIMEOUT" in output
