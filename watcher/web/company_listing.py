"""What the companies pages, API and feeds read (queries) and how amounts are told (pure).

Only contracts of relevant notices (procedures at detention sites) are listed. A group (a company
that others name as `parent:` in `companies.yaml`) counts its subsidiaries' contracts.

Amounts are never added across currencies nor across kinds of value: totals are kept per
(currency, kind), and an amount the notice gives for several winners together (`shared` > 1) is
shown on its contract but left out of the totals, which say so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from watcher.core.normalize import format_money
from watcher.db.models import Company, CompanyContract, Notice
from watcher.web.pictures import Line, Step, timelines
from watcher.web.steps import step_of

KIND_LABELS = {
    "fr": {
        "award_value": "valeur d'attribution",
        "contract_value": "montant du marché",
        "framework_maximum": "maximum de l'accord-cadre",
        "estimate": "estimation",
        "subcontract": "sous-traitance",
    },
    "en": {
        "award_value": "award value",
        "contract_value": "contract value",
        "framework_maximum": "framework maximum",
        "estimate": "estimate",
        "subcontract": "subcontract",
    },
}


def money(amount: float, currency: str | None) -> str:
    """`36 500 000 €`, `1 250 000,5 £`: the currency always said (`watcher.core.normalize`)."""
    return format_money(amount, currency or "?") or "—"


def amount_text(
    amount: float | None, currency: str | None, kind: str, lang: str, shared: int = 1
) -> str:
    """`36 500 000 € (valeur d'attribution)`; "—" when the notice gives none; a subcontract says
    so ("— (sous-traitance)"): the company holds it as a subcontractor (issue 24)."""
    if amount is None:
        if kind == "subcontract":
            return f"— ({KIND_LABELS.get(lang, KIND_LABELS['fr'])[kind]})"
        return "—"
    label = KIND_LABELS.get(lang, KIND_LABELS["fr"]).get(kind, kind)
    text = f"{money(amount, currency)} ({label})"
    if shared > 1:
        text += (
            f", montant total pour {shared} titulaires"
            if lang == "fr"
            else f", total for {shared} winners together"
        )
    return text


@dataclass
class CompanyRow:
    """One line of `/companies`."""

    slug: str
    name: str
    parent: str | None
    contracts: int = 0
    totals: dict[tuple[str, str], float] = field(default_factory=dict)
    shared: int = 0  # contracts whose amount is shared with other winners (not in totals)
    unknown: int = 0  # contracts without an amount
    # Contracts it holds as a subcontractor (issue 24): counted apart, never in the totals.
    subcontracts: int = 0
    sites: set[str] = field(default_factory=set)
    first: dt.date | None = None
    last: dt.date | None = None
    subsidiaries: list[str] = field(default_factory=list)

    def add(self, contract: CompanyContract) -> None:
        """Count one contract (a subcontract apart from the contracts won)."""
        if contract.role == "subcontractor":
            self.subcontracts += 1
            return
        self.contracts += 1
        if contract.amount is None:
            self.unknown += 1
        elif contract.shared > 1:
            self.shared += 1
        else:
            key = ((contract.currency or "?").upper(), contract.amount_kind)
            self.totals[key] = self.totals.get(key, 0.0) + contract.amount
        if contract.site:
            self.sites.add(contract.site)
        day = contract.awarded_on
        if day:
            self.first = min(self.first or day, day)
            self.last = max(self.last or day, day)

    def total_lines(self, lang: str) -> list[str]:
        """One line per (currency, kind) total, plus what is left out of them."""
        lines = [amount_text(v, c, k, lang) for (c, k), v in sorted(self.totals.items())]
        if self.shared:
            lines.append(
                f"+ {self.shared} montant(s) partagé(s) avec d'autres titulaires, non additionné(s)"
                if lang == "fr"
                else f"+ {self.shared} amount(s) shared with other winners, not added"
            )
        if self.unknown:
            lines.append(
                f"+ {self.unknown} sans montant publié"
                if lang == "fr"
                else f"+ {self.unknown} without a published amount"
            )
        return lines

    def as_json(self) -> dict[str, Any]:
        """The API's view."""
        return {
            "slug": self.slug,
            "name": self.name,
            "parent": self.parent,
            "subsidiaries": self.subsidiaries,
            "contracts": self.contracts,
            "subcontracts": self.subcontracts,
            "totals": [
                {"currency": c, "amount_kind": k, "amount": v}
                for (c, k), v in sorted(self.totals.items())
            ],
            "shared_amounts_not_totalled": self.shared,
            "without_amount": self.unknown,
            "sites": sorted(self.sites),
            "first_award": self.first.isoformat() if self.first else None,
            "last_award": self.last.isoformat() if self.last else None,
            "html": f"/companies/{self.slug}",
        }


