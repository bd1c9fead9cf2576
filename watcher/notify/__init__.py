"""Alerts by e-mail and other channels, each delivered once, none lost while the server is down.

    events ──ledger.enqueue──▶ deliveries ──ledger.due──▶ render ──▶ SmtpMailer / AppriseChannel
                                   ▲                                      │
                                   └────── sent / retry with backoff ◀────┘

`deliver_pending()` is one delivery round; `watcher run --once`, the scheduler (after each poll) and
`watcher notify` call it. `alert_maintainers()` tells the maintainers about a broken source, never
the subscribers. Modules: `ledger` (what is due, at most once), `render` (templates), `smtp` /
`memory` (the `Mailer`s), `apprise_channel`, `subscribers` (adding, confirming, masking).

The names below are loaded from `watcher.notify.delivery` on first use, so that reading the mail
settings (`watcher.notify.settings`, which every command checks at start-up) does not load the
database layer (issue 29: a command's fixed cost).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from watcher.notify.delivery import (
        OVERFLOW_SHOWN,
        Channel,
        DeliveryReport,
        after_poll,
        alert_maintainers,
        deliver_pending,
        make_mailer,
        utcnow,
    )

__all__ = [
    "OVERFLOW_SHOWN",
    "Channel",
    "DeliveryReport",
    "after_poll",
    "alert_maintainers",
    "deliver_pending",
    "make_mailer",
    "utcnow",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("watcher.notify.delivery"), name)
    raise AttributeError(f"module 'watcher.notify' has no attribute {name!r}")
