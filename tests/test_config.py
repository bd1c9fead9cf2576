"""A bad sources file is reported one clear line per problem, never as a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from watcher.cli import main
from watcher.errors import ConfigError
from watcher.pipeline.config import load_config

GOOD = """
sources:
  - name: boamp
    kind: boamp
    schedule: "30m"
  - name: boamp-cron
    kind: boamp
    schedule: "0 7 * * 1-5"
    enabled: false
    base_url: "http://127.0.0.1:9"
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def test_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(GOOD, encoding="utf-8")
    config = load_config(path)
    assert [s.name for s in config.sources] == ["boamp", "boamp-cron"]
    assert [s.name for s in config.build()] == ["boamp"]  # disabled ones are not polled
    assert config.sources[1].base_url == "http://127.0.0.1:9"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "sources:\n  - name: x\n    kind: nope\n",
            "sources.yaml: source 'x': kind: unknown kind 'nope'; known kinds: ",
            id="unknown-kind-lists-known-kinds",
        ),
        pytest.param(
            "sources:\n  - name: x\n",
            "sources.yaml: source 'x': kind: missing; known kinds: ",
            id="missing-kind",
        ),
        pytest.param(
            "sources:\n  - name: x\n    kind: boamp\n    schedule: every day\n",
            "sources.yaml: source 'x' (kind 'boamp'): schedule: 'every day' is neither an interval",
            id="bad-schedule",
        ),
        pytest.param(
            "sources:\n  - name: x\n    kind: boamp\n    schedule: '61 * * * *'\n",
            "sources.yaml: source 'x' (kind 'boamp'): schedule: cron expression '61 * * * *'",
            id="bad-cron",
        ),
        pytest.param(
            "sources:\n  - name: x\n    kind: boamp\n    base_url: not a url\n",
            "sources.yaml: source 'x' (kind 'boamp'): base_url: 'not a url' is not a URL",
            id="bad-url",
        ),
        pytest.param(
            "sources:\n  - name: x\n    kind: boamp\n    base_url: https://h.example/api/v2\n",
            "sources.yaml: source 'x' (kind 'boamp'): base_url: 'https://h.example/api/v2': "
            "give scheme and host only",
            id="base-url-with-path",
        ),
        pytest.param(
            "sources:\n  - name: x\n    kind: boamp\n    shedule: 1h\n",
            "sources.yaml: source 'x' (kind 'boamp'): shedule: unknown key",
            id="typo-key",
        ),
        pytest.param(
            "sources:\n  - {name: x, kind: boamp}\n  - {name: x, kind: boamp}\n",
            "sources.yaml: source 'x': name: used twice (sources #1 and #2)",
            id="duplicate-names",
        ),
        pytest.param(
            "sources: [\n", "sources.yaml: line 2, column 1: YAML does not parse", id="yaml"
        ),
        pytest.param("- a\n- b\n", "sources.yaml: expected a mapping", id="not-a-mapping"),
        pytest.param("source: []\n", "sources.yaml: source: unknown top-level key", id="top-key"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    assert any(line.startswith(expected) for line in found), found


def test_every_problem_is_reported(tmp_path: Path) -> None:
    text = "sources:\n  - {name: a, kind: nope}\n  - {name: b, kind: boamp, schedule: x}\n"
    assert len(problems(tmp_path, text)) == 2


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    "text",
    ["sources: [\n", "sources:\n  - {name: a, kind: nope}\n", None],
    ids=["yaml", "kind", "missing"],
)
def test_check_config_cli_one_line_exit_1(tmp_path: Path, text: str | None) -> None:
    path = tmp_path / "sources.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.startswith("error: ")


def test_check_config_cli_ok(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(GOOD, encoding="utf-8")
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 sources (1 enabled)" in result.output


def test_shipped_sources_file_is_valid() -> None:
    result = CliRunner().invoke(
        main, ["check-config", str(Path(__file__).parent.parent / "sources.yaml")]
    )
    assert result.exit_code == 0, result.output
