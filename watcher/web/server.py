"""The Starlette application and `watcher serve` (web server + scheduler in one process)."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email.utils import format_datetime
from typing import Any

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from watcher.db.queries import feed_state, latest_events
from watcher.publish.feeds import all_feed
from watcher.runtime import Runtime

log = logging.getLogger("watcher.web")
ATOM = "application/atom+xml; charset=utf-8"


class FeedCache:
    """Built feeds by (name, lang), rebuilt only when the events table changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], tuple[tuple[int, int], bytes, str, str | None]] = {}

    def get(
        self, runtime: Runtime, name: str, lang: str, build: Callable[[], bytes]
    ) -> tuple[bytes, str, str | None]:
        """(body, etag, last-modified) for a feed, from cache when nothing changed."""
        with runtime.sessions() as session:
            state = feed_state(session)
            cached = self._items.get((name, lang))
            if cached and cached[0] == state:
                return cached[1], cached[2], cached[3]
            body = build()
            newest = latest_events(session, limit=1)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        modified = format_datetime(newest[0].created_at, usegmt=True) if newest else None
        with self._lock:
            self._items[(name, lang)] = (state, body, etag, modified)
        return body, etag, modified


def conditional(
    request: Request, body: bytes, etag: str, modified: str | None, media: str
) -> Response:
    """200 with validators, or 304 when the client already has this version."""
    headers = {"ETag": etag, "Cache-Control": "public, max-age=60"}
    if modified:
        headers["Last-Modified"] = modified
    inm = request.headers.get("if-none-match")
    if inm and etag in [tag.strip() for tag in inm.split(",")] + (["*"] if inm == "*" else []):
        return Response(status_code=304, headers=headers)
    if not inm and modified and request.headers.get("if-modified-since") == modified:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media, headers=headers)


def create_app(runtime: Runtime, *, lifespan: Any = None) -> Starlette:
    """The web application over `runtime`'s database."""
    cache = FeedCache()

    async def feed_all(request: Request) -> Response:
        lang = "en" if request.query_params.get("lang") == "en" else "fr"

        def build() -> bytes:
            with runtime.sessions() as session:
                return all_feed(session, runtime.settings, lang)

        body, etag, modified = await run_in_threadpool(cache.get, runtime, "all", lang, build)
        return conditional(request, body, etag, modified, ATOM)

    async def healthz(_request: Request) -> Response:
        def check() -> None:
            with runtime.engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(check)
        except Exception as exc:  # noqa: BLE001 - health reports, never raises
            return JSONResponse({"status": "error", "database": str(exc)[:200]}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    async def index(_request: Request) -> Response:
        return PlainTextResponse("detention-watcher: see /feeds/all.atom\n")

    routes = [
        Route("/", index),
        Route("/feeds/all.atom", feed_all),
        Route("/healthz", healthz),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def serve(runtime: Runtime, *, host: str, port: int, scheduler: bool = True) -> None:
    """Run the web server and, unless disabled, the scheduler, until SIGTERM/Ctrl-C."""
    runtime.engine  # noqa: B018 - migrate before serving
    sources = runtime.config.build() if scheduler else []

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        sched = None
        if sources:
            from watcher.scheduler import build_scheduler  # noqa: PLC0415

            sched = build_scheduler(runtime, sources)
            sched.start()
            log.info("scheduler started with %d sources", len(sources))
        try:
            yield
        finally:
            if sched is not None:
                sched.shutdown(wait=False)

    app = create_app(runtime, lifespan=lifespan)
    log.info("serving on http://%s:%d/ (feeds at /feeds/all.atom)", host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)
