"""The Starlette application and `watcher serve` (web server + scheduler in one process)."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from watcher.db.session import read_only_on_full_disk
from watcher.errors import StorageError, WatcherError
from watcher.pipeline.runtime import Runtime
from watcher.web import api, connections, feeds, metrics
from watcher.web.company_pages import routes as company_routes
from watcher.web.failsafe import FailSafe, OnceLog, database_problem
from watcher.web.hosts import BaseUrlRedirects
from watcher.web.pages import Pages
from watcher.web.radar import routes as radar_routes
from watcher.web.search_pages import routes as search_routes
from watcher.web.subscribe import routes as subscribe_routes

log = logging.getLogger("watcher.web")


def create_app(runtime: Runtime, *, lifespan: Any = None) -> Starlette:
    """The web application over `runtime`'s database."""

    once = OnceLog()

    async def healthz(_request: Request) -> Response:
        def check() -> None:
            with runtime.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                # A database emptied or dropped under a running service answers SELECT 1.
                conn.execute(text("SELECT 1 FROM sources WHERE 1 = 0"))

        try:
            await run_in_threadpool(check)
        except Exception as exc:  # noqa: BLE001 - health reports, never raises
            # The driver's text may name hosts, users or tables: the log has it, once.
            once.failed("database", f"health check: the database cannot be used ({exc!r})"[:300])
            body = {"status": "error", "database": database_problem(exc)}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    pages = Pages(runtime)
    routes = [
        *company_routes(runtime, pages),  # before `/sites/{slug}` and `/feeds/{path}`
        *radar_routes(runtime, pages),  # before `/feeds/{path}`
        *search_routes(runtime, pages),  # before `/feeds/{path}`
        *pages.routes(),
        *api.routes(runtime),
        *metrics.routes(runtime),
        *feeds.routes(runtime),
        *subscribe_routes(runtime),
        Route("/healthz", healthz),
    ]
    handlers: dict[Any, Any] = {404: pages.not_found, 405: pages.not_found}
    middleware = [
        Middleware(BaseUrlRedirects, base_url=runtime.settings.base_url),
        Middleware(FailSafe, render=pages.failure, once=once),
    ]
    return Starlette(
        routes=routes, lifespan=lifespan, exception_handlers=handlers, middleware=middleware
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on `host:port`, or a `WatcherError` saying why not and what to do."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise WatcherError(
            f"serve: --host {host}: no such address on this computer; use 127.0.0.1 (this "
            "computer only) or 0.0.0.0 (every network)"
        ) from None
    family, kind, proto, _name, address = infos[0]
    sock = connections.WideQueue(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise WatcherError(
                f"serve: port {port} on {host} is already in use (is another `watcher serve` "
                f"running?); stop it or choose another port with --port, e.g. --port {port + 1}"
            ) from None
        if exc.errno == errno.EACCES:
            raise WatcherError(
                f"serve: port {port} needs administrator rights; choose a port above 1023 "
                "with --port, e.g. --port 8080"
            ) from None
        raise WatcherError(f"serve: cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def serve(runtime: Runtime, *, host: str, port: int, scheduler: bool = True) -> None:
    """Run the web server and, unless disabled, the scheduler, until SIGTERM/Ctrl-C; exit 0.

    On SIGTERM the server stops taking requests, the scheduler starts no new poll, a running
    poll gets a few seconds to finish and is otherwise abandoned (nothing of it is stored), and
    the process exits 0 well within 15 seconds.
    """
    from watcher.pipeline.scheduler import abandon, build_scheduler, stop_scheduler  # noqa: PLC0415

    try:
        runtime.engine  # noqa: B018 - migrate before serving
    except StorageError:
        # A full data disk (issue 26): serve what the database holds, read-only, and poll
        # nothing until there is room again.
        fallback = read_only_on_full_disk(runtime.settings.db_url)
        if fallback is None:
            raise
        log.warning(
            "the data disk is full: serving what the database holds, read-only; no polls until "
            "there is room again (restart `watcher serve` then)"
        )
        runtime.__dict__["engine"] = fallback
        scheduler = False
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
    settings = runtime.settings
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=3,
        # Slow clients and connection floods (issue 26): see `watcher.web.connections`.
        http=connections.protocol(
            settings.serve_read_timeout, connections.connection_cap(settings.serve_max_connections)
        ),
        timeout_keep_alive=5,
        backlog=connections.ACCEPT_BATCH,
        h11_max_incomplete_event_size=connections.MAX_HEAD,
    )
    server = uvicorn.Server(config)
    # uvicorn takes SIGTERM and SIGINT over while it runs and raises them again once it has
    # stopped; this handler makes that (and a signal during start-up) a clean stop, not a kill.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda sig, frame: server.handle_exit(sig, frame))
    sources = runtime.config.build() if scheduler else []
    # Bind first, so that a busy port is one clear line and "serving on" is only said when true.
    sock = bind(host, port)
    log.info("serving on http://%s:%d/", host, port)
    server.run(sockets=[sock])
    if not clean:
        abandon()
