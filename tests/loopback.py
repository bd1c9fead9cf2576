"""A tiny programmable HTTP server on 127.0.0.1 for tests: portals that speak from fixtures."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str]

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0  # seconds to wait before answering (timeouts)
    truncate: bool = False  # promise more bytes than are sent, then hang up
    reset: bool = False  # reset the connection instead of answering
    drip: float = 0.0  # send the body one byte every `drip` seconds (a slow portal)
    drip_headers: bool = False  # ... and the status line and headers too


Handler = Callable[[Request], Reply]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up (a test's timeout) is not an error of the portal."""


class LoopbackServer:
    """`with LoopbackServer(handler) as server: server.url` — every request is recorded."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    body,
                    {k.lower(): v for k, v in self.headers.items()},
                )
                outer.requests.append(request)
                reply = outer.handler(request)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.reset:
                    # SO_LINGER 0: close() sends a TCP reset.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    return
                if reply.drip:
                    self._drip(reply)
                    return
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                extra = 1000 if reply.truncate else 0
                self.send_header("Content-Length", str(len(reply.body) + extra))
                self.end_headers()
                self.wfile.write(reply.body)
                if reply.truncate:
                    self.close_connection = True

            def _drip(self, reply: Reply) -> None:
                head = f"HTTP/1.1 {reply.status} OK\r\n" + "".join(
                    f"{k}: {v}\r\n" for k, v in reply.headers.items()
                )
                head += f"Content-Length: {len(reply.body)}\r\nConnection: close\r\n\r\n"
                self.close_connection = True
                slow = (head.encode() if reply.drip_headers else b"") + reply.body
                if not reply.drip_headers:
                    self.wfile.write(head.encode())
                    self.wfile.flush()
                for byte in slow:
                    time.sleep(reply.drip)
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:
                        return  # the client gave up

            do_GET = _serve
            do_POST = _serve

            def log_message(self, *_args: object) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
