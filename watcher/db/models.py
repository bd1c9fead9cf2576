"""Typed SQLAlchemy 2 models. History is append-only: versions and events are never updated."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from watcher.db.base import Base, TZDateTime, created_at, intpk


class SourceState(Base):
    """A configured source and its poll state (what `/sources` shows)."""

    __tablename__ = "sources"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    last_polled_at: Mapped[dt.datetime | None]
    last_success_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[dt.datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_count: Mapped[int | None] = mapped_column(Integer)
    flagged: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_at]


class Notice(Base):
    """The current state of one notice of one source; its history lives in `NoticeVersion`."""

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("source_id", "native_id"),
        # The pages' per-site counts and lists, and per-source counts (migration 0016).
        Index("ix_notices_site_listing", "relevant", "site", "parent_id", "first_seen_at", "id"),
        Index("ix_notices_source_relevant", "source_id", "relevant", "id"),
        Index("ix_notices_award_listing", "notice_type", "relevant", "site", "parent_id", "id"),
    )

    id: Mapped[intpk]
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    native_id: Mapped[str] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    buyer: Mapped[str | None] = mapped_column(Text)
    published: Mapped[dt.date | None]
    deadline: Mapped[dt.datetime | None] = mapped_column(TZDateTime(), index=True)
    notice_type: Mapped[str] = mapped_column(String(32))
    # The first of `departments`, for code that reads one (issue 13: a notice may name several).
    department: Mapped[str | None] = mapped_column(String(8))
    departments: Mapped[list[Any] | None] = mapped_column(JSON)
    # The deadline as the portal wrote it (`2026-02-16T12:00`, or `2026-07-13`: a date alone)
    # and its zone (`Europe/Paris`); `deadline` is the exact instant, for ordering.
    deadline_local: Mapped[str | None] = mapped_column(String(16))
    deadline_zone: Mapped[str | None] = mapped_column(String(40))
    procedure_id: Mapped[str | None] = mapped_column(String(200), index=True)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    relevant: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    site: Mapped[str | None] = mapped_column(String(64), index=True)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    announced: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    # The first notice of the procedure this one belongs to (a corrigendum, an award, the same
    # tender on another portal), how the link was found and how sure it is (1.0 = by reference).
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("notices.id", ondelete="SET NULL"), index=True
    )
    link_method: Mapped[str | None] = mapped_column(String(32))
    link_confidence: Mapped[float | None] = mapped_column(Float)
    # On a procedure's first notice: the same tender on other portals, [{"source", "url", "ref"}],
    # so that one event carries every link.
    also: Mapped[list[Any] | None] = mapped_column(JSON)
    # The notice's phase in its procedure, an OCDS release tag (`watcher.core.phases`): planning,
    # tender, tenderAmendment, award, contract, contractAmendment, tenderCancellation...
    phase: Mapped[str | None] = mapped_column(String(32))
    # On a procedure's first notice: the procedure's facts as last told (deadline, value, winners,
    # lots, documents...), which a later notice is compared with; None until another notice is
    # linked (the first notice's own snapshot is the procedure's facts).
    procedure_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # On a procedure's first notice: the compiled procedure (`watcher.core.compiled`), what it is
    # now (status, title, deadline, estimate and awarded amount, lots, winners...) and which
    # notice stated each fact; kept by the poll store, read by every page, feed and mail. None on
    # the other notices of a procedure.
    compiled: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    source: Mapped[SourceState] = relationship()


class NoticeVersion(Base):
    """One fetched version of a notice, kept as evidence: raw payload, its sha256, time and URL."""

    __tablename__ = "notice_versions"
    __table_args__ = (UniqueConstraint("notice_id", "version"),)

    id: Mapped[intpk]
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    raw: Mapped[str] = mapped_column(Text)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    fetched_at: Mapped[dt.datetime]
    fetch_url: Mapped[str | None] = mapped_column(Text)

    notice: Mapped[Notice] = relationship()


class Event(Base):
    """Something a reader is told: a new relevant notice, a moved deadline, an award..."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("key"),
        Index("ix_events_created_at_id", "created_at", "id"),
    )

    id: Mapped[intpk]
    # Stable identity of the event (source/native id/version/type): the feed's tag: id and the
    # guard against announcing the same thing twice.
    key: Mapped[str] = mapped_column(String(400))
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[dt.datetime]
    version: Mapped[int] = mapped_column(Integer)
    changes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    site: Mapped[str | None] = mapped_column(String(64), index=True)
    # For an event made by another notice of the procedure (a corrigendum, an award, the same
    # tender on another portal): {"ref": native id, "url": link, "source": name, "notice_id": id}.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    notice: Mapped[Notice] = relationship()


class PollRun(Base):
    """One poll of one source: when, how it went, what it found."""

    __tablename__ = "poll_runs"

    id: Mapped[intpk]
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    events: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # How long the poll took (for `/sources` and the `watcher_poll_duration_seconds` histogram).
    seconds: Mapped[float | None] = mapped_column(Float)


