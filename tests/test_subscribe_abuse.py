"""The subscription form cannot be turned against anyone (issue 17, issue 18 rows 6, 7 and 9):
rate limits with a 429 page, one confirmation per address per day, an hourly cap that tells the
maintainers, a honeypot, expiring single-use links, the same answer in the same time whoever is
asked about, the site's security headers and no cross-site POSTs."""

from __future__ import annotations

import datetime as dt
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select, update
from starlette.testclient import TestClient

from tests.helpers import press
from tests.loopback import LoopbackServer
from tests.mailbox import Mailbox
from tests.test_pipeline import BoampPortal, sources_yaml
from watcher.db.models import Subscriber
from watcher.db.session import session_scope
from watcher.notify.subscribers import Filters, add_confirmed
from watcher.pipeline.runtime import Runtime
from watcher.web.protect import client_address, form_token, parse_networks, valid_form_token
from watcher.web.server import create_app

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
    with TestClient(create_app(runtime), client=("203.0.113.7", 50000)) as test_client:
        yield test_client


def stored(runtime: Runtime) -> list[Subscriber]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Subscriber)))


def test_one_client_is_limited_with_a_clear_page_in_french_and_english(
    client: TestClient, mailbox: Mailbox
) -> None:
    answers = [
        client.post("/subscribe", data={"email": f"p{n}@example.org", "lang": "en"})
        for n in range(12)
    ]
    assert [a.status_code for a in answers] == [200] * 10 + [429] * 2
    assert "Too many requests" in answers[-1].text and answers[-1].headers["Retry-After"] == "3600"
    french = client.post("/subscribe", data={"email": "x@example.org"})
    assert french.status_code == 429 and "Trop de demandes" in french.text
    assert len(mailbox.received) == 10


def test_x_forwarded_for_is_believed_only_from_trusted_proxies(
    runtime: Runtime, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(runtime)

    def burst(peer: str, n: int) -> list[int]:
        with TestClient(app, client=(peer, 40000)) as tc:
            return [
                tc.post(
                    "/subscribe",
                    data={"email": f"{peer}-{i}@example.org"},
                    headers={"X-Forwarded-For": f"198.51.100.{i}"},
                ).status_code
                for i in range(n)
            ]

    # Not trusted: the header is the client's own words, every request counts against its peer.
    assert burst("192.0.2.10", 11)[-1] == 429
    monkeypatch.setenv("WATCHER_TRUSTED_PROXIES", "10.0.0.0/8")
    assert burst("10.1.2.3", 15) == [200] * 15  # one proxy, fifteen different people


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.7", "198.51.100.1", "", "203.0.113.7"),
        ("10.0.0.2", "198.51.100.1", "10.0.0.0/8", "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.9", "10.0.0.0/8", "198.51.100.1"),
        ("10.0.0.2", "", "10.0.0.0/8", "10.0.0.2"),
        ("2001:db8::1", "", "", "2001:db8::/64"),
        ("testclient", "", "", "unknown"),
    ],
)
def test_client_address(peer: str, forwarded: str, trusted: str, expected: str) -> None:
    scope: dict[str, Any] = {
        "type": "http",
        "client": (peer, 1),
        "headers": [(b"x-forwarded-for", forwarded.encode())] if forwarded else [],
    }
    from starlette.requests import Request  # noqa: PLC0415

    assert client_address(Request(scope), parse_networks(trusted)) == expected


def test_one_address_gets_one_confirmation_a_day_whatever_is_submitted(
    runtime: Runtime, mailbox: Mailbox
) -> None:
    app = create_app(runtime)
    codes = []
    for n, event in enumerate(["new", "awarded", "cancelled", "new", "changed"]):
        with TestClient(app, client=(f"192.0.2.{n + 1}", 1)) as tc:
            # Plus-tags reach the same inbox: they count as the same address.
            email = "Victim@Example.org" if n < 3 else f"victim+{n}@example.org"
            form = {"email": email, "event": event}
            codes.append(tc.post("/subscribe", data=form).status_code)
    assert codes == [200, 200, 200, 429, 429]  # three submissions a day for one address
    assert len(mailbox.to("victim@example.org")) == 1


