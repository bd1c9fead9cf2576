"""The map and the timelines in a real headless browser, at 1280 and 390 pixels wide: drawn, as
wide as the page allows, nothing overflowing sideways. Screenshots are kept in `test-artifacts/`
(`pictures-*.png`) for a person to look at."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.web.test_browser import ARTIFACTS, browser, screenshot, site  # noqa: F401 - fixtures
from tests.web.test_browser import pytestmark as needs_chromium
from tests.web.test_companies import awarded_runtime
from watcher.pipeline.runtime import Runtime

pytestmark = needs_chromium

PAGES = {
    "map": ("/sites", "svg.map"),
    "site-timeline": ("/sites/dunkerque", "svg.timeline"),
    "company-timeline": ("/companies/spie-batignolles-nord", "svg.timeline"),
}


@pytest.fixture
def polled(make_runtime: Callable[..., Runtime]) -> Runtime:
    """The Dunkerque story up to its award (what `site` serves)."""
    return awarded_runtime(make_runtime)


@pytest.mark.parametrize("width", [1280, 390])
def test_map_and_timelines_render(site: str, browser: webdriver.Chrome, width: int) -> None:  # noqa: F811
    for name, (path, selector) in PAGES.items():
        browser.set_window_size(width, 900)
        browser.get(f"{site}{path}")
        shown = [e for e in browser.find_elements(By.CSS_SELECTOR, selector) if e.is_displayed()]
        assert len(shown) == 1, (name, width, len(shown))  # the wide or the phone drawing
        picture = shown[0]
        size = picture.size
        assert size["width"] >= min(width - 60, 700) * 0.9, (name, size)
        assert size["height"] > 100, (name, size)
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}px"
        if name == "map":
            marks = picture.find_elements(By.CSS_SELECTOR, "a")
            assert len(marks) >= 40
        screenshot(browser, f"pictures-{name}-{width}-page.png")
        assert picture.screenshot(str(ARTIFACTS / f"pictures-{name}-{width}.png"))
