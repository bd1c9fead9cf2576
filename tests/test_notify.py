"""Alerts end to end against a real SMTP server on loopback: per-site filters, nothing twice, nothing
lost while the mail server is down, one-click unsubscribe, private addresses, crash safety."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Iterator
from email.message import EmailMessage

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from starlette.testclient import TestClient

from tests.helpers import runtime_env
from tests.loopback import LoopbackServer, Reply, Request
from tests.mailbox import Mailbox
from tests.test_pipeline import BoampPortal, sources_yaml
from watcher.cli import main
from watcher.db.models import Delivery, Subscriber
from watcher.notify import deliver_pending
from watcher.notify.mailer import MailServerDown
from watcher.notify.memory import MemoryMailer
from watcher.notify.smtp import SmtpConfig, SmtpMailer
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime

ALICE = "alice@example.org"  # follows the Dunkerque site only
BOB = "bob@example.net"  # follows everything


@pytest.fixture
def runtime(
    portal: tuple[BoampPortal, LoopbackServer],
    make_runtime: Callable[..., Runtime],
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> Runtime:
    """A runtime on the loopback portal; the CLI sees the same settings through the environment."""
    rt = make_runtime(sources_yaml(portal[1].url))
    use_env(rt, mailbox, monkeypatch)
    return rt


def use_env(rt: Runtime, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Export the runtime's settings and the loopback mail server to the CLI."""
    for key, value in runtime_env(
        rt,
        WATCHER_HTTP_RETRIES="0",
        WATCHER_SMTP_URL=mailbox.url,
        WATCHER_MAIL_FROM="Veille rétention <alerts@watcher.example>",
    ).items():
        monkeypatch.setenv(key, value)


_CLI_RUNTIMES: list[Runtime] = []


