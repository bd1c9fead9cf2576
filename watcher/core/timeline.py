"""Pure rules for a procedure's story: what a later notice of the same procedure tells a reader.

A procedure starts with one notice; corrigenda, awards, cancellations and the same tender published
on another portal are linked to it (`store.py` finds the links). This module decides, without I/O,
what such a linked notice means: which event type, and which changes it brings.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from difflib import SequenceMatcher
from typing import Any

from watcher.core.diff import diff_snapshots
from watcher.core.linking import capped
from watcher.records import FieldChange

# What a linked notice may change about its procedure; other fields of a corrigendum or an award
# notice (its own title "Rectificatif …", its own publication date) are not news about the procedure.
PROCEDURE_FIELDS = ("deadline", "value", "winners", "place", "documents", "lots")
AWARD_FIELDS = ("value", "winners", "outcome")
# What two portals state alike, so that one portal's notice may be compared with the other's facts;
# places, lots and documents are worded by each portal ("Loon-Plage (59279)" and "Loon-Plage").
COMPARABLE_FIELDS = ("deadline", "value", "winners")
# The key of a procedure's state naming the portal whose notice gave its worded facts.
FACTS_PORTAL = "facts_portal"
# What a call for tenders tells (`procedure_facts`): the facts of the event "call for tenders
# published", and the procedure's facts a corrigendum is then compared with.
TENDER_FACTS = ("title", "deadline", "value", "currency", "lots", "documents", "place", "winners")
_UNSUCCESSFUL = re.compile(
    r"\b(sans suite|infructueu(x|se)|declare[es]? infructueu|unsuccessful)\b"
)


def _plain(text: str | None) -> str:
    folded = unicodedata.normalize("NFKD", (text or "").lower())
    return "".join(c for c in folded if not unicodedata.combining(c))


def procedure_facts(snap: dict[str, Any]) -> dict[str, Any]:
    """The facts of a procedure a notice tells (its title, deadline, value, lots, documents...)."""
    return {key: snap.get(key) for key in TENDER_FACTS}


def linked_event(
    procedure: dict[str, Any],
    linked: dict[str, Any],
    *,
    same_source: bool,
    same_wording: bool | None = None,
) -> tuple[str, list[FieldChange]] | None:
    """(event type, changes) for a notice linked to `procedure`, or None when it adds nothing.

    `procedure` is the procedure's current snapshot, `linked` the new notice's snapshot.
    Cancellations and unsuccessful procedures ("sans suite", "infructueux") are `cancelled`;
    awards are `awarded` (with winners and amount); a corrigendum that moves the deadline is
    `deadline_moved`, any other corrigendum `corrigendum`. The same tender on another portal
    (`same_source=False`, a plain notice) is not announced again. `same_wording` (default:
    `same_source`) says whether the procedure's facts come from the portal of `linked`: when
    not, only `COMPARABLE_FIELDS` are compared, since each portal words places, lots and
    documents its own way.
    """
    kind = linked.get("notice_type")
    text = _plain(f"{linked.get('title')} {linked.get('description')}")
    # An award's news is who won and for how much (its place or lots as another portal words
    # them are not); a corrigendum may change any of the procedure's facts.
    worded = same_source if same_wording is None else same_wording
    fields: tuple[str, ...] = (
        AWARD_FIELDS if kind == "award" else PROCEDURE_FIELDS if worded else COMPARABLE_FIELDS
    )
    if linked.get("outcome"):
        # Closed without a contract: its estimate is no amount awarded (issue 24).
        fields = tuple(f for f in fields if f != "value")
    relevant_fields = {key: value for key, value in linked.items() if key in fields and value}
    changes = diff_snapshots(
        {key: procedure.get(key) for key in relevant_fields}
        | {"currency": procedure.get("currency")},
        relevant_fields | {"currency": linked.get("currency")},
    )
    if (
        kind == "cancellation"
        or linked.get("outcome")
        or (kind in {"award", "corrigendum"} and _UNSUCCESSFUL.search(text))
    ):
        return "cancelled", changes
    if kind == "award":
        return "awarded", changes
    if kind == "corrigendum":
        if any(c.field == "deadline" for c in changes):
            return "deadline_moved", changes
        return "corrigendum", changes
    if not same_source:
        # The same tender on another portal: one event, with both links. Portals differ in what
        # they show (lots, places, documents), which is no news about the procedure.
        return None
    return ("deadline_moved" if any(c.field == "deadline" for c in changes) else "changed"), changes


_WORD = re.compile(r"[a-z0-9]{3,}")


def _containment(a: str | None, b: str | None) -> float:
    """Share of the shorter title's words found in the longer one (TED prefixes country and CPV)."""
    wa, wb = set(_WORD.findall(_plain(a))), set(_WORD.findall(_plain(b)))
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / min(len(wa), len(wb))


def similarity(a: dict[str, Any], b: dict[str, Any]) -> float:
    """How sure we are that two notices of different portals are the same tender (0 to 1).

    Used only when no reference links them: buyer and title similarity, and the same deadline day.
    At most `linking.MAX_TEXT` characters of a title or a buyer are compared.
    """
    ta, tb = _plain(capped(a.get("title"))), _plain(capped(b.get("title")))
    title = max(SequenceMatcher(None, ta, tb).ratio(), _containment(ta, tb))
    buyer = SequenceMatcher(
        None, _plain(capped(a.get("buyer"))), _plain(capped(b.get("buyer")))
    ).ratio()
    same_deadline = 0.0
    da, db = a.get("deadline"), b.get("deadline")
    if da and db:
        day_a = dt.datetime.fromisoformat(da).date()
        day_b = dt.datetime.fromisoformat(db).date()
        same_deadline = 1.0 if day_a == day_b else 0.0
    return round(0.5 * title + 0.25 * buyer + 0.25 * same_deadline, 3)
