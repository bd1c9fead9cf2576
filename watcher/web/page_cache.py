"""Rendered pages kept until the data changes (issue 29): a page is rendered once per data
generation (`watcher.db.generation`: one number that grows at every commit that wrote data, from
whichever process) and served from memory to every reader who asks for the same thing after it.

The key is what a page depends on: the path, the query string and the page's language (from
`?lang=`, else `Accept-Language`), under the generation read at the start of the request. A page
also depends on the clock (a procedure's status, what is due "today"), so an entry is not used
once it is `MAX_AGE` seconds old. Nothing per reader is ever stored: the site sets no cookie, and
the one per-reader part of a page, the signed token of a form (`watcher.web.protect`), is
rendered as a mark that each answer replaces with a fresh token for its own reader. Pages
without a form carry an `ETag` (a hash of the body) and answer 304 to `If-None-Match`.

Only 200 HTML answers without `Set-Cookie` are kept, at most `WATCHER_PAGE_CACHE_MB` (32; 0 turns
the cache off) of them, the least recently used going first. While one request renders a page,
others asking for the same one wait for it instead of rendering it too (20 readers arriving
together cost one render); when a previous copy of the page exists (of an older generation, or
past `MAX_AGE`) and is at most `STALE_AGE` seconds old, they get that copy at once instead, with
its own `ETag`, and only the reader who started the render waits for it. A render that fails or
gives a page not to keep drops the previous copy. A database older than migration 0014 has no generation: nothing is
cached then.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from watcher.db import generation
from watcher.pipeline.runtime import Runtime
from watcher.web.i18n import negotiate
from watcher.web.protect import page_form_token

MAX_AGE = 60.0  # seconds an entry is used: pages say what is open or due now
# Seconds an entry may still be served, while another request renders its successor.
STALE_AGE = 600.0
MAX_ENTRY = 2 * 1024 * 1024  # a larger page is not kept
# Rendered in place of a form's token while a page is being cached; random, so no scraped text
# can contain it.
MARK = f"\x00form-token-{secrets.token_hex(8)}\x00"
_MARK = MARK.encode()
_MARKING = "watcher.page_cache.marking"
Handler = Callable[[Request], Response]
Key = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Entry:
    """A rendered page under the generation it was rendered at."""

    generation: int
    stored: float
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]
    media_type: str | None
    etag: str | None  # None when the page holds a form (its token differs per answer)


def marking(request: Request) -> bool:
    """Whether `request`'s page is being rendered for the cache (its forms then get `MARK`)."""
    return bool(request.scope.get(_MARKING))


def keep(response: Response) -> bool:
    """Whether an answer may be shared between readers (pure; tested table-driven)."""
    media = (response.media_type or response.headers.get("content-type", "")).lower()
    return (
        response.status_code == 200
        and media.startswith("text/html")
        and "set-cookie" not in response.headers
        and "cache-control" not in response.headers  # a handler said how it may be kept
        and len(response.body) <= MAX_ENTRY
    )


def etag_of(body: bytes) -> str:
    """A strong validator of `body`."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an `If-None-Match` header names `etag` (or `*`)."""
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


