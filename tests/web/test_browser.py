"""A real headless browser (Debian's chromium + chromium-driver, driven by Selenium) reads the
site served by `watcher serve`: searches, follows a notice from `/` to its timeline, switches to
English, and on a phone-sized screen nothing overflows. Screenshots go to `test-artifacts/`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests.helpers import runtime_env
from tests.web.test_service import _free_port
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def missing_browser(chromium: str = CHROMIUM, chromedriver: str = CHROMEDRIVER) -> str | None:
    """Why the browser tests cannot run, naming what exactly is missing; None when they can."""
    has_browser = os.access(chromium, os.X_OK)
    has_driver = os.access(chromedriver, os.X_OK)
    if has_browser and has_driver:
        return None
    if has_browser:
        return "chromedriver is not installed: apt-get install -y chromium-driver"
    if has_driver:
        return "chromium is not installed: apt-get install -y chromium"
    return (
        "chromium and chromedriver are not installed: apt-get install -y chromium chromium-driver"
    )


pytestmark = pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser()))


@contextmanager
def _serve_site(polled: Runtime, **extra: str) -> Iterator[str]:
    port = _free_port()
    env = runtime_env(polled, inherit=True, **extra)
    proc = subprocess.Popen(
        [sys.executable, "-m", "watcher", "serve", "--no-scheduler", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def site(polled: Runtime) -> Iterator[str]:
    """`watcher serve --no-scheduler` over the polled database, on a free loopback port."""
    with _serve_site(polled) as base:
        yield base


@pytest.fixture
def mail_site(polled: Runtime) -> Iterator[str]:
    """The same, with a mail server set (the subscription form is shown)."""
    with _serve_site(polled, WATCHER_SMTP_URL="smtp://127.0.0.1:1") as base:
        yield base


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument("--lang=fr-FR")
    options.add_experimental_option("prefs", {"intl.accept_languages": "fr-FR,fr"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(1280, 1000)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    # The whole page, not only the first screen: as tall as the document.
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, max(int(height) + 120, 600))
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    return path


def test_follow_a_notice_from_home_to_its_timeline(site: str, browser: webdriver.Chrome) -> None:
    wait = WebDriverWait(browser, 20)
    browser.get(f"{site}/")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
    titles = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "ol.items h3 a")]
    assert len(titles) == 3 and "Dunkerque" in titles[0]
    screenshot(browser, "home.png")

    # Search with the form, as a reader would.
    search = browser.find_element(By.ID, "q")
    search.clear()
    search.send_keys("repas")
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    wait.until(expected_conditions.url_contains("q=repas"))
    found = browser.find_elements(By.CSS_SELECTOR, "ol.items h3 a")
    assert [a.text for a in found] == [titles[2]]

    # Back to everything, then follow the newest event to its notice.
    browser.get(f"{site}/")
    browser.find_element(By.CSS_SELECTOR, "ol.items h3 a").click()
    wait.until(expected_conditions.url_matches(r"/notices/\d+$"))
    assert "Dunkerque" in browser.find_element(By.TAG_NAME, "h1").text
    steps = browser.find_elements(By.CSS_SELECTOR, ".timeline li.step")
    assert len(steps) == 2
    assert "04/01/2027 → 18/01/2027" in steps[1].text
    portal = browser.find_element(By.CSS_SELECTOR, "a.portal").get_attribute("href")
    assert portal and portal.startswith("https://www.boamp.fr/")
    shot = screenshot(browser, "notice-timeline.png")
    assert shot.exists()

    # The raw evidence opens from the timeline.
    raw = steps[0].find_element(By.CSS_SELECTOR, ".evidence a").get_attribute("href")
    assert raw and httpx.get(raw, timeout=5).headers["x-content-sha256"]

    # The language switch turns the page into English.
    browser.find_element(By.CSS_SELECTOR, "a.lang-switch").click()
    wait.until(expected_conditions.url_contains("lang=en"))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert "Timeline of the procedure" in browser.page_source


def test_pages_fit_a_phone_screen(site: str, browser: webdriver.Chrome) -> None:
    browser.set_window_size(390, 844)
    for path in ["/", "/sources", "/sites"]:
        browser.get(f"{site}{path}")
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
    browser.get(f"{site}/")
    screenshot(browser, "home-phone.png")


FIRST_HOUR_PAGES = [
    "/",
    "/sources",
    "/sites",
    "/sites/dunkerque",
    "/feeds",
    "/subscribe",
    "/radar",
    "/?q=repas",
]


@pytest.mark.parametrize("width", [1280, 390])
def test_first_hour_pages_fit_without_sideways_scroll(
    site: str, browser: webdriver.Chrome, width: int
) -> None:
    """Issue 19: the sources page (once 11 columns), the feeds page and the subscribe page fit a
    laptop and a phone; the subscribe page has the site's header; screenshots of each."""
    for path in FIRST_HOUR_PAGES:
        browser.set_window_size(width, 900)
        browser.get(f"{site}{path}")
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}px"
        if path == "/sources":
            inner = browser.execute_script(
                "const t = document.querySelector('.table-scroll');"
                "return t.scrollWidth - t.clientWidth"
            )
            if width == 1280:
                assert inner <= 0, f"the sources table scrolls sideways by {inner}px at 1280px"
        assert browser.find_elements(By.CSS_SELECTOR, "header nav a"), path
        name = path.strip("/").replace("/", "-").replace("?", "").replace("=", "-") or "home"
        screenshot(browser, f"first-hour-{name}-{width}.png")


