"""The one error family of the watcher.

    WatcherError                  anything the CLI turns into a one-line message and exit 1
    ├── ConfigError               sources.yaml, rules or environment settings are wrong
    ├── FetchError                a portal could not be read (HTTP error, too large, bad answer)
    │   ├── RetryableFetchError   a passing fault: 5xx, 429, timeout, reset; worth another try
    │   ├── TooLargeError         an answer larger than the size cap (not retried)
    │   ├── DeadlineError         a request or a poll took longer than its deadline (not retried)
    │   └── RefusedURLError       a URL named by a portal leads to a private address (netguard)
    ├── ParseError                a portal answered, but not with what we can read
    ├── StorageError              the database is unreachable or locked
    └── DeliveryError             an alert could not be delivered (it stays pending)

A failing source is caught in `pipeline.py`, recorded on the source's poll state, and never stops
the other sources.
"""

from __future__ import annotations


class WatcherError(Exception):
    """Base class: an expected failure with a message meant for a person, not a traceback."""


class ConfigError(WatcherError):
    """Raised by `config.py` and `settings.py` when a file or a setting is invalid.

    `problems` holds one line per problem, each naming the file, the source and the key.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class FetchError(WatcherError):
    """Raised by `http.py` (and sources) when a portal cannot be read; the poll fails."""


class RetryableFetchError(FetchError):
    """Raised by `http.py` for a passing fault (5xx, 429, timeout, reset); retried with backoff."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooLargeError(FetchError):
    """Raised by `http.py` when an answer is larger than the fetcher's `max_bytes` cap."""


class DeadlineError(FetchError):
    """Raised by `http.py` when a request or a poll outlasts its overall deadline
    (`WATCHER_HTTP_DEADLINE`, `WATCHER_POLL_DEADLINE`, see `watcher.sources.time_limits`); not retried."""


class RefusedURLError(FetchError):
    """Raised by `netguard.py` (through `http.py`'s hooks) when a URL a portal named is not http(s)
    or leads to a loopback, private, link-local or other non-public address; never retried."""

    def __init__(self, message: str, reason: str = "address") -> None:
        super().__init__(message)
        self.reason = reason


class ParseError(WatcherError):
    """Raised by a source's `parse()` when the answer is not what the portal should send."""


class StorageError(WatcherError):
    """Raised by `db/` when the database cannot be reached, migrated or locked."""


class DeliveryError(WatcherError):
    """Raised by notifiers when an alert cannot be delivered now; the alert stays pending."""
