"""Reading BOAMP's `donnees` field: the whole notice, as a JSON string, in one of several shapes.

- `EFORMS`: UBL converted from XML to JSON (`ContractNotice`, `ContractAwardNotice`,
  `PriorInformationNotice`): `#text` / `@attr` keys, one-element lists turned into plain objects,
  organisations described once under `efac:Organizations` and referred to by id (SEEN in
  samples/real).
- `MAPA` (procédure adaptée) and `FNSimple` (national formalised procedure): `initial`,
  `rectificatif` and `attribution` sections (paths SEEN in consumer code, the rest INFERRED).
- V230 (older notices): `OBJET.CPV.PRINCIPAL`, a dict for one lot, a list of dicts for several.

Every path is INFERRED to be optional: a missing key, a list where an object was expected or a value
of the wrong type gives an empty field, never an exception. Helpers here are shared with `boamp.py`.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from watcher.core import deadlines, facts, fastjson, places
from watcher.records import Lot
from watcher.sources.base import as_list, dig

PARIS = ZoneInfo("Europe/Paris")
_CPV = re.compile(r"^\s*(\d{8})(?:\D|$)")
_DATE_TZ = re.compile(r"^(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?$")
_TIME_TZ = re.compile(r"^(\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
# Keys under which national notices give links to the consultation documents (SEEN in consumers).
_DOC_KEYS = frozenset({"urlprofilacheteur", "urlprofilach", "urldocconsul", "urldocument"})
# Keys under which a national award names its winner (INFERRED from consumer code).
_WINNER_KEYS = frozenset({"PersonneMorale", "nomTitulaire", "denominationSociale", "denomination"})
_EFORMS_KINDS = {"ContractAwardNotice": "award", "PriorInformationNotice": "prior_information"}
# "1- Prestations…", "Lot 2 : Finition", "Lot n°3 - Toiture": a lot's number written before its
# title in the one `description` FNSimple lots have (SEEN in samples/real, issue 13).
_LOT_HEAD = re.compile(
    r"^\s*(?:lot\s*(?:n\s*[°o.]?\s*)?)?(\d{1,3})\s*(?:[-–:.)_]|\s-)\s*(\S.*)$",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(slots=True)
class Donnees:
    """What `donnees` says, each field empty when the notice does not say it."""

    shape: str | None = None
    kind: str | None = None  # a notice-type hint: award, corrigendum, cancellation, ...
    title: str | None = None
    buyer: str | None = None
    description: str | None = None
    deadline: dt.datetime | None = None
    # What the notice wrote of the deadline (`deadlines.Deadline`): its date or wall-clock time.
    deadline_text: deadlines.Deadline | None = None
    value: float | None = None
    currency: str | None = None
    place: str | None = None
    # Every place of works the notice names (the notice's, then each lot's), and their
    # départements: where the work is, not where the notice is advertised.
    places: list[str] = field(default_factory=list)
    departments: list[str] = field(default_factory=list)
    procedure_id: str | None = None
    cpv: list[str] = field(default_factory=list)
    winners: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    related_ids: list[str] = field(default_factory=list)  # as written; boamp.idwebs() reads them
    lots: list[Lot] = field(default_factory=list)
    # `NoticeRecord` facts of issue 28 (tenders received, procedure type, duration, ...), by
    # field name, only those the notice states.
    facts: dict[str, Any] = field(default_factory=dict)


def text(value: Any) -> str | None:
    """The text of a value, stripped, whitespace collapsed, HTML entities decoded; None if empty.

    Accepts a string, a number, an XML-converted node `{"#text": …}`, or a list (eForms
    multilingual fields), of which the French item is preferred."""
    if value is None:
        return None
    if type(value) is str:  # the common case first (a poll reads hundreds of thousands)
        return _clean(value)
    if isinstance(value, list):
        french = (i for i in value if isinstance(i, dict) and i.get("@languageID") == "FRA")
        value = next(french, value[0] if value else None)
    if isinstance(value, dict):
        value = value.get("#text")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    return _clean(value)


def _clean(value: str) -> str | None:
    if "&" in value:
        # BOAMP escapes twice at times: "&amp;quot;" stands for a quote.
        value = html.unescape(html.unescape(value))
    return " ".join(value.split()) or None


def first_text(*values: Any) -> str | None:
    """The first of `values` that has text."""
    for value in values:
        found = text(value)
        if found:
            return found
    return None


def unique(items: Iterable[str | None]) -> list[str]:
    """Non-empty items, duplicates (ignoring case) dropped, the first spelling and order kept."""
    seen: dict[str, str] = {}
    for item in items:
        if item:
            seen.setdefault(item.casefold(), item)
    return list(seen.values())


def cpv_code(value: Any) -> str | None:
    """An 8-digit CPV code without its check digit (`"71351810-3"` → `"71351810"`)."""
    found = text(value)
    match = _CPV.match(found) if found else None
    return match.group(1) if match else None


def amount(value: Any) -> tuple[float | None, str | None]:
    """A money amount and its currency from `92000`, `"92 000,50"` or `{"@currencyID", "#text"}`."""
    currency = None
    value = value[0] if isinstance(value, list) and value else value
    if isinstance(value, dict):
        currency = text(value.get("@currencyID"))
        value = value.get("#text")
    if isinstance(value, bool):
        return None, currency
    if isinstance(value, str):
        cleaned = value.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        cleaned = cleaned.replace("€", "").replace("EUR", "")
        if "," in cleaned:
            cleaned = cleaned.replace(".", "").replace(",", ".")
        try:
            value = float(cleaned)
        except ValueError:
            return None, currency
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None, currency
    return float(value), currency


def parse_datetime(value: Any, time: Any = None) -> dt.datetime | None:
    """An aware UTC datetime from an ISO string, an eForms date (`2025-12-15+01:00`) with an
    optional eForms time (`12:00:00+01:00`), or epoch milliseconds (legacy DILA API).

    A naive value is Paris time; a date without a time means the end of that day in Paris."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    found = text(value)
    if not found:
        return None
    date_match = _DATE_TZ.match(found)
    if date_match:
        day, zone = date_match.groups()
        clock = "23:59:00"
        time_match = _TIME_TZ.match(text(time) or "")
        if time_match:
            clock, zone = time_match.group(1), time_match.group(2) or zone
        found = f"{day}T{clock}{zone or ''}"
    try:
        parsed = dt.datetime.fromisoformat(found)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=PARIS)
    try:
        return parsed.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return None


