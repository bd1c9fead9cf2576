"""Every form of the site, sent by a real Chromium (issue 25): subscribe in French and in English,
the confirmation e-mail (loopback SMTP), its button, an alert after a relevant notice, the
« Me désabonner » button and the RFC 8058 one-click header, the company page's form and the
language switch. A form the browser cannot send fails here.

What the browser sent with each form (`Origin`, `Referer`, `Sec-Fetch-Site`, read from Chromium's
own network log) is written to `test-artifacts/form-headers.json`, next to the screenshots. The
French path talks to `127.0.0.1` (a "trustworthy" origin: Chromium sends `Sec-Fetch-Site`); the
English one to `http://watcher.test`, mapped to loopback, where Chromium sends no `Sec-Fetch-*`
headers, as on a plain-HTTP public site: there the signed form token is what lets it through.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from tests.loopback import LoopbackServer
from tests.mailbox import Mailbox
from tests.test_pipeline import BoampPortal, sources_yaml
from tests.test_timeline import award
from tests.web.test_browser import (
    ARTIFACTS,
    CHROMEDRIVER,
    CHROMIUM,
    FLAGS,
    _serve_site,
    missing_browser,
    screenshot,
)
from watcher.db.models import Subscriber
from watcher.notify import deliver_pending
from watcher.pipeline.cycle import after_polls
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime

pytestmark = pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser()))

FORM_POSTS = ("/subscribe", "/subscribe/confirm", "/unsubscribe")
SENT: dict[str, dict[str, str | None]] = {}  # what the browser sent, by form


@pytest.fixture
def story(
    make_runtime: Callable[..., Runtime], mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Runtime, BoampPortal]]:
    """The Dunkerque tender and its award to a company, polled from the loopback BOAMP portal,
    which stays up for one more poll; alerts go to the loopback mail server."""
    monkeypatch.setenv("WATCHER_SMTP_URL", mailbox.url)
    monkeypatch.setenv("WATCHER_MAIL_FROM", "Veille rétention <alerts@watcher.example>")
    portal = BoampPortal()
    with LoopbackServer(portal) as server:
        runtime = make_runtime(sources_yaml(server.url))
        sources = runtime.config.build()
        after_polls(runtime, run_sources(sources, runtime.context()))
        record = award(portal.records[0])
        record["titulaire"] = ["SPIE BATIGNOLLES NORD"]
        portal.records.append(record)
        after_polls(runtime, run_sources(sources, runtime.context()))
        yield runtime, portal


@pytest.fixture
def site(story: tuple[Runtime, BoampPortal], mailbox: Mailbox) -> Iterator[str]:
    runtime, _portal = story
    extra = {"WATCHER_SMTP_URL": mailbox.url, "WATCHER_MAIL_FROM": "alerts@watcher.example"}
    with _serve_site(runtime, **extra) as base:
        yield base


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium that logs its network traffic; `watcher.test` is mapped to loopback."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument("--lang=fr-FR")
    options.add_argument("--host-resolver-rules=MAP watcher.test 127.0.0.1")
    options.add_experimental_option("prefs", {"intl.accept_languages": "fr-FR,fr"})
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(1280, 1000)
    try:
        yield driver
    finally:
        driver.quit()


def sent_headers(driver: webdriver.Chrome) -> list[tuple[str, dict[str, str]]]:
    """(path, headers) of each form POST since the last call, as Chromium put them on the wire."""
    urls: dict[str, str] = {}
    extra: dict[str, dict[str, str]] = {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params: dict[str, Any] = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            request = params["request"]
            if request["method"] == "POST":
                urls[params["requestId"]] = request["url"]
        elif message["method"] == "Network.requestWillBeSentExtraInfo":
            extra[params["requestId"]] = {k.lower(): v for k, v in params["headers"].items()}
    found = []
    for request_id, url in urls.items():
        path = httpx.URL(url).path
        if path in FORM_POSTS:
            found.append((path, extra.get(request_id, {})))
    return found


def record(driver: webdriver.Chrome, form: str) -> None:
    """Keep what the browser sent with `form`, for the report and the artefact."""
    posts = sent_headers(driver)
    assert posts, f"{form}: the browser sent no POST"
    _path, headers = posts[-1]
    SENT[form] = {
        name: headers.get(name.lower()) for name in ("Origin", "Referer", "Sec-Fetch-Site")
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "form-headers.json").write_text(json.dumps(SENT, indent=2, sort_keys=True))


def wait_for_mail(mailbox: Mailbox, address: str, count: int) -> EmailMessage:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = mailbox.to(address)
        if len(got) >= count:
            return got[count - 1]
        time.sleep(0.1)
    raise AssertionError(f"no e-mail #{count} for {address}")


def link_in(message: EmailMessage, path: str, base: str) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(
        r"https://watcher\.example(" + re.escape(path) + r"\?token=[\w-]+)", body.get_content()
    )
    assert found is not None, f"no {path} link in the e-mail"
    return base + found.group(1)


def stored(runtime: Runtime) -> dict[str, Subscriber]:
    with runtime.sessions() as session:
        return {s.address: s for s in session.query(Subscriber)}


def press(driver: webdriver.Chrome, selector: str) -> None:
    """Click and wait for the next page to replace this one."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, selector).click()

    def replaced(_: object) -> bool:
        # `staleness_of` knows only StaleElementReferenceException; Chromium may instead answer
        # "Node with given id does not belong to the document" for the old page: gone as well.
        try:
            page.is_enabled()
        except WebDriverException:
            return True
        return False

    WebDriverWait(driver, 20).until(replaced)


