"""Pure rules: which phase of its procedure a notice is, in OCDS's release-tag vocabulary.

A procedure is told as a sequence of releases, the way the Open Contracting Data Standard does.
Each notice of each portal is one release with one phase (an OCDS `releaseTag`):

| phase | what it is | event when it is news |
|---|---|---|
| `planning` | prior information notice (PIN, "avis de préinformation") | `planned` |
| `tender` | contract notice: the call for tenders is open | `new`, or `tender_published` after a PIN |
| `tenderAmendment` | corrigendum ("rectificatif", eForms `corr`, a TED change notice) | `deadline_moved` / `corrigendum` |
| `tenderUpdate` | a later version of a contract notice on the same portal | `deadline_moved` / `changed` |
| `award` | contract award notice ("avis d'attribution", eForms `can-*`) | `awarded` |
| `awardUpdate` | a later version of an award notice | `awarded` / `changed` |
| `contract` | a signed contract (DECP "données essentielles") | `awarded` |
| `contractAmendment` | a contract with modifications ("avenants", eForms `can-modif`) | `contract_modified` |
| `tenderCancellation` | cancellation, "sans suite", "infructueux" (`outcome`: eForms `clos-nw`) | `cancelled` |

How each source kind maps its notice types (`phase_of` below, one table per kind):

- `boamp`: `PREINFORMATION` → planning; `APPEL_OFFRE` → tender; `RECTIFICATIF` / `MODIFICATION`
  → tenderAmendment; `ATTRIBUTION` / `RESULTAT` → award; `ANNULATION`, or an award or corrigendum
  saying "sans suite" / "infructueux" → tenderCancellation.
- `ted`: `pin-*` / form `planning` → planning; `cn-*`, `subco`, `qu-sy` / form `competition` →
  tender; `corr*` / form `change` → tenderAmendment; `can-modif` → contractAmendment; `can-*`,
  `veat` / form `result` → award.
- `find_a_tender`, `contracts_finder` (OCDS): the release's own `tag` (the first one that is a
  phase), else its notice type; a `tender.status` of `cancelled` / `unsuccessful` →
  tenderCancellation.
- `decp`: every record is a contract; a record with `modifications` is a contractAmendment.
- `place`, `html`, `feed`: a listing of open consultations: tender, unless the notice type read
  from the page says otherwise (prior information, corrigendum, award, cancellation).

A second version of a notice keeps its phase, but a tender or an award seen again becomes
`tenderUpdate` / `awardUpdate` (see `version_phase`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

PHASES: tuple[str, ...] = (
    "planning",
    "tender",
    "tenderAmendment",
    "tenderUpdate",
    "award",
    "awardUpdate",
    "contract",
    "contractAmendment",
    "tenderCancellation",
)
# The order in which a procedure's phases are told (a page shows them in this order).
ORDER = {phase: rank for rank, phase in enumerate(PHASES)}

LABELS = {
    "fr": {
        "planning": "Préinformation",
        "tender": "Appel d'offres",
        "tenderAmendment": "Rectificatif",
        "tenderUpdate": "Appel d'offres mis à jour",
        "award": "Attribution",
        "awardUpdate": "Attribution mise à jour",
        "contract": "Marché conclu",
        "contractAmendment": "Modification du marché (avenant)",
        "tenderCancellation": "Annulation",
    },
    "en": {
        "planning": "Prior information",
        "tender": "Call for tenders",
        "tenderAmendment": "Corrigendum",
        "tenderUpdate": "Call for tenders updated",
        "award": "Award",
        "awardUpdate": "Award updated",
        "contract": "Contract",
        "contractAmendment": "Contract modification",
        "tenderCancellation": "Cancellation",
    },
}

_BY_NOTICE_TYPE = {
    "prior_information": "planning",
    "notice": "tender",
    "corrigendum": "tenderAmendment",
    "award": "award",
    "cancellation": "tenderCancellation",
}
_UNSUCCESSFUL = re.compile(r"\b(sans suite|infructueu(x|se)|unsuccessful)\b")
_OCDS_KINDS = frozenset({"find_a_tender", "contracts_finder", "ocds"})


def _plain(text: str | None) -> str:
    folded = unicodedata.normalize("NFKD", (text or "")[:2000].lower())
    return "".join(c for c in folded if not unicodedata.combining(c))


def _json(raw: str) -> Any:
    if not raw or raw[:1] not in "{[":
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def phase_of(kind: str, notice_type: str | None, snapshot: dict[str, Any], raw: str = "") -> str:
    """The phase of a notice from its source kind, its notice type and hints in its payload."""
    base = _BY_NOTICE_TYPE.get(notice_type or "notice", "tender")
    if snapshot.get("outcome") in {"unsuccessful", "cancelled"}:
        # Closed without a contract (eForms `clos-nw`, issue 24): never an award.
        return "tenderCancellation"
    text = _plain(f"{snapshot.get('title') or ''} {(snapshot.get('description') or '')[:2000]}")
    if notice_type in {"award", "corrigendum"} and _UNSUCCESSFUL.search(text):
        return "tenderCancellation"
    if kind == "decp":
        data = _json(raw)
        modified = isinstance(data, dict) and bool(data.get("modifications"))
        return "contractAmendment" if modified else "contract"
    if kind == "ted":
        data = _json(raw)
        code = str(data.get("notice-type") or "").lower() if isinstance(data, dict) else ""
        if code == "can-modif":
            return "contractAmendment"
    if kind in _OCDS_KINDS:
        data = _json(raw)
        if isinstance(data, dict):
            status = str((data.get("tender") or {}).get("status") or "").lower()
            if status in {"cancelled", "unsuccessful", "withdrawn"}:
                return "tenderCancellation"
            tags = data.get("tag") or []
            for tag in tags if isinstance(tags, list) else [tags]:
                if tag in ORDER:
                    return str(tag)
    return base


def version_phase(phase: str, version: int) -> str:
    """The phase of a later version of a notice: a tender or an award seen again is an update."""
    if version > 1 and phase == "tender":
        return "tenderUpdate"
    if version > 1 and phase == "award":
        return "awardUpdate"
    return phase


def stage(phase: str | None) -> str:
    """The step of the story a phase belongs to: `planning`, `tender`, `award`, `contract`,
    `cancellation` (updates and amendments belong to the step they change)."""
    if phase in {"tender", "tenderUpdate", "tenderAmendment"}:
        return "tender"
    if phase in {"award", "awardUpdate"}:
        return "award"
    if phase in {"contract", "contractAmendment"}:
        return "contract"
    if phase == "tenderCancellation":
        return "cancellation"
    return "planning"


OUTCOME_LABELS = {
    "fr": {
        "unsuccessful": "Procédure infructueuse — aucun titulaire",
        "cancelled": "Procédure annulée",
    },
    "en": {
        "unsuccessful": "Unsuccessful — no contract awarded",
        "cancelled": "Procedure cancelled",
    },
}


def label(phase: str | None, lang: str = "fr", outcome: str | None = None) -> str:
    """A reader's name of a phase; of a procedure closed without a contract, its outcome
    ("Procédure infructueuse — aucun titulaire")."""
    if not phase:
        return ""
    names = OUTCOME_LABELS["en" if lang == "en" else "fr"]
    if phase == "tenderCancellation" and outcome in names:
        return names[outcome]
    return LABELS["en" if lang == "en" else "fr"].get(phase, phase)


def related_procedures(kind: str, raw: str) -> tuple[str, ...]:
    """Procedure identifiers a notice names besides its own: OCDS `relatedProcesses` (their
    `identifier`, an ocid), for the OCDS kinds; nothing for the others."""
    if kind not in _OCDS_KINDS:
        return ()
    data = _json(raw)
    if not isinstance(data, dict):
        return ()
    found = []
    for item in data.get("relatedProcesses") or []:
        if isinstance(item, dict) and item.get("identifier"):
            scheme = str(item.get("scheme") or "ocid").lower()
            if scheme == "ocid":
                found.append(str(item["identifier"])[:200])
    return tuple(dict.fromkeys(found))
