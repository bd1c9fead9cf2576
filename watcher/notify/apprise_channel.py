"""Other channels through Apprise: Matrix, Telegram, Signal (REST bridge), Mastodon, ntfy, …

A channel is a subscriber whose address is an Apprise URL (`watcher subscribers add
'tgram://BOT_TOKEN/CHAT_ID' --site dunkerque`), with the same filters, ledger and retries as an
e-mail. The URL holds a secret (a token, a phone number): it is stored in the database only, shown
masked (`tgram://***`), and Apprise's own log lines, which may name the target, are silenced while
sending. See https://github.com/caronc/apprise/wiki for every URL form.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from watcher.errors import DeliveryError

log = logging.getLogger("watcher.notify")


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence Apprise's logger (it may print targets) and its plugins' import warnings."""
    logger = logging.getLogger("apprise")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            # Apprise's e-mail plugin imports `imghdr`, deprecated in Python 3.11+.
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def usable(url: str) -> bool:
    """Whether Apprise can send to `url` (its scheme and form), checked without any network.

    `subscribers add` and every delivery ask the same question, so an address the delivery would
    refuse is refused when it is added (issue 19: `tgram://bot/chat` used to pass here and fail at
    every run)."""
    with _quiet():
        import apprise  # noqa: PLC0415

        hub: Any = apprise.Apprise()
        return bool(hub.add(url))


class AppriseChannel:
    """Sends a title and a text body to one Apprise URL; failures become `DeliveryError`."""

    def send(self, url: str, title: str, body: str) -> None:
        """Notify `url`; raise `DeliveryError` (without the URL) when it was not delivered."""
        with _quiet():
            import apprise  # noqa: PLC0415 - loads ~100 plugins; only when a channel is used

            hub: Any = apprise.Apprise()
            if not usable(url) or not hub.add(url):
                raise DeliveryError("the Apprise URL is not valid (unknown scheme or form)")
            try:
                ok = hub.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
            except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop the round
                raise DeliveryError(f"Apprise failed: {type(exc).__name__}") from None
        if not ok:
            raise DeliveryError("the channel did not accept the message")
