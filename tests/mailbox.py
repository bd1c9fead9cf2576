"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), that can be stopped and started again
on the same port, like a mail server going down and coming back."""

from __future__ import annotations

import asyncio
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


class _Collect:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        if self.box.delay:  # a slow server: the client waits for its "250 OK"
            self.box.data_started += 1
            await asyncio.sleep(self.box.delay)
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.box.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mailbox:
    """`box.url` for WATCHER_SMTP_URL; `box.received` holds (recipients, message) in order."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.delay = 0.0  # seconds to wait before accepting a message's DATA
        self.data_started = 0  # messages whose DATA the server started to wait on
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(_Collect(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[EmailMessage]:
        """Messages received for `address`."""
        return [m for rcpts, m in self.received if address in rcpts]
