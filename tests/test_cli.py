"""Every command has --help and is documented in the README (sqlite-utils' check)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from watcher.cli import main

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group = main, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        path = (*prefix, name)
        found.append(path)
        if isinstance(command, click.Group):
            found.extend(commands(command, path))
    return found


@pytest.mark.parametrize("path", commands(), ids=lambda p: " ".join(p))
def test_command_has_help_and_is_documented(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert f"watcher {' '.join(path)}" in README, f"`watcher {' '.join(path)}` is not in README.md"


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and "watcher" in result.output