def test_the_hourly_cap_stops_mails_and_tells_the_maintainers_once(
    client: TestClient, runtime: Runtime, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_SUBSCRIBE_MAILS_PER_HOUR", "3")
    monkeypatch.setenv("WATCHER_MAINTAINERS", "boss@watcher.example")
    for n in range(6):
        assert client.post("/subscribe", data={"email": f"p{n}@example.org"}).status_code == 200
    confirmations = [m for _r, m in mailbox.received if "Confirm" in str(m["Subject"])]
    alerts = mailbox.to("boss@watcher.example")
    assert len(confirmations) == 3 and len(alerts) == 1
    assert "capped" in str(alerts[0]["Subject"])
    # The ones that were not sent can be asked for again (next hour): nothing is marked as sent.
    pending = {s.address: s.confirm_sent_at for s in stored(runtime)}
    assert sum(1 for sent in pending.values() if sent is None) == 3


def test_a_filled_honeypot_gets_the_usual_answer_and_nothing(
    client: TestClient, runtime: Runtime, mailbox: Mailbox
) -> None:
    normal = client.get("/subscribe")
    assert 'name="website"' in normal.text and 'class="hp"' in normal.text
    bot = client.post("/subscribe", data={"email": "victim@example.org", "website": "http://x"})
    human = client.post("/subscribe", data={"email": "carol@example.org"})
    assert bot.status_code == 200 and bot.text == human.text
    assert [s.address for s in stored(runtime)] == ["carol@example.org"]
    assert mailbox.to("victim@example.org") == []


@pytest.mark.parametrize(
    "email",
    ["e\x00x@example.org", "p\x01q@example.org", "\u202egro.elpmaxe@x.org", "a\u200bb@example.org"],
)
def test_invisible_and_control_characters_are_refused_with_the_forms_error(
    client: TestClient, runtime: Runtime, mailbox: Mailbox, email: str
) -> None:
    page = client.post("/subscribe", data={"email": email})
    assert page.status_code == 400 and "ne semble pas valide" in page.text
    assert stored(runtime) == [] and mailbox.received == []


def test_confirmation_links_expire_and_work_once(
    client: TestClient, runtime: Runtime, mailbox: Mailbox
) -> None:
    client.post("/subscribe", data={"email": "carol@example.org"})
    client.post("/subscribe", data={"email": "dave@example.org"})
    links = {
        rcpts[0]: CONFIRM.search(m.get_body(("plain",)).get_content()).group(1)  # type: ignore[union-attr]
        for rcpts, m in mailbox.received
    }
    # Opening the link (a mail filter does) confirms nothing: its page has a button.
    shown = client.get(links["carol@example.org"])
    assert shown.status_code == 200 and "Confirmer mon abonnement" in shown.text
    assert not stored(runtime)[0].confirmed
    assert "Abonnement confirmé" in press(client, shown).text
    # Opened again, or its button pressed again: "already confirmed", never "invalid".
    again = client.get(links["carol@example.org"])
    assert again.status_code == 200 and "Abonnement déjà confirmé" in again.text
    assert "Abonnement déjà confirmé" in press(client, shown).text
    # Carol's unsubscribe token is a new one, that still works.
    [carol] = [s for s in stored(runtime) if s.address == "carol@example.org"]
    assert carol.confirmed and carol.token not in links["carol@example.org"]
    assert client.get(f"/unsubscribe?token={carol.token}").status_code == 200

    with session_scope(runtime.sessions) as session:
        session.execute(
            update(Subscriber)
            .where(Subscriber.address == "dave@example.org")
            .values(confirm_sent_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=49))
        )
    assert client.get(links["dave@example.org"]).status_code == 404  # 48 h by default
    assert client.get("/subscribe/confirm?token=" + "A" * 32).status_code == 404


