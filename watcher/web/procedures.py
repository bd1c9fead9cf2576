"""What the pages show of a procedure: its compiled record (`Notice.compiled`, issue 23) as a reader
reads it, with its winners linked to their company pages; and a notice's own facts (what it said
itself, not what its procedure says now)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watcher.core.compiled import status_at, status_label
from watcher.core.normalize import format_money, parse_datetime
from watcher.db.models import Company, CompanyContract

LABELS = {
    "fr": {
        "status": "État de la procédure",
        "winners": "Titulaires",
        "awarded": "Montant attribué",
        "estimate": "Montant estimé",
        "deadline": "Date limite actuelle",
        "from": "selon",
    },
    "en": {
        "status": "Procedure status",
        "winners": "Winners",
        "awarded": "Awarded amount",
        "estimate": "Estimated value",
        "deadline": "Current deadline",
        "from": "per",
    },
}


@dataclass(frozen=True)
class ProcedureView:
    """A procedure as a page header or a list row shows it."""

    status: str
    status_label: str
    title: str | None
    buyer: str | None
    deadline: Any  # has deadline, deadline_local, deadline_zone (the pages' `deadline` macro)
    awarded: str | None
    estimate: str | None
    winners: list[tuple[str, str | None]] = field(default_factory=list)  # (name, company slug)
    sources: dict[str, str] = field(default_factory=dict)  # fact → "boamp 27-41000"
    labels: dict[str, str] = field(default_factory=dict)


def _money(amount: Any) -> str | None:
    if not isinstance(amount, dict) or amount.get("amount") is None:
        return None
    return format_money(amount["amount"], amount.get("currency") or "EUR")


def _fold(name: str) -> str:
    return " ".join(name.casefold().split())


def procedure_view(
    compiled: dict[str, Any] | None,
    now: dt.datetime,
    lang: str = "fr",
    slugs: dict[str, str] | None = None,
) -> ProcedureView | None:
    """The view of a compiled record (None when there is none); `slugs`: winner name (folded)
    → company slug."""
    if not compiled:
        return None
    status = status_at(compiled, now) or ""
    origin = compiled.get("from") or {}
    deadline = SimpleNamespace(
        deadline=parse_datetime(compiled.get("deadline")),
        deadline_local=compiled.get("deadline_local"),
        deadline_zone=compiled.get("deadline_zone"),
    )
    slugs = slugs or {}
    winners = [
        (str(w["name"]), slugs.get(_fold(str(w["name"]))))
        for w in compiled.get("winners") or []
        if w.get("name")
    ]
    if len(winners) == 1 and winners[0][1] is None and len(set(slugs.values())) == 1:
        winners = [(winners[0][0], next(iter(slugs.values())))]  # spelt otherwise by a portal
    return ProcedureView(
        status=status,
        status_label=status_label(status, lang),
        title=compiled.get("title"),
        buyer=compiled.get("buyer"),
        deadline=deadline,
        awarded=_money(compiled.get("awarded")),
        estimate=_money(compiled.get("estimate")),
        winners=winners,
        sources={
            key: f"{o.get('source')} {o.get('ref')}"
            for key, o in origin.items()
            if isinstance(o, dict)
        },
        labels=LABELS["en" if lang == "en" else "fr"],
    )


def winner_slugs(session: Session, roots: Collection[int]) -> dict[int, dict[str, str]]:
    """For each procedure (first notice id): its winners' names (folded) → company slug."""
    if not roots:
        return {}
    rows = session.execute(
        select(CompanyContract.procedure_notice_id, CompanyContract.name, Company.slug)
        .join(Company, Company.id == CompanyContract.company_id)
        .where(CompanyContract.procedure_notice_id.in_(list(roots)))
    )
    found: dict[int, dict[str, str]] = {}
    for root, name, slug in rows:
        found.setdefault(root, {})[_fold(name)] = slug
    return found


def own_deadline(notice: Any) -> Any:
    """A notice's deadline as it stated it (its snapshot), not its procedure's current one."""
    snap = getattr(notice, "snapshot", None) or {}
    return SimpleNamespace(
        deadline=parse_datetime(snap.get("deadline")),
        deadline_local=snap.get("deadline_local"),
        deadline_zone=snap.get("deadline_zone"),
    )
