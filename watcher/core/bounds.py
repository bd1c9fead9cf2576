"""Per-notice caps (issue 26, row 2): what one record may bring, whatever the portal sends.

One award notice naming 6,000 winners made 6,000 company feeds of 1.3 MB each (28 GB, 390 s).
`cap_notice()` keeps the first `winners` names (of the notice and of each lot), the first
`lots` lots and `text` characters of the description (1,000 of a title or buyer), and says
what was cut in the notice's `flags`, a parser's doubt shown and counted by `watcher audit`
(`cut: 6000 winners, the first 100 kept`). Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from watcher.records import Lot, NoticeRecord

SHORT_TEXT = 1_000  # characters of a title or a buyer's name


@dataclasses.dataclass(frozen=True, slots=True)
class NoticeCaps:
    """How much of one notice is kept (`WATCHER_NOTICE_MAX_*`)."""

    winners: int = 100
    lots: int = 200
    text: int = 20_000


def cap_notice(record: NoticeRecord, caps: NoticeCaps) -> NoticeRecord:
    """`record` within `caps`, with a `cut: …` doubt for each thing cut."""
    cut: list[str] = []
    changes: dict[str, Any] = {}
    if len(record.winners) > caps.winners:
        cut.append(f"cut: {len(record.winners)} winners, the first {caps.winners} kept")
        changes["winners"] = record.winners[: caps.winners]
    lots = record.lots
    if len(lots) > caps.lots:
        cut.append(f"cut: {len(lots)} lots, the first {caps.lots} kept")
        lots = lots[: caps.lots]
    if any(len(lot.winners) > caps.winners or _long(lot, caps) for lot in lots):
        most = max(len(lot.winners) for lot in lots)
        if most > caps.winners:
            cut.append(f"cut: a lot with {most} winners, the first {caps.winners} kept")
        lots = tuple(_cap_lot(lot, caps) for lot in lots)
    if lots is not record.lots:
        changes["lots"] = lots
    for name, limit in (("title", SHORT_TEXT), ("buyer", SHORT_TEXT), ("description", caps.text)):
        value = getattr(record, name)
        if isinstance(value, str) and len(value) > limit:
            cut.append(f"cut: {name} of {len(value)} characters, the first {limit} kept")
            changes[name] = value[: limit - 1] + "…"
    if not changes:
        return record
    flags = record.flags + tuple(c for c in cut if c not in record.flags)
    return dataclasses.replace(record, flags=flags, **changes)


def _long(lot: Lot, caps: NoticeCaps) -> bool:
    return len(lot.title or "") > SHORT_TEXT or len(lot.description or "") > caps.text


def _cap_lot(lot: Lot, caps: NoticeCaps) -> Lot:
    title, description = lot.title, lot.description
    if title and len(title) > SHORT_TEXT:
        title = title[: SHORT_TEXT - 1] + "…"
    if description and len(description) > caps.text:
        description = description[: caps.text - 1] + "…"
    return dataclasses.replace(
        lot, winners=lot.winners[: caps.winners], title=title, description=description
    )
