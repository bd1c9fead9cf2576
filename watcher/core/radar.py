"""The renewal radar (issue 28): when each contract ends, so the next re-tender can be prepared.

A contract's end is, in this order: the end date a notice states (eForms BT-537, OCDS
`contractPeriod.endDate`); else its start (eForms BT-536, OCDS `startDate`, DECP
`dateDebutExecution`) or, failing that, its notification (DECP `dateNotification`, eForms BT-145)
plus its duration in months, the duration of the latest amendment that states one replacing the
awarded one (an extension); otherwise unknown, never guessed. Pure: `today` is passed in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from watcher.core.calendar import add_months

HORIZONS: tuple[int, ...] = (6, 12, 24)


@dataclass(frozen=True, slots=True)
class End:
    """A contract's end date and how it was found (None: unknown)."""

    date: dt.date | None
    basis_fr: str
    basis_en: str
    notices: tuple[str, ...] = ()


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def contract_end(notices: Sequence[Mapping[str, Any]]) -> End:
    """The end of a procedure's contract from its notices' snapshots (oldest first)."""
    ident = [str(n.get("id") or "") for n in notices]
    for notice, name in zip(reversed(notices), reversed(ident), strict=True):
        stated = _date(notice.get("contract_end"))
        if stated is not None:
            return End(stated, "date de fin indiquée", "end date stated", (name,))
    start, months, used = None, None, []
    for notice, name in zip(notices, ident, strict=True):
        begins = _date(notice.get("contract_start")) or _date(notice.get("notified"))
        if begins is not None and start is None:
            start, kind = begins, "start" if notice.get("contract_start") else "notified"
            used.append(name)
        if notice.get("duration_months") is not None and months is None:
            months = int(notice["duration_months"])
            used.append(name)
        for change in notice.get("modifications") or ():
            if change.get("duration_months") is not None:
                months = int(change["duration_months"])
                used.append(name)
    if start is None or months is None:
        return End(None, "inconnue", "unknown")
    fr = "début" if kind == "start" else "notification"
    en = "start" if kind == "start" else "notification"
    return End(
        add_months(start, months),
        f"{fr} le {start:%d/%m/%Y} + {months} mois",
        f"{en} {start:%d/%m/%Y} + {months} months",
        tuple(dict.fromkeys(n for n in used if n)),
    )


def horizon(end: dt.date | None, today: dt.date) -> int | None:
    """The smallest of `HORIZONS` (months) within which `end` falls, None past them or unknown."""
    if end is None or end < today:
        return None
    return next((months for months in HORIZONS if end <= add_months(today, months)), None)
