"""The `Mailer` seam between rendering and sending, and what a failed send means for the ledger.

DeliveryError          the alert was not delivered now; it stays pending and is retried
├── MailServerDown     nothing can be sent now (refused, timeout, bad login): stop this round
└── RecipientRejected  the server refused this recipient or message for good: never retried
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol

from watcher.errors import DeliveryError


class MailServerDown(DeliveryError):
    """Raised by a `Mailer` when the server cannot be reached or refuses us; every alert waits."""


class RecipientRejected(DeliveryError):
    """Raised by a `Mailer` for a permanent (5xx) refusal of one recipient or message."""


class Mailer(Protocol):
    """Sends rendered e-mails. Chosen by settings: `SmtpMailer`, or `MemoryMailer` in tests."""

    def send(self, message: EmailMessage) -> None:
        """Hand one message to the mail server; raise a `DeliveryError` when it was not taken."""

    def close(self) -> None:
        """Let go of any open connection."""
