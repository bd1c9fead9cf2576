"""The public address comes from `WATCHER_BASE_URL`, never from the request's `Host` (issue 26).

Starlette builds absolute redirects from the `Host` header: `Host: evil.example` on `/subscribe/`
answered `Location: http://evil.example/subscribe`, a redirect to the attacker's site (cache
poisoning behind a shared proxy). `BaseUrlRedirects` rewrites every absolute `Location` whose
host is not the configured one onto `WATCHER_BASE_URL`, keeping path and query; redirects the
site means to send elsewhere are never built from `Host` and are left alone.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BaseUrlRedirects:
    """ASGI middleware: a redirect to the request's own `Host` goes to the base URL instead."""

    def __init__(self, app: ASGIApp, base_url: str) -> None:
        self.app = app
        self.base = base_url.rstrip("/")
        self.netloc = urlsplit(base_url).netloc.lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; fix the `Location` of its answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1").lower()

        async def send_fixed(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                message["headers"] = [self._fixed(k, v, host) for k, v in message["headers"]]
            await send(message)

        await self.app(scope, receive, send_fixed)

    def _fixed(self, key: bytes, value: bytes, host: str) -> tuple[bytes, bytes]:
        if key.lower() != b"location":
            return key, value
        parts = urlsplit(value.decode("latin-1"))
        if not parts.netloc or parts.netloc.lower() == self.netloc:
            return key, value
        if host and parts.netloc.lower() != host:
            return key, value  # a redirect to another site, on purpose (not from `Host`)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return key, (self.base + path).encode("latin-1")
