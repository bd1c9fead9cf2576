"""Full-text search with each database's own engine (issue 27).

What is searched: one `SearchEntry` per notice (title; buyer, description, lots, winners, place)
and one per downloaded document with text (its notice's title; the document's text), written by
the store (`index_notices`) and the document sync (`index_document`), rebuilt by the migrations
(0013, 0017) and `watcher rematch` (`rebuild`).

How: SQLite's FTS5 (`unicode61 remove_diacritics 2`, `bm25`) or PostgreSQL's text search
(`to_tsquery`, `ts_rank`) over the configuration `watcher_search`: the
'simple' configuration (no stemming) with `unaccent` — the same words match on both databases,
since FTS5 has no French stemmer; stemming would make PostgreSQL find "centres" for "centre" and
SQLite not. PostgreSQL's `to_tsquery` is given a query built here from the parsed terms (words of
letters and digits only, each quoted) rather than `websearch_to_tsquery`, which has no prefix
search; both engines thus read exactly what `watcher.core.query.parse` understood.

A search reads the relevant notices by default: each entry carries its notice's `relevant`, and
the relevant entries have an index of their own (the FTS5 table `search_fts_relevant`, the
partial GIN index `ix_search_entries_tsv_relevant`; migration 0017), so that a word said by every
other notice ranks the few thousand relevant matches, not fifty thousand. A trigger on
`notices` keeps an entry's `relevant` when a rematch changes its notice's. A search's statements
go to the driver as written (`_run`): each is new text, which SQLAlchemy's `text()` would
compile for nothing.

Results are procedures (a notice's procedure is its `parent_id`, or itself), best first, with
keyset paging on (score, procedure id): a lower score is a better one on both databases. Their
passages are marked by `watcher.core.highlight` over the page's texts (one statement), not by
the engines' `snippet`/`ts_headline`, which read the index again for each entry. With a `cache`
(`watcher.db.search_cache`), an answer is served again until the data changes.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, Integer, column, delete, insert, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TextualSelect

from watcher.core.highlight import Matcher
from watcher.core.highlight import passage as highlight
from watcher.core.query import Filters, Query, Term, fold, parse
from watcher.core.query import words as query_words
from watcher.db.models import Document, DocumentVersion, Notice, SearchEntry
from watcher.db.search_cache import ResultCache

log = logging.getLogger("watcher.db.search")

FTS_TABLE = "search_fts"
# SQLite: the relevant notices' entries alone, in an FTS5 table of their own (migration 0017):
# what a search reads by default ranks a few thousand matches, not every notice's.
FTS_RELEVANT = "search_fts_relevant"
TSV_INDEX = "ix_search_entries_tsv"
# PostgreSQL: the same, as a partial GIN index.
TSV_RELEVANT_INDEX = "ix_search_entries_tsv_relevant"
NOTICES_INDEX = "ix_notices_search"
UNINDEXED_INDEX = "ix_search_entries_unindexed"
# PostgreSQL: while this setting is 'on' in a transaction, entries are written without their
# tsvector (a poll's), which `fill_deferred` computes after the poll commits.
DEFER_SETTING = "watcher.search_deferred"
CONFIG = "watcher_search"
# A document's text is indexed up to here (a PostgreSQL tsvector holds at most 1 MB).
MAX_BODY = 200_000
BATCH = 1000
# A first page is drawn from this many of the best matching entries (see `search`).
CANDIDATES = 500
MMAP_BYTES = 256 << 20
# Where a snippet's highlighted words start and end (control characters that stored text never
# holds: `watcher.core.sanitize` removes them); `snippet_html` makes them <mark>.
START, STOP = "\x02", "\x03"
_TITLE_WEIGHT = 8.0
# FTS5's ranking, asked through its `rank` column (the `bm25()` function cannot be used in a
# subquery SQLite flattens): a word in the title counts as much as eight in the text.
_RANK = f"bm25({_TITLE_WEIGHT}, 1.0)"


def managed_in_sql(name: str | None, type_: str) -> bool:
    """Whether a database object is made by SQL of its own (`create_engine_objects`), not by
    the models: the FTS5 table and its shadow tables, the GIN index, SQLite's covering index. Alembic's comparison of the
    models with the database leaves them out."""
    if not name:
        return False
    return (type_ == "table" and name.startswith(FTS_TABLE)) or name in {
        TSV_INDEX,
        TSV_RELEVANT_INDEX,
        NOTICES_INDEX,
        UNINDEXED_INDEX,
    }


# --- the index's schema --------------------------------------------------------------------


def _fts5(table: str) -> str:
    """SQLite: an FTS5 table over the texts of `search_entries` (external content)."""
    return (
        f"CREATE VIRTUAL TABLE {table} USING fts5(title, body, content='search_entries',"
        " content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    )


def _fts5_add(table: str, relevant_only: bool = False) -> str:
    """A trigger's statement indexing the new row's texts (if relevant, with `relevant_only`)."""
    row = "new.id, new.title, new.body"
    values = f"SELECT {row} WHERE new.relevant" if relevant_only else f"VALUES ({row})"
    return f"INSERT INTO {table}(rowid, title, body) {values};"


def _fts5_remove(table: str, relevant_only: bool = False) -> str:
    """A trigger's statement taking the old row's texts out of an FTS5 table."""
    row = "'delete', old.id, old.title, old.body"
    values = f"SELECT {row} WHERE old.relevant" if relevant_only else f"VALUES ({row})"
    return f"INSERT INTO {table}({table}, rowid, title, body) {values};"


def _trigger(name: str, event: str, *statements: str) -> str:
    return f"CREATE TRIGGER {name} {event} ON search_entries BEGIN {' '.join(statements)} END"


# The whole index's triggers, as 0013 makes them.
_SQLITE_TRIGGERS = (
    _trigger("search_entries_ai", "AFTER INSERT", _fts5_add(FTS_TABLE)),
    _trigger("search_entries_ad", "AFTER DELETE", _fts5_remove(FTS_TABLE)),
    _trigger("search_entries_au", "AFTER UPDATE", _fts5_remove(FTS_TABLE), _fts5_add(FTS_TABLE)),
)
_SQLITE_OBJECTS = (_fts5(FTS_TABLE), *_SQLITE_TRIGGERS)
# Made after the index is first filled (faster than growing them row by row).
_INDEXES = {
    # What a search reads of each notice it finds, without the notice's row (its snapshot makes
    # SQLite read overflow pages to reach the columns after it); PostgreSQL keeps rows narrow.
    "sqlite": f"CREATE INDEX IF NOT EXISTS {NOTICES_INDEX} ON notices"
    " (id, relevant, parent_id, source_id, site, phase, published)",
    "postgresql": f"CREATE INDEX IF NOT EXISTS {TSV_INDEX} ON search_entries USING gin (tsv)",
}
# PostgreSQL: the entries whose tsvector is still to compute (few, and none most of the time).
_PG_UNINDEXED = (
    f"CREATE INDEX IF NOT EXISTS {UNINDEXED_INDEX} ON search_entries (id) WHERE tsv IS NULL"
)

_PG_TRIGGER = (
    "CREATE OR REPLACE FUNCTION search_entries_tsv() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    f" IF current_setting('{DEFER_SETTING}', true) = 'on' THEN NEW.tsv := NULL; RETURN NEW;"
    " END IF;"
    f" NEW.tsv := setweight(to_tsvector('{CONFIG}', coalesce(NEW.title, '')), 'A')"
    f" || setweight(to_tsvector('{CONFIG}', coalesce(NEW.body, '')), 'D');"
    " RETURN NEW; END $$",
    "DROP TRIGGER IF EXISTS search_entries_tsv ON search_entries",
    "CREATE TRIGGER search_entries_tsv BEFORE INSERT OR UPDATE OF title, body"
    " ON search_entries FOR EACH ROW EXECUTE FUNCTION search_entries_tsv()",
)


def create_engine_objects(conn: Connection) -> None:
    """Make the engine's own objects (FTS5 table and triggers; configuration and trigger);
    `create_indexes` makes the indexes, once the entries are written."""
    if conn.dialect.name == "sqlite":
        for statement in _SQLITE_OBJECTS:
            conn.exec_driver_sql(statement)
        return
    schema = _unaccent_schema(conn)
    # Each statement can meet what an earlier try left in the schema (a database whose tables were
    # dropped by hand, a restore over an old schema): made again, never an error (issue 26 row 7).
    known = text(
        "SELECT 1 FROM pg_ts_config WHERE cfgname = :name AND cfgnamespace = current_schema()::regnamespace"
    )
    if conn.execute(known, {"name": CONFIG}).scalar() is None:
        conn.exec_driver_sql(
            f"CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = pg_catalog.simple)"
        )
    if schema is not None:
        conn.exec_driver_sql(
            f"ALTER TEXT SEARCH CONFIGURATION {CONFIG} ALTER MAPPING FOR hword, hword_part, word"
            f' WITH "{schema}".unaccent, pg_catalog.simple'
        )
    else:
        log.warning(
            "the PostgreSQL extension unaccent cannot be created: search will not fold accents"
            " (ask an administrator: CREATE EXTENSION unaccent)"
        )
    for statement in _PG_TRIGGER:
        conn.exec_driver_sql(statement)


def create_indexes(conn: Connection) -> None:
    """The indexes a search reads (GIN on PostgreSQL, whole and of the relevant entries; a
    covering index of notices on SQLite), unless they exist."""
    conn.exec_driver_sql(_INDEXES[conn.dialect.name])
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_PG_UNINDEXED)
        conn.exec_driver_sql(_PG_RELEVANT_INDEX)


def drop_indexes(conn: Connection) -> None:
    """Drop them (before a bulk rebuild, as the migration builds the index)."""
    for name in (TSV_INDEX, TSV_RELEVANT_INDEX, NOTICES_INDEX, UNINDEXED_INDEX):
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")


# --- the relevant entries' own index (migration 0017) ---------------------------------------
# A search reads the relevant notices by default: ranking only their entries ranks ~7 times
# fewer rows than ranking every notice's and keeping the relevant ones (issue 27). Each entry
# carries its notice's `relevant`, written with it and kept by a trigger on `notices`.

_SQLITE_RELEVANT = (
    _fts5(FTS_RELEVANT),
    # One trigger an insert or a delete fires, for both indexes: a trigger more for each row
    # made a first poll 3% slower.
    "DROP TRIGGER IF EXISTS search_entries_ai",
    _trigger(
        "search_entries_ai",
        "AFTER INSERT",
        _fts5_add(FTS_TABLE),
        _fts5_add(FTS_RELEVANT, relevant_only=True),
    ),
    "DROP TRIGGER IF EXISTS search_entries_ad",
    _trigger(
        "search_entries_ad",
        "AFTER DELETE",
        _fts5_remove(FTS_TABLE),
        _fts5_remove(FTS_RELEVANT, relevant_only=True),
    ),
    # The whole index reads an entry again when its texts change, not its relevance.
    "DROP TRIGGER IF EXISTS search_entries_au",
    _trigger(
        "search_entries_au",
        "AFTER UPDATE OF title, body",
        _fts5_remove(FTS_TABLE),
        _fts5_add(FTS_TABLE),
    ),
    _trigger(
        "search_entries_au_relevant",
        "AFTER UPDATE OF title, body, relevant",
        _fts5_remove(FTS_RELEVANT, relevant_only=True),
        _fts5_add(FTS_RELEVANT, relevant_only=True),
    ),
    "CREATE TRIGGER notices_relevant AFTER UPDATE OF relevant ON notices"
    " WHEN old.relevant IS NOT new.relevant BEGIN UPDATE search_entries"
    " SET relevant = new.relevant WHERE notice_id = new.id; END",
)
_PG_RELEVANT = (
    "CREATE OR REPLACE FUNCTION notices_relevant() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " UPDATE search_entries SET relevant = NEW.relevant WHERE notice_id = NEW.id;"
    " RETURN NULL; END $$",
    "DROP TRIGGER IF EXISTS notices_relevant ON notices",
    "CREATE TRIGGER notices_relevant AFTER UPDATE OF relevant ON notices FOR EACH ROW"
    " WHEN (OLD.relevant IS DISTINCT FROM NEW.relevant) EXECUTE FUNCTION notices_relevant()",
)
_PG_RELEVANT_INDEX = (
    f"CREATE INDEX IF NOT EXISTS {TSV_RELEVANT_INDEX} ON search_entries USING gin (tsv)"
    " WHERE relevant"
)


def create_relevant_objects(conn: Connection) -> None:
    """Make what keeps the relevant entries' index (migration 0017): on SQLite its FTS5 table
    and triggers, on both the trigger that copies a notice's new relevance to its entries."""
    for statement in _SQLITE_RELEVANT if conn.dialect.name == "sqlite" else _PG_RELEVANT:
        conn.exec_driver_sql(statement)