def portal_deadline(value: Any, time: Any = None) -> deadlines.Deadline | None:
    """What a notice wrote of a deadline, for display: `2026-02-16T12:00` in Paris time, or a
    date alone; an eForms date and time (`2025-12-15+01:00`, `12:00:00+01:00`) are joined."""
    found = text(value)
    if not found:
        return None
    date_match = _DATE_TZ.match(found)
    time_match = _TIME_TZ.match(text(time) or "")
    if date_match and time_match:
        zone = time_match.group(2) or date_match.group(2) or ""
        found = f"{date_match.group(1)}T{time_match.group(1)}{zone}"
    elif date_match:
        found = date_match.group(1)  # a date alone: the offset of a date says nothing to a reader
    return deadlines.read(found)


def _url(value: Any) -> str | None:
    found = text(value)
    if found and found.lower().startswith(("http://", "https://")) and " " not in found:
        return found
    return None


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) under `node`, depth first, in document order; list items keep the key."""
    stack: list[tuple[str | None, Any]] = [(None, node)]
    while stack:
        key, value = stack.pop()
        if key is not None:
            yield key, value
        if isinstance(value, dict):
            stack.extend(reversed([(str(k), v) for k, v in value.items()]))
        elif isinstance(value, list):
            stack.extend((key, item) for item in reversed(value))


def read_donnees(value: Any) -> Donnees:
    """Parse `donnees` (a JSON string, or an object already); an empty result for anything else."""
    out = Donnees()
    if isinstance(value, str):
        try:
            value = fastjson.loads(value)
        except (ValueError, RecursionError):
            return out
    if not isinstance(value, dict):
        return out
    if "EFORMS" in value:
        out.shape = "EFORMS"
        _eforms(value["EFORMS"], out)
    elif "MAPA" in value or "FNSimple" in value:
        out.shape = "MAPA" if "MAPA" in value else "FNSimple"
        _national(value[out.shape], out)
    elif any(key in value for key in ("OBJET", "IDENTITE", "objet", "identite")):
        out.shape = "V230"
        _v230(value, out)
    else:
        # DSP, DIVERS, ...: read like a national notice, whatever is there.
        inner = next((v for v in value.values() if isinstance(v, dict)), None)
        _national(inner, out)
    out.cpv = unique(out.cpv)
    out.places = unique(out.places)
    out.departments = places.unique(code for place in out.places for code in places.in_text(place))
    out.winners = unique(out.winners)
    out.documents = unique(out.documents)
    out.related_ids = unique(out.related_ids)
    return out


def _eforms(node: Any, out: Donnees) -> None:
    if not isinstance(node, dict):
        return
    root: Any = None
    for name, candidate in node.items():
        if isinstance(candidate, dict):
            root, out.kind = candidate, _EFORMS_KINDS.get(name)
            break
    if root is None:
        return
    extensions = as_list(dig(root, "ext:UBLExtensions", "ext:UBLExtension"))
    ext = next(
        (e for x in extensions if (e := dig(x, "ext:ExtensionContent", "efext:EformsExtension"))),
        None,
    )
    orgs = _organisations(ext)
    for party in as_list(root.get("cac:ContractingParty")):
        pid = text(dig(party, "cac:Party", "cac:PartyIdentification", "cbc:ID"))
        out.buyer = (
            out.buyer
            or orgs.get(pid or "")
            or text(dig(party, "cac:Party", "cac:PartyName", "cbc:Name"))
        )
        out.documents.append(_url(dig(party, "cbc:BuyerProfileURI")) or "")
    _eforms_changes(ext, out)
    out.procedure_id = text(root.get("cbc:ContractFolderID"))
    project = dig(root, "cac:ProcurementProject")
    out.title = text(dig(project, "cbc:Name"))
    out.description = text(dig(project, "cbc:Description"))
    out.cpv.extend(_eforms_cpvs(project))
    out.value, out.currency = amount(
        dig(project, "cac:RequestedTenderTotal", "cbc:EstimatedOverallContractAmount")
    )
    address = dig(project, "cac:RealizedLocation", "cac:Address")
    city, postal = text(dig(address, "cbc:CityName")), text(dig(address, "cbc:PostalZone"))
    nuts = text(dig(address, "cbc:CountrySubentityCode"))
    out.place = f"{city} ({postal})" if city and postal else city or nuts
    out.places.append(out.place or "")
    lot_winners, lot_values, total = _eforms_results(ext, orgs)
    if total[0] is not None:
        out.value, out.currency = total[0], total[1] or out.currency
    for lot in as_list(root.get("cac:ProcurementProjectLot")):
        out.lots.append(_eforms_lot(lot, lot_winners, lot_values, out))
    out.winners.extend(name for names in lot_winners.values() for name in names)
    lot_deadlines = [lot.deadline for lot in out.lots if lot.deadline]
    out.deadline = max(lot_deadlines) if lot_deadlines else None
    out.facts = eforms_facts(root, ext)
    if out.value is None:
        values = [lot.value for lot in out.lots if lot.value is not None]
        out.value = sum(values) if values else None


# BT-760 `received-submission-type` codes whose BT-759 counts tenders; `tenders` is every
# tender, the others a subset (from SMEs, submitted electronically...), so at least that many.
_ALL_TENDERS = "tenders"
_SOME_TENDERS = frozenset(
    {
        "t-sme",
        "t-micro",
        "t-small",
        "t-med",
        "t-large",
        "t-esubm",
        "t-oth-eea",
        "t-non-eea",
        "t-eea",
    }
)
_MONTHS = {"MONTH": 1, "YEAR": 12}


def _date_only(value: Any) -> dt.date | None:
    found = text(value)
    match = _DATE_TZ.match(found or "")
    return dt.date.fromisoformat(match.group(1)) if match else None


def _received(ext: Any) -> dict[str, int]:
    """Tenders received per lot (BT-759 with BT-760 `tenders`). A lot whose statistics count
    only a kind of tender (`t-sme`, `t-esubm`...) or name no kind is not given a total."""
    counts: dict[str, int] = {}
    for result in as_list(dig(ext, "efac:NoticeResult", "efac:LotResult")):
        lot = text(dig(result, "efac:TenderLot", "cbc:ID")) or ""
        for stats in as_list(dig(result, "efac:ReceivedSubmissionsStatistics")):
            code = (text(dig(stats, "efbc:StatisticsCode")) or "").lower()
            number = text(dig(stats, "efbc:StatisticsNumeric"))
            if code == _ALL_TENDERS and number and number.isdigit():
                counts[lot] = int(number)
    return counts


def eforms_facts(root: Any, ext: Any) -> dict[str, Any]:
    """The facts of issue 28 an eForms notice states: tenders received (BT-759/BT-760), the
    procedure type (BT-105), an accelerated procedure and why (BT-106/BT-1351), the duration and
    dates of each lot (BT-36, BT-536, BT-537: the longest and the latest kept) and the
    conclusion of its contracts (BT-145, the earliest)."""
    out: dict[str, Any] = {}
    received = _received(ext)
    if received:
        out["tenders_received"] = min(received.values())
        if len(received) > 1 or next(iter(received)) != "":
            out["tenders_by_lot"] = tuple(sorted(received.items()))
    process = dig(root, "cac:TenderingProcess")
    code = text(dig(process, "cbc:ProcedureCode"))
    if code:
        out["procedure_type"] = facts.procedure_type(code)
        out["procedure_label"] = code
    for reason in as_list(dig(process, "cac:ProcessJustification")):
        coded = dig(reason, "cbc:ProcessReasonCode")
        listed = text(coded.get("@listName")) if isinstance(coded, dict) else None
        if listed == "accelerated-procedure":
            out["accelerated"] = text(coded) == "true"
            if out["accelerated"]:
                out["accelerated_reason"] = text(dig(reason, "cbc:ProcessReason"))
    months, starts, ends = [], [], []
    for lot in as_list(root.get("cac:ProcurementProjectLot")):
        period = dig(lot, "cac:ProcurementProject", "cac:PlannedPeriod")
        measure = dig(period, "cbc:DurationMeasure")
        unit = text(measure.get("@unitCode")) if isinstance(measure, dict) else None
        number = text(measure)
        if unit in _MONTHS and number and number.isdigit():
            months.append(int(number) * _MONTHS[unit])
        starts.append(_date_only(dig(period, "cbc:StartDate")))
        ends.append(_date_only(dig(period, "cbc:EndDate")))
    if months:
        out["duration_months"] = max(months)
    if any(starts):
        out["contract_start"] = min(d for d in starts if d)
    if any(ends):
        out["contract_end"] = max(d for d in ends if d)
    concluded = [
        _date_only(dig(c, "cbc:IssueDate"))
        for c in as_list(dig(ext, "efac:NoticeResult", "efac:SettledContract"))
    ]
    if any(concluded):
        out["notified"] = min(d for d in concluded if d)
    return {key: value for key, value in out.items() if value is not None}


def _organisations(ext: Any) -> dict[str, str]:
    """Organisation names by id (`ORG-0001`): eForms names every party once, then by reference."""
    orgs: dict[str, str] = {}
    for organisation in as_list(dig(ext, "efac:Organizations", "efac:Organization")):
        company = dig(organisation, "efac:Company")
        oid = text(dig(company, "cac:PartyIdentification", "cbc:ID"))
        name = text(dig(company, "cac:PartyName", "cbc:Name"))
        if oid and name:
            orgs[oid] = name
    return orgs


def _eforms_changes(ext: Any, out: Donnees) -> None:
    changes = as_list(dig(ext, "efac:Changes"))
    if not changes:
        return
    reasons = [
        (text(dig(reason, "cbc:ReasonCode")) or "").lower()
        for change in changes
        for reason in as_list(dig(change, "efac:ChangeReason"))
    ]
    # A change notice whose reason is `cancel` withdraws the procedure (SEEN: 25-127510).
    out.kind = "cancellation" if any(r.startswith("cancel") for r in reasons) else "corrigendum"


def _eforms_cpvs(project: Any) -> list[str]:
    codes = [
        cpv_code(dig(project, "cac:MainCommodityClassification", "cbc:ItemClassificationCode"))
    ]
    codes.extend(
        cpv_code(dig(extra, "cbc:ItemClassificationCode"))
        for extra in as_list(dig(project, "cac:AdditionalCommodityClassification"))
    )
    return unique(codes)


def _eforms_results(
    ext: Any, orgs: dict[str, str]
) -> tuple[dict[str, list[str]], dict[str, float], tuple[float | None, str | None]]:
    """Winners and awarded values per lot id, and the notice's total, from `efac:NoticeResult`."""
    result = dig(ext, "efac:NoticeResult")
    parties: dict[str, list[str]] = {}
    for party in as_list(dig(result, "efac:TenderingParty")):
        tenderers = as_list(dig(party, "efac:Tenderer"))
        parties[text(dig(party, "cbc:ID")) or ""] = unique(
            orgs.get(text(dig(t, "cbc:ID")) or "") for t in tenderers
        )
    tenders: dict[str, tuple[str, list[str], float | None]] = {}
    for tender in as_list(dig(result, "efac:LotTender")):
        value, _ = amount(dig(tender, "cac:LegalMonetaryTotal", "cbc:PayableAmount"))
        tenders[text(dig(tender, "cbc:ID")) or ""] = (
            text(dig(tender, "efac:TenderLot", "cbc:ID")) or "",
            parties.get(text(dig(tender, "efac:TenderingParty", "cbc:ID")) or "", []),
            value,
        )
    chosen: list[tuple[str, str]] = []  # (lot id, tender id) of the tenders a lot result names
    for lot_result in as_list(dig(result, "efac:LotResult")):
        lot_id = text(dig(lot_result, "efac:TenderLot", "cbc:ID"))
        for ref in as_list(dig(lot_result, "efac:LotTender")):
            tender_id = text(dig(ref, "cbc:ID")) or ""
            chosen.append(
                (lot_id or (tenders[tender_id][0] if tender_id in tenders else ""), tender_id)
            )
    if not chosen:
        chosen = [(lot_id, tender_id) for tender_id, (lot_id, _, _) in tenders.items()]
    winners: dict[str, list[str]] = {}
    values: dict[str, float] = {}
    for lot, tender_id in chosen:
        if tender_id not in tenders:
            continue
        _, tenderers, value = tenders[tender_id]
        winners[lot] = unique([*winners.get(lot, []), *tenderers])
        if value is not None:
            values[lot] = values.get(lot, 0.0) + value
    return winners, values, amount(dig(result, "cbc:TotalAmount"))


