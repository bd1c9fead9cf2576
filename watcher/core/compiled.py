"""Pure rules: what a procedure is *now*, compiled from the snapshots of all its notices.

The same idea as OCDS's `compiledRelease` (issue 23): the procedure's notices are read in the order
they tell its story (publication date, then phase: `phases.ORDER`), and each fact takes the value of
the last notice that states it, as ocdsmerge merges releases (a field a notice leaves empty keeps the
earlier value; lots are merged by their number, as ocdsmerge merges arrays of objects by `id`;
documents and winners are the union of what the notices state). Unlike a release, every fact keeps
**which notice stated it** (`from`: notice id, reference and portal), so a page can say where a
deadline or an amount comes from.

Facts have their own rules where a plain "last wins" would mislead:

- `title`: the latest call for tenders' title; a prior information notice's only while no other
  notice exists, then any other notice's (an award alone).
- `deadline`: the latest one a call or a corrigendum states (an award gives none).
- `estimate` and `awarded` are two values, never one "amount": each notice's `amounts` (issue 24,
  `records.Amount` as dicts) when it has them, else its `value` read by its notice type (a call's
  or a prior information notice's value is an estimate, an award's or a contract's the awarded
  amount, an award's `tender_value` an estimate).
- `status`: `planned`, `open`, `awarded`, `unsuccessful`, `cancelled`, `modified`, from the last
  notice's phase and `outcome`; `closed` (for bids) is `open` past its deadline (`status_at`).

Worded facts (title, buyer) come from a national portal's notice when one states them: TED
republishes notices a day or so later, and puts "France – CPV label – " before the buyer's title
(taken off when only TED's title is known).
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from watcher.core import questions
from watcher.core.phases import ORDER, stage

STATUSES: tuple[str, ...] = (
    "planned",
    "open",
    "closed",
    "awarded",
    "unsuccessful",
    "cancelled",
    "modified",
)
STATUS_LABELS = {
    "fr": {
        "planned": "Préinformation",
        "open": "Ouvert aux offres",
        "closed": "Clos aux offres",
        "awarded": "Attribué",
        "unsuccessful": "Infructueux",
        "cancelled": "Annulé",
        "modified": "Marché modifié",
    },
    "en": {
        "planned": "Planned",
        "open": "Open for bids",
        "closed": "Closed for bids",
        "awarded": "Awarded",
        "unsuccessful": "Unsuccessful",
        "cancelled": "Cancelled",
        "modified": "Contract modified",
    },
}
# The kinds each value may take, the one that says it best first: an estimate before a range
# before a framework's maximum (eForms gives both `EstimatedOverallContractAmount` and
# `FrameworkMaximumAmount`); the value after amendment before the contract's before the award's.
_ESTIMATE_KINDS = ("estimate", "range", "maximum")
_AWARD_KINDS = ("amended", "contract", "awarded")
_CALLS = frozenset({"tender", "tenderUpdate"})
_TENDERING = frozenset({"tender", "tenderUpdate", "tenderAmendment"})
# Portals that republish notices first published by a national portal (their wording yields).
_REPUBLISHERS = frozenset({"ted"})


@dataclass(frozen=True, slots=True)
class Member:
    """One notice of a procedure, as the compiler reads it."""

    id: int
    ref: str
    source: str
    kind: str
    phase: str | None
    notice_type: str | None
    snapshot: dict[str, Any]
    url: str | None = None
    site: str | None = None
    seen: str | None = None  # when the watcher first saw it (ISO), when it gives no date


def _order(member: Member) -> tuple[Any, ...]:
    snap = member.snapshot
    when = str(snap.get("published") or (member.seen or "")[:10])
    return (
        when,
        ORDER.get(member.phase or "tender", 99),
        member.kind not in _REPUBLISHERS,  # the national portal last: its wording wins a tie
        member.source,
        member.ref,
    )


def _origin(member: Member) -> dict[str, Any]:
    return {"notice_id": member.id, "ref": member.ref, "source": member.source, "url": member.url}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _amounts(member: Member) -> list[dict[str, Any]]:
    """The amounts a notice states, each with its kind: `amounts` when the parser gave them,
    else `value` / `tender_value` read by the notice's phase."""
    snap = member.snapshot
    stated = [a for a in snap.get("amounts") or [] if isinstance(a, dict)]
    found = [
        {k: v for k, v in a.items() if v is not None}
        for a in stated
        if _number(a.get("amount")) is not None and a.get("kind")
    ]
    if found or stated:
        return found
    currency = snap.get("currency")
    value, tender_value = _number(snap.get("value")), _number(snap.get("tender_value"))
    step = stage(member.phase)
    out: list[dict[str, Any]] = []
    if value is not None and value > 0:
        kind = {"award": "awarded", "contract": "contract"}.get(step, "estimate")
        if member.phase == "contractAmendment":
            kind = "amended"
        if step != "cancellation":
            out.append({"kind": kind, "amount": value, "currency": currency})
    if tender_value is not None and tender_value > 0:
        out.append({"kind": "estimate", "amount": tender_value, "currency": currency})
    return [{k: v for k, v in a.items() if v is not None} for a in out]