class Subscriber(Base):
    """Someone (an e-mail address) or somewhere (an Apprise URL) that receives alerts.

    The address is sensitive: it is shown masked everywhere (`watcher.notify.subscribers.mask`).
    Empty filter lists mean "everything". Alerts cover events after `since_event_id` only, so a
    new subscriber does not receive the whole history.
    """

    __tablename__ = "subscribers"

    id: Mapped[intpk]
    address: Mapped[str] = mapped_column(String(1000), unique=True)
    channel: Mapped[str] = mapped_column(String(16), default="email")  # "email" or "apprise"
    lang: Mapped[str] = mapped_column(String(2), default="fr")
    digest: Mapped[str | None] = mapped_column(String(16))  # None: immediate; "daily"
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Proves control of the mailbox: the confirmation link and the unsubscribe link carry it.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    sites: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Company slugs (`/companies`): events of the procedures these companies won.
    companies: Mapped[list[Any]] = mapped_column(JSON, default=list)
    sources: Mapped[list[Any]] = mapped_column(JSON, default=list)
    events: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # A search (`watcher.core.query`): events of the procedures it finds (issue 27).
    query: Mapped[str | None] = mapped_column(Text)
    since_event_id: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[created_at]
    confirmed_at: Mapped[dt.datetime | None]
    confirm_sent_at: Mapped[dt.datetime | None]
    last_digest_at: Mapped[dt.datetime | None]


