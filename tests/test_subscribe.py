"""The public subscription pages: a form without JavaScript, double opt-in through a real SMTP
server on loopback, one-click unsubscribe, and pages that never reveal who is subscribed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from tests.helpers import press
from tests.loopback import LoopbackServer
from tests.mailbox import Mailbox
from tests.test_pipeline import BoampPortal, sources_yaml
from watcher.db.models import Subscriber
from watcher.db.session import session_scope
from watcher.notify import deliver_pending
from watcher.notify.subscribers import Filters, add_confirmed
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime
from watcher.web.server import create_app

CAROL = "carol@example.org"
CONFIRM = re.compile(r"https://watcher\.example(/subscribe/confirm\?token=[\w-]+)")


@pytest.fixture
def runtime(
    portal: tuple[BoampPortal, LoopbackServer],
    make_runtime: Callable[..., Runtime],
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> Runtime:
    monkeypatch.setenv("WATCHER_SMTP_URL", mailbox.url)
    monkeypatch.setenv("WATCHER_MAIL_FROM", "alerts@watcher.example")
    return make_runtime(sources_yaml(portal[1].url))


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def stored(runtime: Runtime) -> list[Subscriber]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Subscriber)))


@pytest.mark.parametrize(
    ("query", "headers", "heading"),
    [
        ("", {}, "Recevoir les alertes par e-mail"),
        ("?lang=en", {}, "Get the alerts by e-mail"),
        ("", {"Accept-Language": "en-GB,en;q=0.8"}, "Get the alerts by e-mail"),
    ],
)
def test_the_form_works_without_javascript_in_french_and_english(
    client: TestClient, query: str, headers: dict[str, str], heading: str
) -> None:
    page = client.get(f"/subscribe{query}", headers=headers)
    assert page.status_code == 200
    assert f"<h1>{heading}</h1>" in page.text
    assert '<form method="post" action="/subscribe">' in page.text
    assert '<input type="checkbox" name="site" value="dunkerque">' in page.text
    assert "CRA de Dunkerque" in page.text
    assert "<script" not in page.text


def test_double_opt_in_then_only_what_happens_after_confirming(
    client: TestClient,
    runtime: Runtime,
    mailbox: Mailbox,
    portal: tuple[BoampPortal, LoopbackServer],
) -> None:
    form = {"email": CAROL, "site": "dunkerque", "lang": "en", "digest": ""}
    sent = client.post("/subscribe", data=form)
    assert sent.status_code == 200 and "Check your mailbox" in sent.text
    assert CAROL not in sent.text
    [(rcpts, confirmation)] = mailbox.received
    assert rcpts == [CAROL]
    assert confirmation["Subject"] == "Confirm your alert subscription — detention-watcher"
    assert confirmation.get_content_type() == "multipart/alternative"
    text = confirmation.get_body(("plain",))
    assert text is not None
    link = CONFIRM.search(text.get_content())
    assert link is not None
    [pending] = stored(runtime)
    assert not pending.confirmed and pending.sites == ["dunkerque"] and pending.lang == "en"

    # Unconfirmed: the poll's alerts are not for Carol.
    run_sources(runtime.config.build(), runtime.context())
    assert deliver_pending(runtime).queued == 0

    confirmed = press(client, client.get(link.group(1)))
    assert confirmed.status_code == 200 and "Subscription confirmed" in confirmed.text
    assert stored(runtime)[0].confirmed
    # The backlog from before confirming is not sent; what happens after is.
    assert deliver_pending(runtime).queued == 0
    portal[0].load("poll_page_moved_deadline.json")
    run_sources(runtime.config.build(), runtime.context())
    report = deliver_pending(runtime)
    assert report.sent == 1
    assert str(mailbox.to(CAROL)[-1]["Subject"]).startswith("CRA de Dunkerque — Deadline moved")

    # The same address again: the same answer, nothing sent, filters untouched.
    again = client.post("/subscribe", data={"email": CAROL, "lang": "en"})
    assert again.status_code == 200 and again.text == sent.text
    assert len(mailbox.to(CAROL)) == 2 and stored(runtime)[0].sites == ["dunkerque"]


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"email": "not an address"}, "Cette adresse e-mail ne semble pas valide."),
        ({"email": "tgram://bot/chat"}, "Cette adresse e-mail ne semble pas valide."),
        ({"email": CAROL, "site": "atlantis"}, "Un des choix envoyés n&#39;existe pas"),
        ({"email": CAROL, "event": "party"}, "Un des choix envoyés n&#39;existe pas"),
    ],
)
def test_a_bad_form_is_shown_again_with_the_problem(
    client: TestClient, runtime: Runtime, mailbox: Mailbox, form: dict[str, str], error: str
) -> None:
    page = client.post("/subscribe", data=form)
    assert page.status_code == 400 and error in page.text
    assert mailbox.received == [] and stored(runtime) == []


def test_mail_server_down_at_subscription_lets_the_person_retry(
    client: TestClient, mailbox: Mailbox
) -> None:
    mailbox.stop()
    down = client.post("/subscribe", data={"email": CAROL})
    # The e-mail goes out after the answer (issue 17: the answer must not tell whether an address
    # is known), so the page is the usual one; the address is free to try again at once.
    assert down.status_code == 200 and "Vérifiez votre boîte mail" in down.text
    mailbox.start()
    retried = client.post("/subscribe", data={"email": CAROL})
    assert retried.status_code == 200 and len(mailbox.to(CAROL)) == 1


def test_unsubscribe_asks_for_a_click_then_erases_the_address(
    client: TestClient, runtime: Runtime
) -> None:
    with session_scope(runtime.sessions) as session:
        sub, _ = add_confirmed(session, CAROL, Filters(), runtime.context().clock())
        token = sub.token
    assert client.get("/unsubscribe?token=nope").status_code == 404

    page = client.get(f"/unsubscribe?token={token}")
    assert page.status_code == 200 and "Me désabonner" in page.text
    assert f'<input type="hidden" name="token" value="{token}">' in page.text
    assert len(stored(runtime)) == 1  # a link scanner's GET unsubscribes nobody

    # RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" to the header's URL.
    done = client.post(f"/unsubscribe?token={token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "Vous êtes désabonné·e" in done.text
    assert stored(runtime) == []
    # The same link used again: "already unsubscribed", never "invalid".
    again = client.post("/unsubscribe", data={"token": token})
    assert again.status_code == 200 and "Désabonnement déjà fait" in again.text
    assert "Désabonnement déjà fait" in client.get(f"/unsubscribe?token={token}").text


def test_the_confirmation_button_of_the_page_unsubscribes_too(
    client: TestClient, runtime: Runtime
) -> None:
    with session_scope(runtime.sessions) as session:
        sub, _ = add_confirmed(session, CAROL, Filters(lang="en"), runtime.context().clock())
        token = sub.token
    done = client.post("/unsubscribe", data={"token": token})
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert stored(runtime) == []