def heading(driver: webdriver.Chrome) -> str:
    return str(driver.find_element(By.TAG_NAME, "h1").text)


def subscribe(driver: webdriver.Chrome, base: str, query: str, address: str) -> None:
    driver.get(f"{base}/subscribe{query}")
    driver.find_element(By.ID, "email").send_keys(address)
    press(driver, ".subscribe-form button[type=submit]")


def test_subscribe_confirm_alert_and_unsubscribe_in_a_real_browser(
    site: str,
    browser: webdriver.Chrome,
    story: tuple[Runtime, BoampPortal],
    mailbox: Mailbox,
) -> None:
    runtime, portal = story
    port = httpx.URL(site).port

    # French, on 127.0.0.1: /subscribe?site=dunkerque comes with Dunkerque ticked.
    subscribe(browser, site, "?site=dunkerque", "carol@example.org")
    assert heading(browser) == "Vérifiez votre boîte mail", browser.page_source
    record(browser, "subscribe (fr)")
    screenshot(browser, "forms-subscribe-sent-fr.png")
    confirmation = wait_for_mail(mailbox, "carol@example.org", 1)
    assert stored(runtime)["carol@example.org"].sites == ["dunkerque"]

    # The link shows a button; only the button confirms; the link opened again says so.
    link = link_in(confirmation, "/subscribe/confirm", site)
    browser.get(link)
    assert heading(browser) == "Confirmer l'abonnement"
    assert not stored(runtime)["carol@example.org"].confirmed
    press(browser, "main form button")
    assert heading(browser) == "Abonnement confirmé"
    record(browser, "confirm (fr)")
    assert stored(runtime)["carol@example.org"].confirmed
    browser.get(link)
    assert heading(browser) == "Abonnement déjà confirmé"
    screenshot(browser, "forms-confirm-again-fr.png")

    # English, on a host Chromium does not trust (no Sec-Fetch-*): the signed token carries it.
    english = f"http://watcher.test:{port}"
    subscribe(browser, english, "?lang=en", "dave@example.org")
    assert heading(browser) == "Check your mailbox", browser.page_source
    record(browser, "subscribe (en, plain-HTTP host)")
    browser.get(
        link_in(wait_for_mail(mailbox, "dave@example.org", 1), "/subscribe/confirm", english)
    )
    assert heading(browser) == "Confirm the subscription"
    press(browser, "main form button")
    assert heading(browser) == "Subscription confirmed"
    record(browser, "confirm (en, plain-HTTP host)")

    # A relevant notice: the Dunkerque deadline moves; both get an alert.
    portal.load("poll_page_moved_deadline.json")
    [result] = run_sources(runtime.config.build(), runtime.context())
    assert result.ok and result.changed
    deliver_pending(runtime)
    alert = wait_for_mail(mailbox, "carol@example.org", 2)
    assert "Dunkerque" in str(alert["Subject"])
    english_alert = wait_for_mail(mailbox, "dave@example.org", 2)

    # « Me désabonner »: the link shows the button; the button unsubscribes; again: "already".
    unsubscribe = link_in(alert, "/unsubscribe", site)
    browser.get(unsubscribe)
    assert "carol@example.org" in stored(runtime)
    press(browser, "main form button")
    assert heading(browser) == "Vous êtes désabonné·e"
    record(browser, "unsubscribe button (fr)")
    assert "carol@example.org" not in stored(runtime)
    browser.get(unsubscribe)
    assert heading(browser) == "Désabonnement déjà fait"
    screenshot(browser, "forms-unsubscribed-again-fr.png")

    # RFC 8058 one-click, as a mail provider sends it: no Origin, no browser headers.
    header = re.sub(r"\s+", "", str(english_alert["List-Unsubscribe"])).strip("<>")
    assert english_alert["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    one_click = httpx.post(
        header.replace("https://watcher.example", site),
        data={"List-Unsubscribe": "One-Click"},
        timeout=10,
    )
    assert one_click.status_code == 200
    assert stored(runtime) == {}
    SENT["one-click List-Unsubscribe-Post (a mail provider)"] = dict.fromkeys(
        ("Origin", "Referer", "Sec-Fetch-Site")
    )


