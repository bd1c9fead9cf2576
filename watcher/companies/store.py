"""The company stage: after a round of polls, winners of stored award notices become companies.

`refresh_companies()` reads every award notice with its current stored payload, extracts the
winners (`watcher.companies.extract`), resolves them into companies (`watcher.companies.resolve`, with the
maintainers' `companies.yaml`) and rewrites the `companies` and `company_contracts` tables in one
transaction. It is a rebuild, not an update: an edit of `companies.yaml` or a better parser takes
effect at the next round, and nothing is ever half-merged. Slugs are derived from names (or set
in `companies.yaml`), so addresses and subscriptions stay put across rebuilds.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Select, and_, delete, or_, select
from sqlalchemy.orm import Session, contains_eager

from watcher.companies.extract import Award, awards
from watcher.companies.resolve import Overrides, load_overrides, resolve
from watcher.db.models import Company, CompanyContract, Notice, NoticeVersion, SourceState

if TYPE_CHECKING:
    from watcher.pipeline.runtime import Runtime

log = logging.getLogger("watcher.companies.resolve")
FILE_NAME = "companies.yaml"


def overrides_path(sources_path: Path) -> Path:
    """`companies.yaml` lives next to `sources.yaml`."""
    return sources_path.parent / FILE_NAME


def read_overrides(path: Path) -> Overrides:
    """The override file, or no overrides when there is none (`ConfigError` when it is wrong)."""
    if not path.exists():
        return Overrides()
    return load_overrides(path.read_text(encoding="utf-8"), str(path))


@dataclass(slots=True)
class Skipped:
    """Notices whose winners could not be read in a rebuild: skipped, counted and named."""

    notices: list[str] = field(default_factory=list)

    def add(self, notice: Notice, exc: Exception) -> None:
        """One notice skipped: named in the maintainers' log with why."""
        name = f"{notice.id} ({notice.native_id})"
        self.notices.append(name)
        log.warning("companies: notice %s skipped: %s: %s", name, type(exc).__name__, exc)

    def line(self) -> str:
        """`, 2 notice(s) skipped (see the log)`, or nothing."""
        return f", {len(self.notices)} notice(s) skipped (see the log)" if self.notices else ""


def _awards(session: Session, skipped: Skipped | None = None) -> list[tuple[Notice, Award]]:
    rows = session.execute(
        select(Notice, SourceState.kind, NoticeVersion.raw)
        .join(SourceState, SourceState.id == Notice.source_id)
        .outerjoin(
            NoticeVersion,
            and_(NoticeVersion.notice_id == Notice.id, NoticeVersion.version == Notice.version),
        )
        .options(contains_eager(Notice.source))
        .where(Notice.notice_type == "award")
        .order_by(Notice.id)
    ).all()
    found: list[tuple[Notice, Award]] = []
    for notice, kind, raw in rows:
        ref = f"{notice.id}"
        try:
            found += [
                (notice, award)
                for award in awards(kind, notice.notice_type, notice.snapshot or {}, raw or "", ref)
            ]
        except Exception as exc:  # one notice never stops the rebuild (issue 24)
            if skipped is None:
                raise
            skipped.add(notice, exc)
    return found


def _lot(lot: str | None) -> str | None:
    """A lot as portals number it alike: `LOT-0001`, `1` and `Lot 1` are lot 1."""
    if not lot:
        return None
    digits = "".join(c for c in lot if c.isdigit()).lstrip("0")
    return digits or lot.strip().casefold()


def counted_once(found: Sequence[tuple[Notice, Award]], slug_of: dict[int, str]) -> list[int]:
    """Which of the winners `found` are contracts (their indexes, in order): one per procedure,
    company and lot (issue 23). The same award on several portals, or an award published again
    or amended, is one contract: the latest notice's (a national portal's on the same day, TED
    republishing it), so an amendment changes its amount. A notice naming no lot says less than
    one naming the company's lots: it is the same award."""
    newest: dict[tuple[tuple[int, str], str, str | None], int] = {}
    with_lots: set[tuple[tuple[int, str], str]] = set()
    for i, (notice, award) in enumerate(found):
        # A winner and a subcontractor of the same award are two contracts (issue 24).
        procedure = (notice.parent_id or notice.id, award.role)
        key = (procedure, slug_of[i], _lot(award.lot))
        if key[2] is not None:
            with_lots.add(key[:2])
        best = newest.get(key)
        if best is None or _rank(notice) >= _rank(found[best][0]):
            newest[key] = i
    return sorted(i for key, i in newest.items() if key[2] is not None or key[:2] not in with_lots)


