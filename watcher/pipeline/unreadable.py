"""Records a poll could not read (issue 26): kept as evidence in `<data dir>/unreadable/<source>/`.

One file per distinct record (named by the sha256 of its text, so a record that stays unreadable
poll after poll is kept once), headed by the page's URL, the record's id when one shows, the time
and the reason; at most `KEEP_PER_POLL` files a poll. A file that cannot be written (a full disk)
is logged, never a failed poll.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from pathlib import Path

from watcher.records import RawPage, Unreadable

log = logging.getLogger("watcher.pipeline.unreadable")
KEEP_PER_POLL = 100


def folder(data_dir: Path, source: str) -> Path:
    """Where the unreadable records of `source` are kept."""
    return data_dir / "unreadable" / source


def keep(
    data_dir: Path, source: str, items: list[tuple[RawPage, Unreadable]], now: dt.datetime
) -> int:
    """Write the evidence of `items`; the number of files written."""
    if not items:
        return 0
    where = folder(data_dir, source)
    written = 0
    try:
        where.mkdir(parents=True, exist_ok=True)
        for page, item in items[:KEEP_PER_POLL]:
            digest = hashlib.sha256(item.raw.encode("utf-8", "replace")).hexdigest()[:24]
            path = where / f"{digest}.txt"
            if path.exists():
                continue
            head = (
                f"source: {source}\nurl: {page.url}\nid: {item.native_id or '?'}\n"
                f"when: {now.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}\nreason: {item.reason}\n\n"
            )
            part = path.with_suffix(".part")
            part.write_text(head + item.raw, encoding="utf-8", errors="replace")
            os.replace(part, path)
            written += 1
    except OSError as exc:
        log.warning("%s: unreadable records not kept (%s)", source, exc)
    first = items[0][1]
    log.warning(
        "%s: %d unreadable record(s) skipped, e.g. %s: %s (kept in %s)",
        source,
        len(items),
        first.native_id or "?",
        first.reason,
        where,
    )
    return written