def _eforms_lot(
    lot: Any, winners: dict[str, list[str]], values: dict[str, float], out: Donnees
) -> Lot:
    lot_id = text(dig(lot, "cbc:ID"))
    project = dig(lot, "cac:ProcurementProject")
    for reference in as_list(dig(lot, "cac:TenderingTerms", "cac:CallForTendersDocumentReference")):
        out.documents.append(
            _url(dig(reference, "cac:Attachment", "cac:ExternalReference", "cbc:URI")) or ""
        )
    cpv = _eforms_cpvs(project)
    out.cpv.extend(cpv)
    period = dig(lot, "cac:TenderingProcess", "cac:TenderSubmissionDeadlinePeriod")
    deadline = parse_datetime(dig(period, "cbc:EndDate"), dig(period, "cbc:EndTime"))
    if deadline is not None and (
        out.deadline_text is None or deadline >= (out.deadline or deadline)
    ):
        out.deadline = deadline
        out.deadline_text = portal_deadline(dig(period, "cbc:EndDate"), dig(period, "cbc:EndTime"))
    address = dig(project, "cac:RealizedLocation", "cac:Address")
    city, postal = text(dig(address, "cbc:CityName")), text(dig(address, "cbc:PostalZone"))
    out.places.append(f"{city} ({postal})" if city and postal else postal or "")
    estimated, _ = amount(
        dig(project, "cac:RequestedTenderTotal", "cbc:EstimatedOverallContractAmount")
    )
    return Lot(
        number=lot_id,
        title=text(dig(project, "cbc:Name")),
        description=text(dig(project, "cbc:Description")),
        cpv=tuple(cpv),
        deadline=deadline,
        value=values.get(lot_id or "", estimated),
        winners=tuple(winners.get(lot_id or "", ())),
    )


