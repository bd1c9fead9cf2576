"""Pure: how complete a source's notices are, so that a parser drifting is noticed (issue 13).

`audit(source, items)` counts, over a source's stored notices (their snapshots, and their raw
payloads when given), those with no deadline (calls for tenders only: an award has none), no
buyer, no CPV, no département, a département that is not a valid code, an out-of-range value,
a doubt of the parser (`flags`), and — from the raw payload, when it is read — CPV codes the
portal gave that the notice lost, and how many portal records the notices hold as evidence.
`jumps(recent, usual)` says which shares rose sharply from one poll to the usual: what the
after-poll check tells the maintainers. No I/O, no clock.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from watcher.core.places import VALID

# Shares (0..1) watched after each poll, with the reader's name of each.
CHECKS: dict[str, str] = {
    "no_deadline": "no deadline (calls for tenders)",
    "no_buyer": "no buyer",
    "no_cpv": "no CPV",
    "no_department": "no département",
    "bad_department": "malformed département",
    "bad_value": "out-of-range value",
}
# A value beyond this (ten billion, in any currency) or below zero is a parsing error.
MAX_VALUE = 1e10
# A jump: at least this many points more than usual, over at least `MIN_NOTICES` notices.
JUMP = 0.25
MIN_NOTICES = 10
# CPV codes as the portals write them in their payloads (BOAMP national and V230 keys, eForms,
# OCDS classifications as stored with sorted keys, DECP `codeCPV`).
_RAW_CPV = (
    re.compile(r'"(?:codeCPV|classPrincipale|PRINCIPAL|principal)"\s*:\s*"(\d{7,8})(?!\d)'),
    re.compile(r'"@listName"\s*:\s*"cpv"\s*,\s*"#text"\s*:\s*"(\d{8})'),
    re.compile(r'"id"\s*:\s*"(\d{8})"\s*,\s*"scheme"\s*:\s*"CPV"'),
)


@dataclass(slots=True)
class Audit:
    """The counts for one source; `calls` is the number of calls for tenders (type `notice`)."""

    source: str
    notices: int = 0
    calls: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHECKS, 0))
    flagged: int = 0
    lost_cpv: int = 0
    records: int = 0  # portal records held as evidence (a DECP contract may hold several)
    raw_read: bool = False
    # Issue 24: a zero shown as an amount, awards closed without a winner, subcontractors the
    # payload names that the notice does not carry.
    zero_shown: int = 0
    unsuccessful: int = 0
    unread_subcontractors: int = 0

    def share(self, check: str) -> float:
        """The share of notices (of calls for tenders, for deadlines) that fail `check`."""
        total = self.calls if check == "no_deadline" else self.notices
        return self.counts[check] / total if total else 0.0

    def lines(self) -> list[str]:
        """The report a maintainer reads."""
        out = [f"{self.source}: {self.notices} notice(s), {self.calls} call(s) for tenders"]
        for check, name in CHECKS.items():
            total = self.calls if check == "no_deadline" else self.notices
            out.append(f"  {name}: {self.counts[check]} ({_percent(self.counts[check], total)})")
        out.append(f"  parser doubts (flags): {self.flagged}")
        out.append(f"  zero amounts shown as amounts: {self.zero_shown}")
        out.append(f"  unsuccessful awards (no winner): {self.unsuccessful}")
        if self.raw_read:
            out.append(f"  CPV given by the portal but lost: {self.lost_cpv}")
            out.append(f"  portal records kept as evidence: {self.records}")
            out.append(
                f"  subcontractors named by the portal but not read: {self.unread_subcontractors}"
            )
        return out


def _percent(part: int, total: int) -> str:
    return f"{100 * part / total:.1f}%" if total else "—"


def _cpvs(snap: Mapping[str, Any]) -> set[str]:
    codes = {str(c)[:8] for c in snap.get("cpv") or []}
    codes |= {str(c)[:8] for lot in snap.get("lots") or [] for c in lot.get("cpv") or []}
    return codes


def raw_cpvs(raw: str) -> set[str]:
    """The CPV codes a raw payload gives, 8 digits (a 7-digit DECP code left-padded)."""
    # BOAMP keeps `donnees` as a JSON string inside the record: its quotes are escaped.
    text = raw.replace('\\"', '"')
    return {m.group(1).zfill(8) for pattern in _RAW_CPV for m in pattern.finditer(text)}


def raw_records(raw: str) -> int:
    """How many portal records a notice's raw payload holds (a JSON list: its versions)."""
    if raw.startswith("["):
        try:
            found = json.loads(raw)
        except ValueError:
            return 1
        return len(found) if isinstance(found, list) else 1
    return 1


# How a payload names a subcontractor: DECP 2022 `sousTraitant`, eForms `efac:SubContractor`.
_SUBCONTRACTOR_MARKERS = ('"sousTraitant"', '"efac:SubContractor"', '\\"efac:SubContractor\\"')


def _zero_shown(snap: Mapping[str, Any]) -> bool:
    """Whether a notice stored before issue 24 would show a zero as an amount ("Montant 0 £")."""
    lots = [lot.get("value") for lot in snap.get("lots") or [] if isinstance(lot, Mapping)]
    amounts = [a.get("amount") for a in snap.get("amounts") or [] if isinstance(a, Mapping)]
    return any(v == 0 and not isinstance(v, bool) for v in [snap.get("value"), *lots, *amounts])


def _bad_value(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    return not math.isfinite(value) or value < 0 or value > MAX_VALUE


def audit(source: str, items: Iterable[tuple[Mapping[str, Any], str | None]]) -> Audit:
    """The audit of `items`, (snapshot, raw payload or None) pairs of one source's notices."""
    out = Audit(source)
    for snap, raw in items:
        out.notices += 1
        is_call = snap.get("notice_type") == "notice"
        out.calls += int(is_call)
        departments = list(snap.get("departments") or [])
        if not departments and snap.get("department"):
            departments = [snap["department"]]
        checks = {
            "no_deadline": is_call and not snap.get("deadline"),
            "no_buyer": not snap.get("buyer"),
            "no_cpv": not _cpvs(snap),
            "no_department": not departments,
            "bad_department": any(str(code) not in VALID for code in departments),
            "bad_value": _bad_value(snap.get("value")),
        }
        for check, failed in checks.items():
            out.counts[check] += int(bool(failed))
        out.flagged += int(bool(snap.get("flags")))
        out.zero_shown += int(_zero_shown(snap))
        out.unsuccessful += int(snap.get("outcome") == "unsuccessful")
        if raw is not None:
            named = any(marker in raw for marker in _SUBCONTRACTOR_MARKERS)
            out.unread_subcontractors += int(named and not snap.get("subcontractors"))
            out.raw_read = True
            out.records += raw_records(raw)
            out.lost_cpv += len(raw_cpvs(raw) - _cpvs(snap))
    return out


def jumps(recent: Audit, usual: Audit) -> list[str]:
    """The shares that rose by `JUMP` or more in `recent` (one poll) over `usual` (the rest):
    lines such as "no deadline (calls for tenders): 80% of this poll's, usually 4%"."""
    if recent.notices < MIN_NOTICES or usual.notices < MIN_NOTICES:
        return []
    found = []
    for check, name in CHECKS.items():
        if check == "no_deadline" and (recent.calls < MIN_NOTICES or usual.calls < MIN_NOTICES):
            continue
        now, before = recent.share(check), usual.share(check)
        if now - before >= JUMP:
            found.append(f"{name}: {now:.0%} of this poll's notices, usually {before:.0%}")
    return found