@pytest.mark.parametrize("path", ["/subscribe", "/subscribe/confirm?token=x", "/unsubscribe"])
def test_subscription_pages_carry_the_sites_security_headers(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    posted = client.post("/subscribe", data={"email": "nope"})
    assert "frame-ancestors 'none'" in posted.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null", "Referer": "https://evil.example/page"}, 403),
        ({"Referer": "https://evil.example/page"}, 403),
        ({"Origin": "https://watcher.example"}, 200),
        ({"Origin": "http://testserver"}, 403),  # the Host named: the client's word (issue 26)
        ({"Referer": "https://watcher.example/subscribe"}, 200),
        ({}, 200),  # a mail provider's one-click unsubscribe sends neither
    ],
)
def test_cross_site_posts_are_refused(
    client: TestClient, runtime: Runtime, headers: dict[str, str], status: int
) -> None:
    with session_scope(runtime.sessions) as session:
        sub, _ = add_confirmed(session, "carol@example.org", Filters(), dt.datetime.now(dt.UTC))
        token = sub.token
    done = client.post("/unsubscribe", data={"token": token}, headers=headers)
    assert done.status_code == status
    assert len(stored(runtime)) == (1 if status == 403 else 0)
    sent = client.post("/subscribe", data={"email": "dave@example.org"}, headers=headers)
    assert sent.status_code == status
    if status == 403:
        assert "Demande refusée" in sent.text


class SlowMailbox(Mailbox):
    """An SMTP server that takes 0.3 s per message, like a real one far away."""

    def start(self) -> None:
        super().start()
        handler: Any = self._controller.handler  # type: ignore[union-attr]
        original = handler.handle_DATA

        async def slow(*args: Any) -> str:
            import asyncio  # noqa: PLC0415

            await asyncio.sleep(0.3)
            return str(await original(*args))

        handler.handle_DATA = slow