def drop_relevant_objects(conn: Connection) -> None:
    """Undo `create_relevant_objects` (the downgrade of 0017)."""
    if conn.dialect.name == "sqlite":
        for name in ("ai", "ad", "au", "au_relevant"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS search_entries_{name}")
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS notices_relevant")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS_RELEVANT}")
        for statement in _SQLITE_TRIGGERS:
            conn.exec_driver_sql(statement)
        return
    conn.exec_driver_sql("DROP TRIGGER IF EXISTS notices_relevant ON notices")
    conn.exec_driver_sql("DROP FUNCTION IF EXISTS notices_relevant()")
    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {TSV_RELEVANT_INDEX}")


def drop_engine_objects(conn: Connection) -> None:
    """Undo `create_engine_objects` (the downgrade)."""
    if conn.dialect.name == "sqlite":
        for name in ("ai", "ad", "au"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS search_entries_{name}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS_TABLE}")
        drop_indexes(conn)
        return
    conn.exec_driver_sql("DROP TRIGGER IF EXISTS search_entries_tsv ON search_entries")
    conn.exec_driver_sql("DROP FUNCTION IF EXISTS search_entries_tsv()")
    conn.exec_driver_sql(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {CONFIG}")


def _unaccent_schema(conn: Connection) -> str | None:
    """The schema of the `unaccent` extension, created if it can be; None if it cannot."""
    find = text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'unaccent'"
    )
    found = conn.execute(find).scalar()
    if found is None:
        try:
            with conn.begin_nested():
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public")
        except Exception as exc:  # noqa: BLE001 - no rights, or not installed: search without it
            log.warning("CREATE EXTENSION unaccent failed: %s", str(exc).splitlines()[0])
            return None
        found = conn.execute(find).scalar()
    return str(found) if found else None


