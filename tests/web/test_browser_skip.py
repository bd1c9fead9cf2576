"""The browser tests say exactly what is missing when they cannot run (issue 19, item 8)."""

from __future__ import annotations

from pathlib import Path

from tests.web.test_browser import missing_browser


def _exe(path: Path) -> str:
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def test_only_the_driver_missing_names_the_driver(tmp_path: Path) -> None:
    chromium = _exe(tmp_path / "chromium")
    assert missing_browser(chromium, str(tmp_path / "none")) == (
        "chromedriver is not installed: apt-get install -y chromium-driver"
    )


def test_only_the_browser_missing_names_the_browser(tmp_path: Path) -> None:
    driver = _exe(tmp_path / "chromedriver")
    assert missing_browser(str(tmp_path / "none"), driver) == (
        "chromium is not installed: apt-get install -y chromium"
    )


def test_both_present_runs(tmp_path: Path) -> None:
    assert missing_browser(_exe(tmp_path / "a"), _exe(tmp_path / "b")) is None
