"""Conditional requests: a page read in full once is asked for again with `If-None-Match` and
`If-Modified-Since`, so that a page that has not changed answers `304 Not Modified` with no body,
and nothing is downloaded or parsed for it (issue 16).

What a page answered (`ETag`, `Last-Modified`) is kept per source and URL in `http_validators`,
loaded when a poll starts and written back in the poll's own transaction, so a validator is
never kept for a page whose notices were not stored. A notice that takes fields from elsewhere
(an `html` detail page also carries its list item's fields) gives a `context`, a hash of those
fields: when it changed, the page is read in full even if the server would say 304.

A server that sends no validators still spares the parse: the sha256 of each page's body is kept
too, and a page that comes back byte for byte is treated as not modified (downloaded, but not
parsed). Pages read by another version of the watcher are read in full once.

Used for `feed` sources, `html` detail pages (and one-page lists) and the detail pages of every
kind that crawls (`watcher.sources.scrape.crawl`). A page not modified comes out of `fetch()` as a
`RawPage` with `meta["not_modified"]`; the pipeline counts it (`RunResult.not_modified`) and does
not parse it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from watcher import __version__

if TYPE_CHECKING:
    import httpx

    from watcher.sources.http import Fetcher

NOT_MODIFIED = 304


@dataclass(frozen=True, slots=True)
class Validator:
    """What a page answered when it was last read in full."""

    etag: str | None
    last_modified: str | None
    context: str = ""
    content_hash: str | None = None


def context_of(value: Any) -> str:
    """A short, stable hash of what a page's notice takes from elsewhere (JSON-able)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _context(context: str) -> str:
    # A new version of the watcher may read pages differently (a parser that extracts more):
    # pages stored by another version are read in full once.
    return f"{__version__}:{context}"[:64]


class Validators:
    """The validators of one source's pages for one poll: those stored, and those its answers
    brought (thread-safe: detail pages may be fetched by several threads)."""

    def __init__(self, known: dict[str, Validator] | None = None) -> None:
        self.known = dict(known or {})
        self.fresh: dict[str, Validator] = {}
        self.not_modified = 0
        self._lock = threading.Lock()

    def headers(self, url: str, context: str = "") -> dict[str, str]:
        """The conditional headers for `url`: none for a page never read, or whose context
        changed."""
        found = self.known.get(url)
        if found is None or found.context != _context(context):
            return {}
        headers: dict[str, str] = {}
        if found.etag:
            headers["If-None-Match"] = found.etag
        if found.last_modified:
            headers["If-Modified-Since"] = found.last_modified
        return headers

    def answered(self, url: str, response: httpx.Response, context: str = "") -> bool:
        """Note what an answer to `url` says; True when the page is as it was: a 304 to our
        conditional request, or the same bytes as last time (nothing to parse either way)."""
        etag = response.headers.get("etag")
        modified = response.headers.get("last-modified")
        context = _context(context)
        with self._lock:
            old = self.known.get(url)
            same_context = old is not None and old.context == context
            if response.status_code == NOT_MODIFIED and old is not None and same_context:
                self.not_modified += 1
                if (etag and etag != old.etag) or (modified and modified != old.last_modified):
                    self.fresh[url] = Validator(
                        etag or old.etag, modified or old.last_modified, context, old.content_hash
                    )
                return True
            digest = hashlib.sha256(response.content).hexdigest()
            fresh = Validator(etag, modified, context, digest)
            if fresh != old:
                self.fresh[url] = fresh
            if same_context and old is not None and old.content_hash == digest:
                self.not_modified += 1
                return True
            return False


def conditional_get(fetcher: Fetcher, url: str, context: str = "") -> httpx.Response | None:
    """GET `url`, conditionally when the fetcher carries validators; None when the page answered
    304 (not modified). Without validators (tests, `watcher match`), a plain GET."""
    validators = fetcher.validators
    if validators is None:
        return fetcher.get(url)
    response = fetcher.get(url, headers=validators.headers(url, context))
    return None if validators.answered(url, response, context) else response