def _national(root: Any, out: Donnees) -> None:
    if not isinstance(root, dict):
        return
    organisme = dig(root, "organisme")
    out.buyer = first_text(
        dig(organisme, "acheteurPublic"),
        dig(organisme, "nomOrganisme"),
        dig(organisme, "denomination"),
    )
    initial = dig(root, "initial")
    nature = dig(initial, "natureMarche")
    out.title = first_text(dig(nature, "intitule"), dig(initial, "description", "objet"))
    parts = [dig(nature, "description"), dig(initial, "description", "objet")]
    parts.append(dig(initial, "caracteristiques", "principales"))
    out.description = " ".join(unique(text(part) for part in parts)) or None
    for received in (
        dig(initial, "delais", "receptionOffres"),
        dig(initial, "procedure", "dateReceptionOffres"),
    ):
        out.deadline = parse_datetime(received)
        if out.deadline is not None:
            out.deadline_text = portal_deadline(received)
            break
    months = text(dig(nature, "dureeMois"))
    if months and months.isdigit():
        out.facts["duration_months"] = int(months)
    estimate = dig(nature, "valeurEstimee")
    out.value, out.currency = amount(dig(estimate, "valeur"))
    if out.value is None:
        out.value, out.currency = amount(dig(estimate, "fourchette", "valeurHaute"))
    place = dig(nature, "lieuExecution")
    out.place = first_text(
        dig(place, "libelle"), place, dig(initial, "description", "lieuPrincipal")
    )
    out.places.append(out.place or "")
    for key, value in _walk(root):
        if key == "classPrincipale" or (key == "codeCPV" and not isinstance(value, dict | list)):
            out.cpv.append(cpv_code(value) or "")
        elif key.lower() in _DOC_KEYS:
            out.documents.append(_url(value) or "")
    lots = dig(initial, "lots")
    for lot in as_list(dig(lots, "lot") if isinstance(lots, dict) else lots):
        out.lots.append(_national_lot(lot))
        out.places.append(first_text(dig(lot, "lieuExecutionLivraison"), dig(lot, "lieu")) or "")
    for section in ("attribution", "rectificatif", "annulation"):
        out.related_ids.append(text(dig(root, section, "avisInitial", "idWeb")) or "")
    _national_award(dig(root, "attribution"), out)
    _national_rectif(dig(root, "rectificatif"), out)
    if isinstance(dig(root, "annulation"), dict):
        out.kind = "cancellation"