@pytest.fixture(autouse=True)
def _close_cli_databases(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each command builds its own Runtime, as a process would; close its pool afterwards
    (a process exiting does that; a test must, or PostgreSQL connections leak)."""
    build = Runtime.from_env.__func__  # type: ignore[attr-defined]

    def tracked(cls: type[Runtime]) -> Runtime:
        made: Runtime = build(cls)
        _CLI_RUNTIMES.append(made)
        return made

    monkeypatch.setattr(Runtime, "from_env", classmethod(tracked))
    yield
    _dispose()


def _dispose() -> None:
    while _CLI_RUNTIMES:
        made = _CLI_RUNTIMES.pop()
        if "engine" in made.__dict__:
            made.engine.dispose()


def cli(*args: str) -> Result:
    try:
        result = CliRunner().invoke(main, list(args))
    finally:
        _dispose()
    assert "Traceback" not in result.output, result.output
    return result


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def assert_alert_headers(message: EmailMessage) -> str:
    """Every alert: multipart text + HTML, one-click unsubscribe; returns the unsubscribe URL."""
    text_and_html(message)
    match = re.fullmatch(
        r"<(https://watcher\.example/unsubscribe\?token=[\w-]+)>",
        str(message["List-Unsubscribe"]).strip(),
    )
    assert match, message["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["From"] == "Veille rétention <alerts@watcher.example>"
    return match.group(1)


def test_alerts_per_site_once_and_none_lost_while_the_mail_server_is_down(
    runtime: Runtime, portal: tuple[BoampPortal, LoopbackServer], mailbox: Mailbox
) -> None:
    handler, _ = portal
    assert cli("subscribers", "add", ALICE, "--site", "dunkerque").exit_code == 0
    added = cli("subscribers", "add", BOB, "--lang", "en")
    assert added.exit_code == 0 and "b***@example.net" in added.output
    assert BOB not in added.output

    first = cli("run", "--once")
    assert first.exit_code == 0, first.output
    assert "alerts: 3 sent (3 messages)" in first.output
    alice, bob = mailbox.to(ALICE), mailbox.to(BOB)
    assert [m["Subject"] for m in alice] == [
        "CRA de Dunkerque — Nouveau marché : Construction du centre de rétention administrative "
        "de Dunkerque (Loon-Plage)"
    ]
    assert sorted(str(m["Subject"]).split(" — ")[0] for m in bob) == [
        "CRA de Dunkerque",
        "CRA de Lille-Lesquin",
    ]
    assert all(str(m["Subject"]).split(" — ")[1].startswith("New tender: ") for m in bob)
    for message in alice + bob:
        assert_alert_headers(message)

    # Nothing new on the portal: nothing sent.
    again = cli("run", "--once")
    assert again.exit_code == 0 and "alerts:" not in again.output
    assert len(mailbox.received) == 3

    # The mail server goes down; the Dunkerque deadline moves; the poll still succeeds.
    mailbox.stop()
    handler.load("poll_page_moved_deadline.json")
    down = cli("run", "--once")
    assert down.exit_code == 0, down.output
    assert "2 alerts wait and will be retried" in down.output
    assert "mail server unavailable" in down.output

    # It comes back: `watcher notify` delivers exactly one alert per subscriber about it.
    mailbox.start()
    notified = cli("notify")
    assert notified.exit_code == 0
    assert "alerts: 2 sent (2 messages)" in notified.output
    assert len(mailbox.received) == 5
    [moved_fr] = mailbox.to(ALICE)[1:]
    [moved_en] = mailbox.to(BOB)[2:]
    assert str(moved_fr["Subject"]).startswith("CRA de Dunkerque — Date limite modifiée : ")
    assert str(moved_en["Subject"]).startswith("CRA de Dunkerque — Deadline moved: ")
    text, html = text_and_html(moved_fr)
    assert "04/01/2027 → 18/01/2027" in text and "04/01/2027 → 18/01/2027" in html
    assert "L'avis sur le portail : https://www.boamp.fr/pages/avis/?q=idweb:26-118204" in text
    assert re.search(r"Notre page sur cet avis : https://watcher\.example/notices/\d+", text)
    assert 'href="https://www.boamp.fr/pages/avis/?q=idweb:26-118204"' in html
    assert "<script" not in html
    assert "Se désabonner" in text and "Unsubscribe" in text_and_html(moved_en)[0]

    # Nothing left: a second notify sends nothing.
    assert "alerts: 0 sent (0 messages)" in cli("notify").output
    assert len(mailbox.received) == 5

    # Alice's one-click unsubscribe link works; she is erased and gets nothing more.
    url = assert_alert_headers(moved_fr)
    from watcher.web.server import create_app  # noqa: PLC0415

    with TestClient(create_app(runtime)) as client:
        page = client.get(url)
        assert page.status_code == 200 and "<form" in page.text and "Me désabonner" in page.text
        done = client.post(url, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
    with runtime.sessions() as session:
        addresses = session.scalars(select(Subscriber.address)).all()
    assert addresses == [BOB]


def test_retries_back_off_and_a_manual_notify_ignores_the_backoff(runtime: Runtime) -> None:
    cli("subscribers", "add", BOB)
    run_sources(runtime.config.build(), runtime.context())
    mailer = MemoryMailer()
    mailer.failure = MailServerDown("smtp://127.0.0.1:1 unavailable: refused")
    t0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)

    first = deliver_pending(runtime, t0, mailer=mailer)
    assert (first.sent, first.retrying, first.waiting) == (0, 1, 2)  # the round stops at once
    assert deliver_pending(runtime, t0 + dt.timedelta(seconds=30), mailer=mailer).retrying == 1
    with runtime.sessions() as session:
        rows = sorted(session.scalars(select(Delivery)), key=lambda d: d.id)
    assert [r.attempts for r in rows] == [1, 1]
    assert rows[0].next_attempt_at == t0 + dt.timedelta(minutes=1)
    assert rows[1].next_attempt_at == t0 + dt.timedelta(seconds=30, minutes=1)

    # Within the backoff nothing is tried; `force` (watcher notify) tries now.
    assert deliver_pending(runtime, t0 + dt.timedelta(seconds=40), mailer=mailer).retrying == 0
    mailer.failure = None
    report = deliver_pending(runtime, t0 + dt.timedelta(seconds=41), mailer=mailer, force=True)
    assert (report.sent, report.waiting) == (2, 0)
    assert len(mailer.outbox) == 2


class _CrashAfterSending:
    """Hands the message to the real server, then the process "dies" before recording it."""

    def __init__(self, inner: SmtpMailer) -> None:
        self.inner = inner

    def send(self, message: EmailMessage) -> None:
        self.inner.send(message)
        raise KeyboardInterrupt

    def close(self) -> None:
        self.inner.close()


def test_a_crash_between_sending_and_sent_never_sends_twice(
    runtime: Runtime, mailbox: Mailbox
) -> None:
    cli("subscribers", "add", ALICE, "--site", "dunkerque")
    run_sources(runtime.config.build(), runtime.context())
    t0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    crashing = _CrashAfterSending(SmtpMailer(SmtpConfig.from_url(mailbox.url)))
    with pytest.raises(KeyboardInterrupt):
        deliver_pending(runtime, t0, mailer=crashing)
    crashing.close()
    assert len(mailbox.received) == 1

    # Restarted soon after, and much later: the alert in doubt is never sent again.
    soon = deliver_pending(runtime, t0 + dt.timedelta(minutes=1), force=True)
    later = deliver_pending(runtime, t0 + dt.timedelta(hours=2), force=True)
    # In flight, not "will be retried" (issue 18): it is never sent again.
    assert (soon.sent, soon.interrupted, soon.waiting, soon.in_flight) == (0, 0, 0, 1)
    assert "will be retried" not in soon.summary()
    assert (later.sent, later.interrupted, later.waiting, later.in_flight) == (0, 1, 0, 0)
    assert "1 interrupted by a crash and not re-sent" in later.summary()
    assert len(mailbox.received) == 1
    with runtime.sessions() as session:
        [row] = session.scalars(select(Delivery)).all()
    assert row.status == "failed" and "not re-sent" in (row.last_error or "")


def test_addresses_never_in_logs_errors_or_listings(
    runtime: Runtime, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cli("subscribers", "add", ALICE, "--site", "dunkerque")
    cli("subscribers", "add", BOB, "--digest", "daily", "--event", "new")
    mailbox.stop()
    down = cli("run", "--once")
    mailbox.start()
    sent = cli("notify")
    listing = cli("subscribers", "list")
    shown = cli("subscribers", "list", "--show-addresses")
    removed = cli("subscribers", "remove", ALICE)

    assert "a***@example.org" in listing.output and "b***@example.net" in listing.output
    assert "sites=dunkerque" in listing.output and "daily digest" in listing.output
    assert ALICE in shown.output and BOB in shown.output
    assert removed.exit_code == 0 and "removed: #1 a***@example.org" in removed.output
    for output in (down.output, sent.output, listing.output, removed.output):
        assert ALICE not in output and BOB not in output
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("watcher")]
    assert any("subscriber #1" in line for line in ours)
    assert not [line for line in ours if ALICE in line or BOB in line]
    with runtime.sessions() as session:
        errors = session.scalars(select(Delivery.last_error)).all()
    assert not [e for e in errors if e and ("alice" in e or "bob" in e)]
    assert cli("subscribers", "remove", ALICE).exit_code == 1  # gone


def test_daily_digest_groups_a_days_alerts_in_one_message(runtime: Runtime) -> None:
    cli("subscribers", "add", BOB, "--digest", "daily")
    run_sources(runtime.config.build(), runtime.context())
    mailer = MemoryMailer()
    now = dt.datetime.now(dt.UTC)
    assert deliver_pending(runtime, now, mailer=mailer).sent == 0  # not before the next 07:00
    report = deliver_pending(runtime, now + dt.timedelta(days=1, minutes=1), mailer=mailer)
    assert (report.sent, report.messages) == (2, 1)
    [digest] = mailer.outbox
    assert str(digest["Subject"]).startswith("Résumé du jour : 2 alertes (CRA de ")
    text, html = text_and_html(digest)
    assert text.count("Nouveau marché : ") == 2 and html.count("<h2") == 2
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    again = deliver_pending(runtime, now + dt.timedelta(days=1, minutes=2), mailer=mailer)
    assert again.sent == 0 and len(mailer.outbox) == 1


def test_apprise_channel_gets_the_same_alerts_with_the_same_filters(runtime: Runtime) -> None:
    posts: list[dict[str, str]] = []

    def hook(request: Request) -> Reply:
        posts.append(json.loads(request.body))
        return Reply(200, b"{}")

    with LoopbackServer(hook) as chat:
        url = f"json://{chat.url.removeprefix('http://')}/hook"
        added = cli("subscribers", "add", url, "--site", "lille-lesquin")
        assert added.exit_code == 0 and "json://***" in added.output
        assert chat.url.removeprefix("http://") not in added.output
        run_sources(runtime.config.build(), runtime.context())
        report = deliver_pending(runtime, mailer=MemoryMailer())
    assert report.sent == 1
    [post] = posts
    assert post["title"].startswith("CRA de Lille-Lesquin — Nouveau marché : ")
    assert "https://www.boamp.fr/pages/avis/?q=idweb:26-117950" in post["message"]


def test_a_dead_channel_waits_and_is_retried(runtime: Runtime) -> None:
    cli("subscribers", "add", "json://127.0.0.1:9/hook")
    run_sources(runtime.config.build(), runtime.context())
    report = deliver_pending(runtime, mailer=MemoryMailer())
    assert (report.sent, report.retrying, report.waiting) == (0, 2, 2)
    assert "subscriber #1: the channel did not accept the message" in report.summary()


def test_maintainers_are_told_once_per_streak_and_subscribers_never(
    portal: tuple[BoampPortal, LoopbackServer],
    make_runtime: Callable[..., Runtime],
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler, server = portal
    dead = f"http://127.0.0.1:{_dead_port()}"
    broken = "  - name: broken\n    kind: boamp\n    base_url: {url}\n"
    rt = make_runtime(sources_yaml(server.url, broken.format(url=dead)))
    use_env(rt, mailbox, monkeypatch)
    posts: list[dict[str, str]] = []

    def hook(request: Request) -> Reply:
        posts.append(json.loads(request.body))
        return Reply(200, b"{}")

    with LoopbackServer(hook) as chat:
        ops_chat = f"json://{chat.url.removeprefix('http://')}/ops"
        monkeypatch.setenv("WATCHER_MAINTAINERS", f"ops@example.org, {ops_chat}")
        cli("subscribers", "add", BOB)
        for _ in range(4):  # failing 1, 2, 3 (told), 4 (same streak: not told again)
            assert cli("run", "--once").exit_code == 1
        [failing] = mailbox.to("ops@example.org")
        assert failing["Subject"] == "[detention-watcher] source broken is failing"
        assert "3 failed polls in a row" in failing.get_content()
        assert [p["title"] for p in posts] == [failing["Subject"]]

        handler.records = []  # the portal suddenly answers with nothing
        cli("run", "--once")
        cli("run", "--once")
        flagged = mailbox.to("ops@example.org")[1:]
        assert [m["Subject"] for m in flagged] == ["[detention-watcher] source boamp looks broken"]
        assert "returned nothing" in flagged[0].get_content()

        # `broken` recovers (the streak ends), then fails three times again: told again.
        rt.settings.sources.write_text(sources_yaml(server.url, broken.format(url=server.url)))
        # (it rests after its failures, so the maintainers' retry is forced)
        assert cli("run", "--once", "--force").exit_code == 0
        rt.settings.sources.write_text(sources_yaml(server.url, broken.format(url=dead)))
        for _ in range(3):
            cli("run", "--once", "--force")
    assert [m["Subject"] for m in mailbox.to("ops@example.org")][2:] == [
        "[detention-watcher] source broken is failing"
    ]
    assert len(posts) == 3
    bob = mailbox.to(BOB)
    assert len(bob) == 2 and all("Nouveau marché" in str(m["Subject"]) for m in bob)


def _dead_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not-an-address"], "error: not an e-mail address nor an Apprise URL"),
        ([ALICE, "--site", "atlantis"], "error: unknown site 'atlantis'"),
        ([ALICE, "--source", "nope"], "error: unknown source 'nope'; sources: boamp"),
        ([ALICE, "--event", "party"], "Invalid value for '--event'"),
    ],
)
def test_subscribers_add_refuses_what_would_silence_alerts(
    runtime: Runtime, args: list[str], message: str
) -> None:
    result = cli("subscribers", "add", *args)
    assert result.exit_code != 0 and message in result.output
    with runtime.sessions() as session:
        assert session.scalars(select(Subscriber)).all() == []
