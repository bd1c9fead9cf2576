"""Pure: the kinds of value a notice states, as a reader reads them (issue 24).

A notice may state an estimate, a range (`fourchette` 1 – 75 000 € HT), a framework's (annual)
maximum, an awarded amount, a contract's value or its value after an amendment: each is shown
with its label, never alike as "Montant". A zero or a missing amount is "not stated" (the raw
value stays in the evidence), never an amount. `shown()` is the one function pages, feeds, mails,
CSV and the API call; `amount_dict()` is the snapshot's form of a `records.Amount`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from watcher.core.normalize import format_money
from watcher.records import Amount

LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "estimate": "Estimation",
        "range": "Fourchette",
        "maximum": "Maximum",
        "maximum_year": "Maximum annuel",
        "awarded": "Montant attribué",
        "contract": "Valeur du marché",
        "amended": "Valeur après avenant",
        "not_stated": "Montant non communiqué",
        "lot": "lot",
    },
    "en": {
        "estimate": "Estimate",
        "range": "Range",
        "maximum": "Maximum",
        "maximum_year": "Annual maximum",
        "awarded": "Amount awarded",
        "contract": "Contract value",
        "amended": "Value after amendment",
        "not_stated": "Amount not stated",
        "lot": "lot",
    },
}
# Which kinds say what a contract is worth once awarded: shown first, and the only ones a
# company's totals add up (with like kinds only).
AWARD_KINDS = ("amended", "contract", "awarded")


def stated(value: Any) -> float | None:
    """A positive finite amount, or None: a zero, a negative or a missing amount is not stated."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number > 0 and number == number and number != float("inf") else None


def amount(
    kind: str,
    value: Any,
    currency: str | None = None,
    *,
    low: Any = None,
    tax: str | None = None,
    per: str | None = None,
    lot: str | None = None,
    field: str | None = None,
) -> Amount | None:
    """An `Amount` as a parser reads it; None when the amount is zero or missing (not stated)."""
    high = stated(value)
    if high is None:
        return None
    bottom = stated(low)
    return Amount(
        kind=kind,  # type: ignore[arg-type]
        amount=high,
        currency=currency or None,
        low=bottom if kind == "range" and bottom is not None and bottom <= high else None,
        tax=tax if tax in ("HT", "TTC") else None,  # type: ignore[arg-type]
        per="year" if per == "year" else None,
        lot=lot,
        field=field,
    )


def amounts(items: Iterable[Amount | None]) -> tuple[Amount, ...]:
    """The stated amounts of `items`, each once, in order."""
    return tuple(dict.fromkeys(item for item in items if item is not None))


def label(item: Mapping[str, Any], lang: str = "fr") -> str:
    """The reader's name of an amount's kind: "Estimation", "Maximum annuel"..."""
    names = LABELS["en" if lang == "en" else "fr"]
    kind = str(item.get("kind") or "")
    if kind == "maximum" and item.get("per") == "year":
        return names["maximum_year"]
    return names.get(kind, kind)


def money(item: Mapping[str, Any], lang: str = "fr") -> str:
    """An amount's value: `1 – 75 000 € HT`, `439 000 €`; "not stated" for a zero or none."""
    high = stated(item.get("amount"))
    if high is None:
        return LABELS["en" if lang == "en" else "fr"]["not_stated"]
    currency = item.get("currency")
    text = format_money(high, currency) or ""
    low = stated(item.get("low"))
    if item.get("kind") == "range" and low is not None:
        text = f"{(format_money(low, currency) or '').rsplit(' ', 1)[0]} – {text}"
    if item.get("tax") in ("HT", "TTC"):
        text += f" {item['tax']}"
    return text


def describe(item: Mapping[str, Any], lang: str = "fr") -> str:
    """One amount as a reader reads it: "Fourchette 1 – 75 000 € HT", "Montant attribué 12 000 €
    (lot 2)"."""
    text = f"{label(item, lang)} {money(item, lang)}"
    if item.get("lot"):
        text += f" ({LABELS['en' if lang == 'en' else 'fr']['lot']} {item['lot']})"
    return text


def described(items: Any) -> list[dict[str, Any]]:
    """A snapshot's amounts for the API: each as stored, with `shown` in French and English."""
    found = [a for a in items or [] if isinstance(a, Mapping) and stated(a.get("amount"))]
    return [{**a, "shown": {"fr": describe(a, "fr"), "en": describe(a, "en")}} for a in found]


def _items(snapshot: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = [a for a in snapshot.get("amounts") or [] if isinstance(a, Mapping)]
    return [a for a in found if stated(a.get("amount")) is not None]


def shown(snapshot: Mapping[str, Any], lang: str = "fr", *, limit: int = 3) -> str | None:
    """What a notice states of its value, for a page, a feed, a mail, a CSV cell or the API:
    each kind with its label ("Estimation 439 000 € ; Maximum annuel 2 000 000 € HT"), the
    notice's own amounts before its lots'; None when it states none.

    An unsuccessful procedure shows no amount awarded. A snapshot written before issue 24 (no
    `amounts`) shows its `value` under the label its notice type gives it."""
    items = _items(snapshot)
    if snapshot.get("outcome"):
        items = [a for a in items if a.get("kind") not in AWARD_KINDS]
    if not items and "amounts" not in snapshot:
        value = stated(snapshot.get("value"))
        if value is None:
            return None
        award = snapshot.get("notice_type") == "award" and not snapshot.get("outcome")
        kind = "awarded" if award else "estimate"
        items = [{"kind": kind, "amount": value, "currency": snapshot.get("currency")}]
    if not items:
        return None
    order = {kind: rank for rank, kind in enumerate(AWARD_KINDS)}
    items = sorted(
        items, key=lambda a: (a.get("lot") is not None, order.get(str(a.get("kind")), 9))
    )
    texts = list(dict.fromkeys(describe(a, lang) for a in items))
    more = len(texts) - limit
    text = " ; ".join(texts[:limit])
    if more > 0:
        text += f" (+{more})"
    return text