# --- what is indexed -----------------------------------------------------------------------


def _ligatures(value: str) -> str:
    return value.replace("œ", "oe").replace("Œ", "Oe").replace("æ", "ae").replace("Æ", "Ae")


def notice_entry(
    notice_id: int, title: str, snap: dict[str, Any], relevant: bool = False
) -> dict[str, Any]:
    """The search entry of a notice, from its stored snapshot (what a poll and a rematch see),
    and whether the notice is relevant (its entry is then in the relevant entries' index)."""
    lots = snap.get("lots") or []
    winners = [*(snap.get("winners") or []), *(w for lot in lots for w in lot.get("winners") or [])]
    parts = [snap.get("buyer"), snap.get("description"), snap.get("place")]
    for lot in lots:
        parts += [lot.get("number") and f"lot {lot['number']}", lot.get("title")]
        parts.append(lot.get("description"))
    parts += winners
    cpv = dict.fromkeys([*snap.get("cpv", []), *(c for lot in lots for c in lot.get("cpv") or [])])
    departments = snap.get("departments") or [snap.get("department")]
    keys = [f"cpv:{c}" for c in cpv if c] + [f"dep:{str(d).upper()}" for d in departments if d]
    return {
        "id": notice_id,
        "notice_id": notice_id,
        "document_id": None,
        "label": None,
        "title": _ligatures(title or ""),
        # A lot often repeats the notice's words: each text once (less for the engine to read).
        "body": _ligatures("\n".join(dict.fromkeys(str(p) for p in parts if p))),
        "buyer": fold(snap.get("buyer") or "") or None,
        "companies": " | ".join(fold(str(w)) for w in dict.fromkeys(winners)) or None,
        "keys": f" {' '.join(keys)} " if keys else None,
        "relevant": bool(relevant),
    }


