"""One delivery round, maintainers' alerts and the alerts after a poll (`watcher.notify`'s
public names live here, loaded on first use)."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from watcher.db.models import Event, MaintainerAlert, Notice, SourceState, Subscriber
from watcher.db.search import fill_deferred
from watcher.db.session import session_scope
from watcher.errors import DeliveryError
from watcher.notify import ledger
from watcher.notify.apprise_channel import AppriseChannel
from watcher.notify.mailer import Mailer, MailServerDown, RecipientRejected
from watcher.notify.settings import NotifySettings, load_notify_settings
from watcher.notify.smtp import SmtpConfig, SmtpMailer
from watcher.notify.subscribers import mask, scrub

if TYPE_CHECKING:
    from watcher.pipeline.runtime import Runtime
    from watcher.records import RunResult

log = logging.getLogger("watcher.notify")
# One delivery round at a time per process (the scheduler polls sources in parallel threads);
# other processes are kept out by the ledger's claim.
_ROUND = threading.Lock()
# Alerts an overflow message lists (it says how many there are in all and links the list).
OVERFLOW_SHOWN = 20


class Channel(Protocol):
    """Sends a chat message to an Apprise URL (`AppriseChannel`, or a fake in tests)."""

    def send(self, url: str, title: str, body: str) -> None:
        """Deliver, or raise `DeliveryError`."""


@dataclass
class DeliveryReport:
    """What one delivery round did; `summary()` is the line the CLI prints."""

    queued: int = 0
    messages: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    interrupted: int = 0
    unconfigured: int = 0
    waiting: int = 0
    digest_waiting: int = 0  # alerts of daily-digest subscribers, waiting for the next digest
    in_flight: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def worth_saying(self) -> bool:
        """Whether anything happened or waits."""
        return bool(
            self.sent
            or self.failed
            or self.interrupted
            or self.waiting
            or self.digest_waiting
            or self.in_flight
            or self.problems
        )

    def summary(self) -> str:
        """`alerts: 2 sent (2 messages); 3 alerts wait and will be retried: mail server …`."""
        parts = [f"alerts: {self.sent} sent ({self.messages} messages)"]
        if self.failed:
            parts.append(f"{self.failed} failed for good")
        if self.interrupted:
            parts.append(
                f"{self.interrupted} interrupted by a crash and not re-sent (at most once; "
                "`watcher notify --interrupted` lists them)"
            )
        line = ", ".join(parts)
        if self.digest_waiting:
            line += (
                f"; {self.digest_waiting} alerts wait for the "
                f"{ledger.DIGEST_HOUR:02d}:00 digest (Paris time)"
            )
        if self.waiting:
            line += f"; {self.waiting} alerts wait and will be retried"
        if self.in_flight:
            # Not "will be retried": a row in `sending` is never sent again (issue 18).
            line += (
                f"; {self.in_flight} alerts are being sent by another run, or were when it was "
                f"stopped: those are not re-sent (at most once) and are marked interrupted after "
                f"{int(ledger.STALE_AFTER.total_seconds() // 60)} min"
            )
        if self.problems:
            line += ": " + "; ".join(self.problems)
        return line

    def problem(self, text: str) -> None:
        """Note a problem once."""
        if text not in self.problems:
            self.problems.append(text)


def utcnow() -> dt.datetime:
    """The current time, aware UTC."""
    return dt.datetime.now(dt.UTC)


def make_mailer(cfg: NotifySettings) -> Mailer | None:
    """The SMTP mailer of `WATCHER_SMTP_URL`, or None when e-mail is not configured."""
    if cfg.smtp_url is None:
        return None
    return SmtpMailer(SmtpConfig.from_url(cfg.smtp_url.get_secret_value(), cfg.smtp_timeout))


def deliver_pending(
    runtime: Runtime,
    now: dt.datetime | None = None,
    *,
    force: bool = False,
    mailer: Mailer | None = None,
    channel: Channel | None = None,
) -> DeliveryReport:
    """One delivery round: queue new alerts, send what is due, record each outcome.

    Never raises for a delivery failure: a server that is down leaves the alerts pending (see
    `ledger` for retries and the at-most-once rule). `force` ignores the retry backoff.
    """
    now = now or utcnow()
    cfg = load_notify_settings()
    with _ROUND:
        report = DeliveryReport()
        with session_scope(runtime.sessions) as session:
            fill_deferred(session)  # a poll's words, indexed before searches are matched
        with session_scope(runtime.sessions) as session:
            report.interrupted = ledger.recover_interrupted(session, now)
            report.queued = ledger.enqueue(session, now)
        with runtime.sessions() as session:
            per_round = runtime.settings.alerts_per_round or None
            batches = ledger.due(session, now, force=force, per_round=per_round)
        own = mailer is None
        mailer = make_mailer(cfg) if own else mailer
        round_ = _Round(runtime, cfg, now, report, mailer, channel or AppriseChannel())
        try:
            for batch in batches:
                round_.send(batch)
        finally:
            if own and mailer is not None:
                mailer.close()
        if report.unconfigured:
            report.problem("e-mail is not configured (set WATCHER_SMTP_URL)")
        with runtime.sessions() as session:
            report.waiting = ledger.waiting(session)
            report.digest_waiting = ledger.waiting(session, digest=True)
            report.in_flight = ledger.in_flight(session)
    if report.interrupted:
        log.warning("%d alerts were interrupted by a crash and are not re-sent", report.interrupted)
    return report


@dataclass
class _Round:
    runtime: Runtime
    cfg: NotifySettings
    now: dt.datetime
    report: DeliveryReport
    mailer: Mailer | None
    channel: Channel
    mail_down: bool = False

    def send(self, batch: ledger.Batch) -> None:
        with self.runtime.sessions() as session:
            sub = session.get_one(Subscriber, batch.subscriber_id)
            if sub.channel == "email" and self.mailer is None:
                self.report.unconfigured += len(batch.delivery_ids)
                return  # stays pending, untouched, until e-mail is configured
            if sub.channel == "email" and self.mail_down:
                return  # stays pending, untouched: the server is down for this round
            try:
                deliver = self._prepare(sub, batch)
            except Exception as exc:  # noqa: BLE001 - a rendering bug fails this alert only
                error = f"could not render: {type(exc).__name__}: {scrub(str(exc), sub.address)}"
                log.error("alert to subscriber #%d: %s", sub.id, error)
                ledger.mark_failed(self.runtime.sessions, batch.delivery_ids, error)
                self.report.failed += len(batch.delivery_ids)
                return
            sub_id, address = sub.id, sub.address
        if not ledger.claim(self.runtime.sessions, batch, self.now):
            return  # another notifier is sending it
        count = len(batch.delivery_ids)
        try:
            deliver()
        except RecipientRejected as exc:
            error = scrub(str(exc), address)
            ledger.mark_failed(self.runtime.sessions, batch.delivery_ids, error)
            self.report.failed += count
            log.warning("alert to subscriber #%d refused for good: %s", sub_id, error)
        except DeliveryError as exc:
            error = scrub(str(exc), address)
            ledger.mark_retry(self.runtime.sessions, batch, self.now, error)
            self.report.retrying += count
            if isinstance(exc, MailServerDown):
                self.mail_down = True
                self.report.problem(f"mail server unavailable ({error})")
            else:
                self.report.problem(f"subscriber #{sub_id}: {error}")
            log.warning("alert to subscriber #%d not delivered, will retry: %s", sub_id, error)
        except Exception as exc:  # noqa: BLE001 - outcome unknown: at most once, never re-sent
            error = f"unexpected {type(exc).__name__}: {scrub(str(exc), address)}; not re-sent"
            ledger.mark_failed(self.runtime.sessions, batch.delivery_ids, error)
            self.report.failed += count
            log.error("alert to subscriber #%d: %s", sub_id, error)
        else:
            ledger.mark_sent(self.runtime.sessions, batch, self.now)
            self.report.messages += 1
            self.report.sent += count
            log.info("sent %d alert(s) to subscriber #%d", count, sub_id)

    def _prepare(self, sub: Subscriber, batch: ledger.Batch) -> Callable[[], None]:
        # The templates (jinja2) only for a round that has something to send (issue 29).
        from watcher.notify.render import alert_item, render_alert, render_channel  # noqa: PLC0415

        # An overflow message names the first alerts and says how many there are in all.
        shown = batch.event_ids[:OVERFLOW_SHOWN] if batch.overflow else batch.event_ids
        events, procedures = self._events(shown)
        base_url = self.runtime.settings.base_url
        items = [
            alert_item(e, sub.lang, base_url, procedures.get(e.notice.parent_id or e.notice_id))
            for e in events
        ]
        if sub.channel == "email":
            assert self.mailer is not None
            message = render_alert(
                items,
                sub,
                base_url=base_url,
                sender=self.cfg.sender(base_url),
                now=self.now,
                digest=batch.digest,
                more=len(batch.event_ids) if batch.overflow else 0,
            )
            return functools.partial(self.mailer.send, message)
        title, body = render_channel(items, sub.lang)
        return functools.partial(self.channel.send, sub.address, title, body)

    def _events(self, ids: Sequence[int]) -> tuple[list[Event], dict[int, Any]]:
        """The events `ids` with their notices, and the compiled records of their procedures
        (by first notice id)."""
        with self.runtime.sessions() as session:
            query = (
                select(Event)
                .where(Event.id.in_(ids))
                .options(joinedload(Event.notice).joinedload(Notice.source))
                .order_by(Event.id)
            )
            events = list(session.scalars(query).unique())
            roots = {e.notice.parent_id or e.notice_id for e in events}
            compiled = select(Notice.id, Notice.compiled).where(Notice.id.in_(roots))
            return events, dict(session.execute(compiled).tuples().all())


def alert_maintainers(
    runtime: Runtime,
    results: Sequence[RunResult],
    now: dt.datetime | None = None,
    *,
    mailer: Mailer | None = None,
    channel: Channel | None = None,
) -> int:
    """Tell the maintainers (`WATCHER_MAINTAINERS`) about sources in trouble; how many alerts sent.

    A source is in trouble when it failed `WATCHER_MAINTAINER_FAILURES` polls in a row (default 3)
    or was flagged as returning nothing or far less than usual. Each streak is told once; it ends
    when the source recovers. Subscribers are never told.
    """
    now = now or utcnow()
    cfg = load_notify_settings()
    names = [r.source for r in results]
    with session_scope(runtime.sessions) as session:
        # The open streaks of these sources in one query, not two per source (issue 16).
        opened: dict[tuple[str, str], MaintainerAlert] = {}
        for alert in session.scalars(
            select(MaintainerAlert)
            .where(MaintainerAlert.source.in_(names), MaintainerAlert.closed_at.is_(None))
            .order_by(MaintainerAlert.id)
        ):
            opened.setdefault((alert.source, alert.kind), alert)
        for state in session.scalars(select(SourceState).where(SourceState.name.in_(names))):
            failing = state.consecutive_failures >= cfg.maintainer_failures
            reason = f"{state.consecutive_failures} failed polls in a row; last error: "
            told = bool(cfg.maintainer_targets())
            reason += str(state.last_error)
            _streak(session, opened, state.name, "failing", failing, reason, now, told=told)
            flagged = state.flagged or ""
            _streak(
                session, opened, state.name, "flagged", bool(state.flagged), flagged, now, told=told
            )
        todo = session.scalars(
            select(MaintainerAlert).where(
                MaintainerAlert.closed_at.is_(None), MaintainerAlert.sent_at.is_(None)
            )
        ).all()
    targets = cfg.maintainer_targets()
    if not todo or not targets:
        return 0
    own = mailer is None and any("://" not in t for t in targets)
    mailer = make_mailer(cfg) if own else mailer
    channel = channel or AppriseChannel()
    sent = 0
    try:
        for alert in todo:
            errors = _tell(alert, targets, cfg, runtime, now, mailer, channel)
            with session_scope(runtime.sessions) as session:
                row = session.get_one(MaintainerAlert, alert.id)
                if len(errors) < len(targets):
                    row.sent_at = now
                    sent += 1
                row.last_error = "; ".join(errors)[:1000] or None
    finally:
        if own and mailer is not None:
            mailer.close()
    return sent


def _streak(
    session: Session,
    opened: dict[tuple[str, str], MaintainerAlert],
    source: str,
    kind: str,
    active: bool,
    reason: str,
    now: dt.datetime,
    *,
    told: bool = True,
) -> None:
    current = opened.get((source, kind))
    if active and current is None:
        opened[(source, kind)] = MaintainerAlert(
            source=source, kind=kind, reason=reason, opened_at=now
        )
        session.add(opened[(source, kind)])
        if told:
            log.warning("source %s: %s; the maintainers are told", source, reason)
        else:
            log.warning(
                "source %s: %s (no maintainer is told: set WATCHER_MAINTAINERS to an e-mail "
                "address to be told next time)",
                source,
                reason,
            )
    elif not active and current is not None:
        current.closed_at = now


def _tell(
    alert: MaintainerAlert,
    targets: Sequence[str],
    cfg: NotifySettings,
    runtime: Runtime,
    now: dt.datetime,
    mailer: Mailer | None,
    channel: Channel,
) -> list[str]:
    """Send one maintainers' alert to every target; the (masked) errors."""
    from watcher.notify.render import render_maintainer, render_maintainer_email  # noqa: PLC0415

    errors: list[str] = []
    base_url = runtime.settings.base_url
    for target in targets:
        try:
            if "://" in target:
                subject, body = render_maintainer(alert.source, alert.kind, alert.reason)
                channel.send(target, subject, body)
            elif mailer is None:
                raise DeliveryError("e-mail is not configured (set WATCHER_SMTP_URL)")
            else:
                mailer.send(
                    render_maintainer_email(
                        alert.source,
                        alert.kind,
                        alert.reason,
                        to=target,
                        sender=cfg.sender(base_url),
                        base_url=base_url,
                        now=now,
                    )
                )
        except DeliveryError as exc:
            errors.append(f"{mask(target)}: {scrub(str(exc), target)}")
    for error in errors:
        log.warning("maintainers' alert about %s not delivered to %s", alert.source, error)
    return errors


def after_poll(runtime: Runtime, results: Sequence[RunResult]) -> str | None:
    """Maintainers' alerts, then a delivery round; never raises. A line to print, if any."""
    try:
        alert_maintainers(runtime, results)
    except Exception as exc:  # noqa: BLE001 - alerts never make a poll fail
        log.error("maintainers' alerts failed: %s", scrub(str(exc)))
    try:
        report = deliver_pending(runtime)
    except Exception as exc:  # noqa: BLE001 - alerts never make a poll fail; they wait
        log.error("alert delivery failed: %s", scrub(str(exc)))
        return f"alerts: not delivered this time ({scrub(str(exc))}); they wait in the ledger"
    if report.worth_saying:
        log.info(report.summary())
        return report.summary()
    return None