def _national_lot(lot: Any) -> Lot:
    codes = [cpv_code(v) for k, v in _walk(dig(lot, "codeCPV")) if k == "classPrincipale"]
    value, _ = amount(dig(lot, "valeurEstimee", "valeur"))
    if value is None:  # FNSimple lots: `estimationValeur` (SEEN in samples/real, issue 13)
        value, _ = amount(dig(lot, "estimationValeur", "valeur"))
    number = first_text(dig(lot, "numero"), dig(lot, "num"), dig(lot, "numLot"))
    title = first_text(dig(lot, "intitule"), dig(lot, "titre"), dig(lot, "libelle"))
    description = dig(lot, "description")
    if title is None and isinstance(description, str) and description.strip():
        # FNSimple lots have one `description`: "1- Prestations…", "Lot 2 : Finition", or a title
        # on its first line and details after it.
        head = _LOT_HEAD.match(description.strip())
        first_line = description.strip().splitlines()[0]
        if head and (number is None or number == head.group(1)):
            number, first_line = head.group(1), head.group(2).splitlines()[0]
        title = text(first_line)
    return Lot(
        number=number,
        title=title,
        description=text(description),
        cpv=tuple(unique(codes)),
        value=value,
    )


def _national_award(section: Any, out: Donnees) -> None:
    if not isinstance(section, dict):
        return
    out.kind = out.kind or "award"
    for key, value in _walk(section):
        if key in _WINNER_KEYS or (key == "titulaire" and isinstance(value, str)):
            out.winners.append(text(value) or "")
        elif key == "montant" and out.value is None:
            out.value, out.currency = amount(dig(value, "valeur"))


