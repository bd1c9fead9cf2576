"""Pure parts of alerts: backoff, digest timing, SMTP URL forms, masking, the report line, and
the e-mail text (golden files in tests/fixtures/notify/)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from watcher.db.models import Event, Notice, SourceState, Subscriber
from watcher.errors import ConfigError
from watcher.notify import DeliveryReport
from watcher.notify.ledger import backoff, digest_due
from watcher.notify.render import alert_item, render_alert
from watcher.notify.smtp import SmtpConfig
from watcher.notify.subscribers import mask, scrub


@pytest.mark.parametrize(
    ("attempts", "minutes"), [(1, 1), (2, 2), (3, 4), (6, 32), (9, 256), (10, 360), (500, 360)]
)
def test_backoff_doubles_and_is_capped(attempts: int, minutes: int) -> None:
    assert backoff(attempts) == dt.timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("last", "now", "due"),
    [
        ("2026-12-01T05:00", "2026-12-01T06:30", True),  # 07:00 Paris = 06:00 UTC in winter
        ("2026-12-01T06:10", "2026-12-01T20:00", False),
        ("2026-12-01T06:10", "2026-12-02T05:59", False),
        ("2026-12-01T06:10", "2026-12-02T06:01", True),
        ("2026-06-30T05:10", "2026-07-01T04:59", False),  # 07:00 Paris = 05:00 UTC in summer
        ("2026-06-30T05:10", "2026-07-01T05:01", True),
    ],
)
def test_digest_due_after_seven_paris_time(last: str, now: str, due: bool) -> None:
    def utc(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)

    assert digest_due(utc(last), utc(now)) is due


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example:2525", ("mail.example", 2525, "plain", None, None)),
        ("smtp://u%40x:p%3Aw@mail.example", ("mail.example", 25, "plain", "u@x", "p:w")),
        ("smtp://u:pw@mail.example?starttls=true", ("mail.example", 587, "starttls", "u", "pw")),
        ("smtp+starttls://u:pw@mail.example", ("mail.example", 587, "starttls", "u", "pw")),
        ("smtps://u:pw@mail.example", ("mail.example", 465, "tls", "u", "pw")),
    ],
)
def test_smtp_url_forms(url: str, expected: tuple[object, ...]) -> None:
    cfg = SmtpConfig.from_url(url)
    assert (cfg.host, cfg.port, cfg.security, cfg.username, cfg.password) == expected
    assert "pw" not in cfg.describe()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.example", "scheme 'http' is not one of"),
        ("smtp://u:changeme@mail.example", "the password is a placeholder"),
        ("smtp://:25", "no host"),
    ],
)
def test_bad_smtp_urls_are_refused_clearly(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        SmtpConfig.from_url(url)
    assert "changeme" not in str(info.value)


@pytest.mark.parametrize(
    ("address", "masked"),
    [("alice@example.org", "a***@example.org"), ("tgram://123:abc/456", "tgram://***")],
)
def test_mask(address: str, masked: str) -> None:
    assert mask(address) == masked


def test_scrub_masks_addresses_inside_server_messages() -> None:
    text = "550 5.1.1 <bob.smith@example.net>: no such user (tgram://1:a/2)"
    assert scrub(text, "tgram://1:a/2") == (
        "550 5.1.1 <b***@example.net>: no such user (tgram://***)"
    )


def test_report_summary_says_how_many_wait() -> None:
    report = DeliveryReport(sent=1, messages=1, waiting=4, problems=["mail server unavailable"])
    assert report.summary() == (
        "alerts: 1 sent (1 messages); 4 alerts wait and will be retried: mail server unavailable"
    )


def test_digest_alerts_wait_for_the_digest_not_for_a_retry() -> None:
    """Issue 25: an alert for a daily-digest subscriber is not failing; it waits for 07:00."""
    assert DeliveryReport(queued=2, digest_waiting=2).summary() == (
        "alerts: 0 sent (0 messages); 2 alerts wait for the 07:00 digest (Paris time)"
    )


GOLDEN = Path(__file__).parent / "fixtures" / "notify"


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_alert_text_matches_the_golden_file(lang: str) -> None:
    """The e-mail a reader gets for a moved deadline, word for word (`alert_<lang>.txt`)."""

    snapshot = {
        "title": "Construction du centre de rétention administrative de Dunkerque (Loon-Plage)",
        "buyer": "SGAMI Nord",
        "deadline": "2027-01-18T12:00:00+00:00",
        "notice_type": "notice",
        "url": "https://www.boamp.fr/pages/avis/?q=idweb:26-118204",
    }
    when = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    event = Event(
        key="boamp/26-118204/v2/deadline_moved",
        type="deadline_moved",
        created_at=when,
        changes=[
            {"field": "deadline", "label": "Date limite", "old": "04/01/2027", "new": "18/01/2027"}
        ],
        site="dunkerque",
        notice=Notice(id=42, snapshot=snapshot, source=SourceState(name="boamp")),
    )
    sub = Subscriber(
        address="alice@example.org",
        lang=lang,
        token="TOKEN",
        sites=["dunkerque"],
        sources=[],
        events=[],
    )
    base = "https://watcher.example"
    message = render_alert(
        [alert_item(event, lang, base)],
        sub,
        base_url=base,
        sender="alerts@watcher.example",
        now=when,
    )
    body = message.get_body(("plain",))
    assert body is not None and message.get_content_type() == "multipart/alternative"
    text = body.get_content()
    assert f"Subject: {message['Subject']}\n\n{text}" == (GOLDEN / f"alert_{lang}.txt").read_text(
        "utf-8"
    )
