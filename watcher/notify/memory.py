"""`MemoryMailer`: keeps messages in a list instead of sending them (tests, dry runs)."""

from __future__ import annotations

from email.message import EmailMessage

from watcher.errors import DeliveryError


class MemoryMailer:
    """A `Mailer` that records every message; set `failure` to make the next sends raise it."""

    def __init__(self) -> None:
        self.outbox: list[EmailMessage] = []
        self.failure: DeliveryError | None = None
        self.closed = False

    def send(self, message: EmailMessage) -> None:
        """Record the message, or raise `failure` when one is set."""
        if self.failure is not None:
            raise self.failure
        self.outbox.append(message)

    def close(self) -> None:
        """Nothing to close; remembered for tests."""
        self.closed = True
