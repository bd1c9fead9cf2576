"""Pure value types that flow through the pipeline: fetch → parse → normalize → diff → store.

Sources produce `RawPage`s (I/O only) and parse them into `NoticeRecord`s (pure). Every source kind
fills the same `NoticeRecord`, so storage, matching, diffing and publishing never look at a portal's
own format.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

NoticeType = Literal["notice", "corrigendum", "award", "prior_information", "cancellation"]
NOTICE_TYPES: tuple[str, ...] = (
    "notice",
    "corrigendum",
    "award",
    "prior_information",
    "cancellation",
)


@dataclass(frozen=True, slots=True)
class RawPage:
    """One answer from a portal, as received: the unit a source's `parse()` reads."""

    url: str
    content: bytes
    content_type: str = "application/json"
    fetched_at: dt.datetime | None = None
    # Anything the parser needs to know about the request (page number, detail id, ...).
    meta: dict[str, Any] = field(default_factory=dict)


# What a stated amount is (issue 24): never shown alike as "Montant".
ValueKind = Literal["estimate", "range", "maximum", "awarded", "contract", "amended"]
VALUE_KINDS: tuple[str, ...] = ("estimate", "range", "maximum", "awarded", "contract", "amended")
# How a procedure (or a lot) ended when it ended without a contract (OCDS `tender.status`).
Outcome = Literal["unsuccessful", "cancelled"]


@dataclass(frozen=True, slots=True)
class Amount:
    """One amount a notice states, of one kind, as the portal means it (issue 24).

    `amount` is the value (a range's upper bound); `low` a range's lower bound; `per="year"` a
    maximum per year; `tax` "HT" or "TTC" when the portal says it; `lot` the lot it is for (None:
    the whole notice); `field` the portal field it was read from (evidence). A zero or a missing
    amount is not an `Amount`: "not stated" (the raw value stays in the evidence).
    """

    kind: ValueKind
    amount: float | None
    currency: str | None = None
    low: float | None = None
    tax: Literal["HT", "TTC"] | None = None
    per: Literal["year"] | None = None
    lot: str | None = None
    field: str | None = None


# A procedure's type as a normalised code (issue 28): what `core/questions.py` reads, whatever the
# portal's wording (`procedure_label` keeps that wording as evidence).
ProcedureType = Literal[
    "open",
    "restricted",
    "negotiated_with_publicity",
    "negotiated_without_publicity",
    "competitive_dialogue",
    "adapted",
    "other",
]
PROCEDURE_TYPES: tuple[str, ...] = (
    "open",
    "restricted",
    "negotiated_with_publicity",
    "negotiated_without_publicity",
    "competitive_dialogue",
    "adapted",
    "other",
)


