"""Winners of one stored notice (pure): who won, with which identifiers, for how much and what
kind of amount that is.

Names come from the notice's snapshot (`NoticeRecord.winners`, what every parser fills); the
identifiers are read from the stored payload (`NoticeVersion.raw`), per portal:

- DECP `titulaires[]` (`typeIdentifiant` + `id`, 2019 and 2022 layouts);
- OCDS (Find a Tender, Contracts Finder) `awards[].suppliers[]` and `parties[]` with their
  `identifier` / `additionalIdentifiers` (scheme `GB-COH` is Companies House);
- TED `winner-name` / `winner-identifier` (parallel lists);
- BOAMP: the parties of the `donnees` document (national `titulaire` blocks with a SIRET, eForms
  `efac:Organization` with `cbc:CompanyID`), matched to the winners by name;
- any other kind (PLACE, html): names only.

Amount kinds: `award_value` (an award notice's value), `contract_value` (DECP: the contract's
amount), `framework_maximum` (a framework agreement's ceiling), `estimate` (a value published
before the award). Per-lot values (a lot with one winner) and OCDS per-award values are each
winner's own; a notice that names several winners and one total gives each winner the total with
`shared` = the number of winners: it is shown as such and never added up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from watcher.companies.resolve import Identifier, Mention, fold, identifier, normalise_name

# The version of what `awards()` reads: raise it when a change of this module changes the
# winners read from a stored notice, so that the next rebuild reads every notice again
# (`watcher.companies.store` keeps what it read per notice version).
EXTRACTOR = 1
AMOUNT_KINDS = ("award_value", "contract_value", "framework_maximum", "estimate", "subcontract")
_NAME_KEYS = ("denominationSociale", "nomTitulaire", "PersonneMorale", "denomination", "name")
_ID_KEYS = {
    "siret": "siret",
    "SIRET": "siret",
    "siren": "siren",
    "SIREN": "siren",
    "codeIdentificationNational": "",
    "CodeIdentifiantNational": "",
    "cbc:CompanyID": "",
    "numeroTVA": "tva",
    "tva": "tva",
}
# Any key `_ids_of` reads an identifier from.
_ANY_ID_KEY = frozenset(
    [
        "typeIdentifiant",
        *_ID_KEYS,
        "identifier",
        "additionalIdentifiers",
        "cac:PartyLegalEntity",
    ]
)
_FRAMEWORK_WORDS = ("accord cadre", "accords cadres", "framework")
_EFORMS_FRAMEWORK = re.compile(
    r'"@listName"\s*:\s*"framework-agreement"\s*,\s*"#text"\s*:\s*"([^"]*)"'
)

# Spans that may fold to one of `_FRAMEWORK_WORDS`: the words, whatever lies between them.
_FRAMEWORK_SPANS = re.compile(r"accords?[^a-z0-9]*cadres?|framework", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Award:
    """One winner of one notice (one lot when the notice gives values per lot)."""

    mention: Mention
    amount: float | None
    currency: str | None
    amount_kind: str
    shared: int = 1
    lot: str | None = None
    # "winner", or "subcontractor": never added to a winner's totals (issue 24).
    role: str = "winner"


def _json(raw: str) -> Any:
    try:
        return json.loads(raw) if raw and raw.lstrip()[:1] in "[{" else None
    except ValueError:
        return None


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict in a JSON document (BOAMP's `donnees` string is opened too)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            for key, value in item.items():
                if key == "donnees" and isinstance(value, str):
                    value = _json(value)
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


def _text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("#text") or value.get("value") or value.get("$")
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value).strip() or None if value not in (None, "") else None


def _name_of(item: dict[str, Any]) -> str | None:
    for key in _NAME_KEYS:
        if key in item and (name := _text(item[key])):
            return name
    # eForms: {"cac:PartyName": {"cbc:Name": …}}.
    party = item.get("cac:PartyName")
    if isinstance(party, dict):
        return _text(party.get("cbc:Name"))
    return None


def _ids_of(item: dict[str, Any]) -> list[Identifier]:
    if item.keys().isdisjoint(_ANY_ID_KEY):  # most of a payload's dicts: one test in C
        return []
    found: list[Identifier] = []
    if "typeIdentifiant" in item and "id" in item:  # DECP
        found.append(identifier(_text(item["typeIdentifiant"]), _text(item["id"])))  # type: ignore[arg-type]
    for key, scheme in _ID_KEYS.items():
        if key in item and (value := _text(item[key])):
            found.append(identifier(scheme, value))  # type: ignore[arg-type]
    # OCDS: identifier {scheme, id} and additionalIdentifiers [...].
    blocks = [item.get("identifier"), *(item.get("additionalIdentifiers") or [])]
    for block in blocks:
        if isinstance(block, dict) and block.get("id"):
            found.append(identifier(_text(block.get("scheme")), _text(block.get("id"))))  # type: ignore[arg-type]
    # eForms: cac:PartyLegalEntity / cbc:CompanyID.
    legal = item.get("cac:PartyLegalEntity")
    for entity in legal if isinstance(legal, list) else [legal]:
        if isinstance(entity, dict) and (value := _text(entity.get("cbc:CompanyID"))):
            found.append(identifier("", value))  # type: ignore[arg-type]
    return [i for i in dict.fromkeys(found) if i is not None]


def parties(raw: str) -> list[tuple[str, tuple[Identifier, ...]]]:
    """(name, identifiers) of every party of a payload that has both, in document order."""
    out: list[tuple[str, tuple[Identifier, ...]]] = []
    for item in _walk(_json(raw)):
        ids = _ids_of(item)
        if not ids and isinstance(item.get("efac:Company"), dict):
            ids = _ids_of(item["efac:Company"])
        if ids:
            name = _name_of(item) or _name_of(item.get("efac:Company") or {})
            out.append((name or "", tuple(ids)))
    return out


def _ted_ids(data: Any, names: Sequence[str]) -> dict[str, tuple[Identifier, ...]]:
    if not isinstance(data, dict) or "winner-identifier" not in data:
        return {}
    raw_names = data.get("winner-name") or {}
    listed = next(iter(raw_names.values()), []) if isinstance(raw_names, dict) else raw_names
    unique = list(dict.fromkeys(str(n) for n in listed or []))
    ids = [identifier("", str(v)) for v in data.get("winner-identifier") or []]
    if len(unique) != len(ids) or len(unique) != len(names):
        return {}
    return {n: (i,) for n, i in zip(unique, ids, strict=True) if i is not None}


def _framework_words(text: str) -> bool:
    """Whether `text`, folded, says "accord cadre" or "framework": only the candidate spans are
    folded, never the whole payload (issue 29: folding 20 KB of JSON per award notice was a third
    of a rebuild)."""
    return any(
        any(w in fold(found.group()) for w in _FRAMEWORK_WORDS)
        for found in _FRAMEWORK_SPANS.finditer(text)
    )


def _amount_kind(kind: str, notice_type: str, raw: str, snapshot: dict[str, Any]) -> str:
    codes = (
        _EFORMS_FRAMEWORK.findall(raw.replace('\\"', '"')) if "framework-agreement" in raw else []
    )
    text = raw[:20000].replace('\\"', '"')
    if codes:
        # eForms says it: `ContractingSystemTypeCode` listName "framework-agreement", "none" when
        # it is not one (SEEN in samples/real: 215550-2024, issue 24), whatever words it has.
        text = _EFORMS_FRAMEWORK.sub(" ", text)
    framework = any(c != "none" for c in codes) or (
        not codes and _framework_words(" ".join([text, str(snapshot.get("title") or "")]))
    )
    if notice_type != "award":
        return "estimate"
    if framework:
        return "framework_maximum"
    return "contract_value" if kind == "decp" else "award_value"


def _decp_unnamed(name: str) -> Identifier | None:
    """DECP names a winner `SIRET 79368308700019` when it gives no company name."""
    scheme, _, value = name.partition(" ")
    if scheme.upper() in ("SIRET", "SIREN", "TVA") and value.replace(" ", "").isalnum():
        return identifier(scheme, value)
    return None


def awards(
    kind: str, notice_type: str, snapshot: dict[str, Any], raw: str, ref: str
) -> list[Award]:
    """The winners of one notice with their amounts, then its subcontractors (role
    "subcontractor", no amount); empty when it names none."""
    names = [str(n) for n in snapshot.get("winners") or [] if str(n).strip()]
    subcontractors = [str(n) for n in snapshot.get("subcontractors") or [] if str(n).strip()]
    if not names and not subcontractors:
        return []
    # The payload is read once for every winner and subcontractor (issue 29).
    known = parties(raw)
    by_norm: dict[str, tuple[Identifier, ...]] = {}
    for name, ids in known:
        if name:
            by_norm.setdefault(normalise_name(name), ids)
    subs = [
        Award(_mention(name, by_norm, ref), None, None, "subcontract", role="subcontractor")
        for name in subcontractors
    ]
    winners = _winner_awards(kind, notice_type, snapshot, raw, ref, names, (known, by_norm))
    return winners + subs


Known = tuple[list[tuple[str, tuple[Identifier, ...]]], dict[str, tuple[Identifier, ...]]]


def _mention(name: str, by_norm: dict[str, tuple[Identifier, ...]], ref: str) -> Mention:
    """A named party with the identifiers the payload gives it (or its name, `SIRET …`)."""
    unnamed = _decp_unnamed(name)
    if unnamed is not None:
        return Mention(name=name, identifiers=(unnamed,), ref=ref)
    return Mention(name=name, identifiers=by_norm.get(normalise_name(name), ()), ref=ref)


def _winner_awards(
    kind: str,
    notice_type: str,
    snapshot: dict[str, Any],
    raw: str,
    ref: str,
    names: list[str],
    parties_of: Known,
) -> list[Award]:
    if not names:
        return []
    known, by_norm = parties_of
    ted = _ted_ids(_json(raw), names) if kind == "ted" else {}
    value = snapshot.get("value")
    amount = float(value) if isinstance(value, int | float) else None
    currency = snapshot.get("currency") or ("EUR" if amount is not None else None)
    amount_kind = _amount_kind(kind, notice_type, raw, snapshot)
    lot_values = _lot_values(snapshot) or _ocds_values(_json(raw))
    out: list[Award] = []
    for name in names:
        ids = by_norm.get(normalise_name(name)) or ted.get(name) or ()
        unnamed = _decp_unnamed(name)
        if unnamed is not None:
            ids = (unnamed,)
        elif not ids and len(names) == 1 and len(known) == 1 and not known[0][0]:
            ids = known[0][1]  # one winner, one party without a name: the same
        mention = Mention(name=name, identifiers=tuple(ids), ref=ref)
        if name in lot_values:
            for lot, lot_amount, lot_currency, shared in lot_values[name]:
                cur = lot_currency or currency
                out.append(Award(mention, lot_amount, cur, amount_kind, shared, lot))
            continue
        out.append(Award(mention, amount, currency, amount_kind, len(names)))
    return out


Share = tuple[str | None, float, str | None, int]  # (lot or award id, amount, currency, shared)


def _ocds_values(data: Any) -> dict[str, list[Share]]:
    """Winner name → its OCDS awards' values: each award has its own value and suppliers."""
    found: dict[str, list[Share]] = {}
    if not isinstance(data, dict) or not isinstance(data.get("awards"), list):
        return found
    for item in data["awards"]:
        if not isinstance(item, dict):
            continue
        raw_value = item.get("value")
        value: dict[str, Any] = raw_value if isinstance(raw_value, dict) else {}
        amount = value.get("amount")
        suppliers = [s for s in item.get("suppliers") or [] if isinstance(s, dict)]
        if not isinstance(amount, int | float) or isinstance(amount, bool) or not suppliers:
            continue
        for supplier in suppliers:
            name = str(supplier.get("name") or "").strip()
            if name:
                found.setdefault(name, []).append(
                    (_text(item.get("id")), float(amount), value.get("currency"), len(suppliers))
                )
    return found


def _lot_values(snapshot: dict[str, Any]) -> dict[str, list[Share]]:
    """Winner name → [(lot, value)] when the notice gives each lot one winner and a value."""
    found: dict[str, list[Share]] = {}
    for lot in snapshot.get("lots") or []:
        if not isinstance(lot, dict):
            continue
        winners = lot.get("winners") or []
        value = lot.get("value")
        if len(winners) == 1 and isinstance(value, int | float):
            found.setdefault(str(winners[0]), []).append((lot.get("number"), float(value), None, 1))
    return found
