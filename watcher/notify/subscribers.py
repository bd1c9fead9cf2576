"""Subscribers: adding, confirming, removing, and keeping their addresses out of sight.

The list of people who follow detention contracts is sensitive. An address is stored once, in the
`subscribers` table, and shown everywhere else masked (`a***@example.org`, `tgram://***`) or by id:
in logs, command output, pages, error messages and the delivery ledger.

A subscriber is an e-mail address, or an Apprise URL (`tgram://…`, `matrix://…`, `ntfy://…`,
`signal://…`) for a group's channel; both carry the same filters: sites, sources, event types, companies.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watcher.core.query import MAX_CHARS
from watcher.db.models import Event, Subscriber
from watcher.errors import ConfigError

EVENT_TYPES = (
    "new",
    "planned",
    "tender_published",
    "changed",
    "deadline_moved",
    "corrigendum",
    "awarded",
    "contract_modified",
    "cancelled",
    "documents_changed",
    "deadline_soon",
    "question_raised",
    "remedy_closing",
)
LANGS = ("fr", "en")
_EMAIL = re.compile(r"^[^@\s<>,;:\"()\[\]]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_EMAIL_ANYWHERE = re.compile(r"[\w.+'%-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$", re.IGNORECASE)
# A confirmation e-mail is sent again for the same address at most this often, whatever is
# submitted (form abuse: nobody can be mail-bombed through the form).
RESEND_CONFIRMATION_AFTER = dt.timedelta(hours=24)
# A confirmation link works this long after it was sent (and once); WATCHER_SUBSCRIBE_TOKEN_HOURS.
CONFIRM_TOKEN_TTL = dt.timedelta(hours=48)
# Tokens are looked up by their first characters, then compared in constant time.
_SELECTOR = 8


def parse_address(text: str) -> tuple[str, str]:
    """(address, channel) for an e-mail address or an Apprise URL; `ConfigError` otherwise.

    E-mail addresses are lower-cased so that one person is one subscriber. The error message never
    repeats the input.
    """
    value = text.strip()
    if any(unicodedata.category(ch)[0] in "CZ" for ch in value):
        # NUL, control, bidi and zero-width characters, line and paragraph separators: they would
        # reach RCPT TO and To: as they are (issue 18).
        raise ConfigError("the address holds invisible or control characters")
    if value.lower().startswith("mailto:"):
        value = value[len("mailto:") :]
    if _EMAIL.match(value):
        return value.lower(), "email"
    if _URL.match(value):
        from watcher.notify.apprise_channel import usable  # noqa: PLC0415 - Apprise is heavy

        if not usable(value):
            raise ConfigError(
                "Apprise cannot use this URL (unknown scheme, or a part missing); each service "
                "has its own form, e.g. tgram://BOT_TOKEN/CHAT_ID for Telegram: see "
                "https://github.com/caronc/apprise/wiki"
            )
        return value, "apprise"
    raise ConfigError(
        "not an e-mail address nor an Apprise URL (like tgram://BOT_TOKEN/CHAT_ID or "
        "ntfy://ntfy.sh/TOPIC)"
    )


def mask(address: str) -> str:
    """`a***@example.org` for an e-mail address, `tgram://***` for a channel URL."""
    if "://" in address:
        return address.split("://", 1)[0] + "://***"
    local, sep, domain = address.partition("@")
    if not sep:
        return "***"
    return f"{local[:1]}***@{domain}"


def scrub(text: str, *secrets_: str) -> str:
    """`text` with every e-mail address, and each of `secrets_`, masked: safe to log or store."""
    for secret in secrets_:
        if secret:
            text = text.replace(secret, mask(secret))
    return _EMAIL_ANYWHERE.sub(lambda m: mask(m.group(0)), text)


def new_token() -> str:
    """A random, URL-safe token for the confirmation and unsubscribe links."""
    return secrets.token_urlsafe(24)


def latest_event_id(session: Session) -> int:
    """The id of the newest event: a new subscriber is told about what comes after it."""
    return int(session.scalar(select(func.max(Event.id))) or 0)


@dataclass(frozen=True)
class Filters:
    """What a subscriber wants; an empty tuple means everything."""

    sites: Sequence[str] = ()
    sources: Sequence[str] = ()
    events: Sequence[str] = ()
    lang: str = "fr"
    digest: str | None = None
    companies: Sequence[str] = ()
    # A search (`watcher.core.query`): only the events of the procedures it finds (issue 27).
    query: str | None = None

    def check(self) -> None:
        """`ConfigError` for an unknown event type, language or digest."""
        unknown = [e for e in self.events if e not in EVENT_TYPES]
        if unknown:
            raise ConfigError(
                f"unknown event type {unknown[0]!r}; known types: {', '.join(EVENT_TYPES)}"
            )
        if self.lang not in LANGS:
            raise ConfigError(f"unknown language {self.lang!r}; use fr or en")
        if self.digest not in (None, "daily"):
            raise ConfigError(f"unknown digest {self.digest!r}; use daily")


def find(session: Session, address: str) -> Subscriber | None:
    """The subscriber with this address (e-mail or Apprise URL), or with this `#id`/id."""
    ref = address.strip().removeprefix("#")
    if ref.isdigit():
        return session.get(Subscriber, int(ref))
    value, _channel = parse_address(address)
    return session.scalar(select(Subscriber).where(Subscriber.address == value))


def _apply(sub: Subscriber, filters: Filters) -> None:
    sub.sites = sorted(set(filters.sites))
    sub.sources = sorted(set(filters.sources))
    sub.companies = sorted(set(filters.companies))
    sub.events = sorted(set(filters.events))
    sub.lang = filters.lang
    sub.digest = filters.digest
    sub.query = (filters.query or "").strip()[:MAX_CHARS] or None


def add_confirmed(
    session: Session, address: str, filters: Filters, now: dt.datetime
) -> tuple[Subscriber, bool]:
    """The maintainers' command: add (or update) a confirmed subscription; (subscriber, created)."""
    filters.check()
    value, channel = parse_address(address)
    sub = session.scalar(select(Subscriber).where(Subscriber.address == value))
    created = sub is None
    if sub is None:
        sub = Subscriber(address=value, channel=channel, token=new_token())
        session.add(sub)
    _apply(sub, filters)
    if not sub.confirmed:
        sub.confirmed = True
        sub.confirmed_at = now
        sub.since_event_id = latest_event_id(session)
    session.flush()
    return sub, created


