"""Pure rules for a contract modification ("avenant"): its new amount and end date.

DECP data keeps a contract's original `montant` and `dureeMois`, and lists its modifications
(`modifications[]`, each with its own `montant`, `dureeMois` and notification date). The contract's
current terms are those of its latest modification; its end date is its notification date plus its
duration. `contract_changes` tells what a new version of the record changes about them, for the
event "Marché modifié" / "Contract modified".
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from watcher.core.diff import label
from watcher.core.normalize import format_money
from watcher.records import FieldChange


def _number(value: Any) -> float | None:
    try:
        return (
            float(str(value).replace(" ", "").replace(",", "."))
            if value not in (None, "")
            else None
        )
    except ValueError:
        return None


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _modifications(contract: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for entry in contract.get("modifications") or []:
        if isinstance(entry, dict):
            inner = entry.get("modification", entry)
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, dict):
                found.append(inner)
    return found


def contract_terms(raw: str) -> dict[str, Any]:
    """`{"value", "months", "end"}` of a DECP contract after its modifications (None when unknown)."""
    try:
        contract = json.loads(raw) if raw else {}
    except ValueError:
        contract = {}
    if not isinstance(contract, dict):
        return {"value": None, "months": None, "end": None}
    value = _number(contract.get("montant", contract.get("valeurGlobale")))
    months = _number(contract.get("dureeMois"))
    for change in _modifications(contract):
        value = _number(change.get("montant")) or value
        months = _number(change.get("dureeMois")) or months
    start = _date(contract.get("dateNotification"))
    end = None
    if start and months:
        total = start.month - 1 + int(months)
        year, month = start.year + total // 12, total % 12 + 1
        end = dt.date(year, month, min(start.day, 28)).isoformat()
    return {"value": value, "months": months, "end": end}


def contract_changes(old_raw: str, new_raw: str) -> list[FieldChange]:
    """The new amount and end date a contract's new version brings, as changes."""
    old, new = contract_terms(old_raw), contract_terms(new_raw)
    changes = []
    if old["value"] != new["value"] and new["value"] is not None:
        changes.append(
            FieldChange(
                "value", label("value"), format_money(old["value"]), format_money(new["value"])
            )
        )
    if old["end"] != new["end"] and new["end"] is not None:
        shown = [
            dt.date.fromisoformat(d).strftime("%d/%m/%Y") if d else None
            for d in (old["end"], new["end"])
        ]
        changes.append(FieldChange("end_date", label("end_date"), shown[0], shown[1]))
    return changes