def _rank(notice: Notice) -> tuple[dt.date, bool, str]:
    """Which of two notices of the same award is the one that counts (the larger)."""
    return (notice.published or dt.date.min, notice.source.kind != "ted", notice.native_id)


def refresh_companies(
    session: Session, overrides: Overrides, now: dt.datetime, skipped: Skipped | None = None
) -> int:
    """Rebuild companies and their contracts from the stored award notices; how many companies.

    A notice whose winners cannot be read is skipped, counted in `skipped` and named in the log;
    the other companies are rebuilt (issue 24)."""
    skipped = Skipped() if skipped is None else skipped
    found = _awards(session, skipped)
    mentions = [award.mention for _, award in found]
    clusters = resolve(mentions, overrides)
    # By the mention object: one winner named twice in a notice (several lots, or listed twice)
    # is the same object at several places of `mentions` (issue 24: a KeyError before).
    slug_by_mention = {id(m): cluster.slug for cluster in clusters for m in cluster.mentions}
    slug_of = {i: slug_by_mention[id(m)] for i, m in enumerate(mentions)}
    roots: dict[int, Notice] = {}
    parents = {n.parent_id for n, _ in found if n.parent_id}
    if parents:
        roots = {n.id: n for n in session.scalars(select(Notice).where(Notice.id.in_(parents)))}
    session.execute(delete(CompanyContract))
    session.execute(delete(Company))
    ids: dict[str, int] = {}
    for cluster in clusters:
        company = Company(
            slug=cluster.slug,
            name=cluster.name,
            parent=cluster.parent,
            identifiers=[
                {"scheme": i.scheme, "value": i.value, "valid": i.valid, "label": i.label()}
                for i in cluster.identifiers
            ],
            names=cluster.names,
            evidence=[e.as_dict() for e in cluster.evidence],
            confidence=cluster.confidence,
            updated_at=now,
        )
        session.add(company)
        session.flush()
        ids[cluster.slug] = company.id
    for i in counted_once(found, slug_of):
        notice, award = found[i]
        root = roots.get(notice.parent_id or -1, notice)
        session.add(
            CompanyContract(
                company_id=ids[slug_of[i]],
                notice_id=notice.id,
                procedure_notice_id=root.id,
                name=award.mention.name,
                identifiers=[
                    {"scheme": x.scheme, "value": x.value, "valid": x.valid, "label": x.label()}
                    for x in award.mention.identifiers
                ],
                lot=award.lot,
                amount=award.amount,
                currency=award.currency,
                amount_kind=award.amount_kind,
                shared=award.shared,
                role=award.role,
                awarded_on=notice.published,
                site=notice.site or root.site,
                relevant=bool(notice.relevant or root.relevant),
            )
        )
    session.flush()
    subs = sum(1 for _, award in found if award.role == "subcontractor")
    log.info(
        "companies: %d from %d winners and %d subcontractors",
        len(clusters),
        len(mentions) - subs,
        subs,
    )
    if skipped.notices:
        log.warning(
            "companies: %d notice(s) skipped: %s", len(skipped.notices), ", ".join(skipped.notices)
        )
    return len(clusters)


def company_procedures(slugs: Sequence[str]) -> Select[tuple[int]]:
    """Ids of the first notices of the procedures won by the companies `slugs` (a group's slug
    takes its subsidiaries too): what a company's feed and its subscribers follow."""
    return (
        select(CompanyContract.procedure_notice_id)
        .join(Company, Company.id == CompanyContract.company_id)
        .where(or_(Company.slug.in_(slugs), Company.parent.in_(slugs)))
    )


def known_companies(runtime: Runtime, slugs: Sequence[str]) -> bool:
    """Whether every slug names a stored company (a subscription form's check)."""
    with runtime.sessions() as session:
        found = set(session.scalars(select(Company.slug).where(Company.slug.in_(slugs))))
    return found == set(slugs)
