"""Writing every feed at once: `watcher feed build`, `watcher run --once` and the scheduler.

`write_feeds()` streams the events once, oldest first, and hands each to every feed it belongs to
(all, its site, its source, its type). A feed keeps at most one page in memory: a page that fills up
while newer events exist becomes an RFC 5005 archive page, and what is left at the end is the
subscription document. An event is rendered (per language) only when a page that carries it has to
be written, and only once for all of them.

Archive pages never change once full, and most subscription documents do not change between two
polls, so a build records a fingerprint of each page (its events, its links, the code that renders
it) in `.feeds-manifest` (JSON) and skips the pages whose fingerprint and files are unchanged: after
the first build, a build renders only what changed.
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
from watcher.publish import catalog
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
from watcher.publish.pages import (
    Rendered,
    all_feed,
    build_calendar_document,
    event_entry,
    render,
    render_document,
)
from watcher.publish.reading import (
    EventRow,
    feed_counts,
    source_names,
    stream_events,
    top_event_id,
)
from watcher.settings import Settings

__all__ = ["all_feed", "event_entry", "write_feeds"]

MANIFEST = ".feeds-manifest"
_MANAGED = ("sites", "sources", "events", "archive", "en")
# Modules whose code decides what a document looks like: a change to any of them rewrites archives.
_RENDERING = (
    "watcher.publish.atom",
    "watcher.publish.catalog",
    "watcher.publish.entries",
    "watcher.publish.jsonfeed",
    "watcher.publish.pages",
    "watcher.diff",
    "watcher.normalize",
)


@cache
def _code_fingerprint() -> str:
    digest = hashlib.sha256(f"{__version__} feedgen {version('feedgen')}".encode())
    for name in _RENDERING:
        digest.update(Path(str(sys.modules[name].__file__)).read_bytes())
    return digest.hexdigest()


@dataclass
class _Pager:
    """One feed during a build: how far the stream is into it and the page being filled."""

    spec: FeedSpec
    archives: int
    seen: int = 0
    rows: list[EventRow] = field(default_factory=list)


class _Renderer:
    """Renders an event once per language for all the pages that carry it, and forgets it when the
    last of them is done."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._waiting: dict[int, int] = {}
        self._done: dict[int, dict[str, Rendered]] = {}

    def hold(self, row: EventRow, pages: int) -> None:
        self._waiting[row.id] = pages

    def get(self, row: EventRow) -> dict[str, Rendered]:
        rendered = self._done.get(row.id)
        if rendered is None:
            rendered = {lang: render(row, lang, self.base_url) for lang in LANGS}
            self._done[row.id] = rendered
        return rendered

    def release(self, rows: Iterable[EventRow]) -> None:
        for row in rows:
            left = self._waiting[row.id] - 1
            if left:
                self._waiting[row.id] = left
            else:
                del self._waiting[row.id]
                self._done.pop(row.id, None)


class _Writer:
    """Atomic file writes under the output folder (temporary file, then rename); a file whose
    bytes did not change is left alone, so its mtime (and a static server's ETag) stays."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.kept: set[Path] = set()
        self.changed: list[Path] = []

    def write(self, relative: str, body: bytes, *, report: bool = True) -> None:
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
    page_size: int
    writer: _Writer
    renderer: _Renderer
    manifest: dict[str, str]
    fingerprints: dict[str, str] = field(default_factory=dict)

    def flush(self, pager: _Pager, page: int | None) -> None:
        """Write a page of a feed in every language and format (unless its fingerprint says the
        files already hold it), then let go of its events."""
        rows, pager.rows = pager.rows, []
        refs = [DocRef(pager.spec, lang, fmt, page) for lang in LANGS for fmt in FORMATS]
        if page is None:
            name, links = pager.spec.path, f"archives={pager.archives}"
        else:
            # An archive page links to the next one once it exists: that, not the number of
            # archives, is what its bytes depend on.
            name, links = f"archive/{pager.spec.path}/{page}", f"next={page < pager.archives}"
        events = ",".join(f"{row.id}:{row.source}" for row in rows)
        seed = f"{_code_fingerprint()} {self.base_url} {links} {events}"
        fingerprint = hashlib.sha256(seed.encode()).hexdigest()
        self.fingerprints[name] = fingerprint
        if self.manifest.get(name) == fingerprint and all(self.writer.keep(r.path) for r in refs):
            self.renderer.release(rows)
            return
        rendered = [self.renderer.get(row) for row in reversed(rows)]
        for ref in refs:
            items = [r[ref.lang] for r in rendered]
            document = render_document(ref, self.base_url, pager.archives, items)
            self.writer.write(ref.path, document.body)
        self.renderer.release(rows)


def _specs(row: EventRow) -> list[FeedSpec]:
    specs = [ALL, FeedSpec("source", row.source)]
    if row.type in EVENT_TYPES:
        specs.append(FeedSpec("type", row.type))
    if row.site:
        specs.append(FeedSpec("site", row.site))
    return specs


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


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
    events and every slug in `sites` (the gazetteer), even when empty. `now` (default: the current
    time) decides which deadlines are still open.
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
        page_size=page_size,
        writer=_Writer(out),
        renderer=_Renderer(settings.base_url),
        manifest=_read_manifest(out / MANIFEST),
    )
    for row in stream_events(session, upto):
        targets = [pagers[spec] for spec in _specs(row) if spec in pagers]
        build.renderer.hold(row, len(targets))
        for pager in targets:
            pager.rows.append(row)
            pager.seen += 1
            page, rest = divmod(pager.seen, page_size)
            if rest == 0 and page <= pager.archives:
                build.flush(pager, page)
    for pager in pagers.values():
        build.flush(pager, None)
    build.writer.write(CALENDAR, build_calendar_document(session, settings.base_url, now).body)
    build.writer.prune()
    manifest = json.dumps(build.fingerprints, indent=0, sort_keys=True).encode()
    build.writer.write(MANIFEST, manifest, report=False)
    return build.writer.changed
