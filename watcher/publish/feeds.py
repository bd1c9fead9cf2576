"""Building the feeds from the database: one document for the web server, or every file at once.

`write_feeds()` streams the events once, oldest first, renders each event once per language and
hands it to every feed it belongs to (all, its site, its source, its type). A feed keeps at most one
page in memory: a page that fills up while newer events exist is written as an RFC 5005 archive
(`archive/<feed>/<n>.atom`, never changing afterwards), and what is left at the end is the
subscription document. `catalog.py` lists the paths; `reading.py` the queries.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from watcher.publish import catalog
from watcher.publish.atom import FeedMeta, assemble, entry_xml
from watcher.publish.catalog import (
    ALL,
    CALENDAR,
    EVENT_TYPES,
    FORMATS,
    LANGS,
    PAGE_SIZE,
    DocRef,
    FeedSpec,
    archive_pages,
)
from watcher.publish.entries import Entry, render_entry
from watcher.publish.ical import build_calendar
from watcher.publish.jsonfeed import JsonFeedMeta, assemble_json, item_json
from watcher.publish.reading import (
    EventRow,
    count_feed,
    feed_counts,
    feed_slice,
    open_deadlines,
    source_names,
    stream_events,
    top_event_id,
)
from watcher.settings import Settings

MEDIA_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
    "ics": "text/calendar; charset=utf-8",
}
_MANAGED = ("sites", "sources", "events", "archive", "en")


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


def event_entry(row: EventRow, lang: str = "fr") -> Entry:
    """The reader's view of one stored event."""
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
    )


def render(row: EventRow, lang: str, base_url: str) -> Rendered:
    """One event for one language, as an Atom entry and a JSON Feed item."""
    entry = event_entry(row, lang)
    return Rendered(row.created_at, entry_xml(entry, base_url), item_json(entry, base_url))


def _older(ref: DocRef, archives: int) -> DocRef | None:
    """The page before `ref`: the newest archive for the subscription document."""
    if ref.page is None:
        return ref.sibling(archives) if archives else None
    return ref.sibling(ref.page - 1) if ref.page > 1 else None


def render_document(
    ref: DocRef, base_url: str, archives: int, items: Sequence[Rendered]
) -> Document:
    """One document of a feed from its rendered events (newest first); `archives` is how many
    archive pages the feed has, for the RFC 5005 links (and JSON Feed's `next_url`)."""
    lang, page = ref.lang, ref.page
    current = ref.sibling(None).url(base_url)
    older = _older(ref, archives)
    updated = items[0].updated if items else None
    title = ref.spec.title(lang) if page is None else catalog.archive_title(ref.spec, lang, page)
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
    session: Session, base_url: str, ref: DocRef, page_size: int = PAGE_SIZE
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
    return render_document(ref, base_url, archives, items)


def build_calendar_document(session: Session, base_url: str, now: dt.datetime) -> Document:
    """`deadlines.ics`: the open deadlines at `now`."""
    items = list(open_deadlines(session, now))
    updated = max((i.last_modified for i in items), default=None)
    return Document(build_calendar(items, base_url), updated, MEDIA_TYPES["ics"])


def all_feed(session: Session, settings: Settings, lang: str = "fr") -> bytes:
    """`all.atom`'s subscription document: the newest events of every relevant notice."""
    document = build_document(session, settings.base_url, DocRef(ALL, lang))
    return document.body if document else b""


@dataclass
class _Pager:
    """One feed during a build: where the stream is in it and the page being filled."""

    spec: FeedSpec
    archives: int
    seen: int = 0
    page: list[dict[str, Rendered]] = field(default_factory=list)


class _Writer:
    """Atomic file writes under the output folder (temporary file, then rename); a file whose
    bytes did not change is left alone, so its mtime (and a static server's ETag) stays."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.kept: set[Path] = set()
        self.changed: list[Path] = []

    def write(self, relative: str, body: bytes) -> None:
        target = self.out / relative
        self.kept.add(target)
        try:
            if target.stat().st_size == len(body) and target.read_bytes() == body:
                return
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(body)
        tmp.replace(target)
        self.changed.append(target)

    def prune(self) -> None:
        """Remove documents of an earlier build that this build no longer has."""
        roots = [self.out / f"all.{fmt}" for fmt in FORMATS]
        candidates = [p for p in roots if p.exists()]
        for folder in _MANAGED:
            if (self.out / folder).is_dir():
                candidates += [p for fmt in FORMATS for p in (self.out / folder).rglob(f"*.{fmt}")]
        for path in candidates:
            if path not in self.kept:
                path.unlink(missing_ok=True)


def _specs(row: EventRow) -> list[FeedSpec]:
    specs = [ALL, FeedSpec("source", row.source)]
    if row.type in EVENT_TYPES:
        specs.append(FeedSpec("type", row.type))
    if row.site:
        specs.append(FeedSpec("site", row.site))
    return [s for s in specs if s.dimension == "all" or catalog.valid_name(s.value)]


def _flush(writer: _Writer, pager: _Pager, page: int | None, base_url: str) -> None:
    newest_first = pager.page[::-1]
    for lang in LANGS:
        items = [r[lang] for r in newest_first]
        for fmt in FORMATS:
            ref = DocRef(pager.spec, lang, fmt, page)
            writer.write(ref.path, render_document(ref, base_url, pager.archives, items).body)
    pager.page = []


def write_feeds(
    session: Session,
    settings: Settings,
    out: Path,
    *,
    now: dt.datetime | None = None,
    sites: Iterable[str] = (),
    page_size: int = PAGE_SIZE,
) -> list[Path]:
    """Write every feed (Atom and JSON Feed, French and `en/` English), its archive pages and
    `deadlines.ics` under `out`; return the files whose content changed.

    Feeds exist for all events, every event type, every source that has polled, every site with
    events and every slug in `sites` (the gazetteer), even when empty. `now` (default: the current
    time) decides which deadlines are still open.
    """
    now = now or dt.datetime.now(dt.UTC)
    base_url = settings.base_url
    upto = top_event_id(session)
    counts = feed_counts(session, upto)
    specs = {ALL, *counts}
    specs |= {FeedSpec("type", kind) for kind in EVENT_TYPES}
    specs |= {FeedSpec("source", name) for name in source_names(session)}
    specs |= {FeedSpec("site", slug) for slug in sites}
    pagers = {
        spec: _Pager(spec, archive_pages(counts.get(spec, 0), page_size))
        for spec in specs
        if spec.dimension == "all" or catalog.valid_name(spec.value)
    }
    writer = _Writer(out)
    for row in stream_events(session, upto):
        targets = [pagers[spec] for spec in _specs(row) if spec in pagers]
        rendered = {lang: render(row, lang, base_url) for lang in LANGS}
        for pager in targets:
            pager.page.append(rendered)
            pager.seen += 1
            full_page = pager.seen % page_size == 0
            if full_page and pager.seen // page_size <= pager.archives:
                _flush(writer, pager, pager.seen // page_size, base_url)
    for pager in pagers.values():
        _flush(writer, pager, None, base_url)
    writer.write(CALENDAR, build_calendar_document(session, base_url, now).body)
    writer.prune()
    return writer.changed
