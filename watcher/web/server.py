"""The Starlette application and `watcher serve` (web server + scheduler in one process)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from watcher.pipeline.runtime import Runtime
from watcher.web import api, feeds, metrics
from watcher.web.pages import Pages
from watcher.web.subscribe import routes as subscribe_routes

log = logging.getLogger("watcher.web")


def create_app(runtime: Runtime, *, lifespan: Any = None) -> Starlette:
    """The web application over `runtime`'s database."""

    async def healthz(_request: Request) -> Response:
        def check() -> None:
            with runtime.engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(check)
        except Exception as exc:  # noqa: BLE001 - health reports, never raises
            return JSONResponse({"status": "error", "database": str(exc)[:200]}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    pages = Pages(runtime)
    routes = [
        *pages.routes(),
        *api.routes(runtime),
        *metrics.routes(runtime),
        *feeds.routes(runtime),
        *subscribe_routes(runtime),
        Route("/healthz", healthz),
    ]
    handlers: dict[Any, Any] = {404: pages.not_found, 405: pages.not_found}
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)


def serve(runtime: Runtime, *, host: str, port: int, scheduler: bool = True) -> None:
    """Run the web server and, unless disabled, the scheduler, until SIGTERM/Ctrl-C; exit 0.

    On SIGTERM the server stops taking requests, the scheduler starts no new poll, a running
    poll gets a few seconds to finish and is otherwise abandoned (nothing of it is stored), and
    the process exits 0 well within 15 seconds.
    """
    from watcher.pipeline.scheduler import abandon, build_scheduler, stop_scheduler  # noqa: PLC0415

    clean = True

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        nonlocal clean
        sched = None
        if sources:
            sched = build_scheduler(runtime, sources)
            sched.start()
            log.info("scheduler started with %d sources", len(sources))
        try:
            yield
        finally:
            if sched is not None:
                clean = await asyncio.to_thread(stop_scheduler, sched)

    app = create_app(runtime, lifespan=lifespan)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3
    )
    server = uvicorn.Server(config)
    # uvicorn takes SIGTERM and SIGINT over while it runs and raises them again once it has
    # stopped; this handler makes that (and a signal during start-up) a clean stop, not a kill.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda sig, frame: server.handle_exit(sig, frame))
    runtime.engine  # noqa: B018 - migrate before serving
    sources = runtime.config.build() if scheduler else []
    log.info("serving on http://%s:%d/", host, port)
    server.run()
    if not clean:
        abandon()
