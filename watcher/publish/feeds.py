"""Writing every feed at once: `watcher feed build`, `watcher run --once` and the scheduler.

`write_feeds()` works in two passes over the events, oldest first:

1. It places every event in the pages of the feeds it belongs to (all, its site, its source, its
   type) from a light stream of ids. A page that fills up while newer events exist becomes an
   RFC 5005 archive page; what is left of a feed at the end is its subscription document.
   (Company feeds are written after, by `watcher.publish.companies`, with the same writer and
   manifest.)
2. It reads and renders (once per language) only the events of the pages that must be written, a
   batch at a time, and writes each page as soon as its last event is rendered.

Archive pages never change once full, and most subscription documents do not change between two
polls, so a build records a fingerprint of each page (its events, its links, the code that renders
it) in `.feeds-manifest` (JSON) and skips the pages whose fingerprint and files are unchanged: after
the first build, a build reads and renders only what changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import version
from pathlib import Path

from sqlalchemy.orm import Session

from watcher import __version__
from watcher.publish import catalog, companies
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
from watcher.publish.ical import build_calendar
from watcher.publish.manifest import MANIFEST
from watcher.publish.manifest import TOP as _TOP
from watcher.publish.manifest import feeds_outdated as feeds_outdated
from watcher.publish.manifest import read_manifest as _read_manifest
from watcher.publish.pages import Rendered, render, render_document
from watcher.publish.reading import (
    BATCH,
    EventRef,
    event_rows,
    feed_counts,
    open_deadlines,
    source_names,
    stream_refs,
    top_event_id,
)
from watcher.settings import Settings

_MANAGED = ("sites", "sources", "events", "archive", "en", companies.FOLDER)
# Modules whose code decides what a document looks like: a change to any of them rewrites archives.
_RENDERING = (
    "watcher.publish.atom",
    "watcher.publish.catalog",
    "watcher.publish.companies",
    "watcher.publish.entries",
    "watcher.publish.ical",
    "watcher.publish.jsonfeed",
    "watcher.publish.pages",
    "watcher.core.diff",
    "watcher.core.normalize",
)


@cache
def _code_fingerprint() -> str:
    digest = hashlib.sha256(f"{__version__} feedgen {version('feedgen')}".encode())
    for name in _RENDERING:
        digest.update(Path(str(sys.modules[name].__file__)).read_bytes())
    return digest.hexdigest()


@dataclass
class _Pager:
    """One feed during the first pass: how far the stream is into it and the page being filled."""

    spec: FeedSpec
    archives: int
    seen: int = 0
    refs: list[tuple[int, EventRef]] = field(default_factory=list)  # (place in the stream, event)


@dataclass
class _Page:
    """A page that must be written: its feed, number (None: subscription document) and events."""

    spec: FeedSpec
    archives: int
    page: int | None
    ids: list[int]
    left: int


class _Writer:
    """Atomic file writes under the output folder (temporary file, then rename); a file whose
    bytes did not change is left alone, so its mtime (and a static server's ETag) stays."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.kept: set[Path] = set()
        self.changed: list[Path] = []
        self._folders: set[Path] = set()  # made (or found) by this build: one mkdir per folder

    def write(self, relative: str, body: bytes, *, report: bool = True) -> None:
        target = self.out / relative
        self.kept.add(target)
        try:
            if target.stat().st_size == len(body) and target.read_bytes() == body:
                return
        except FileNotFoundError:
            if target.parent not in self._folders:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._folders.add(target.parent)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(body)
        tmp.replace(target)
        if report:
            self.changed.append(target)

    def keep(self, relative: str) -> bool:
        """Count an existing file as part of this build; False when it is missing."""
        target = self.out / relative
        self.kept.add(target)
        return target.is_file()

    def prune(self) -> None:
        """Remove the documents of an earlier build that this build no longer has."""
        candidates = [p for fmt in FORMATS if (p := self.out / f"all.{fmt}").exists()]
        for folder in _MANAGED:
            if (self.out / folder).is_dir():
                candidates += [p for fmt in FORMATS for p in (self.out / folder).rglob(f"*.{fmt}")]
        for path in candidates:
            if path not in self.kept:
                path.unlink(missing_ok=True)


@dataclass
class _Build:
    """The state of one `write_feeds()` run."""

    base_url: str
    writer: _Writer
    manifest: dict[str, str]
    demo: bool = False  # `watcher demo`: titles say "Démonstration"
    fingerprints: dict[str, str] = field(default_factory=dict)
    pages: list[_Page] = field(default_factory=list)
    # event id → (its place in the stream, the pages to write that carry it)
    wanted: dict[int, tuple[int, list[_Page]]] = field(default_factory=dict)

    def place(self, pager: _Pager, page: int | None) -> None:
        """First pass: a page of a feed is complete; keep it if its files are up to date, else
        remember to write it."""
        refs, pager.refs = pager.refs, []
        if page is None:
            name, links = pager.spec.path, f"archives={pager.archives}"
        else:
            # An archive page links to the next one once it exists: that, not the number of
            # archives, is what its bytes depend on.
            name, links = f"archive/{pager.spec.path}/{page}", f"next={page < pager.archives}"
        events = ",".join(f"{ref.id}:{ref.source}:{ref.also}" for _, ref in refs)
        seed = f"{_code_fingerprint()} {self.base_url} {links} {events}"
        fingerprint = hashlib.sha256(seed.encode()).hexdigest()
        self.fingerprints[name] = fingerprint
        refs_of = [DocRef(pager.spec, lang, fmt, page) for lang in LANGS for fmt in FORMATS]
        if self.manifest.get(name) == fingerprint and all(
            self.writer.keep(ref.path) for ref in refs_of
        ):
            return
        todo = _Page(pager.spec, pager.archives, page, [ref.id for _, ref in refs], len(refs))
        self.pages.append(todo)
        for position, ref in refs:
            self.wanted.setdefault(ref.id, (position, []))[1].append(todo)

    def write(self, todo: _Page, rendered: dict[int, dict[str, Rendered]]) -> None:
        """Write one page in every language and format."""
        newest_first = [rendered[i] for i in reversed(todo.ids) if i in rendered]
        for lang in LANGS:
            items = [r[lang] for r in newest_first]
            for fmt in FORMATS:
                ref = DocRef(todo.spec, lang, fmt, todo.page)
                document = render_document(ref, self.base_url, todo.archives, items, demo=self.demo)
                self.writer.write(ref.path, document.body)

    def render_and_write(self, session: Session, batch: int = BATCH) -> None:
        """Second pass: read, render and write what the first pass found out of date."""
        for todo in self.pages:
            if not todo.ids:
                self.write(todo, {})
        order = sorted(self.wanted, key=lambda event_id: self.wanted[event_id][0])
        rendered: dict[int, dict[str, Rendered]] = {}
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            rows = {row.id: row for row in event_rows(session, chunk)}
            for event_id in chunk:
                row = rows.get(event_id)  # None: deleted since the first pass
                if row is not None:
                    rendered[event_id] = {lang: render(row, lang, self.base_url) for lang in LANGS}
                for todo in self.wanted[event_id][1]:
                    todo.left -= 1
                    if todo.left == 0:
                        self.write(todo, rendered)
                        for done in todo.ids:  # forget what no page still needs
                            if all(p.left == 0 for p in self.wanted[done][1]):
                                rendered.pop(done, None)


def _specs(ref: EventRef) -> list[FeedSpec]:
    specs = [ALL, FeedSpec("source", ref.source)]
    if ref.type in EVENT_TYPES:
        specs.append(FeedSpec("type", ref.type))
    if ref.site:
        specs.append(FeedSpec("site", ref.site))
    return specs


def _write_calendar(build: _Build, session: Session, base_url: str, now: dt.datetime) -> None:
    """`deadlines.ics`, serialised only when its open deadlines changed (icalendar takes most of
    a millisecond per event: 1.5 s for 1,500 open deadlines at every round; issue 16)."""
    items = list(open_deadlines(session, now))
    seed = f"{_code_fingerprint()} {base_url} {items!r}"
    fingerprint = hashlib.sha256(seed.encode()).hexdigest()
    build.fingerprints[CALENDAR] = fingerprint
    if build.manifest.get(CALENDAR) == fingerprint and build.writer.keep(CALENDAR):
        return
    build.writer.write(CALENDAR, build_calendar(items, base_url))


def write_feeds(
    session: Session,
    settings: Settings,
    out: Path,
    *,
    now: dt.datetime | None = None,
    sites: Iterable[str] = (),
    page_size: int = PAGE_SIZE,
) -> list[Path]:
    """Write every feed (Atom and JSON Feed, French and, under `en/`, English), its archive pages
    and `deadlines.ics` under `out`; return the files whose content changed.

    Feeds exist for all events, every event type, every source that has polled, every site with
    events and every slug in `sites` (the gazetteer), even when empty, and every company with
    contracts at detention sites (`companies/<slug>`, newest 100 events, no archive pages).
    `now` (default: the current time) decides which deadlines are still open. Memory holds one
    page per feed and the ids of the events to render, never the events themselves beyond a
    batch.
    """
    now = now or dt.datetime.now(dt.UTC)
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
    build = _Build(
        base_url=settings.base_url,
        writer=_Writer(out),
        manifest=_read_manifest(out / MANIFEST),
        demo=settings.demo,
    )
    for position, ref in enumerate(stream_refs(session, upto)):
        for spec in _specs(ref):
            pager = pagers.get(spec)
            if pager is None:
                continue
            pager.refs.append((position, ref))
            pager.seen += 1
            page, rest = divmod(pager.seen, page_size)
            if rest == 0 and page <= pager.archives:
                build.place(pager, page)
    for pager in pagers.values():
        build.place(pager, None)
    build.render_and_write(session)
    companies.write_company_feeds(
        session,
        settings.base_url,
        _code_fingerprint(),
        build.manifest,
        build.fingerprints,
        build.writer.keep,
        build.writer.write,
    )
    _write_calendar(build, session, settings.base_url, now)
    build.writer.prune()
    build.fingerprints[_TOP] = str(upto)  # what `feeds_outdated` compares with the database
    manifest = json.dumps(build.fingerprints, indent=0, sort_keys=True).encode()
    build.writer.write(MANIFEST, manifest, report=False)
    return build.writer.changed