def test_answer_time_does_not_tell_who_is_subscribed(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = SlowMailbox()
    box.start()
    monkeypatch.setenv("WATCHER_SMTP_URL", box.url)
    monkeypatch.setenv("WATCHER_SUBSCRIBE_PER_CLIENT", "1000")
    monkeypatch.setenv("WATCHER_SUBSCRIBE_PER_ADDRESS", "1000")
    with session_scope(runtime.sessions) as session:
        add_confirmed(session, "known@example.org", Filters(), dt.datetime.now(dt.UTC))
    config = uvicorn.Config(create_app(runtime), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        known, new = [], []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            for n in range(6):
                for address, times in (("known@example.org", known), (f"n{n}@example.org", new)):
                    started = time.perf_counter()
                    answer = http.post("/subscribe", data={"email": address})
                    times.append(time.perf_counter() - started)
                    assert answer.status_code == 200
        print(
            f"answer time: known {statistics.median(known) * 1000:.1f} ms, new {statistics.median(new) * 1000:.1f} ms"
        )
        # Sending takes 300 ms: had it been done before answering, the new ones would show it.
        assert statistics.median(new) < 0.3
        assert abs(statistics.median(new) - statistics.median(known)) < 0.15
    finally:
        server.should_exit = True
        thread.join(10)
        box.stop()
    assert len(box.received) == 6


def test_limits_are_shared_by_instances_and_survive_restarts(
    runtime: Runtime, make_runtime: Callable[..., Runtime], mailbox: Mailbox
) -> None:
    """Two instances over one database (or one instance, restarted) count together."""
    other = make_runtime(
        runtime.settings.sources.read_text("utf-8"), database_url=runtime.settings.db_url
    )
    codes: list[int] = []
    for app in (create_app(runtime), create_app(other), create_app(runtime)):
        with TestClient(app, client=("203.0.113.50", 1)) as tc:
            for _ in range(4):
                form = {"email": f"x{len(codes)}@example.org"}
                codes.append(tc.post("/subscribe", data=form).status_code)
    assert codes == [200] * 10 + [429] * 2


@pytest.mark.parametrize(
    ("headers", "with_token", "outcome"),
    [
        # What Chromium and Firefox send for this site's own form under `no-referrer`.
        ({"Origin": "null", "Sec-Fetch-Site": "same-origin"}, True, "sent"),
        ({"Origin": "null", "Sec-Fetch-Site": "same-origin"}, False, "sent"),
        # Plain HTTP on a public host: no Sec-Fetch-Site; the signed token decides.
        ({"Origin": "null"}, True, "sent"),
        ({"Origin": "null"}, False, "again"),
        # Another site's page posting the form, whatever token it copied.
        ({"Origin": "null", "Sec-Fetch-Site": "cross-site"}, True, "refused"),
        ({"Origin": "null", "Sec-Fetch-Site": "same-site"}, True, "refused"),
        ({"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"}, True, "refused"),
    ],
)
def test_forms_sent_by_real_browsers_are_told_from_forged_ones(
    client: TestClient,
    runtime: Runtime,
    mailbox: Mailbox,
    headers: dict[str, str],
    with_token: bool,
    outcome: str,
) -> None:
    form = client.get("/subscribe")
    token = re.search(r'name="form_token" value="([^"]+)"', form.text)
    assert token is not None
    data = {"email": "erin@example.org"} | ({"form_token": token.group(1)} if with_token else {})
    sent = client.post("/subscribe", data=data, headers=headers)
    if outcome == "sent":
        assert sent.status_code == 200 and "Vérifiez votre boîte mail" in sent.text
        assert [r for r, _m in mailbox.received] == [["erin@example.org"]]
    elif outcome == "again":  # the form again, filled in, with a fresh token; nothing sent
        assert sent.status_code == 400 and "appuyez encore sur le bouton" in sent.text
        assert 'value="erin@example.org"' in sent.text
        fresh = re.search(r'name="form_token" value="([^"]+)"', sent.text)
        assert fresh is not None and stored(runtime) == []
        again = client.post(
            "/subscribe", data=data | {"form_token": fresh.group(1)}, headers=headers
        )
        assert again.status_code == 200 and len(mailbox.received) == 1
    else:
        assert sent.status_code == 403 and "Demande refusée" in sent.text
        assert stored(runtime) == [] and mailbox.received == []


def test_a_form_token_is_bound_to_the_visitor_and_to_a_day() -> None:
    secret = b"k" * 32
    token = form_token(secret, "192.0.2.1", now=1_000_000)
    assert valid_form_token(secret, "192.0.2.1", token, now=1_000_000 + 3600)
    assert not valid_form_token(secret, "198.51.100.7", token, now=1_000_000)  # another client
    assert not valid_form_token(secret, "192.0.2.1", token, now=1_000_000 + 25 * 3600)
    assert not valid_form_token(b"x" * 32, "192.0.2.1", token, now=1_000_000)
    assert not valid_form_token(secret, "192.0.2.1", "123.abc", now=1_000_000)


def test_counters_hold_no_plain_hash_of_an_address(
    client: TestClient, runtime: Runtime, mailbox: Mailbox
) -> None:
    """Issue 25: a bare SHA-256 of an address can be checked against a list of guesses; the
    per-address counter is keyed by a signature under the site's secret instead."""
    import hashlib  # noqa: PLC0415

    from watcher.db.models import Counter  # noqa: PLC0415

    client.post("/subscribe", data={"email": "grace@example.org"})
    with runtime.sessions() as session:
        keys = " ".join(session.scalars(select(Counter.key)))
    assert "subscribe:address:" in keys
    assert hashlib.sha256(b"grace@example.org").hexdigest()[:40] not in keys
