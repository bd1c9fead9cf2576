"""Overall deadlines for portal requests and polls (issue 18), beside the socket timeouts.

`WATCHER_HTTP_TIMEOUT` bounds each wait on the socket, not a whole answer: a portal that sends one
byte every two seconds, in its headers or its body, never trips a 5-second timeout, and the poll
never ended (later sources waited behind it). Two settings bound the total:

- `WATCHER_HTTP_DEADLINE` (default 120 s): one request, from connecting to the last byte of the
  body. Every socket read and write waits at most what is left of it (`DeadlineBackend`, wrapped
  around httpcore's network backend by `install()`), and the body is checked between chunks, so
  slow headers are cut as surely as a slow body. Not retried: the same portal would be as slow.
- `WATCHER_POLL_DEADLINE` (default 1800 s): one poll of one source, across all its requests,
  retries and polite waits. No request starts after it, and a request's own deadline never runs
  past it.

Both raise `DeadlineError` (a `FetchError`): the poll fails with one line, nothing of it is stored,
and the next sources run. `0` turns a deadline off.
"""

from __future__ import annotations

import contextvars
import time
import typing
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import httpcore
import httpx

from watcher.errors import DeadlineError

__all__ = [
    "DeadlineBackend",
    "DeadlineError",
    "install",
    "remaining",
    "request_deadline",
    "request_end",
]

# The monotonic time by which the current request must be over, in this thread (or None).
_END: contextvars.ContextVar[float | None] = contextvars.ContextVar("http_deadline", default=None)


def remaining() -> float | None:
    """Seconds left before the current request's deadline, or None when there is none."""
    end = _END.get()
    return None if end is None else end - time.monotonic()


@contextmanager
def request_deadline(end: float | None) -> Iterator[None]:
    """Within the block, socket waits of this thread stop at the monotonic time `end`."""
    token = _END.set(end)
    try:
        yield
    finally:
        _END.reset(token)


def _bounded(timeout: float | None) -> float | None:
    left = remaining()
    if left is None:
        return timeout
    if left <= 0:
        raise httpcore.ReadTimeout("deadline reached")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    """A network stream whose every wait ends by the current request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: typing.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout)))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """Wraps httpcore's network backend so that connecting, reading and writing stop at the
    current request's deadline (`request_deadline`)."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self.inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self.inner.connect_tcp(
            host, port, _bounded(timeout), local_address, socket_options
        )
        return _Stream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(self.inner.connect_unix_socket(path, _bounded(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def install(client: httpx.Client) -> int:
    """Put `DeadlineBackend` under every httpx transport of `client` (its own and its proxies');
    how many. Transports that are not httpx's (tests' `MockTransport`) are left alone: for them
    the body is still checked between chunks."""
    transports = [client._transport, *client._mounts.values()]
    done = 0
    for transport in transports:
        pool = (
            getattr(transport, "_pool", None)
            if isinstance(transport, httpx.HTTPTransport)
            else None
        )
        backend = getattr(pool, "_network_backend", None)
        if backend is None or isinstance(backend, DeadlineBackend):
            continue
        pool._network_backend = DeadlineBackend(backend)  # type: ignore[union-attr]
        done += 1
    return done


def request_end(now: float, seconds: float | None, poll_end: float | None) -> float | None:
    """When a request started at `now` must end: its own deadline, never past the poll's."""
    ends = [end for end in (now + seconds if seconds else None, poll_end) if end is not None]
    return min(ends) if ends else None
