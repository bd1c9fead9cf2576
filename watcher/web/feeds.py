"""`/feeds/…`: every feed of `watcher.publish.catalog` over HTTP, with `ETag`, `Last-Modified` and
304 answers to conditional requests.

Documents are built from the database on demand (one feed page per request, not the whole set) and
kept in a small LRU cache until the events change. `?lang=en` (or an `en/` prefix) gives the English
document; an unknown feed, site, source or archive page is a 404.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from watcher.db.models import Event, NoticeVersion
from watcher.errors import WatcherError
from watcher.pipeline.runtime import Runtime
from watcher.publish.catalog import CALENDAR, LANGS, PAGE_SIZE, parse_path
from watcher.publish.pages import Document, build_calendar_document, build_document
from watcher.publish.reading import known_feed

CACHE_SIZE = 512
FRESH, ARCHIVED = 60, 86400  # Cache-Control max-age, seconds


@dataclass(frozen=True, slots=True)
class Cached:
    """A built document with its validators."""

    state: tuple[Any, ...]
    body: bytes
    etag: str
    modified: str | None
    media_type: str


class FeedCache:
    """Built documents by key, rebuilt only when `state` (what the events look like) changed;
    the least recently used go first once `size` documents are kept."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._items: OrderedDict[str, Cached] = OrderedDict()

    def get(
        self, key: str, state: tuple[Any, ...], build: Callable[[], Document | None]
    ) -> Cached | None:
        """The cached document for `key` when `state` is unchanged, else a freshly built one."""
        with self._lock:
            cached = self._items.get(key)
            if cached is not None and cached.state == state:
                self._items.move_to_end(key)
                return cached
        document = build()
        if document is None:
            return None
        updated = document.updated.replace(microsecond=0) if document.updated else None
        fresh = Cached(
            state=state,
            body=document.body,
            etag='"' + hashlib.sha256(document.body).hexdigest()[:32] + '"',
            modified=format_datetime(updated, usegmt=True) if updated else None,
            media_type=document.media_type,
        )
        with self._lock:
            self._items[key] = fresh
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return fresh


def _not_modified_since(header: str | None, modified: str | None) -> bool:
    if not header or not modified:
        return False
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        return False
    return parsedate_to_datetime(modified) <= since


def conditional(
    request: Request,
    body: bytes,
    etag: str,
    modified: str | None,
    media: str,
    *,
    max_age: int = 60,
) -> Response:
    """200 with validators, or 304 when the client already has this version (`If-None-Match`
    wins over `If-Modified-Since`, RFC 9110 §13.2.2)."""
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if modified:
        headers["Last-Modified"] = modified
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = [tag.strip().removeprefix("W/") for tag in inm.split(",")]
        if "*" in tags or etag in tags:
            return Response(status_code=304, headers=headers)
    elif _not_modified_since(request.headers.get("if-modified-since"), modified):
        return Response(status_code=304, headers=headers)
    if media.startswith("application/atom+xml"):
        headers["Vary"] = "Accept"
        if for_browser(request.headers.get("accept", "")):
            # The same Atom bytes, labelled as plain XML: browsers then apply the document's
            # stylesheet instead of showing raw text (feed readers never ask for text/html).
            media = "application/xml"
    return Response(body, media_type=media, headers=headers)


def for_browser(accept: str) -> bool:
    """Whether an `Accept` header is a web browser's (HTML first, no feed type asked for)."""
    accept = accept.lower()
    return "text/html" in accept and "atom" not in accept and "rss" not in accept


def feeds_state(session: Session) -> tuple[int, int, int]:
    """(events, highest event id, highest notice version id): changes whenever a feed would (a
    notice that stops being relevant does so in a new version)."""
    events, top = session.execute(select(func.count(Event.id), func.max(Event.id))).one()
    version = session.scalar(select(func.max(NoticeVersion.id)))
    return int(events or 0), int(top or 0), int(version or 0)


def routes(runtime: Runtime, *, page_size: int = PAGE_SIZE) -> list[BaseRoute]:
    """The `/feeds/` routes over `runtime`'s database (`page_size` as in `write_feeds`)."""
    cache = FeedCache()
    gazetteer: list[frozenset[str]] = []

    def site_slugs() -> frozenset[str]:
        if not gazetteer:
            try:
                gazetteer.append(frozenset(runtime.matcher.site_slugs))
            except WatcherError:
                gazetteer.append(frozenset())  # the rules do not load: sites with events only
        return gazetteer[0]

    def load(path: str, lang: str | None) -> tuple[Cached, int] | None:
        base_url = runtime.settings.base_url
        with runtime.sessions() as session:
            state: tuple[Any, ...] = feeds_state(session)
            if path == CALENDAR:
                now = dt.datetime.now(dt.UTC)
                # Deadlines also leave the calendar as time passes: rebuilt at most each minute.
                state = (*state, now.replace(second=0, microsecond=0))
                found = cache.get(
                    CALENDAR, state, lambda: build_calendar_document(session, base_url, now)
                )
                return (found, FRESH) if found else None
            ref = parse_path(path, lang)
            if ref is None or not known_feed(session, ref.spec, site_slugs()):
                return None
            found = cache.get(
                ref.path,
                state,
                lambda: build_document(
                    session, base_url, ref, page_size, demo=runtime.settings.demo
                ),
            )
            # An archive page's entries never change: caches may keep it for a day.
            return (found, FRESH if ref.page is None else ARCHIVED) if found else None

    async def feed(request: Request) -> Response:
        wanted = request.query_params.get("lang")
        lang = wanted if wanted in LANGS else None
        loaded = await run_in_threadpool(load, request.path_params["path"], lang)
        if loaded is None:
            return PlainTextResponse("no such feed\n", status_code=404)
        doc, max_age = loaded
        return conditional(
            request, doc.body, doc.etag, doc.modified, doc.media_type, max_age=max_age
        )

    return [Route("/feeds/{path:path}", feed, methods=["GET"])]
