"""What follows a round of polls, the same for `watcher run --once` and for the scheduler:
documents (when enabled), companies, deadline reminders, feeds, the audit of what the polls wrote
(a share of incomplete notices that jumps opens a maintainers' alert), then alerts.

Nothing here makes a poll fail: a problem is logged and reported, and what could not be done (an
alert, a feed) is done at the next round.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Sequence
from pathlib import Path

from watcher.db.session import session_scope
from watcher.pipeline.clock import utcnow
from watcher.pipeline.maintenance import remind_deadlines
from watcher.pipeline.remedies import remind_remedies
from watcher.pipeline.runtime import Runtime
from watcher.records import RunResult

log = logging.getLogger("watcher.pipeline.cycle")


def os_error_text(exc: OSError) -> str:
    """`No space left on device: /data/feeds/all.atom`: an OS error in one line."""
    text = exc.strerror or str(exc) or type(exc).__name__
    return f"{text}: {exc.filename}" if exc.filename else text


def _feeds_outdated(runtime: Runtime) -> str | None:
    from watcher.publish.manifest import feeds_outdated  # noqa: PLC0415

    with runtime.sessions() as session:
        return feeds_outdated(session, runtime.settings.data_dir / "feeds")


DATA_DIR_FIX = "or set WATCHER_DATA_DIR to a folder you can write"


def feeds_error(out: Path, exc: OSError, *, fix: str = DATA_DIR_FIX) -> str:
    """One line for a feeds folder that cannot be written, naming the setting and the fix."""
    why = exc.strerror or type(exc).__name__
    where = exc.filename or out
    return f"cannot write the feeds in {out} ({why}: {where}); make that folder writable, {fix}"


def publish_feeds(runtime: Runtime) -> str:
    """Write every feed under `$WATCHER_DATA_DIR/feeds`; a line saying what changed.

    A folder that cannot be written is one logged line (and the line returned), never a traceback:
    the feeds are written at the next round."""
    from watcher.publish.feeds import write_feeds  # noqa: PLC0415 - feedgen is heavy

    out = runtime.settings.data_dir / "feeds"
    try:
        with runtime.sessions() as session:
            written = write_feeds(session, runtime.settings, out, sites=runtime.matcher.site_slugs)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:  # a full disk: the data is in the database, feeds come next
            log.error("feeds: not written: %s", os_error_text(exc))
            return (
                f"error: feeds not written ({os_error_text(exc)}); "
                "they are rebuilt at the next run once there is room"
            )
        return "error: feeds not written: " + feeds_error(out, exc)
    return f"feeds: {len(written)} file(s) updated in {out}"


def refresh(runtime: Runtime) -> str:
    """Bring the companies up to date with the award notices (`watcher.companies.store`: only
    the notices the round added or changed are read again); a line."""
    from watcher.companies.store import (  # noqa: PLC0415
        Skipped,
        overrides_path,
        read_overrides,
        update_companies,
    )

    skipped = Skipped()
    try:
        overrides = read_overrides(overrides_path(runtime.settings.sources))
        with session_scope(runtime.sessions) as session:
            count = update_companies(session, overrides, utcnow(), skipped)
    except Exception as exc:  # noqa: BLE001 - companies are rebuilt at the next round
        log.error("companies: %s", exc)
        return f"companies: not rebuilt this time ({exc})"
    return f"companies: {count}" + skipped.line()


def _has_companies(runtime: Runtime) -> bool:
    from sqlalchemy import select  # noqa: PLC0415

    from watcher.db.models import Company  # noqa: PLC0415

    with runtime.sessions() as session:
        return session.scalar(select(Company.id).limit(1)) is not None


def after_polls(runtime: Runtime, results: Sequence[RunResult]) -> list[str]:
    """Documents, reminders, feeds and alerts after `results`; lines for a person to read."""
    lines: list[str] = []
    from watcher.db.search import fill_deferred  # noqa: PLC0415

    with session_scope(runtime.sessions) as session:  # the polls' words, searchable from now
        fill_deferred(session)
    try:
        from watcher.documents.settings import load_documents_settings  # noqa: PLC0415

        settings = load_documents_settings()
        if settings.enabled:
            from watcher.documents.sync import sync_documents  # noqa: PLC0415

            lines.append(sync_documents(runtime, settings=settings).summary())
    except Exception as exc:  # noqa: BLE001 - documents are retried at the next round
        log.error("documents: %s", exc)
        lines.append(f"documents: not synced this time ({exc})")
    if any(r.new or r.changed for r in results) or not _has_companies(runtime):
        lines.append(refresh(runtime))
    with session_scope(runtime.sessions) as session:
        reminders = remind_deadlines(session, utcnow(), runtime.settings.deadline_soon_days)
        reminders += remind_remedies(session, utcnow())
    if reminders:
        lines.append(f"{reminders} deadline reminder(s)")
    # Feeds a failed build left missing or stale are rebuilt without waiting for an event.
    if reminders or any(r.events for r in results) or _feeds_outdated(runtime):
        lines.append(publish_feeds(runtime))
    from watcher.pipeline.audit import audit_after_polls  # noqa: PLC0415 - issue 13

    lines.extend(audit_after_polls(runtime, results, utcnow()))  # before the maintainers' alerts
    from watcher.notify import after_poll  # noqa: PLC0415 - alerts wait, never fail the run

    if alerts := after_poll(runtime, results):
        lines.append(alerts)
    return lines