def _relevant_contracts(session: Session) -> Sequence[CompanyContract]:
    return session.scalars(
        select(CompanyContract)
        .options(joinedload(CompanyContract.company))
        .where(CompanyContract.relevant.is_(True))
        .order_by(CompanyContract.awarded_on, CompanyContract.id)
    ).all()


def company_rows(session: Session) -> list[CompanyRow]:
    """Every company (and group) with contracts at detention sites, most contracts first."""
    companies = {c.slug: c for c in session.scalars(select(Company))}
    rows: dict[str, CompanyRow] = {}

    def row(slug: str) -> CompanyRow:
        company = companies[slug]
        if slug not in rows:
            rows[slug] = CompanyRow(slug, company.name, company.parent)
        return rows[slug]

    for contract in _relevant_contracts(session):
        company = contract.company
        row(company.slug).add(contract)
        if company.parent and company.parent in companies:
            group = row(company.parent)
            group.add(contract)
            if company.slug not in group.subsidiaries:
                group.subsidiaries.append(company.slug)
    return sorted(rows.values(), key=lambda r: (-r.contracts, r.name.casefold()))


def find_company(session: Session, slug: str) -> Company | None:
    """The company with this slug."""
    return session.scalar(select(Company).where(Company.slug == slug))


def contracts_of(session: Session, company: Company) -> list[CompanyContract]:
    """The company's contracts at detention sites (its subsidiaries' too), newest first."""
    children = select(Company.id).where(Company.parent == company.slug)
    return list(
        session.scalars(
            select(CompanyContract)
            .options(
                joinedload(CompanyContract.company),
                joinedload(CompanyContract.notice).joinedload(Notice.source),
                joinedload(CompanyContract.procedure),
            )
            .where(
                CompanyContract.relevant.is_(True),
                or_(
                    CompanyContract.company_id == company.id,
                    CompanyContract.company_id.in_(children),
                ),
            )
            .order_by(CompanyContract.awarded_on.desc(), CompanyContract.id.desc())
        )
        .unique()
        .all()
    )


def procedure_lines(session: Session, roots: Sequence[Notice], most: int = 15) -> list[Line]:
    """The timeline rows of these procedures: each root notice and the notices linked to it."""
    roots = list(roots)[:most]
    ids = [r.id for r in roots]
    children: dict[int, list[Notice]] = {i: [] for i in ids}
    if ids:
        for child in session.scalars(select(Notice).where(Notice.parent_id.in_(ids))):
            children[child.parent_id or 0].append(child)
    lines = []
    for root in roots:
        notices = sorted([root, *children[root.id]], key=lambda n: (_day(n), n.id))
        steps = []
        awarded = False
        for n in notices:
            steps.append(
                Step(
                    _day(n), step_of(n.notice_type, phase=n.phase, after_award=awarded), n.native_id
                )
            )
            awarded = awarded or n.notice_type == "award"
        title = (root.compiled or {}).get("title") or root.title  # what it is now
        lines.append(Line(title, f"/notices/{root.id}", tuple(steps)))
    return lines


def _day(notice: Notice) -> dt.date:
    return notice.published or notice.first_seen_at.date()


def site_procedures(session: Session, slug: str, most: int = 15) -> list[Notice]:
    """The newest procedures (first notices) at one site."""
    return list(
        session.scalars(
            select(Notice)
            .where(Notice.site == slug, Notice.relevant.is_(True), Notice.parent_id.is_(None))
            .order_by(Notice.first_seen_at.desc(), Notice.id.desc())
            .limit(most)
        )
    )


def site_counts_by_slug(session: Session) -> dict[str, int]:
    """Procedures (first notices of relevant procedures) per site, for the map."""
    rows = session.execute(
        select(Notice.site, func.count())
        .where(Notice.relevant.is_(True), Notice.parent_id.is_(None), Notice.site.is_not(None))
        .group_by(Notice.site)
    ).all()
    return {str(site): int(n) for site, n in rows}


def site_timeline(session: Session, slug: str, lang: str) -> str:
    """The timeline SVG for `/sites/<slug>` ("" when the site has no procedure)."""
    lines = procedure_lines(session, site_procedures(session, slug))
    return timelines(lines, lang, "site-timeline")