def _whole(stated: list[dict[str, Any]], kinds: tuple[str, ...]) -> dict[str, Any] | None:
    """The notice's amount of these kinds for the whole procedure: of the first kind it states,
    the last one for no lot, else the sum of its lots' (one currency), which says how many lots
    it adds up."""
    for kind in kinds:
        whole = [a for a in stated if a["kind"] == kind and not a.get("lot")]
        if whole:
            return whole[-1]
    for kind in kinds:
        lots = [a for a in stated if a["kind"] == kind and a.get("lot")]
        currencies = {a.get("currency") for a in lots}
        if not lots or len(currencies) != 1:
            continue
        total = {"kind": kind, "amount": sum(float(a["amount"]) for a in lots)}
        return {**total, "currency": currencies.pop(), "lots": len(lots)}
    return None


def _fold(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in folded if not unicodedata.combining(c)).split())


def _lot_key(lot: dict[str, Any], position: int) -> str:
    number = str(lot.get("number") or "").strip()
    digits = "".join(c for c in number if c.isdigit()).lstrip("0")
    return digits or number or str(position)


def _title(member: Member) -> str:
    """A notice's title; TED's without the "France – CPV label – " it puts before the buyer's."""
    title = str(member.snapshot.get("title") or "")
    if member.kind in _REPUBLISHERS:
        parts = title.split(" – ", 2)
        if len(parts) == 3 and parts[2].strip():
            return parts[2].strip()
    return title


def _worded(members: list[Member]) -> list[Member]:
    """The notices whose wording a fact takes, in order: a republisher's (TED) only when no
    national portal's notice states it; they come first, so a national one wins."""
    return sorted(members, key=lambda m: m.kind not in _REPUBLISHERS)  # stable: order kept


def _status(last: Member, awarded: bool) -> str:
    outcome = last.snapshot.get("outcome")
    if outcome in {"unsuccessful", "cancelled"}:
        return str(outcome)
    step = stage(last.phase)
    if step == "cancellation" or last.notice_type == "cancellation":
        return "cancelled"
    if last.phase == "contractAmendment":
        return "modified"
    if step in {"award", "contract"}:
        return "awarded"
    if step == "tender":
        return "open"
    return "awarded" if awarded else "planned"


