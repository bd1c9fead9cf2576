"""When the service itself is in trouble (the database dropped or unreachable): a styled page in
the reader's language, JSON for the API, and one log line per failure, not a traceback per request.

`FailSafe` is an ASGI middleware around the application's routes. A database error becomes a 503
page ("the database does not answer right now; try again in a few minutes"); anything else a 500
page. The log says each distinct failure once, until a request succeeds again (issue 19: three
requests used to log 480 lines). `database_problem()` is the short, secret-free text `/healthz`
reports instead of the driver's message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from watcher.errors import StorageError

log = logging.getLogger("watcher.web")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Render = Callable[[Request, int, str], Response]


def is_database_error(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be used (dropped, unreachable, locked)."""
    return isinstance(exc, SQLAlchemyError | StorageError)


def database_problem(exc: BaseException) -> str:
    """What `/healthz` says: a class of problem, never the driver's text (it may name tables,
    hosts or users)."""
    return "unreachable" if is_database_error(exc) else "error"


class OnceLog:
    """Logs each distinct failure once until `ok()` says things work again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._said: set[str] = set()

    def failed(self, key: str, message: str, *, exc: BaseException | None = None) -> None:
        """Log `message` unless the failure `key` was already logged in this streak."""
        with self._lock:
            if key in self._said:
                return
            self._said.add(key)
        if exc is not None:
            log.error(message, exc_info=exc)
        else:
            log.error(message)

    def ok(self) -> None:
        """A request succeeded: the next failure is news again."""
        with self._lock:
            if self._said:
                self._said.clear()
                log.info("the service answers normally again")


class FailSafe:
    """ASGI middleware: unexpected errors become styled pages and one log line each."""

    def __init__(self, app: Any, render: Render, once: OnceLog) -> None:
        self.app = app
        self.render = render
        self.once = once

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request; on an unhandled error answer 503/500 once the cause is logged."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        status = 0

        async def tracking(message: MutableMapping[str, Any]) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started, status = True, int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:  # noqa: BLE001 - the service answers whatever went wrong
            database = is_database_error(exc)
            if database:
                detail = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
                self.once.failed(
                    "database",
                    f"the database cannot be used ({type(exc).__name__}: {detail}); pages answer "
                    "503 until it is back",
                )
            else:
                self.once.failed(
                    f"{type(exc).__name__}:{exc}", f"error while serving a page: {exc!r}", exc=exc
                )
            if started:
                return
            code = 503 if database else 500
            request = Request(scope, receive)
            if request.url.path.startswith(("/api/", "/feeds/")):
                text = "database unavailable" if database else "internal error"
                response: Response = JSONResponse({"error": text}, status_code=code)
            else:
                response = self.render(request, code, "database" if database else "error")
            await response(scope, receive, send)
            return
        if status and status < 500:
            self.once.ok()
