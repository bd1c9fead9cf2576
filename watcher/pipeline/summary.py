"""What a round of polls did, in one line for a person (`watcher run --once`, the scheduler).

    summary: 5 of 7 sources polled, 2 failed (ted, place); 3 new, 1 changed, 4 event(s)

When no source could be reached at all, a second line says so in words and points at the offline
demonstration, so that a first run without network explains itself (issue 19).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from watcher.core.normalize import PARIS
from watcher.records import RunResult
from watcher.sources.netdiag import UNREACHABLE, all_offline

OFFLINE = (
    f"none of the portals could be reached: {UNREACHABLE}. Nothing was lost; the next run tries "
    "again. To see the site with sample data and no network, run `watcher demo`."
)


def round_summary(results: Sequence[RunResult]) -> list[str]:
    """One summary line (and the offline hint when nothing could be reached)."""
    polled = [r for r in results if not r.skipped]
    failed = [r for r in polled if not r.ok]
    skipped = len(results) - len(polled)
    line = f"summary: {len(polled) - len(failed)} of {len(results)} source(s) polled"
    if failed:
        line += f", {len(failed)} failed ({', '.join(r.source for r in failed)})"
    if skipped:
        line += f", {skipped} skipped"
    new = sum(r.new for r in polled)
    changed = sum(r.changed for r in polled)
    events = sum(r.events for r in polled)
    line += f"; {new} new, {changed} changed, {events} event(s)"
    lines = [line]
    if polled and len(failed) == len(polled) and all_offline([r.error or "" for r in failed]):
        lines.append(OFFLINE)
    return lines


def local_time(moment: dt.datetime) -> str:
    """`03/12/2026 14:00 CET`: a moment in Paris time, with its zone."""
    return moment.astimezone(PARIS).strftime("%d/%m/%Y %H:%M %Z")
