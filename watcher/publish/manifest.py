"""The feeds' manifest (`.feeds-manifest`: each page's fingerprint and the newest event the last
complete build holds), and whether the feeds must be built again: read by every round
(`watcher.pipeline.cycle`) without loading the renderers (feedgen, icalendar, the pages).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from watcher.db.models import Event
from watcher.publish.catalog import CALENDAR, FORMATS, LANGS

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.orm import Session

__all__ = ["MANIFEST", "TOP", "feeds_outdated", "read_manifest"]

MANIFEST = ".feeds-manifest"
TOP = "~top_event_id"  # manifest entry: the newest event the last complete build holds


def feeds_outdated(session: Session, out: Path) -> str | None:
    """Why the feeds under `out` must be rebuilt even though nothing new happened, or None.

    A build that failed (a full disk, issue 18) leaves files missing, or the manifest of the build
    before it: the next round finds that out here and rebuilds, instead of waiting for an event.
    """
    manifest = read_manifest(out / MANIFEST)
    if not manifest:
        return "never built"
    if not (out / CALENDAR).is_file():
        return f"{CALENDAR} missing"
    for name in manifest:
        if name.startswith("~") or name == CALENDAR:  # not a feed page (checked above)
            continue
        for lang in LANGS:
            for fmt in FORMATS:
                path = f"{'en/' if lang == 'en' else ''}{name}.{fmt}"
                if not (out / path).is_file():
                    return f"{path} missing"
    if manifest.get(TOP) != str(_top_event_id(session)):
        return "older than the latest event"
    return None


def read_manifest(path: Path) -> dict[str, str]:
    """The manifest at `path`; empty when there is none or it cannot be read."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _top_event_id(session: Session) -> int:
    """`watcher.publish.reading.top_event_id`, which imports the calendar."""
    return int(session.scalar(select(func.max(Event.id))) or 0)