class Delivery(Base):
    """The ledger: one row per (event, subscriber) pair, so each alert is sent at most once.

    `status` goes pending → sending → sent; a failure returns it to pending with a later
    `next_attempt_at` (or to failed when it cannot succeed). A row left in `sending` by a crash is
    never sent again (see `watcher.notify.ledger`).
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "subscriber_id"),
        Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[intpk]
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime]
    claimed_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_at]

    event: Mapped[Event] = relationship()
    subscriber: Mapped[Subscriber] = relationship()


class MaintainerAlert(Base):
    """One streak of trouble of one source (failing, or flagged as returning nothing).

    Open while `closed_at` is null; the maintainers are told once per streak (`sent_at`).
    """

    __tablename__ = "maintainer_alerts"

    id: Mapped[intpk]
    source: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "failing" or "flagged"
    reason: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class BackfillProgress(Base):
    """How far `watcher backfill --since DATE` got for one source, so that it resumes there."""

    __tablename__ = "backfill_progress"
    __table_args__ = (UniqueConstraint("source_id", "since"),)

    id: Mapped[intpk]
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    since: Mapped[dt.date]
    # End of the last window fetched completely: the next run starts there.
    done_until: Mapped[dt.datetime | None]
    windows: Mapped[int] = mapped_column(Integer, default=0)
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]


class Document(Base):
    """One public document a relevant notice links (avis PDF, règlement, DCE) and its last fetch.

    `status` is `pending` (never fetched), `ok`, `not_downloadable` (the link gives a web page, e.g.
    a login form: checked once), `too_large` or `failed` (retried at the next sync). Its versions
    live in `DocumentVersion`; `removed_at` is set when the notice stops linking it.
    """

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("notice_id", "url"),)

    id: Mapped[intpk]
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), default="pending")
    last_error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    etag: Mapped[str | None] = mapped_column(String(200))
    last_modified: Mapped[str | None] = mapped_column(String(64))
    # Linked after the notice's documents were first downloaded: announced as added when fetched.
    announce_added: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[dt.datetime]
    last_checked_at: Mapped[dt.datetime | None]
    removed_at: Mapped[dt.datetime | None]

    notice: Mapped[Notice] = relationship()


class DocumentVersion(Base):
    """One downloaded version of a document (append-only): its sha256, size, type and text.

    The bytes themselves are kept on disk by sha256 (`watcher.documents.sync.blob_path`).
    """

    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "version"),)

    id: Mapped[intpk]
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(255))
    fetched_at: Mapped[dt.datetime]
    text: Mapped[str | None] = mapped_column(Text)
    members: Mapped[list[Any]] = mapped_column(JSON, default=list)
    extract_error: Mapped[str | None] = mapped_column(Text)

    document: Mapped[Document] = relationship()


class Company(Base):
    """One company that won a contract, as `watcher.companies.store` resolved it from the winners
    of award notices (rebuilt after each round of polls; `companies.yaml` corrects it)."""

    __tablename__ = "companies"

    id: Mapped[intpk]
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(Text)
    # The group's slug (`parent:` in companies.yaml): its pages count this company's contracts.
    parent: Mapped[str | None] = mapped_column(String(100), index=True)
    # [{"scheme", "value", "valid"}] and every spelling seen.
    identifiers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    names: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Why its mentions are one company: [{"a", "b", "method", "confidence"}].
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    updated_at: Mapped[dt.datetime]


class CompanyContract(Base):
    """One contract (one award, or one lot of it) a company won, from one notice."""

    __tablename__ = "company_contracts"

    id: Mapped[intpk]
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    # The award notice, and the first notice of its procedure (what `/notices/<id>` shows).
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    procedure_notice_id: Mapped[int] = mapped_column(
        ForeignKey("notices.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(Text)  # the winner's name as the notice gives it
    identifiers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    lot: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(3))
    # award_value | contract_value | framework_maximum | estimate (watcher.companies.extract).
    amount_kind: Mapped[str] = mapped_column(String(32))
    # How many winners the notice's one amount is for (1: this company's own amount).
    shared: Mapped[int] = mapped_column(Integer, default=1)
    # "winner", or "subcontractor" (DECP `actesSousTraitance`, eForms `efac:SubContractor`):
    # kept apart from winners in totals (issue 24).
    role: Mapped[str] = mapped_column(String(16), default="winner", server_default="winner")
    awarded_on: Mapped[dt.date | None]
    site: Mapped[str | None] = mapped_column(String(64), index=True)
    relevant: Mapped[bool] = mapped_column(Boolean, default=False)

    company: Mapped[Company] = relationship()
    notice: Mapped[Notice] = relationship(foreign_keys=[notice_id])
    procedure: Mapped[Notice] = relationship(foreign_keys=[procedure_notice_id])


class CompanyAwards(Base):
    """The winners `watcher.companies.extract` read from one award notice, kept so that a round
    re-reads only the award notices it changed (issue 29): the notice's version and content hash
    and the extractor's version they were read with, and the awards (or why they could not be
    read). Not a record of its own: rebuilt from the notices when stale."""

    __tablename__ = "company_awards"

    notice_id: Mapped[int] = mapped_column(
        ForeignKey("notices.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    extractor: Mapped[int] = mapped_column(Integer)
    # [{"name", "identifiers": [[scheme, value, valid]], "amount", "currency", "amount_kind",
    #   "shared", "lot", "role"}], in the extractor's order.
    awards: Mapped[list[Any]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)


class Counter(Base):
    """A fixed-window counter shared by every instance (`watcher.db.limits`): subscription attempts
    per client and per address, confirmation mails per hour, refused fetches.

    `key` never holds an address in clear: client and e-mail addresses are hashed first.
    """

    __tablename__ = "counters"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(TZDateTime)
    hits: Mapped[int] = mapped_column(Integer, default=0)


class HttpValidator(Base):
    """What a page answered last time it was read in full: its `ETag` and `Last-Modified`,
    sent back as `If-None-Match` / `If-Modified-Since` so that an unchanged page answers 304
    with no body, and the sha256 of its body, so that a page served again byte for byte is not
    parsed either (`watcher.sources.validators`). `context` is a hash of what the page's notice took
    from elsewhere (an `html` item's list fields) and of the watcher's version: when that
    changed, the page is read in full.
    """

    __tablename__ = "http_validators"
    __table_args__ = (UniqueConstraint("source_id", "url"),)

    id: Mapped[intpk]
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(200))
    last_modified: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    context: Mapped[str] = mapped_column(String(64), default="")
    checked_at: Mapped[dt.datetime]


class SearchEntry(Base):
    """What full-text search reads of one notice, or of one downloaded document's text (issue 27).

    Written by the store and the document sync (`watcher.db.search`), rebuilt by `watcher
    rematch`. The database indexes `title` and `body` with its own engine: on SQLite the FTS5
    table `search_fts` (external content, kept in sync by triggers), on PostgreSQL `tsv`, a
    weighted `tsvector` filled by a trigger, under a GIN index; the relevant notices' entries
    have an index of their own (`search_fts_relevant`, a partial GIN index). `buyer`, `companies` and `keys`
    (` cpv:45210000 dep:59 `) are folded, for the field filters of a query.
    """

    __tablename__ = "search_entries"

    # The notice's id for a notice's entry, minus the document's id for a document's: a match
    # names its notice without reading the entry (written by `watcher.db.search`).
    id: Mapped[intpk]
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    # Set on a document's entry (its latest version with text); None on the notice's own.
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str | None] = mapped_column(String(255))
    # Before the texts, so that SQLite reads them without the row's overflow pages.
    buyer: Mapped[str | None] = mapped_column(Text)
    companies: Mapped[str | None] = mapped_column(Text)
    keys: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    tsv: Mapped[str | None] = mapped_column(Text().with_variant(TSVECTOR(), "postgresql"))
    # The notice's `relevant` (a document's: its notice's), kept by a trigger on `notices`: the
    # relevant entries have an index of their own, what a search reads by default (0017).
    relevant: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Generation(Base):
    """One row whose `value` grows at every commit that wrote data (`watcher.db.generation`):
    caches of pages and searches key on it, so that none serves an answer older than the last
    commit, whichever process made it."""

    __tablename__ = "generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(Integer, default=0)
