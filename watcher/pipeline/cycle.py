"""What follows a round of polls, the same for `watcher run --once` and for the scheduler:
documents (when enabled), deadline reminders, feeds, then alerts.

Nothing here makes a poll fail: a problem is logged and reported, and what could not be done (an
alert, a feed) is done at the next round.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from watcher.db.session import session_scope
from watcher.pipeline.maintenance import remind_deadlines
from watcher.pipeline.poll import utcnow
from watcher.pipeline.runtime import Runtime
from watcher.records import RunResult

log = logging.getLogger("watcher.pipeline.cycle")


def publish_feeds(runtime: Runtime) -> str:
    """Write every feed under `$WATCHER_DATA_DIR/feeds`; a line saying what changed."""
    from watcher.publish.feeds import write_feeds  # noqa: PLC0415 - feedgen is heavy

    out = runtime.settings.data_dir / "feeds"
    with runtime.sessions() as session:
        written = write_feeds(session, runtime.settings, out, sites=runtime.matcher.site_slugs)
    return f"feeds: {len(written)} file(s) updated in {out}"


def after_polls(runtime: Runtime, results: Sequence[RunResult]) -> list[str]:
    """Documents, reminders, feeds and alerts after `results`; lines for a person to read."""
    lines: list[str] = []
    try:
        from watcher.documents.sync import load_documents_settings, sync_documents  # noqa: PLC0415

        settings = load_documents_settings()
        if settings.enabled:
            lines.append(sync_documents(runtime, settings=settings).summary())
    except Exception as exc:  # noqa: BLE001 - documents are retried at the next round
        log.error("documents: %s", exc)
        lines.append(f"documents: not synced this time ({exc})")
    with session_scope(runtime.sessions) as session:
        reminders = remind_deadlines(session, utcnow(), runtime.settings.deadline_soon_days)
    if reminders:
        lines.append(f"{reminders} deadline reminder(s)")
    if (
        reminders
        or any(r.events for r in results)
        or not (runtime.settings.data_dir / "feeds").exists()
    ):
        lines.append(publish_feeds(runtime))
    from watcher.notify import after_poll  # noqa: PLC0415 - alerts wait, never fail the run

    if alerts := after_poll(runtime, results):
        lines.append(alerts)
    return lines