def _national_rectif(section: Any, out: Donnees) -> None:
    if not isinstance(section, dict):
        return
    out.kind = out.kind or "corrigendum"
    # A corrected deadline: `{"rubDelais": "ReceptionOffres", "lireDate": …}` (SEEN in consumers).
    for change in as_list(dig(section, "infosRectif")):
        if "reception" in (text(dig(change, "rubDelais")) or "").lower():
            out.deadline = parse_datetime(dig(change, "lireDate")) or out.deadline


def _v230(root: dict[str, Any], out: Donnees) -> None:
    identity = _v(root, "IDENTITE")
    out.buyer = text(_v(identity, "DENOMINATION"))
    for key in ("URL_PROFIL_ACHETEUR", "URL_DOCUMENT"):
        out.documents.append(_url(_v(identity, key)) or "")
    descriptions: list[str | None] = []
    for objet in as_list(_v(root, "OBJET")):
        out.title = out.title or text(_v(objet, "TITRE_MARCHE"))
        descriptions.append(text(_v(objet, "OBJET_COMPLET")))
        for cpv in as_list(_v(objet, "CPV")):
            out.cpv.extend(cpv_code(code) or "" for code in as_list(_v(cpv, "PRINCIPAL")))
        # The place of works: `LIEU_EXEC_LIVR` (an address, a NUTS code), SEEN in samples/real.
        where = _v(objet, "LIEU_EXEC_LIVR")
        out.place = out.place or first_text(_v(where, "ADRESSE"), _v(where, "CODE_NUTS"))
        out.places.append(text(_v(where, "ADRESSE")) or "")
    out.description = " ".join(unique(descriptions)) or None
    delays = _v(root, "CONDITION_DELAI")
    # Offers, else applications (a restricted procedure or a concession: `RECEPT_CANDIDAT`).
    for key in ("RECEPT_OFFRES", "RECEPT_CANDIDAT"):
        out.deadline = parse_datetime(_v(delays, key))
        if out.deadline is not None:
            # Epoch milliseconds (the retired DILA API) are an instant: shown in Paris time.
            out.deadline_text = portal_deadline(_v(delays, key)) or deadlines.from_instant(
                out.deadline
            )
            break


def _v(node: Any, key: str) -> Any:
    """A V230 key as the ODS dataset writes it (`OBJET_COMPLET`) or as the retired DILA API did
    (`objetcomplet`, SEEN in samples/real)."""
    if not isinstance(node, dict):
        node = node[0] if isinstance(node, list) and node else None
        if not isinstance(node, dict):
            return None
    found = node.get(key)
    return found if found is not None else node.get(key.replace("_", "").lower())
