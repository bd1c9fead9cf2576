"""Pure diff of two notice snapshots into the changes a reader cares about.

`diff_snapshots(old, new)` returns `FieldChange`s whose `describe()` reads like
"Date limite de réception des offres : 04/01/2027 → 18/01/2027". Fields a reader does not care about
(raw ids, ordering, white space) never make a change, and an empty diff never makes an event.
"""

from __future__ import annotations

from typing import Any

from watcher.core import values
from watcher.core.deadlines import shown
from watcher.core.normalize import format_deadline, format_value, parse_datetime
from watcher.core.phases import OUTCOME_LABELS
from watcher.records import FieldChange

NOTICE_TYPE_LABELS = {
    "fr": {
        "notice": "Avis de marché",
        "corrigendum": "Rectificatif",
        "award": "Avis d'attribution",
        "prior_information": "Avis de préinformation",
        "cancellation": "Annulation",
    },
    "en": {
        "notice": "Contract notice",
        "corrigendum": "Corrigendum",
        "award": "Contract award notice",
        "prior_information": "Prior information notice",
        "cancellation": "Cancellation",
    },
}

# field → (French label, English label), in the order changes are shown.
FIELD_LABELS: dict[str, tuple[str, str]] = {
    "deadline": ("Date limite de réception des offres", "Tender deadline"),
    "question": ("Question à poser", "Question to ask"),
    "notice_type": ("Type d'avis", "Notice type"),
    "title": ("Objet", "Title"),
    "buyer": ("Acheteur", "Buyer"),
    "winners": ("Titulaires", "Winners"),
    "value": ("Montant", "Value"),
    # Each amount with its kind ("Estimation", "Montant attribué", …, issue 24).
    "amounts": ("Montants", "Amounts"),
    "outcome": ("Issue de la procédure", "Outcome"),
    "end_date": ("Fin prévue du marché", "Contract end"),
    "place": ("Lieu d'exécution", "Place of performance"),
    "cpv": ("Codes CPV", "CPV codes"),
    "lots": ("Lots", "Lots"),
    "documents": ("Documents", "Documents"),
    "description": ("Description", "Description"),
}

_LONG = 160


def label(field: str, lang: str = "fr") -> str:
    """The reader's name of a field."""
    fr, en = FIELD_LABELS.get(field, (field, field))
    return en if lang == "en" else fr


def _deadline_side(snap: dict[str, Any], value: Any, *, with_time: bool) -> str | None:
    """One side of a deadline change as the portal wrote it (a date alone stays a date)."""
    local = snap.get("deadline_local")
    if local and value == snap.get("deadline"):
        return shown(str(local), snap.get("deadline_zone"), with_time=with_time)
    return format_deadline(parse_datetime(value), with_time=with_time)


def _deadline_text(
    old: Any, new: Any, snap_old: dict[str, Any], snap_new: dict[str, Any]
) -> tuple[str | None, str | None]:
    a, b = parse_datetime(old), parse_datetime(new)
    # Show the time only when the date alone would not show the change.
    days = [_deadline_side(s, v, with_time=False) for s, v in ((snap_old, old), (snap_new, new))]
    same_day = a is not None and b is not None and days[0] == days[1]
    return (
        _deadline_side(snap_old, old, with_time=same_day),
        _deadline_side(snap_new, new, with_time=same_day),
    )


def _short(text: str | None) -> str | None:
    if text is None or len(text) <= _LONG:
        return text
    return text[: _LONG - 1].rstrip() + "…"


def _render(
    field: str, old: Any, new: Any, snap_old: dict[str, Any], snap_new: dict[str, Any]
) -> tuple[str | None, str | None]:
    if field == "deadline":
        return _deadline_text(old, new, snap_old, snap_new)
    if field == "notice_type":
        names = NOTICE_TYPE_LABELS["fr"]
        return names.get(old, old), names.get(new, new)
    if field == "value":
        return (
            format_value(old, snap_old.get("currency"), snap_old.get("tender_value")),
            format_value(new, snap_new.get("currency"), snap_new.get("tender_value")),
        )
    if field == "amounts":
        return values.shown(snap_old, limit=6), values.shown(snap_new, limit=6)
    if field == "outcome":
        names = OUTCOME_LABELS["fr"]
        return names.get(old, old), names.get(new, new)
    if field in {"winners", "cpv"}:
        return (", ".join(old) or None), (", ".join(new) or None)
    if field == "documents":
        added = sorted(set(new) - set(old))
        removed = sorted(set(old) - set(new))
        parts = [f"+{len(added)}"] if added else []
        parts += [f"-{len(removed)}"] if removed else []
        return f"{len(old)} document(s)", f"{len(new)} document(s) ({' '.join(parts)})"
    if field == "lots":
        return f"{len(old)} lot(s)", f"{len(new)} lot(s)"
    return _short(old), _short(new)


def diff_snapshots(old: dict[str, Any] | None, new: dict[str, Any]) -> list[FieldChange]:
    """The reader-visible changes from `old` to `new`; `[]` when nothing a reader cares about moved."""
    if old is None:
        return []
    changes: list[FieldChange] = []
    for field in FIELD_LABELS:
        before, after = old.get(field), new.get(field)
        if field == "amounts" and ("amounts" not in old or "amounts" not in new):
            continue  # a notice stored before issue 24 (or stating none): no spurious change
        if field == "value" and "amounts" in old and "amounts" in new:
            continue  # told with its kind under `amounts`
        if field == "lots":
            # Lot deadlines and winners are reported through the notice's own fields; a lot change
            # counts only when the number of lots changes.
            before, after = len(before or []), len(after or [])
            if before == after:
                continue
            before, after = [None] * before, [None] * after
        if before == after or (not before and not after):
            continue
        text_old, text_new = _render(field, before, after, old, new)
        if text_old == text_new:
            continue
        changes.append(FieldChange(field=field, label=label(field), old=text_old, new=text_new))
    return changes


def event_type(is_new: bool, changes: list[FieldChange], notice_type: str | None) -> str:
    """The kind of event a reader sees: new, deadline_moved, awarded, cancelled or changed."""
    if is_new:
        return "new"
    fields = {c.field for c in changes}
    if "notice_type" in fields and notice_type == "award":
        return "awarded"
    if "notice_type" in fields and notice_type == "cancellation":
        return "cancelled"
    if "deadline" in fields:
        return "deadline_moved"
    if "winners" in fields:
        return "awarded"
    return "changed"