def test_company_form_and_language_switch_in_a_real_browser(
    site: str, browser: webdriver.Chrome, story: tuple[Runtime, BoampPortal], mailbox: Mailbox
) -> None:
    runtime, _portal = story
    browser.get(f"{site}/companies")
    browser.find_element(By.PARTIAL_LINK_TEXT, "SPIE BATIGNOLLES NORD").click()
    company_page = browser.current_url
    screenshot(browser, "forms-company-fr.png")
    browser.get(company_page)
    browser.find_element(By.ID, "sub-email").send_keys("erin@example.org")
    press(browser, "#sub-email ~ button[type=submit]")
    assert heading(browser) == "Vérifiez votre boîte mail", browser.page_source
    record(browser, "company page form (fr)")
    wait_for_mail(mailbox, "erin@example.org", 1)
    [slug] = stored(runtime)["erin@example.org"].companies
    assert company_page.rstrip("/").endswith(slug)

    # The language switch of the subscription page, then the English form still sends.
    browser.get(f"{site}/subscribe")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
    press(browser, "a.lang-switch")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert heading(browser) == "Get the alerts by e-mail"
    browser.find_element(By.ID, "email").send_keys("frank@example.org")
    press(browser, ".subscribe-form button[type=submit]")
    assert heading(browser) == "Check your mailbox"
    record(browser, "subscribe after the language switch (en)")
    wait_for_mail(mailbox, "frank@example.org", 1)
    assert stored(runtime)["frank@example.org"].lang == "en"


MAIN_PAGES = {
    "home": "/",
    "procedure": None,  # the Dunkerque procedure, found from the home page
    "sites": "/sites",
    "company": "/companies/spie-batignolles-nord",
    "subscribe": "/subscribe",
}


@pytest.mark.parametrize("width", [1280, 390])
def test_main_pages_at_laptop_and_phone_width(
    site: str, browser: webdriver.Chrome, width: int
) -> None:
    """Screenshots of the five pages a newcomer sees first, kept as artefacts; none scrolls
    sideways, and each has the site's menu and footer."""
    browser.set_window_size(width, 900)
    browser.get(f"{site}/")
    notice = browser.find_element(By.CSS_SELECTOR, "ol.items h3 a").get_attribute("href")
    assert notice
    for name, path in MAIN_PAGES.items():
        browser.set_window_size(width, 900)
        browser.get(notice if path is None else f"{site}{path}")
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"
        assert browser.find_elements(By.CSS_SELECTOR, "header nav a"), name
        assert browser.find_elements(By.CSS_SELECTOR, "footer"), name
        ARTIFACTS.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / f"page-{name}-{width}-first-screen.png"))
        screenshot(browser, f"page-{name}-{width}.png")


# The columns a reader needs at a glance on a phone: /sites' count and last event, a company's
# contract dates and amounts (the third and last cells of a site row; a contract's date and amount).
PHONE_COLUMNS = {
    "/sites": "table.stack tbody td:nth-of-type(4), table.stack tbody td:nth-of-type(5)",
    "/companies/spie-batignolles-nord": (
        "table.stack tbody td:nth-of-type(3), table.stack tbody td:nth-of-type(4)"
    ),
}


@pytest.mark.parametrize("path", list(PHONE_COLUMNS))
def test_amount_and_date_columns_are_on_a_phone_screen(
    site: str, browser: webdriver.Chrome, path: str
) -> None:
    """At 390 px the sites and contracts tables become one card per row: every date, count and
    amount cell lies inside the screen, with no sideways scrolling of the table or the page."""
    browser.set_window_size(390, 900)
    browser.get(f"{site}{path}")
    boxes = browser.execute_script(
        "const w = document.documentElement.clientWidth;"
        "return [w, [...document.querySelectorAll(arguments[0])].map(c => {"
        " const r = c.getBoundingClientRect();"
        " return [c.getAttribute('data-label'), r.left, r.right, c.textContent.trim()]; }),"
        " document.querySelector('.table-scroll').scrollWidth"
        " - document.querySelector('.table-scroll').clientWidth]",
        PHONE_COLUMNS[path],
    )
    width, cells, inner = boxes
    assert cells, path
    labels = {label for label, *_ in cells}
    assert labels == (
        {"Avis pertinents", "Dernier événement"} if path == "/sites" else {"Date", "Montant"}
    ), labels
    for label, left, right, words in cells:
        assert left >= 0 and right <= width, f"{label} « {words} » at {left}–{right} of {width}"
    assert inner <= 0, f"the table scrolls sideways by {inner}px"
    screenshot(browser, f"phone-columns-{path.strip('/').replace('/', '-')}.png")
