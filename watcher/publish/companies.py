"""Company feeds: the events of the procedures a company (or a group) won.

One module renders them for both readers: `watcher serve` (`/feeds/companies/<slug>.atom`, built
on request by `watcher.web.company_pages`) and the static build (`write_company_feeds`, called by
`watcher.publish.feeds.write_feeds` for `feed build`, `run --once` and the scheduler), so a feed
reader sees the same bytes from either. A feed holds the newest `FEED_SIZE` events; the company's
page lists every contract.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from watcher.companies.store import company_procedures
from watcher.db.models import Company, CompanyContract, Event, Notice
from watcher.publish.catalog import FORMATS, LANGS
from watcher.publish.pages import Rendered, render, simple_document
from watcher.publish.reading import RELEVANT, event_rows

FEED_SIZE = 100
FOLDER = "companies"  # under the feeds folder, and under `en/` for English


@dataclass(frozen=True, slots=True)
class CompanyFeed:
    """What one company's feed holds: its slug, display name and newest events (newest first)."""

    slug: str
    name: str
    event_ids: tuple[int, ...]

    def path(self, lang: str, fmt: str) -> str:
        """Where the static build writes it: `companies/<slug>.atom`, `en/companies/<slug>.json`."""
        return f"{'' if lang == 'fr' else 'en/'}{FOLDER}/{self.slug}.{fmt}"


def _events_of(procedures: Select[tuple[int]]) -> Select[tuple[int, int]]:
    """(event id, procedure id) of the relevant events of `procedures`, newest first: what a
    company feed holds, served or built."""
    return (
        select(Event.id, Event.notice_id)
        .join(Notice, Notice.id == Event.notice_id)
        .where(RELEVANT, Event.notice_id.in_(procedures))
        .order_by(Event.created_at.desc(), Event.id.desc())
    )


def company_event_ids(session: Session, slug: str) -> tuple[int, ...]:
    """The newest `FEED_SIZE` relevant events of the procedures `slug` (or its group) won."""
    return tuple(session.scalars(_events_of(company_procedures([slug])).limit(FEED_SIZE)))


def company_feeds(session: Session) -> list[CompanyFeed]:
    """The feed of every company and group with contracts at detention sites, in three queries
    (not one per company: DECP alone names thousands of winners)."""
    companies = {c.slug: c for c in session.scalars(select(Company))}
    won: dict[str, set[int]] = {}
    rows = session.execute(
        select(Company.slug, Company.parent, CompanyContract.procedure_notice_id)
        .join(CompanyContract, CompanyContract.company_id == Company.id)
        .where(CompanyContract.relevant.is_(True))
    )
    for slug, parent, procedure in rows:
        won.setdefault(slug, set()).add(procedure)
        if parent and parent in companies:
            won.setdefault(parent, set()).add(procedure)
    winners: dict[int, list[str]] = {}  # procedure → the companies and groups that won it
    for slug, procedures in won.items():
        for procedure in procedures:
            winners.setdefault(procedure, []).append(slug)
    newest: dict[str, list[int]] = {slug: [] for slug in won}
    if winners:
        won_any = select(CompanyContract.procedure_notice_id).where(
            CompanyContract.relevant.is_(True)
        )  # a subquery: thousands of ids would not fit in one statement's parameters
        for event_id, notice_id in session.execute(_events_of(won_any)):
            for slug in winners.get(notice_id, ()):
                if len(newest[slug]) < FEED_SIZE:
                    newest[slug].append(event_id)
    return [CompanyFeed(slug, companies[slug].name, tuple(newest[slug])) for slug in sorted(won)]


def company_document(
    feed: CompanyFeed, items: Sequence[Rendered], fmt: str, lang: str, base_url: str
) -> bytes:
    """The feed document from its rendered entries (newest first)."""
    prefix = "" if lang == "fr" else "en/"
    self_url = f"{base_url}/feeds/{prefix}{FOLDER}/{feed.slug}.{fmt}"
    title = f"{feed.name} — {'marchés' if lang == 'fr' else 'contracts'}"
    page = f"{base_url}/companies/{feed.slug}"
    return simple_document(title, self_url, page, items, fmt, lang)


def render_feed(session: Session, feed: CompanyFeed, lang: str, base_url: str) -> list[Rendered]:
    """The feed's entries in `lang`, newest first."""
    rows = sorted(event_rows(session, list(feed.event_ids)), key=lambda r: (r.created_at, r.id))
    return [render(row, lang, base_url) for row in reversed(rows)]


def write_company_feeds(
    session: Session,
    base_url: str,
    code: str,
    manifest: dict[str, str],
    fingerprints: dict[str, str],
    keep: Callable[[str], bool],
    write: Callable[[str, bytes], None],
) -> int:
    """Write `companies/<slug>.{atom,json}` (and `en/`) for every company with contracts at
    detention sites; skip a feed whose events, name and rendering code are unchanged and whose
    files are all there. `code` is the rendering code's fingerprint. Returns the feeds written."""
    written = 0
    for feed in company_feeds(session):
        name = f"{FOLDER}/{feed.slug}"
        events = ",".join(map(str, feed.event_ids))
        seed = f"{code} {base_url} {feed.name} {events}"
        fingerprint = hashlib.sha256(seed.encode()).hexdigest()
        fingerprints[name] = fingerprint
        paths = [feed.path(lang, fmt) for lang in LANGS for fmt in FORMATS]
        if manifest.get(name) == fingerprint and all(keep(p) for p in paths):
            continue
        for lang in LANGS:
            items = render_feed(session, feed, lang, base_url)
            for fmt in FORMATS:
                write(feed.path(lang, fmt), company_document(feed, items, fmt, lang, base_url))
        written += 1
    return written
