"""The facts a notice states about how its contract was awarded and how long it runs (issue 28).

Pure helpers the parsers share: the procedure's type read from each portal's wording into one code
(`records.ProcedureType`), and the snapshot keys of those facts (set only when the notice states
them, so that a notice stored before issue 28 shows no change for keys it never had).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from watcher.records import NoticeRecord, ProcedureType

# eForms BT-105 `procurement-procedure-type` codes (eForms SDK codelist).
_EFORMS: dict[str, ProcedureType] = {
    "open": "open",
    "restricted": "restricted",
    "neg-w-call": "negotiated_with_publicity",
    "neg-wo-call": "negotiated_without_publicity",
    "comp-dial": "competitive_dialogue",
    "innovation": "negotiated_with_publicity",
    "comp-tend": "other",
    "oth-single": "other",
    "oth-mult": "other",
    "exp-int-rail": "other",
}
# Portal wordings, folded (lower case, no accents), most specific first: DECP 2019/2022
# `procedure` ("Marché public négocié sans publicité ni mise en concurrence préalable"),
# Contracts Finder / Find a Tender `procurementMethodDetails` ("Single tender action (below
# threshold)", "Negotiated procedure without prior publication (above threshold)").
_WORDINGS: tuple[tuple[str, ProcedureType], ...] = (
    (
        r"sans publicit|without (prior )?(publication|publicity|call)|single tender|direct award"
        r"|de gre a gre",
        "negotiated_without_publicity",
    ),
    (r"framework|dynamic purchasing|call-off|further competition|subsequent", "other"),
    (r"adapt|mapa", "adapted"),
    # Concessions (DECP 2019): "Procédure non négociée ouverte / restreinte".
    (r"non negociee ouverte", "open"),
    (r"non negociee restreinte", "restricted"),
    (r"dialogue", "competitive_dialogue"),
    (r"negoci|negotiat|innovation", "negotiated_with_publicity"),
    (r"restreint|restricted|selective", "restricted"),
    (r"ouvert|\bopen\b", "open"),
)
# Wordings that say nothing: Contracts Finder's "Not specified", BOAMP's "Procédure NC" (non
# communiquée, SEEN in samples/real).
_UNSTATED = frozenset({"not specified", "nc", "non communiquee", ""})
# OCDS `procurementMethod` when the details say nothing we know (OCDS codelist `method`).
_OCDS_METHOD: dict[str, ProcedureType] = {
    "open": "open",
    "selective": "restricted",
    "limited": "negotiated_without_publicity",
    "direct": "negotiated_without_publicity",
}


def fold(text: str) -> str:
    """Lower case, accents removed: the form wordings are compared in. U+FFFD (an accent the
    source broke, SEEN in DECP) is read as the `e` it nearly always was ("Proc\ufffddure")."""
    decomposed = unicodedata.normalize(
        "NFKD", text.casefold().replace("\u2019", "'").replace("\ufffd", "e")
    )
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def procedure_type(label: Any, *, method: Any = None) -> ProcedureType | None:
    """The normalised type of a procedure from the portal's code or wording (`label`), else from
    an OCDS `procurementMethod` (`method`); None when neither says (never guessed). A procedure
    without publicity named anywhere in the wording wins over the rest ("Marché négocié sans
    publicité" is not a negotiated procedure with publicity)."""
    text = fold(str(label or "")).strip()
    if text in _UNSTATED or text.removeprefix("procedure ") in _UNSTATED:
        text = ""
    if text in _EFORMS:
        return _EFORMS[text]
    if text and text not in {"other -", "other"}:
        for words, kind in _WORDINGS:
            if re.search(words, text):
                return kind
    by_method = _OCDS_METHOD.get(fold(str(method or "")).strip())
    if by_method is not None:
        return by_method
    return "other" if text else None


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def snapshot(record: NoticeRecord) -> dict[str, Any]:
    """The snapshot keys of the facts of issue 28, only those the notice states."""
    facts: dict[str, Any] = {
        "tenders_received": record.tenders_received,
        "tenders_by_lot": dict(record.tenders_by_lot) or None,
        "procedure_type": record.procedure_type,
        "procedure_label": record.procedure_label,
        "accelerated": record.accelerated,
        "accelerated_reason": record.accelerated_reason,
        "duration_months": record.duration_months,
        "contract_start": _iso(record.contract_start),
        "contract_end": _iso(record.contract_end),
        "notified": _iso(record.notified),
        "data_published": _iso(record.data_published),
        # Issue 24 fills `outcome`; the question "unsuccessful then negotiated" reads it here.
        "outcome": record.outcome,
        "modifications": [
            {
                k: v
                for k, v in {
                    "date": _iso(m.date),
                    "amount": m.amount,
                    "duration_months": m.duration_months,
                    "subject": m.subject,
                }.items()
                if v is not None
            }
            for m in record.modifications
        ]
        or None,
    }
    return {key: value for key, value in facts.items() if value is not None}