def compile_procedure(members: Sequence[Member]) -> dict[str, Any]:
    """The procedure's current facts, each with the notice that stated it (`from`)."""
    ordered = sorted(members, key=_order)
    if not ordered:
        return {}
    record: dict[str, Any] = {}
    origin: dict[str, Any] = {}
    origins = {id(m): _origin(m) for m in ordered}

    def _origin_of(member: Member) -> dict[str, Any]:
        return origins[id(member)]

    def state(key: str, value: Any, member: Member) -> None:
        record[key] = value
        origin[key] = _origin_of(member)

    calls = [m for m in ordered if m.phase in _CALLS]
    titled = calls or [m for m in ordered if m.phase != "planning"] or ordered
    for member in _worded(titled):
        if member.snapshot.get("title"):
            state("title", _title(member), member)
    for member in _worded(ordered):
        if member.snapshot.get("buyer"):
            state("buyer", member.snapshot["buyer"], member)
    for member in ordered:
        snap = member.snapshot
        if member.phase in _TENDERING and snap.get("deadline"):
            state("deadline", snap["deadline"], member)
            record["deadline_local"] = snap.get("deadline_local")
            record["deadline_zone"] = snap.get("deadline_zone")
    awarded_any = False
    for member in ordered:
        stated = _amounts(member)
        for key, kinds in (("estimate", _ESTIMATE_KINDS), ("awarded", _AWARD_KINDS)):
            amount = _whole(stated, kinds)
            if amount is not None:
                state(key, amount, member)
                awarded_any = awarded_any or key == "awarded"
    lots: dict[str, dict[str, Any]] = {}
    winners: dict[str, dict[str, Any]] = {}
    documents: dict[str, dict[str, Any]] = {}
    for member in ordered:
        snap = member.snapshot
        for position, lot in enumerate(snap.get("lots") or [], start=1):
            if not isinstance(lot, dict):
                continue
            key = _lot_key(lot, position)
            known = lots.setdefault(key, {"number": lot.get("number") or key})
            for name in ("title", "deadline", "value"):
                if lot.get(name) is not None and (name != "deadline" or member.phase in _TENDERING):
                    known[name] = lot[name]
            if lot.get("winners"):
                known["winners"] = list(lot["winners"])
            known["from"] = _origin_of(member)
        if stage(member.phase) in {"award", "contract"}:
            named = [str(w) for w in snap.get("winners") or [] if str(w).strip()]
            for lot in snap.get("lots") or []:
                named += [str(w) for w in (lot or {}).get("winners") or [] if str(w).strip()]
            for name in named:
                entry = winners.setdefault(_fold(name), {"name": name})
                entry["from"] = _origin_of(member)
                lots_won = [
                    str(lot.get("number"))
                    for lot in snap.get("lots") or []
                    if isinstance(lot, dict) and name in (lot.get("winners") or [])
                ]
                if lots_won:
                    entry["lots"] = sorted({*entry.get("lots", []), *lots_won})
        for url in snap.get("documents") or []:
            documents.setdefault(str(url), {"url": str(url), "from": _origin_of(member)})
    last = ordered[-1]
    status = _status(last, awarded_any or bool(winners))
    record.update(
        {
            "status": status,
            "phase": last.phase,
            "notice_type": last.notice_type,
            "lots": [lots[k] for k in sorted(lots, key=lambda k: (len(k), k))],
            "winners": [winners[k] for k in sorted(winners)],
            "documents": [documents[k] for k in sorted(documents)],
            "sites": sorted({m.site for m in ordered if m.site}),
            "notices": [
                {
                    **_origin_of(m),
                    "phase": m.phase,
                    "notice_type": m.notice_type,
                    "published": m.snapshot.get("published"),
                }
                for m in ordered
            ],
        }
    )
    origin["status"] = _origin_of(last)
    record["from"] = origin
    record.update(raised(ordered))
    return record


def raised(members: Sequence[Member]) -> dict[str, Any]:
    """The questions the procedure raises (`watcher.core.questions`), asked once when it is
    compiled: `questions` (code and figures each) and `question_codes` (" code code ", which a
    LIKE finds the same way on SQLite and PostgreSQL), so lists count and filter without asking
    again."""
    ordered = sorted(members, key=_order)
    notices = [dict(m.snapshot) | {"id": m.ref, "kind": m.kind} for m in ordered]
    found = questions.ask({"id": notices[0]["id"] if notices else "", "notices": notices})
    listed = [
        {"code": q.code, "figures": json.loads(json.dumps(dict(q.figures), default=str))}
        for q in found
    ]
    codes = " ".join(dict.fromkeys(q.code for q in found))
    return {"questions": listed, "question_codes": f" {codes} " if codes else ""}


def question_codes(compiled: dict[str, Any] | None) -> list[str]:
    """The codes of the questions a compiled procedure raises, in the order they were asked."""
    return str((compiled or {}).get("question_codes") or "").split()


def status_at(compiled: dict[str, Any] | None, now: dt.datetime) -> str | None:
    """The procedure's status at `now`: an open call past its deadline is `closed` for bids."""
    if not compiled:
        return None
    status = compiled.get("status")
    if status == "open" and compiled.get("deadline"):
        try:
            deadline = dt.datetime.fromisoformat(str(compiled["deadline"]))
        except ValueError:
            return str(status)
        if deadline.tzinfo is None:
            deadline = deadline.replace(tzinfo=dt.UTC)
        if deadline <= now:
            return "closed"
    return str(status) if status else None


def status_label(status: str | None, lang: str = "fr") -> str:
    """A reader's name of a status ("Attribué", "Closed for bids")."""
    if not status:
        return ""
    return STATUS_LABELS["en" if lang == "en" else "fr"].get(status, status)


def winner_names(compiled: dict[str, Any] | None) -> list[str]:
    """The names of the procedure's winners."""
    return [str(w["name"]) for w in (compiled or {}).get("winners") or [] if w.get("name")]
