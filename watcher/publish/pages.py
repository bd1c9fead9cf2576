"""One feed document at a time: an event rendered for a reader, a page of a feed, the calendar.

The web server builds the one document a request names with `build_document()`; `feeds.py` builds
them all. Both go through `render_document()`, so a document reads the same either way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from watcher.publish import catalog
from watcher.publish.atom import FeedMeta, assemble, entry_xml
from watcher.publish.catalog import PAGE_SIZE, DocRef, archive_pages
from watcher.publish.entries import Entry, render_entry, site_name
from watcher.publish.ical import build_calendar
from watcher.publish.jsonfeed import JsonFeedMeta, assemble_json, item_json
from watcher.publish.reading import (
    EventRow,
    count_feed,
    feed_slice,
    last_closed_deadline,
    open_deadlines,
)

MEDIA_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
    "ics": "text/calendar; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Document:
    """A built document: its bytes, its newest entry's time (Last-Modified) and media type."""

    body: bytes
    updated: dt.datetime | None
    media_type: str


@dataclass(frozen=True, slots=True)
class Rendered:
    """One event rendered for one language, in both formats."""

    updated: dt.datetime
    atom: bytes
    json: bytes


def event_entry(row: EventRow, lang: str = "fr", base_url: str | None = None) -> Entry:
    """The reader's view of one stored event; with `base_url`, linked to the notice's page on
    this site (its history and evidence) beside the portal's."""
    page = f"{base_url}/notices/{row.notice_id}" if base_url and row.notice_id else None
    return render_entry(
        key=row.key,
        kind=row.type,
        created_at=row.created_at,
        changes=row.changes or [],
        snapshot=row.snapshot or {},
        site=row.site,
        source=row.source,
        lang=lang,
        detail=row.detail,
        also=row.also,
        page_url=page,
        site_name=site_name(row.site),
        procedure_title=row.procedure_title,
    )


def render(row: EventRow, lang: str, base_url: str) -> Rendered:
    """One event for one language, as an Atom entry and a JSON Feed item."""
    entry = event_entry(row, lang, base_url)
    return Rendered(row.created_at, entry_xml(entry, base_url), item_json(entry, base_url))


def _older(ref: DocRef, archives: int) -> DocRef | None:
    """The page before `ref`: the newest archive for the subscription document."""
    if ref.page is None:
        return ref.sibling(archives) if archives else None
    return ref.sibling(ref.page - 1) if ref.page > 1 else None


DEMO_TITLE = {"fr": "Démonstration — ", "en": "Demonstration — "}


def simple_document(
    title: str, self_url: str, page: str, items: Sequence[Rendered], fmt: str, lang: str
) -> bytes:
    """A one-page feed (a company's, a search's) from its rendered entries (newest first): Atom,
    or JSON Feed when `fmt` is "json"; `page` is the site's page of the same things."""
    if fmt == "json":
        meta = JsonFeedMeta(title=title, feed_url=self_url, home_page_url=page, lang=lang)
        return assemble_json(meta, (i.json for i in items))
    atom = FeedMeta(feed_id=self_url, title=title, self_url=self_url, site_url=page, lang=lang)
    updated = items[0].updated if items else None
    return assemble(atom, updated, (i.atom for i in items))


def render_document(
    ref: DocRef, base_url: str, archives: int, items: Sequence[Rendered], *, demo: bool = False
) -> Document:
    """One document of a feed from its rendered events (newest first); `archives` is how many
    archive pages the feed has, for the RFC 5005 links (and JSON Feed's `next_url`). With
    `demo` (`watcher demo`), its title says it is a demonstration."""
    lang, page = ref.lang, ref.page
    current = ref.sibling(None).url(base_url)
    older = _older(ref, archives)
    updated = items[0].updated if items else None
    title = ref.spec.title(lang) if page is None else catalog.archive_title(ref.spec, lang, page)
    if demo:
        title = DEMO_TITLE.get(lang, DEMO_TITLE["en"]) + title
    if ref.fmt == "json":
        json_meta = JsonFeedMeta(
            title=title,
            feed_url=ref.url(base_url),
            home_page_url=f"{base_url}/",
            description=catalog.subtitle(lang),
            lang=lang,
            next_url=older.url(base_url) if older else None,
        )
        body = assemble_json(json_meta, (i.json for i in items))
    else:
        newer = ref.sibling(page + 1) if page is not None and page < archives else None
        meta = FeedMeta(
            feed_id=current,
            title=title,
            self_url=ref.url(base_url),
            site_url=f"{base_url}/",
            subtitle=catalog.subtitle(lang),
            lang=lang,
            archive=page is not None,
            current_url=current if page is not None else None,
            prev_archive=older.url(base_url) if older else None,
            next_archive=newer.url(base_url) if newer else None,
        )
        body = assemble(meta, updated, (i.atom for i in items))
    return Document(body, updated, MEDIA_TYPES[ref.fmt])


def build_document(
    session: Session, base_url: str, ref: DocRef, page_size: int = PAGE_SIZE, *, demo: bool = False
) -> Document | None:
    """One document read straight from the database (the web server's path); None when that
    archive page does not exist (yet)."""
    count = count_feed(session, ref.spec)
    archives = archive_pages(count, page_size)
    if ref.page is None:
        offset, limit = archives * page_size, count - archives * page_size
    elif ref.page > archives:
        return None
    else:
        offset, limit = (ref.page - 1) * page_size, page_size
    rows = feed_slice(session, ref.spec, offset, limit) if limit > 0 else []
    items = [render(row, ref.lang, base_url) for row in rows]
    return render_document(ref, base_url, archives, items, demo=demo)


def build_calendar_document(session: Session, base_url: str, now: dt.datetime) -> Document:
    """`deadlines.ics`: the open deadlines at `now`."""
    items = list(open_deadlines(session, now))
    changes = [i.last_modified for i in items]
    closed = last_closed_deadline(session, now)
    updated = max([*changes, *([closed] if closed else [])], default=None)
    return Document(build_calendar(items, base_url), updated, MEDIA_TYPES["ics"])