@dataclass(frozen=True, slots=True)
class Modification:
    """One amendment (avenant) of a contract as a notice states it (DECP `modifications`,
    issue 28). `amount` and `duration_months` are the contract's new total after the amendment
    (the DECP schemas' meaning of `montant` and `dureeMois`), not the increment; `date` the
    amendment's notification, else the publication of its data."""

    date: dt.date | None = None
    amount: float | None = None
    duration_months: int | None = None
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class Lot:
    """One lot of a notice; every field may be missing."""

    number: str | None = None
    title: str | None = None
    description: str | None = None
    cpv: tuple[str, ...] = ()
    deadline: dt.datetime | None = None
    value: float | None = None
    winners: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NoticeRecord:
    """One notice of one portal, in the single model every source fills.

    `native_id` is the portal's stable id for this publication (BOAMP idweb, TED publication number,
    OCDS release id, PLACE consultation reference). `procedure_id` groups the notices of one procedure
    (eForms ContractFolderID, OCDS ocid, PLACE reference) and `related_ids` names earlier notices this
    one corrects, cancels or awards (BOAMP `annonce_lie`). `raw` is the portal's own payload for this
    notice, kept as evidence.
    """

    native_id: str
    title: str
    url: str | None = None
    buyer: str | None = None
    published: dt.date | None = None
    deadline: dt.datetime | None = None
    cpv: tuple[str, ...] = ()
    place: str | None = None
    # The first of `departments` (the one older code reads); both are kept in step.
    department: str | None = None
    notice_type: NoticeType = "notice"
    value: float | None = None
    currency: str | None = None
    winners: tuple[str, ...] = ()
    description: str | None = None
    documents: tuple[str, ...] = ()
    lots: tuple[Lot, ...] = ()
    procedure_id: str | None = None
    related_ids: tuple[str, ...] = ()
    language: str | None = None
    raw: str = ""
    # Every département the notice concerns (`("67", "68", "57")`), in the portal's order.
    departments: tuple[str, ...] = ()
    # The deadline as the portal means it: its wall-clock time (`2026-02-16T12:00`), or its date
    # alone (`2026-07-13`) when the portal gives no time, and the time zone it is written in
    # (`Europe/Paris`, `Europe/London`, `UTC+02:00`). `deadline` stays the exact UTC instant
    # used for ordering (a date alone: the start of that day in that zone).
    deadline_local: str | None = None
    deadline_zone: str | None = None
    # The tender's (estimated) value when `value` is an award's: an award of 0 is kept as the
    # portal gives it, and shown beside the tender value, never as an amount paid.
    tender_value: float | None = None
    # What the parser doubted (an ambiguous place code, ...), shown and counted by `watcher audit`.
    flags: tuple[str, ...] = ()
    # Every amount the notice states, each with its kind (issue 24); `value`/`tender_value` stay
    # for older readers.
    amounts: tuple[Amount, ...] = ()
    # A procedure or award closed without a contract: "unsuccessful" (infructueux, eForms
    # `clos-nw`) or "cancelled" (issue 24); None otherwise.
    outcome: Outcome | None = None
    # Facts for the questions to ask, the renewal radar and the legal clock (issue 28); every one
    # None or empty when the notice does not state it (never guessed). `tenders_received`: the
    # fewest tenders any lot received (DECP `offresRecues`, eForms BT-759 with BT-760 `tenders`,
    # OCDS `numberOfTenderers`), per lot in `tenders_by_lot` when the notice has lots.
    tenders_received: int | None = None
    tenders_by_lot: tuple[tuple[str, int], ...] = ()
    # The procedure's type, normalised, and as the portal words it (`Appel d'offres ouvert`).
    procedure_type: ProcedureType | None = None
    procedure_label: str | None = None
    # An accelerated procedure (eForms BT-106) and its justification (BT-1351).
    accelerated: bool | None = None
    accelerated_reason: str | None = None
    # The contract's duration in months, start and end as stated (eForms BT-36/BT-536/BT-537,
    # DECP `dureeMois`, OCDS `contractPeriod`).
    duration_months: int | None = None
    contract_start: dt.date | None = None
    contract_end: dt.date | None = None
    # When the contract was notified or concluded (DECP `dateNotification`, eForms BT-145, OCDS
    # `contracts.dateSigned`) and when its data was published (DECP `datePublicationDonnees`).
    notified: dt.date | None = None
    data_published: dt.date | None = None
    modifications: tuple[Modification, ...] = ()
    # Subcontractors the notice names (DECP 2022 `actesSousTraitance`, eForms
    # `efac:SubContractor`): companies with the role "subcontractor", never winners (issue 24).
    subcontractors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # One list and its first item: callers may give either (older code gives `department`).
        if self.departments and self.department != self.departments[0]:
            if self.department and self.department not in self.departments:
                object.__setattr__(self, "departments", (self.department, *self.departments))
            else:
                object.__setattr__(self, "department", self.departments[0])
        elif self.department and not self.departments:
            object.__setattr__(self, "departments", (self.department,))


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One notice of a page before it is parsed: its id, date and raw payload, enough to tell
    whether it changed since the last poll. A source that can read these cheaply (`boamp`) lets
    the pipeline skip parsing the unchanged ones; `item` is what its `parse_raw()` reads."""

    native_id: str
    published: dt.date | None
    raw: str
    item: Any = None
    # sha256 of `raw`'s UTF-8 when the source computed it from the bytes it wrote (issue 29: no
    # second encoding, no scan; such a `raw` has no lone surrogate and no NUL byte).
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of a notice that changed, in words a reader understands."""

    field: str
    label: str
    old: str | None
    new: str | None

    def describe(self) -> str:
        """`Date limite de réception des offres : 04/01/2027 → 18/01/2027`."""
        old = self.old if self.old not in (None, "") else "—"
        new = self.new if self.new not in (None, "") else "—"
        return f"{self.label} : {old} → {new}"


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A record of a page that could not be read, whatever the reason (issue 26): the poll skips
    it, counts it and keeps it as evidence (`<data dir>/unreadable/<source>/`); the rest of the
    page is stored."""

    native_id: str | None
    reason: str  # `RecursionError: maximum recursion depth exceeded …`, one line
    raw: str  # the record as the portal sent it, as far as it can be written


@dataclass(frozen=True, slots=True)
class PollWindow:
    """What a poll asks a portal for: everything published or updated since `since` until `now`."""

    now: dt.datetime
    since: dt.datetime | None = None


@dataclass(slots=True)
class RunResult:
    """What one poll of one source did, for logs, the CLI and metrics."""

    source: str
    ok: bool = True
    fetched: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    relevant: int = 0
    events: int = 0
    # Stored procedures found to be one when a later notice linked them (`store.PollStore._merge`).
    merged: int = 0
    pages: int = 0
    # Pages that answered 304 to a conditional request: not downloaded, not parsed.
    not_modified: int = 0
    seconds: float = 0.0
    error: str | None = None
    flagged: str | None = None
    # Why nothing was polled: another instance holds the source, or polled it moments ago.
    skipped: str | None = None
    # Records that could not be read: skipped, kept as evidence (issue 26).
    unreadable: int = 0

    def rolled_back(self) -> None:
        """The poll failed and its transaction was rolled back: nothing it counted as stored
        was kept (issue 26: a failed poll said "100 new")."""
        self.new = self.changed = self.unchanged = self.relevant = self.events = 0
        self.merged = self.unreadable = 0

    def summary(self) -> str:
        """One line for a person: what the poll fetched and what it found."""
        if self.skipped:
            return f"{self.source}: skipped ({self.skipped})"
        if not self.ok:
            return f"{self.source}: FAILED after {self.seconds:.1f}s: {self.error}"
        text = (
            f"{self.source}: {self.fetched} notices fetched ({self.pages} pages), "
            f"{self.new} new, {self.changed} changed, {self.relevant} relevant, "
            f"{self.events} events, {self.seconds:.1f}s"
        )
        if self.not_modified:
            text += f", {self.not_modified} pages not modified (304)"
        if self.unreadable:
            text += f", {self.unreadable} unreadable records skipped (kept in unreadable/)"

        if self.flagged:
            text += f" [warning: {self.flagged}]"
        return text
