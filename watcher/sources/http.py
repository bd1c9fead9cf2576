"""The one HTTP seam: every request to a portal goes through a `Fetcher`.

`build_client()` sets the User-Agent, timeouts, redirects and proxy; `Fetcher` adds politeness (a
minimum interval between requests to one source), retries with backoff and jitter on passing faults
(5xx, timeouts, resets), honours `Retry-After` on 429, and caps the size of an answer. Overall
deadlines per request and per poll (`WATCHER_HTTP_DEADLINE`, `WATCHER_POLL_DEADLINE`) live in
`watcher.sources.time_limits`. Tests pass an `httpx.MockTransport` or point `base_url` at a loopback server.
"""

from __future__ import annotations

import functools
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx

from watcher.core import fastjson
from watcher.errors import FetchError, ParseError, RetryableFetchError, TooLargeError
from watcher.settings import Settings
from watcher.sources import netdiag
from watcher.sources.inflate import encodings, inflate
from watcher.sources.time_limits import DeadlineError, install, request_deadline, request_end

if TYPE_CHECKING:
    from watcher.sources.netguard import NetGuard

if TYPE_CHECKING:
    from watcher.sources.validators import Validators

MAX_BYTES = 50 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 300.0


def build_client(
    settings: Settings,
    transport: httpx.BaseTransport | None = None,
    proxy: str | None = None,
    guard: NetGuard | None = None,
) -> httpx.Client:
    """An `httpx.Client` with the watcher's User-Agent, timeouts and redirect policy; with a
    `guard` (`watcher.sources.netguard`), every request, redirect and connection is checked by it."""
    client = httpx.Client(
        event_hooks=guard.hooks() if guard is not None else None,
        headers={"User-Agent": settings.user_agent, "Accept-Language": "fr, en;q=0.8"},
        timeout=httpx.Timeout(settings.http_timeout, connect=min(10.0, settings.http_timeout)),
        follow_redirects=True,
        verify=_tls_context(),
        transport=transport,
        proxy=proxy,
    )
    install(client)  # socket waits end by the request's overall deadline
    return client


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context (the CA bundle loaded once) for every client: loading it costs ~25 ms,
    which a round of 200 feed sources paid 200 times (issue 16)."""
    return httpx.create_ssl_context()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(when.timestamp() - time.time(), 0.0), MAX_RETRY_AFTER)


class Fetcher:
    """Polite, retrying HTTP for one source. Sources never build clients themselves."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        min_interval: float = 0.0,
        retries: int = 3,
        backoff: float = 1.0,
        retry_statuses: frozenset[int] = RETRY_STATUSES,
        max_bytes: int = MAX_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        deadline: float | None = None,
        poll_deadline: float | None = None,
    ) -> None:
        self.client = client
        self.min_interval = min_interval
        self.retries = retries
        self.backoff = backoff
        self.retry_statuses = retry_statuses
        self.max_bytes = max_bytes
        self.sleep = sleep
        # Seconds one request may take in all, and the monotonic time the poll must end by.
        self.deadline = deadline or None
        self.poll_seconds = poll_deadline or None
        self.poll_end = time.monotonic() + poll_deadline if poll_deadline else None
        self.requests = 0
        self._last: float | None = None
        self._turn = threading.Lock()
        # The source's stored ETag / Last-Modified, for conditional requests (`watcher.sources.validators`).
        self.validators: Validators | None = None

    def _wait_turn(self) -> None:
        # Locked: a source that fetches from several threads (`html` with `concurrency`) still
        # starts at most one request per `min_interval`.
        with self._turn:
            if self.min_interval and self._last is not None:
                delay = self._last + self.min_interval - time.monotonic()
                if delay > 0:
                    self.sleep(delay)
            self._last = time.monotonic()
            self.requests += 1

    def _late(self, url: str, end: float) -> DeadlineError:
        if self.poll_end is not None and end >= self.poll_end:
            return DeadlineError(
                f"{_short(url)}: poll stopped after {self.poll_seconds:g} s "
                "(WATCHER_POLL_DEADLINE); nothing of it is stored"
            )
        return DeadlineError(
            f"{_short(url)}: no complete answer within {self.deadline:g} s "
            "(WATCHER_HTTP_DEADLINE); the portal is too slow"
        )

    def _once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self._wait_turn()
        end = request_end(time.monotonic(), self.deadline, self.poll_end)
        if end is not None and time.monotonic() >= end:
            raise self._late(url, end)
        try:
            with request_deadline(end), self.client.stream(method, url, **kwargs) as response:
                # One growing buffer, not a list of chunks: large buffers grow in place (mremap)
                # and go back to the system at once, so a refused answer leaves no heap behind.
                buffer = bytearray()
                size = 0
                # Decoded here, in bounded steps, so every decompressed byte counts against the
                # cap as it comes (httpx inflated `gzip, gzip` whole first: issue 26).
                codings = encodings(response.headers.get("Content-Encoding"))
                raw: Iterable[bytes] = response.iter_raw()
                if response.is_stream_consumed:  # built with its content (a mock): decoded
                    codings, raw = [], [response.content]
                for chunk in inflate(raw, codings):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise TooLargeError(
                            f"{_short(url)}: answer larger than {self.max_bytes} bytes"
                            + (" once decompressed" if codings else "")
                        )
                    if end is not None and time.monotonic() >= end:
                        raise self._late(url, end)
                    buffer += chunk
                content = bytes(buffer)
                del buffer
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            if end is not None and time.monotonic() >= end:
                raise self._late(url, end) from None
            # In words ("cannot reach the portal — check the internet connection…"); a name that
            # cannot be looked up, a proxy or TLS failure is not worth another try in seconds.
            words = netdiag.explain(exc, url)
            if netdiag.retryable(exc):
                raise RetryableFetchError(words) from None
            raise FetchError(words) from None
        except httpx.ProxyError as exc:
            raise FetchError(netdiag.explain(exc, url)) from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{_short(url)}: {type(exc).__name__}: {exc}") from None
        # The answer keeps its body as read and decoded above (what `Response.read()` would
        # set), rather than a new `Response` built around it: 60-90 µs a request (issue 29).
        for name in ("Content-Encoding", "Content-Length"):
            response.headers.pop(name, None)  # the content is decoded already
        response._content = content
        if response.status_code in self.retry_statuses:
            raise RetryableFetchError(
                f"{_short(url)}: HTTP {response.status_code}", retry_after=_retry_after(response)
            )
        if response.status_code >= 400:
            raise FetchError(f"{_short(url)}: HTTP {response.status_code} {_snippet(response)}")
        return response

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send one request, retrying passing faults; raise `FetchError` when it cannot succeed."""
        attempt = 0
        while True:
            try:
                return self._once(method, url, **kwargs)
            except RetryableFetchError as exc:
                if attempt >= self.retries:
                    raise
                delay = exc.retry_after
                if delay is None:
                    delay = self.backoff * (2**attempt) * (1 + random.random() / 2)  # noqa: S311
                self.sleep(delay)
                attempt += 1

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """GET with retries."""
        return self.request("GET", url, **kwargs)

    def get_json(self, url: str, **kwargs: Any) -> Any:
        """GET and decode JSON; an answer that is not JSON is a `ParseError` for this poll."""
        return decode_json(self.get(url, **kwargs))

    def post_json(self, url: str, body: Any, **kwargs: Any) -> Any:
        """POST a JSON body and decode the JSON answer."""
        return decode_json(self.request("POST", url, json=body, **kwargs))


def decode_json(response: httpx.Response) -> Any:
    """The JSON of an answer, or a `ParseError` that says what came instead (e.g. a maintenance page)."""
    try:
        return fastjson.loads(response.content)
    except (ValueError, RecursionError):
        raise ParseError(
            f"{_short(str(response.request.url))}: expected JSON, got "
            f"{response.headers.get('content-type', 'unknown type')}: {_snippet(response)}"
        ) from None


def _short(url: str, limit: int = 120) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"


def _snippet(response: httpx.Response, limit: int = 80) -> str:
    text = " ".join(response.content[:400].decode("utf-8", "replace").split())
    return repr(text[:limit])


def settings_fetcher(settings: Settings, client: httpx.Client, min_interval: float) -> Fetcher:
    """A `Fetcher` with the retry policy of the settings."""
    return Fetcher(
        client,
        min_interval=min_interval,
        retries=settings.http_retries,
        backoff=settings.http_backoff,
        deadline=settings.http_deadline,
    )