def request(
    session: Session, address: str, filters: Filters, now: dt.datetime
) -> Subscriber | None:
    """The public form: an unconfirmed subscription; the subscriber to send a confirmation to.

    None when nothing should be sent: the address is already confirmed (its filters are not changed
    by a stranger's form), or a confirmation went out a few minutes ago. The caller shows the same
    page either way, so the form never reveals who is subscribed.
    """
    filters.check()
    value, channel = parse_address(address)
    if channel != "email":
        raise ConfigError("not an e-mail address")
    sub = session.scalar(select(Subscriber).where(Subscriber.address == value))
    if sub is not None and sub.confirmed:
        return None
    if sub is None:
        sub = Subscriber(address=value, channel="email", token=new_token(), confirmed=False)
        session.add(sub)
    elif sub.confirm_sent_at and now - sub.confirm_sent_at < RESEND_CONFIRMATION_AFTER:
        return None
    _apply(sub, filters)
    sub.confirm_sent_at = now
    session.flush()
    return sub


def confirmable(sub: Subscriber, now: dt.datetime, ttl: dt.timedelta) -> bool:
    """Whether `sub` is pending and its confirmation link, sent less than `ttl` ago, still works."""
    if sub.confirmed or sub.confirm_sent_at is None:
        return False
    return now - sub.confirm_sent_at <= ttl


def confirm(
    session: Session,
    token: str,
    now: dt.datetime,
    ttl: dt.timedelta = CONFIRM_TOKEN_TTL,
    *,
    next_token: str | None = None,
) -> Subscriber | None:
    """Confirm the pending subscription holding `token`; None for an unknown, used or expired one.

    A confirmation link works once and for `ttl` after it was sent: confirming gives the
    subscriber a new token (`next_token`, else a random one), the one its alerts' unsubscribe
    links carry from then on.
    """
    sub = by_token(session, token)
    if sub is None or not confirmable(sub, now, ttl):
        return None
    sub.confirmed = True
    sub.confirmed_at = now
    sub.since_event_id = latest_event_id(session)
    sub.token = next_token or new_token()
    session.flush()
    return sub


def by_token(session: Session, token: str) -> Subscriber | None:
    """The subscriber whose link carries `token`, compared in constant time.

    The database is asked for the few subscribers whose token starts like this one; the whole
    token is then compared with `hmac.compare_digest`, so answer times do not tell an attacker how
    much of a guess was right.
    """
    if len(token) < _SELECTOR or len(token) > 64:
        return None
    candidates = session.scalars(
        select(Subscriber).where(Subscriber.token.startswith(token[:_SELECTOR], autoescape=True))
    )
    found = None
    for sub in candidates:
        if hmac.compare_digest(sub.token.encode(), token.encode("utf-8", "replace")):
            found = sub
    return found


def remove(session: Session, sub: Subscriber) -> None:
    """Delete the subscriber and, with it, its address and its ledger rows."""
    session.delete(sub)
    session.flush()


def describe(sub: Subscriber) -> str:
    """One line for the maintainers: id, masked address, filters, language, rhythm."""

    def listed(values: Sequence[str], everything: str) -> str:
        return ",".join(values) if values else everything

    state = "confirmed" if sub.confirmed else "unconfirmed"
    return (
        f"#{sub.id} {mask(sub.address)} [{sub.channel}, {state}] "
        f"sites={listed(sub.sites, 'all')} sources={listed(sub.sources, 'all')} "
        f"events={listed(sub.events, 'all')} lang={sub.lang} "
        + (f"companies={','.join(sub.companies)} " if sub.companies else "")
        + (f"query={sub.query!r} " if sub.query else "")
        + f"{'daily digest' if sub.digest else 'immediate'}"
    )