def index_notices(
    session: Session,
    notices: Iterable[tuple[int, str, dict[str, Any], bool]],
    *,
    deferred: bool = False,
) -> None:
    """(Re)write the entries of these notices (id, title, snapshot, relevant); the store calls
    it.
    `deferred` (a poll, on PostgreSQL): their words are indexed by `fill_deferred`, after the
    poll commits, so that `to_tsvector` and the GIN index do not lengthen the poll; their
    field filters (CPV, département, buyer, company) hold at once."""
    latest = {notice_id: (title, snap, rel) for notice_id, title, snap, rel in notices}
    rows = [notice_entry(notice_id, *entry) for notice_id, entry in latest.items()]
    if not rows:
        return
    defer = deferred and session.get_bind().dialect.name == "postgresql"
    if defer:
        session.execute(text(f"SELECT set_config('{DEFER_SETTING}', 'on', true)"))
    session.execute(delete(SearchEntry).where(SearchEntry.id.in_([row["id"] for row in rows])))
    # Core, not the ORM's bulk insert: the same rows for less (the poll's hook, issue 29).
    session.execute(insert(SearchEntry.metadata.tables["search_entries"]), rows)
    if defer:
        session.execute(text(f"SELECT set_config('{DEFER_SETTING}', 'off', true)"))


def fill_deferred(session: Session) -> int:
    """Index the words of the entries a poll wrote deferred (PostgreSQL); how many. Called after
    the polls of a round and before alerts are queued (`watcher.notify.deliver_pending`), so a
    search subscriber is told of a notice once its words are searchable."""
    if session.get_bind().dialect.name != "postgresql":
        return 0
    # Assigning the title fires the trigger, which computes the tsvector (the setting is off).
    filled = session.execute(
        text(
            "UPDATE search_entries SET title = title WHERE id IN (SELECT id FROM search_entries"
            " WHERE tsv IS NULL)"
        )
    )
    return int(getattr(filled, "rowcount", 0) or 0)


def index_document(session: Session, document_id: int, label: str, body: str | None) -> None:
    """(Re)write the entry of a document whose new version has this text (None: no entry)."""
    session.execute(delete(SearchEntry).where(SearchEntry.id == -document_id))
    if not body or not body.strip():
        return
    found = session.execute(
        select(Notice.id, Notice.title, Notice.relevant)
        .join(Document, Document.notice_id == Notice.id)
        .where(Document.id == document_id)
    ).first()
    if found is None:
        return
    session.execute(
        insert(SearchEntry),
        [_document_row(document_id, found[0], found[1], label, body, found[2])],
    )


def _document_row(
    document_id: int, notice_id: int, title: str, label: str, body: str, relevant: bool
) -> dict[str, Any]:
    return {
        "id": -document_id,
        "notice_id": notice_id,
        "document_id": document_id,
        "label": label[:255],
        "title": _ligatures(title or ""),
        "body": _ligatures(body[:MAX_BODY]),
        # A document is searched by default when its notice is.
        "relevant": bool(relevant),
    }


def rebuild(session: Session, progress: Callable[[int, int], None] | None = None) -> int:
    """Index every stored notice and the latest text of every linked document again; how many
    entries. `progress(done, total)` is told after each batch (and the log, on large ones)."""
    session.execute(delete(SearchEntry))
    count = session.scalar(text("SELECT count(*) FROM notices")) or 0
    done = written = last = 0
    while True:
        batch = session.execute(
            select(Notice.id, Notice.title, Notice.snapshot, Notice.relevant)
            .where(Notice.id > last)
            .order_by(Notice.id)
            .limit(BATCH)
        ).all()
        if not batch:
            break
        last = batch[-1][0]
        index_notices(session, ((i, t, s, r) for i, t, s, r in batch))
        done += len(batch)
        written += len(batch)
        _tell(progress, done, count)
    latest = (
        select(DocumentVersion.document_id, DocumentVersion.version)
        .where(DocumentVersion.text.is_not(None))
        .order_by(DocumentVersion.document_id, DocumentVersion.version.desc())
    )
    seen: set[int] = set()
    rows: list[dict[str, Any]] = []
    for document_id, version in session.execute(latest):
        if document_id in seen:
            continue
        seen.add(document_id)
        found = session.execute(
            select(
                Document.notice_id,
                Notice.title,
                DocumentVersion.filename,
                DocumentVersion.text,
                Notice.relevant,
            )
            .join(Notice, Notice.id == Document.notice_id)
            .join(DocumentVersion, DocumentVersion.document_id == Document.id)
            .where(
                Document.id == document_id,
                Document.removed_at.is_(None),
                DocumentVersion.version == version,
            )
        ).first()
        if found is None or not (found[3] or "").strip():
            continue
        rows.append(_document_row(document_id, *found))
        if len(rows) >= BATCH // 10:
            session.execute(insert(SearchEntry), rows)
            written += len(rows)
            rows = []
    if rows:
        session.execute(insert(SearchEntry), rows)
        written += len(rows)
    return written