def test_a_feed_opened_in_the_browser_says_what_it_is(site: str, browser: webdriver.Chrome) -> None:
    """The Atom document is styled by its CSS processing instruction (no script): the browser
    shows it as a page, not as an XML tree."""
    browser.set_window_size(1280, 900)
    browser.get(f"{site}/feeds/sites/dunkerque.atom")
    sheets = browser.execute_script("return document.styleSheets.length")
    assert sheets >= 1
    text = browser.execute_script("return document.documentElement.textContent")
    assert "Construction du centre de rétention administrative de Dunkerque" in text
    shot = screenshot(browser, "first-hour-feed-1280.png")
    assert shot.exists()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_subscription_form_fits_and_has_the_site_header(
    mail_site: str, browser: webdriver.Chrome, width: int
) -> None:
    browser.set_window_size(width, 900)
    browser.get(f"{mail_site}/subscribe")
    assert browser.find_elements(By.CSS_SELECTOR, "header.site-header nav a")
    assert browser.find_elements(By.CSS_SELECTOR, "form input[type=email]")
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"/subscribe scrolls sideways by {overflow}px at {width}px"
    screenshot(browser, f"first-hour-subscribe-form-{width}.png")


def test_offline_first_run_is_explained_on_screen(
    make_runtime: Callable[..., Runtime], browser: webdriver.Chrome
) -> None:
    """Issue 19, item 1: with no portal reachable, the home page and /sources say so in words
    and fit a laptop and a phone."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    runtime = make_runtime(
        "sources:\n"
        f"  - name: boamp\n    kind: boamp\n    base_url: http://127.0.0.1:{dead}\n"
        f"  - name: ted\n    kind: ted\n    base_url: http://127.0.0.1:{dead}\n",
        http_retries=0,
    )
    run_sources(runtime.config.build(), runtime.context())
    with _serve_site(runtime) as base:
        for width in (1280, 390):
            for path in ("/", "/sources"):
                browser.set_window_size(width, 900)
                browser.get(f"{base}{path}")
                banner = browser.find_element(By.CSS_SELECTOR, ".notice-banner").text
                assert banner.startswith("Aucune source n'a encore pu être interrogée (2 en échec)")
                overflow = browser.execute_script(
                    "return document.documentElement.scrollWidth - "
                    "document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}px"
                name = "home" if path == "/" else "sources"
                screenshot(browser, f"first-hour-offline-{name}-{width}.png")


def test_search_from_home_to_a_procedure_and_its_follow_form(
    site: str, browser: webdriver.Chrome
) -> None:
    """Issue 27: the home page's full-text box, a ranked result with its highlighted passage,
    the procedure page it opens, and the search's feed and e-mail form."""
    wait = WebDriverWait(browser, 20)
    browser.get(f"{site}/")
    box = browser.find_element(By.ID, "search-q")
    box.send_keys("retention lesquin")
    browser.find_element(By.CSS_SELECTOR, "form.search-box button[type=submit]").click()
    wait.until(expected_conditions.url_contains("/search?q=retention+lesquin"))
    results = browser.find_elements(By.CSS_SELECTOR, "ol.search-results h3 a")
    assert [a.text for a in results] == [
        "Fourniture et livraison de repas pour les personnes retenues au centre de rétention "
        "administrative de Lesquin"
    ]
    marks = [m.text for m in browser.find_elements(By.CSS_SELECTOR, ".snippet mark")]
    assert "rétention" in marks and "Lesquin" in marks
    form = browser.find_element(By.CSS_SELECTOR, "form.subscribe-search")
    query = form.find_element(By.NAME, "query").get_attribute("value")
    assert query == "retention lesquin"
    feed = browser.find_element(By.PARTIAL_LINK_TEXT, "Flux Atom").get_attribute("href")
    assert feed and httpx.get(feed, timeout=5).status_code == 200
    screenshot(browser, "search.png")

    results[0].click()
    wait.until(expected_conditions.url_matches(r"/notices/\d+$"))
    assert "Lesquin" in browser.find_element(By.TAG_NAME, "h1").text


def test_a_feed_opened_in_chromium_shows_a_link_per_entry(
    site: str, browser: webdriver.Chrome
) -> None:
    """Issue 25: the XSLT sheet makes /feeds/all.atom a page; each entry's title is a link to its
    page on this site and its date is in words."""
    feed = httpx.get(f"{site}/feeds/all.atom", timeout=10).content
    entries = feed.count(b"<entry>")
    assert entries
    browser.set_window_size(1280, 900)
    browser.get(f"{site}/feeds/all.atom")
    links = WebDriverWait(browser, 20).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "li.feed-entry h2 a")
    )
    assert len(links) == entries
    assert all("/notices/" in (a.get_attribute("href") or "") for a in links)
    dates = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "li.feed-entry time")]
    assert len(dates) == entries and all(" à " in d and "(UTC)" in d for d in dates), dates
    screenshot(browser, "feed-all-1280.png")