class PageCache:
    """The bounded, thread-safe LRU of rendered pages of one application."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        max_bytes: int | None = None,
        max_age: float = MAX_AGE,
        stale_age: float = STALE_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        if max_bytes is None:
            max_bytes = runtime.settings.page_cache_mb * 1024 * 1024
        self.max_bytes, self.max_age, self.clock = max_bytes, max_age, clock
        self.stale_age = max(stale_age, max_age)
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._bytes = 0
        self._flights: dict[Key, threading.Lock] = {}
        self.hits = self.misses = self.stale = 0

    def generation(self) -> int | None:
        """The data generation now (None: do not cache): one look-up on a pooled connection."""
        with self.runtime.engine.connect() as conn:
            return generation.read(conn)

    def _get(self, key: Key, gen: int) -> tuple[Entry | None, bool]:
        """The entry of `key` and whether it is fresh (of generation `gen`, under `max_age`); an
        entry too old even to be served stale is dropped."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None, False
            age = self.clock() - entry.stored
            if age > self.stale_age:
                self._drop(key)
                return None, False
            self._entries.move_to_end(key)
            return entry, entry.generation == gen and age <= self.max_age

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.body)

    def _discard(self, key: Key) -> None:
        with self._lock:
            self._drop(key)

    def _put(self, key: Key, entry: Entry) -> None:
        with self._lock:
            self._drop(key)
            self._entries[key] = entry
            self._bytes += len(entry.body)
            while self._bytes > self.max_bytes and self._entries:
                self._drop(next(iter(self._entries)))

    def _flight(self, key: Key) -> threading.Lock:
        with self._lock:
            return self._flights.setdefault(key, threading.Lock())

    def _land(self, key: Key, flight: threading.Lock) -> None:
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Forget every page."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def wrap(self, handler: Handler) -> Handler:
        """`handler` (a synchronous page handler) answered from the cache when it can."""

        if self.max_bytes <= 0:
            return handler

        def cached(request: Request) -> Response:
            if request.method not in {"GET", "HEAD"}:
                return handler(request)
            gen = self.generation()
            if gen is None:
                return handler(request)
            key = (request.url.path, request.url.query, negotiate(request))
            entry, fresh = self._get(key, gen)
            if entry is not None and fresh:
                self.hits += 1
                return self._answer(entry, request)
            flight = self._flight(key)
            if entry is not None and not flight.acquire(blocking=False):
                # Another request renders this page: the previous one at once, with its own ETag.
                self.stale += 1
                return self._answer(entry, request)
            if entry is None:
                flight.acquire()  # the one render under way, if any, is waited for
            try:
                entry, fresh = self._get(key, gen)
                if entry is not None and fresh:
                    self.hits += 1
                else:
                    self.misses += 1
                    request.scope[_MARKING] = True
                    try:
                        response = handler(request)
                    except BaseException:
                        self._discard(key)  # not served stale after its render failed
                        raise
                    if not keep(response):
                        self._discard(key)  # the page is gone or refused now: nor its old copy
                        return self._unkept(response, request)
                    entry = self._entry(response, gen)
                    self._put(key, entry)
            finally:
                flight.release()
                # Whatever happened (an error, a 404 for a made-up address): no lock is left
                # behind per address asked.
                self._land(key, flight)
            return self._answer(entry, request)

        cached.__name__ = getattr(handler, "__name__", "page")
        cached.__doc__ = handler.__doc__
        return cached

    def _entry(self, response: Response, gen: int) -> Entry:
        body = bytes(response.body)
        headers = tuple(
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in response.raw_headers
            if k.lower() not in {b"content-length", b"content-type"}
        )
        form = _MARK in body
        return Entry(
            generation=gen,
            stored=self.clock(),
            status=response.status_code,
            body=body,
            headers=headers,
            media_type=response.media_type or response.headers.get("content-type"),
            etag=None if form else etag_of(body),
        )

    def _token(self, request: Request) -> bytes:
        return page_form_token(request, self.runtime.settings).encode()

    def _unkept(self, response: Response, request: Request) -> Response:
        """An answer rendered for the cache but not kept: as it was, with its forms' tokens."""
        if _MARK not in response.body:
            return response
        body = bytes(response.body).replace(_MARK, self._token(request))
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(body, response.status_code, headers, response.media_type)

    def _answer(self, entry: Entry, request: Request) -> Response:
        """The answer to `request` from `entry`: its own form token, or a 304 when the reader's
        copy is still right."""
        headers: dict[str, Any] = dict(entry.headers)
        if entry.etag is None:
            body = entry.body.replace(_MARK, self._token(request))
            return Response(body, entry.status, headers, entry.media_type)
        headers["ETag"] = entry.etag
        if matches(request.headers.get("if-none-match"), entry.etag):
            return Response(status_code=304, headers=headers)
        return Response(entry.body, entry.status, headers, entry.media_type)
