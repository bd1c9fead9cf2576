"""Bounds on the connections `watcher serve` holds open (issue 26, row 3).

uvicorn waits for a request head as long as the client likes: 1,100 connections that send one
byte every 5 s took every file descriptor of the usual 1,024 and the site answered nobody. Here
each connection must deliver its whole request (head and body) within `read_timeout` seconds of
its first byte, or it is closed; and at most `max_connections` are open at once (kept below the
process's open-file limit): a new connection beyond it closes the oldest one that is not being
answered (a slow or idle one), so a client that sends its request at once is always served.
Heads larger than `MAX_HEAD` bytes are refused (400) by h11. Counts go to `STATS` (`/metrics`).
"""

from __future__ import annotations

import asyncio
import resource
import socket
from collections import Counter
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

# Bytes of request line and headers (uvicorn's `h11_max_incomplete_event_size`).
MAX_HEAD = 16 * 1024
# Connections accepted in one go (asyncio accepts up to the backlog before any is counted).
ACCEPT_BATCH = 64
RESERVED_FILES = 256  # descriptors left for the database, logs, feeds and accept bursts
LISTEN_QUEUE = 2048  # connections the kernel holds before they are accepted
STATS: Counter[str] = Counter()  # "too_slow", "evicted"


class WideQueue(socket.socket):
    """A listening socket whose kernel queue stays `LISTEN_QUEUE` long: asyncio calls
    `listen(backlog)` with the small `ACCEPT_BATCH`, and a full queue drops a newcomer's SYN
    (a 1 s retransmission) during a flood."""

    def listen(self, backlog: int = LISTEN_QUEUE) -> None:
        """Listen with at least `LISTEN_QUEUE` pending connections."""
        super().listen(max(backlog, LISTEN_QUEUE))


def connection_cap(wanted: int) -> int:
    """`wanted`, lowered to what the open-file limit leaves room for (raised first to the hard
    limit when the soft one is lower)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(16, min(wanted, soft - RESERVED_FILES))


def protocol(read_timeout: float, max_connections: int) -> type[asyncio.Protocol]:
    """An h11 protocol class for uvicorn (`Config(http=...)`) with these bounds."""
    # Connections not being answered, oldest first: the ones a newcomer may close.
    waiting: dict[Any, None] = {}

    class Bounded(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()
            if len(self.connections) > max_connections:
                victim = next((c for c in waiting if c is not self), self)
                STATS["evicted"] += 1
                victim._drop()

        def data_received(self, data: bytes) -> None:
            if self._deadline is None:  # the next request of a kept-alive connection begins
                self._arm()
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE and self.conn.their_state is not (
                h11.SEND_BODY
            ):
                self._disarm()  # the request is in: being answered, not to be closed

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                waiting[self] = None  # idle until its next request: may make room

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            waiting[self] = None
            if self._deadline is None:
                self._deadline = self.loop.call_later(read_timeout, self._too_slow)

        def _disarm(self) -> None:
            waiting.pop(self, None)
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                STATS["too_slow"] += 1
                self._drop()

        def _drop(self) -> None:
            self._disarm()
            self.transport.abort()  # frees the descriptor now, not after a FIN handshake

    return Bounded
