"""Tell the story where people look (issue 25, item 6): `/subscribe?site=dunkerque` comes with
Dunkerque ticked; every site, company and procedure page offers "get e-mails for this" and
"follow this feed"; every page of the subscription flow has the site's menu and footer."""

from __future__ import annotations

import lxml.html
import pytest
from starlette.testclient import TestClient

from tests.web.test_pages import DUNKERQUE, notice_id, page
from watcher.pipeline.runtime import Runtime


def frame(doc: lxml.html.HtmlElement) -> tuple[list[str], str]:
    """The menu's links and the footer's text of a page."""
    links = [str(a.get("href")) for a in doc.cssselect("header nav a")]
    return links, doc.cssselect("footer")[0].text_content()


def follow(doc: lxml.html.HtmlElement) -> tuple[str, str]:
    [mail] = doc.cssselect("nav.follow a.follow-mail")
    [feed] = doc.cssselect("nav.follow a.follow-feed")
    return str(mail.get("href")), str(feed.get("href"))


def test_subscribe_ticks_the_site_it_is_opened_for(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_SMTP_URL", "smtp://127.0.0.1:1")
    doc = page(client, "/subscribe?site=dunkerque")
    ticked = [i.get("value") for i in doc.cssselect('input[name="site"][checked]')]
    assert ticked == ["dunkerque"]
    assert page(client, "/subscribe?site=nowhere").cssselect('input[name="site"][checked]') == []


def test_site_and_procedure_pages_offer_e_mails_and_the_feed(
    client: TestClient, polled: Runtime
) -> None:
    assert follow(page(client, "/sites/dunkerque")) == (
        "/subscribe?site=dunkerque",
        "/feeds/sites/dunkerque.atom",
    )
    notice = page(client, f"/notices/{notice_id(polled, DUNKERQUE)}?lang=en")
    assert follow(notice) == (
        "/subscribe?site=dunkerque&lang=en",
        "/feeds/sites/dunkerque.atom?lang=en",
    )
    # The e-mail link leads to a form with the site ticked.
    assert client.get("/feeds/sites/dunkerque.atom").status_code == 200


def test_every_page_of_the_subscription_flow_has_the_sites_menu_and_footer(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_SMTP_URL", "smtp://127.0.0.1:1")
    home = frame(page(client, "/"))
    flow = {
        "form": client.get("/subscribe"),
        "sent": client.post("/subscribe", data={"email": "erin@example.org"}),
        "bad address": client.post("/subscribe", data={"email": "nope"}),
        "refused": client.post(
            "/subscribe", data={"email": "a@example.org"}, headers={"Sec-Fetch-Site": "cross-site"}
        ),
        "confirm, invalid": client.get("/subscribe/confirm?token=" + "A" * 32),
        "unsubscribe, invalid": client.get("/unsubscribe?token=" + "A" * 32),
    }
    assert [r.status_code for r in flow.values()] == [200, 200, 400, 403, 404, 404]
    for name, response in flow.items():
        assert frame(lxml.html.fromstring(response.text)) == home, name