def _tell(progress: Callable[[int, int], None] | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
    if total >= 10 * BATCH and (done % (10 * BATCH) == 0 or done == total):
        log.info("search index: %d/%d notices", done, total)


# --- searching -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the last procedure's score and id (`after=` in URLs)."""

    score: float
    procedure: int

    def encode(self) -> str:
        return f"{self.score!r}_{self.procedure}"

    @classmethod
    def decode(cls, value: str | None) -> Cursor | None:
        """The cursor of an `after=` value; None (the first page) for anything else."""
        if not value or len(value) > 80:
            return None
        score, _, procedure = value.rpartition("_")
        try:
            parsed = cls(float(score), int(procedure))
        except ValueError:
            return None
        if parsed.score != parsed.score or abs(parsed.score) == float("inf"):
            return None
        return parsed


@dataclass(frozen=True)
class Snippet:
    """A passage of a notice or of a document where the words were found."""

    notice_id: int
    document: str | None  # the document's file name; None: the notice itself
    text: str  # with START/STOP around the words found

    @property
    def plain(self) -> str:
        return self.text.replace(START, "").replace(STOP, "")

    @property
    def html(self) -> str:
        """The passage as HTML: escaped, the words found in <mark>."""
        escaped = html.escape(self.text, quote=False)
        return escaped.replace(START, "<mark>").replace(STOP, "</mark>")


@dataclass(frozen=True, slots=True)
class Procedure:
    """What a result shows of a procedure's first notice (plain values: an answer outlives its
    session in the result cache)."""

    id: int
    native_id: str
    title: str
    buyer: str | None
    site: str | None
    phase: str | None
    published: dt.date | None
    url: str | None
    source: str


@dataclass
class Hit:
    """One procedure found: its first notice, how well it matched, where."""

    procedure: Procedure
    score: float
    notices: int  # how many of its notices match
    snippets: list[Snippet] = field(default_factory=list)
    source: str = ""


@dataclass
class Results:
    """A page of results, the facets of the whole search and the next page's cursor."""

    query: Query
    hits: list[Hit]
    total: int  # procedures found
    facets: dict[str, list[tuple[str, int]]]
    next: Cursor | None
    # The total and the facets count the best CANDIDATES matches only (more were found).
    capped: bool = False


@dataclass
class _Sql:
    """Pieces of SQL for one query on one database, and their parameters."""

    dialect: str
    query: Query
    relevant_only: bool
    params: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> str:
        name = f"sq_{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    # The engine's query string for the terms that must match / must not.
    def match(self, groups: Sequence[Sequence[Term]]) -> str:
        if self.dialect == "sqlite":
            parts = [" OR ".join(_fts_term(t) for t in group) for group in groups]
            return " AND ".join(f"({p})" for p in parts)
        parts = [" | ".join(_ts_term(t) for t in group) for group in groups]
        return " & ".join(f"({p})" for p in parts)

    def hits(self) -> str:
        """SELECT nid, score: every notice whose text matches (or every notice, if no terms)."""
        if not self.query.groups:
            return "SELECT n0.id AS nid, 0.0 AS score FROM notices n0"
        match = self.bind(self.match(self.query.groups))
        if self.dialect == "sqlite":
            return (
                "SELECT h.nid AS nid, min(h.score) AS score"
                f" FROM ({self.ranked(match)}) h GROUP BY h.nid"
            )
        return (
            "SELECT e.notice_id AS nid, min(-ts_rank(e.tsv, q.q, 1))::float8 AS score"
            f" FROM search_entries e, to_tsquery('{CONFIG}', {match}) AS q(q)"
            f" WHERE e.tsv @@ q.q{self.relevant_entries} GROUP BY e.notice_id"
        )

    def ranked(self, match: str) -> str:
        """SQLite: SELECT nid, score of every entry matching `match` (a bound parameter), a
        document's named by its notice."""
        fts = self.fts
        return (
            f"SELECT CASE WHEN {fts}.rowid > 0 THEN {fts}.rowid ELSE (SELECT e.notice_id FROM"
            f" search_entries e WHERE e.id = {fts}.rowid) END AS nid, {fts}.rank AS score"
            f" FROM {fts} WHERE {fts} MATCH {match} AND {fts}.rank MATCH '{_RANK}'"
        )

    @property
    def fts(self) -> str:
        """SQLite: the FTS5 table a search ranks (the relevant entries' own, by default)."""
        return FTS_RELEVANT if self.relevant_only else FTS_TABLE

    @property
    def relevant_entries(self) -> str:
        """PostgreSQL: the condition on `e` that reads the relevant entries' partial index
        (written out, not bound: the planner picks a partial index by the query's text)."""
        return " AND e.relevant" if self.relevant_only else ""

    def excluded(self, few: bool = False) -> str:
        """A condition on `n`: no notice of its procedure says an excluded term. `few`: asked of
        each of a few candidates (a first page's), rather than of every notice at once."""
        if not self.query.excluded:
            return ""
        match = self.bind(self.match([self.query.excluded]))
        # SQLite runs an FTS5 subquery again for each row of a correlated one (26 ms for 200
        # candidates where the procedures of every excluded match cost 2 ms): per candidate
        # on PostgreSQL only, where each candidate's entries are matched without the index.
        if few and self.dialect == "postgresql":
            proc = "coalesce(n.parent_id, n.id)"
            said = f"x.tsv @@ to_tsquery('{CONFIG}', {match})"
            return (
                " AND NOT EXISTS (SELECT 1 FROM notices nx JOIN search_entries x"
                f" ON x.notice_id = nx.id WHERE (nx.id = {proc} OR nx.parent_id = {proc})"
                f" AND {said})"
            )
        if self.dialect == "sqlite":
            found = (
                f"SELECT CASE WHEN {FTS_TABLE}.rowid > 0 THEN {FTS_TABLE}.rowid ELSE (SELECT"
                f" x.notice_id FROM search_entries x WHERE x.id = {FTS_TABLE}.rowid) END"
                f" FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH {match}"
            )
        else:
            found = (
                "SELECT x.notice_id FROM search_entries x"
                f" WHERE x.tsv @@ to_tsquery('{CONFIG}', {match})"
            )
        return (
            " AND coalesce(n.parent_id, n.id) NOT IN (SELECT coalesce(nx.parent_id, nx.id)"
            f" FROM notices nx WHERE nx.id IN ({found}))"
        )

    def filters(self) -> str:
        """Conditions on `n` (the notice) and `s` (its source)."""
        f = self.query.filters
        where = ["n.relevant = " + self.bind(True)] if self.relevant_only else []
        for name, values in (("n.site", f.sites), ("n.phase", f.phases), ("s.name", f.sources)):
            if values:
                where.append(f"{name} IN ({', '.join(self.bind(v) for v in values)})")
        for name, day in (("n.published >= ", f.after), ("n.published <= ", f.before)):
            if day is not None:
                where.append(name + self.bind(day.isoformat() if self.dialect == "sqlite" else day))
        keyed = []
        if f.cpv:
            keyed.append(" OR ".join(f"k.keys LIKE {self.bind(f'% cpv:{c}%')}" for c in f.cpv))
        if f.departments:
            likes = (f"k.keys LIKE {self.bind(f'% dep:{d} %')}" for d in f.departments)
            keyed.append(" OR ".join(likes))
        for column_name, alternatives in (("k.buyer", f.buyer), ("k.companies", f.companies)):
            if alternatives:
                keyed.append(
                    " OR ".join(
                        "("
                        + " AND ".join(f"{column_name} LIKE {self.bind(f'%{w}%')}" for w in alt)
                        + ")"
                        for alt in alternatives
                    )
                )
        if keyed:
            where.append(
                "EXISTS (SELECT 1 FROM search_entries k WHERE k.id = n.id AND "
                + " AND ".join(f"({k})" for k in keyed)
                + ")"
            )
        return "".join(f" AND {w}" for w in where)

    def best(self, bound: int) -> str:
        """SELECT nid, score of at most `bound` entries: the best ranked ones (the engine's own
        top-N: FTS5's `ORDER BY rank LIMIT`, a heap over `ts_rank` on PostgreSQL); for a query
        of filters alone, the newest matching notices (no text index read)."""
        limit = self.bind(bound)
        if not self.query.groups:
            return (
                "SELECT n.id AS nid, 0.0 AS score FROM notices n JOIN sources s"
                f" ON s.id = n.source_id WHERE 1 = 1{self.filters()}"
                f" ORDER BY n.id DESC LIMIT {limit}"
            )
        match = self.bind(self.match(self.query.groups))
        if self.dialect == "sqlite":
            return f"{self.ranked(match)} ORDER BY {self.fts}.rank LIMIT {limit}"
        # PostgreSQL ranks every match anyway: with field filters, the best of the matches they
        # keep.
        filtered = self.query.filters != Filters()
        return (
            "SELECT e.notice_id AS nid, (-ts_rank(e.tsv, q.q, 1))::float8 AS score"
            f" FROM search_entries e CROSS JOIN to_tsquery('{CONFIG}', {match}) AS q(q)"
            + (
                " JOIN notices n ON n.id = e.notice_id JOIN sources s ON s.id = n.source_id"
                f" WHERE e.tsv @@ q.q{self.relevant_entries}{self.filters()}"
                if filtered
                else f" WHERE e.tsv @@ q.q{self.relevant_entries}"
            )
            + f" ORDER BY 2 LIMIT {limit}"
        )

    def matched(self, hits: str | None = None) -> str:
        """SELECT nid, proc, score, site, phase, year, source of every matching notice (of
        `hits`, a SELECT nid, score, if given)."""
        # A few candidates: each notice read by its key (PostgreSQL would otherwise scan the
        # notices its filters allow, not knowing how few candidates there are).
        notices = (
            "CROSS JOIN LATERAL (SELECT * FROM notices n1 WHERE n1.id = h.nid) n"
            if hits is not None and self.dialect == "postgresql"
            else "JOIN notices n ON n.id = h.nid"
        )
        year = (
            "substr(n.published, 1, 4)"
            if self.dialect == "sqlite"
            else "to_char(n.published, 'YYYY')"
        )
        return (
            "SELECT n.id AS nid, coalesce(n.parent_id, n.id) AS proc, h.score AS score,"
            f" n.site AS site, n.phase AS phase, {year} AS year, s.name AS source"
            f" FROM ({hits or self.hits()}) h {notices}"
            " JOIN sources s ON s.id = n.source_id"
            f" WHERE 1 = 1{self.filters()}{self.excluded(few=hits is not None)}"
        )


def _fts_term(term: Term) -> str:
    phrase = '"' + " ".join(_ligatures(w) for w in term.words) + '"'
    return phrase + "*" if term.prefix else phrase


def _ts_term(term: Term) -> str:
    quoted = [f"'{_ligatures(w)}'" for w in term.words]
    if term.prefix:
        quoted[-1] += ":*"
    return " <-> ".join(quoted)


def _sql(session: Session, query: Query, relevant_only: bool) -> _Sql:
    return _Sql(session.get_bind().dialect.name, query, relevant_only)


def procedures(dialect: str, query: Query, *, relevant_only: bool = True) -> TextualSelect:
    """SELECT of the ids of the procedures (first notices) the query finds on a database of
    this dialect: what a search's feed and its subscribers follow (`Event.notice_id.in_(…)`)."""
    sql = _Sql(dialect, query, relevant_only)
    statement = text(f"SELECT DISTINCT m.proc FROM ({sql.matched()}) m")
    return statement.bindparams(**sql.params).columns(column("proc", Integer))


def notices_saying(dialect: str, said: str) -> TextualSelect | None:
    """SELECT nid of the notices whose own text (title, buyer, description, lots, winners; not
    their documents) has, for every word of `said`, a word starting with it (case and accents
    ignored): the `q` filter of the lists (`/`, `/api/notices`), read from the search index
    rather than by scanning every snapshot (issue 29). None when `said` has no word."""
    found = [fold(w) for w in query_words(said)][:10]
    if not found:
        return None
    groups = tuple((Term((w,), prefix=True),) for w in found)
    sql = _Sql(dialect, Query(said, groups), False)
    match = sql.bind(sql.match(sql.query.groups))
    if dialect == "sqlite":
        statement = f"SELECT rowid AS nid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH {match}"
        statement += " AND rowid > 0"
    else:
        statement = (
            "SELECT e.notice_id AS nid FROM search_entries e"
            f" WHERE e.document_id IS NULL AND e.tsv @@ to_tsquery('{CONFIG}', {match})"
        )
    return text(statement).bindparams(**sql.params).columns(column("nid", Integer))


def search(
    session: Session,
    query: Query | str,
    *,
    relevant_only: bool = True,
    after: Cursor | None = None,
    limit: int = 20,
    facets: bool = True,
    cache: ResultCache[Results] | None = None,
) -> Results:
    """A page of the procedures `query` finds, best first, with snippets and facets. With a
    `cache`, the answer to the same query (by meaning: its parsed terms and filters), scope and
    page is served again while the data has not changed (`watcher.db.search_cache`)."""
    if isinstance(query, str):
        query = parse(query)
    if cache is None or not cache.size:
        return _search(session, query, relevant_only, after, limit, facets)
    parsed = query
    key = (_meaning(query), relevant_only, after, limit, facets)
    found = cache.answer(
        session, key, lambda: _search(session, parsed, relevant_only, after, limit, facets)
    )
    # The same answer, told with this query's own words (the kept one may be spelt otherwise).
    return found if found.query == query else replace(found, query=query)


def _meaning(query: Query) -> tuple[Any, ...]:
    """What a query asks, whatever its spelling (case, accents, ligatures, spaces)."""

    def term(t: Term) -> tuple[tuple[str, ...], bool]:
        return tuple(fold(w) for w in t.words), t.prefix

    groups = tuple(tuple(term(t) for t in group) for group in query.groups)
    return groups, tuple(term(t) for t in query.excluded), query.filters


def _search(
    session: Session,
    query: Query,
    relevant_only: bool,
    after: Cursor | None,
    limit: int,
    facets: bool,
) -> Results:
    sql = _sql(session, query, relevant_only)
    if sql.dialect == "sqlite":
        # Reads through a memory map: the index and the notices it joins are read, not
        # copied through SQLite's small page cache (three times faster on broad queries).
        _run(session, f"PRAGMA mmap_size = {MMAP_BYTES}")
    else:
        # No parallel workers: their start costs more than the few thousand rows a search
        # reads, and concurrent searches have no idle core to lend.
        _run(session, "SET LOCAL max_parallel_workers_per_gather = 0")
    rows: Sequence[Any] = ()
    capped = False
    if after is None:
        # The first page from the best CANDIDATES entries alone: exact when they hold a full
        # page (no entry left out ranks better than those kept), or when they are all there
        # are; then the total and the facets are those of the candidates (`capped`).
        bounded = _sql(session, query, relevant_only)
        best = "SELECT f.nid AS nid, min(f.score) AS score FROM f GROUP BY f.nid"
        rows = _run(
            session,
            _page_statement(
                bounded,
                f"f AS MATERIALIZED ({bounded.best(CANDIDATES)}),"
                f" m AS MATERIALIZED ({bounded.matched(best)})",
                "",
                limit,
                facets,
                " UNION ALL SELECT 2, NULL, NULL, count(*), min(f.nid), NULL, NULL, NULL,"
                " NULL FROM f",
            ),
            bounded.params,
        )
        candidates, newest = next((int(r[3]), r[4]) for r in rows if r[0] == 2)
        kept = [r for r in rows if r[0] == 0]
        capped = candidates >= CANDIDATES
        # A query of filters alone reads the newest notices: the page is exact when its
        # procedures are all at least as new as the oldest notice read.
        full = len(kept) > limit and (
            bool(query.groups) or newest is None or int(kept[limit][1]) >= int(newest)
        )
        if capped and not full:
            rows = ()
    if not rows:
        capped = False
        cursor = ""
        if after is not None:
            cursor = (
                f" WHERE p.score > {sql.bind(after.score)} OR (p.score = {sql.bind(after.score)}"
                f" AND p.proc < {sql.bind(after.procedure)})"
            )
        rows = _run(
            session,
            _page_statement(sql, f"m AS MATERIALIZED ({sql.matched()})", cursor, limit, facets),
            sql.params,
        )
    page = [(r[1], r[2], r[3], r[4]) for r in rows if r[0] == 0]
    counts = _facet_counts([r[3:] for r in rows if r[0] == 1]) if facets else {}
    more = len(page) > limit
    page = page[:limit]
    roots = _procedures(session, [int(p[0]) for p in page])
    hits = [Hit(roots[p[0]], float(p[1]), int(p[2])) for p in page if p[0] in roots]
    for hit in hits:
        hit.source = hit.procedure.source
    if hits and query.groups:
        _snippets(session, query, hits)
    total = int(page[0][3]) if page else 0
    if not page and after is not None:  # past the last page: count again
        total = _count(session, query, relevant_only)
    last = hits[-1] if hits and more else None
    return Results(
        query=query,
        hits=hits,
        total=total,
        facets=counts,
        next=Cursor(last.score, last.procedure.id) if last else None,
        capped=capped,
    )


def _procedures(session: Session, ids: list[int]) -> dict[int, Procedure]:
    """The page's first notices, by id: the columns a result shows (not the snapshot)."""
    if not ids:
        return {}
    found = _run(
        session,
        "SELECT n.id, n.native_id, n.title, n.buyer, n.site, n.phase, n.published, n.url, s.name"
        " FROM notices n JOIN sources s ON s.id = n.source_id WHERE n.id IN"
        f" ({', '.join(str(int(i)) for i in ids)})",
    )
    return {
        ident: Procedure(ident, native, title, buyer, site, phase, _day(day), url, source)
        for ident, native, title, buyer, site, phase, day, url, source in found
    }


def _day(value: Any) -> dt.date | None:
    """A date column as read without the models (SQLite gives its ISO text)."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


_BIND = re.compile(r":(sq_\d+)\b")


def _run(session: Session, sql: str, params: dict[str, Any] | None = None) -> Sequence[Any]:
    """The rows of a statement of this module, given to the driver as written: a search's
    statements are new text each time, which SQLAlchemy's `text()` would compile for nothing
    (a third of a short search's time). The `:sq_N` parameters are the driver's own on SQLite,
    `%(sq_N)s` on PostgreSQL (the statements hold no other `%`: every pattern is a parameter)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite" and params:
        sql = _BIND.sub(r"%(\1)s", sql)
    result = connection.exec_driver_sql(sql, params or {})
    return result.all() if result.returns_rows else ()


def _page_statement(
    sql: _Sql, ctes: str, cursor: str, limit: int, facets: bool, extra: str = ""
) -> str:
    """One statement: the matching notices once (`m`, a materialized CTE), then the page of
    procedures with their number (counted before the cursor applies) and the facets' counts."""
    facet_rows = (
        " UNION ALL SELECT 1, NULL, NULL, count(*), NULL, m.site, m.phase, m.year, m.source"
        " FROM m GROUP BY m.site, m.phase, m.year, m.source"
        if facets
        else ""
    )
    return (
        f"WITH {ctes}"
        " SELECT * FROM (SELECT 0 AS kind, p.proc, p.score, p.notices, p.total, NULL AS site,"
        " NULL AS phase, NULL AS year, NULL AS source FROM (SELECT g.proc AS proc, g.score"
        " AS score, g.notices AS notices, count(*) OVER () AS total FROM (SELECT m.proc AS"
        " proc, min(m.score) AS score, count(*) AS notices FROM m GROUP BY m.proc) g)"
        f" p{cursor} ORDER BY p.score, p.proc DESC LIMIT {sql.bind(limit + 1)}) pg"
        f"{facet_rows}{extra}"
    )


def _snippets(session: Session, query: Query, hits: list[Hit], per_hit: int = 3) -> None:
    """The passages of each hit: the texts of the page's entries read in one statement, matched
    and marked here (`watcher.core.highlight`), the best `per_hit` of each procedure first —
    a title's words count eight times a text's, as in the ranking."""
    procs = ", ".join(str(int(hit.procedure.id)) for hit in hits)
    columns = "e.id, e.notice_id, e.label, e.title, e.body"
    rows = _run(
        session,
        f"SELECT {columns}, coalesce(n.parent_id, n.id) FROM notices n JOIN search_entries e"
        f" ON e.notice_id = n.id WHERE n.id IN ({procs}) UNION ALL SELECT {columns},"
        f" n.parent_id FROM notices n JOIN search_entries e ON e.notice_id = n.id"
        f" WHERE n.parent_id IN ({procs})",
    )
    matcher = Matcher.of(query.groups)
    # Each entry that says the query: (minus its score, notice, procedure, document, text, spans),
    # best first by the first two.
    found: dict[int, tuple[float, int, int, str | None, str, list[tuple[int, int]]]] = {}
    for entry_id, notice_id, label, title, body, proc in rows:
        if entry_id in found:
            continue
        title, body = title or "", body or ""
        in_title, in_body = matcher.spans(title), matcher.spans(body)
        if not in_title and not in_body:
            continue
        said = matcher.said(title, in_title), matcher.said(body, in_body)
        if not all(t or b for t, b in zip(*said, strict=True)):
            continue  # a group of the query is in neither
        # A notice's passage from whichever of its title and its text says more of the query
        # (its text if as much: the title heads the result); a document's from its text.
        text_first = label is not None or (bool(in_body) and sum(said[1]) >= sum(said[0]))
        shown, spans = (body, in_body) if text_first else (title, in_title)
        score = _TITLE_WEIGHT * len(in_title) + min(len(in_body), 5)
        found[entry_id] = (-score, notice_id, int(proc), label, shown, spans)
    by_proc = {hit.procedure.id: hit for hit in hits}
    for _, notice_id, proc, label, shown, spans in sorted(found.values(), key=lambda f: f[:2]):
        hit = by_proc.get(proc)
        if hit is None or len(hit.snippets) >= per_hit:
            continue  # only the passages shown are made
        passage = highlight(shown, spans, START, STOP)
        if passage:
            hit.snippets.append(Snippet(notice_id, label, passage))


def _facet_counts(rows: Iterable[Sequence[Any]]) -> dict[str, list[tuple[str, int]]]:
    """Counts of notices by site, phase, year and source, from rows (count, site, phase, year,
    source); most frequent first, years newest first."""
    counts: dict[str, dict[str, int]] = {"site": {}, "phase": {}, "year": {}, "source": {}}
    for notices, _, site, phase, year, source in rows:
        for name, value in (("site", site), ("phase", phase), ("year", year), ("source", source)):
            if value:
                counts[name][str(value)] = counts[name].get(str(value), 0) + int(notices)
    return {
        name: sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
        if name != "year"
        else sorted(values.items(), reverse=True)
        for name, values in counts.items()
    }


def _count(session: Session, query: Query, relevant_only: bool) -> int:
    sql = _sql(session, query, relevant_only)
    statement = text(f"SELECT count(DISTINCT m.proc) FROM ({sql.matched()}) m")
    return int(session.scalar(statement, sql.params) or 0)
