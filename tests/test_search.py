"""Full-text search (issue 27): one query language, parsed by a pure function, searched with each
database's own engine (SQLite FTS5, PostgreSQL text search) over notices and documents' text."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import select

from tests.helpers import OLD_SCHEMA_NOW, database_at
from tests.test_linking import _poll
from watcher.core.query import MAX_CHARS, Filters, Term, parse
from watcher.db.models import Document, DocumentVersion, Notice
from watcher.db.search import (
    Cursor,
    fill_deferred,
    index_document,
    index_notices,
    rebuild,
    search,
)
from watcher.db.session import session_scope
from watcher.pipeline.runtime import Runtime
from watcher.records import Lot, NoticeRecord

NOW = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)


# --- the query language (pure) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "groups", "excluded", "filters"),
    [
        ("rétention", [["rétention"]], [], Filters()),
        ('"centre de rétention" Lesquin', [["centre de rétention"], ["Lesquin"]], [], Filters()),
        ("restauration -bassin", [["restauration"]], ["bassin"], Filters()),
        ("transfert OR escorte vol", [["transfert", "escorte"], ["vol"]], [], Filters()),
        ("transfert OU escorte", [["transfert", "escorte"]], [], Filters()),
        ("escort*", [["escort*"]], [], Filters()),
        ("cpv:4521* cpv:55520000", [], [], Filters(cpv=("4521", "55520000"))),
        ("acheteur:SGAMI buyer:lille", [], [], Filters(buyer=(("sgami",), ("lille",)))),
        ('acheteur:"Préfecture du Nord"', [], [], Filters(buyer=(("prefecture", "du", "nord"),))),
        ("dep:59 dep:2a département:971", [], [], Filters(departments=("59", "2A", "971"))),
        (
            "site:lesquin phase:award source:boamp",
            [],
            [],
            Filters(sites=("lesquin",), phases=("award",), sources=("boamp",)),
        ),
        ("company:gepsa titulaire:Sodexo", [], [], Filters(companies=(("gepsa",), ("sodexo",)))),
        (
            "after:2025 before:2026-02",
            [],
            [],
            Filters(after=dt.date(2025, 1, 1), before=dt.date(2026, 2, 28)),
        ),
        ("l'administration", [["l administration"]], [], Filters()),
        # What cannot be read is searched as words, never an error.
        ('"centre de rétention', [["centre"], ["de"], ["rétention"]], [], Filters()),
        ("*", [], [], Filters()),
        (
            "dep:999999 after:2025-13-45",
            [["dep 999999"], ["after 2025 13 45"]],
            [],
            Filters(),
        ),
        ("foo:bar", [["foo bar"]], [], Filters()),
        (
            "x' OR 1=1; DROP TABLE notices; --",
            [["x", "1 1"], ["DROP"], ["TABLE"], ["notices"]],
            [],
            Filters(),
        ),
        ("NEAR(a b) AND c^ {d}", [["NEAR a"], ["b"], ["AND"], ["c"], ["d"]], [], Filters()),
        ('- -- -""', [], [], Filters()),
    ],
)
def test_the_query_language(
    text: str, groups: list[list[str]], excluded: list[str], filters: Filters
) -> None:
    query = parse(text)

    def shown(term: Term) -> str:
        return " ".join(term.words) + ("*" if term.prefix else "")

    assert [[shown(t) for t in group] for group in query.groups] == groups
    assert [shown(t) for t in query.excluded] == excluded
    assert query.filters == filters


def test_a_hostile_query_is_cut_and_never_fails() -> None:
    query = parse("rétention " * 2000)
    assert len(query.text) == MAX_CHARS
    assert len(query.terms) <= 24
    assert parse("\x00\ud800\u202e\"'\\%_").groups == ()


# --- searching, on the test database (SQLite, or PostgreSQL) -------------------------------

RECORDS = [
    NoticeRecord(
        native_id="CRA-REPAS",
        title="Restauration des personnes retenues au centre de rétention administrative de Lesquin",
        buyer="SGAMI Nord",
        published=dt.date(2026, 3, 2),
        department="59",
        cpv=("55520000",),
        description="Fourniture et livraison de repas en liaison froide.",
    ),
    NoticeRecord(
        native_id="BASSIN",
        title="Bassin de rétention des eaux pluviales du centre de rétention administrative",
        buyer="Commune de Lesquin",
        published=dt.date(2025, 6, 1),
        department="59",
        cpv=("45247000",),
    ),
    NoticeRecord(
        native_id="CRA-TRAVAUX",
        title="Construction du centre de rétention administrative de Dunkerque",
        buyer="Ministère de l'Intérieur",
        published=dt.date(2026, 1, 15),
        department="59",
        cpv=("45216000",),
        lots=(Lot(number="1", title="Gros œuvre", winners=("Bouygues Bâtiment Nord-Est",)),),
    ),
    NoticeRecord(
        native_id="CRA-ESCORTE",
        title="Escortes et transferts des retenus du CRA du Mesnil-Amelot",
        buyer="Préfecture de police",
        published=dt.date(2026, 2, 10),
        department="77",
        cpv=("60100000",),
        notice_type="award",
        winners=("GEPSA",),
    ),
]


@pytest.fixture
def runtime(make_runtime: Callable[..., Runtime]) -> Runtime:
    runtime = make_runtime("sources: []\n")
    _poll(runtime, "boamp", "boamp", RECORDS)
    with session_scope(runtime.sessions) as session:
        notice = session.scalar(select(Notice).where(Notice.native_id == "CRA-TRAVAUX"))
        assert notice is not None
        document = Document(
            notice_id=notice.id,
            url="https://x.example/ccap.pdf",
            filename="CCAP.pdf",
            status="ok",
            first_seen_at=NOW,
        )
        session.add(document)
        session.flush()
        text = "Article 12. Le titulaire procède au désamiantage des locaux avant démolition."
        session.add(
            DocumentVersion(
                document_id=document.id,
                version=1,
                sha256="0" * 64,
                size=1,
                content_type="application/pdf",
                filename="CCAP.pdf",
                fetched_at=NOW,
                text=text,
            )
        )
        index_document(session, document.id, "CCAP.pdf", text)
    return runtime


def _found(runtime: Runtime, text: str, **kwargs: object) -> list[str]:
    with session_scope(runtime.sessions) as session:
        results = search(session, text, relevant_only=False, **kwargs)  # type: ignore[arg-type]
        return [hit.procedure.native_id for hit in results.hits]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("retention", {"CRA-REPAS", "BASSIN", "CRA-TRAVAUX"}),
        ("RÉTENTION", {"CRA-REPAS", "BASSIN", "CRA-TRAVAUX"}),
        ('"centre de rétention" Lesquin', {"CRA-REPAS", "BASSIN"}),
        ('"rétention de centre"', set()),
        ("retention -bassin", {"CRA-REPAS", "CRA-TRAVAUX"}),
        ("cpv:452*", {"BASSIN", "CRA-TRAVAUX"}),
        ("cpv:4521*", {"CRA-TRAVAUX"}),
        ("dep:59 restauration", {"CRA-REPAS"}),
        ("dep:77", {"CRA-ESCORTE"}),
        ("escort* OR repas", {"CRA-ESCORTE", "CRA-REPAS"}),
        ("acheteur:sgami", {"CRA-REPAS"}),
        ("acheteur:interieur", {"CRA-TRAVAUX"}),
        ("company:gepsa", {"CRA-ESCORTE"}),
        ("company:bouygues", {"CRA-TRAVAUX"}),
        ("oeuvre", {"CRA-TRAVAUX"}),
        ("after:2026 before:2026-02", {"CRA-TRAVAUX", "CRA-ESCORTE"}),
        ("desamiantage", {"CRA-TRAVAUX"}),
        ("désamiantage dunkerque", {"CRA-TRAVAUX"}),
        # Hostile: results or none, never an error.
        ('"centre de', {"CRA-REPAS", "BASSIN", "CRA-TRAVAUX"}),
        ("*", {"CRA-REPAS", "BASSIN", "CRA-TRAVAUX", "CRA-ESCORTE"}),
        ("x' OR 1=1; DROP TABLE notices; --", set()),
        ("NEAR(centre rétention) AND", set()),
        ("retention " * 2000, {"CRA-REPAS", "BASSIN", "CRA-TRAVAUX"}),
    ],
)
def test_search_finds(runtime: Runtime, text: str, expected: set[str]) -> None:
    assert set(_found(runtime, text)) == expected


def _relevant(runtime: Runtime) -> set[str]:
    with session_scope(runtime.sessions) as session:
        return set(session.scalars(select(Notice.native_id).where(Notice.relevant.is_(True))))


@pytest.mark.parametrize(
    "text",
    [
        "retention",
        '"centre de rétention" Lesquin',
        "retention -bassin",
        "cpv:452*",
        "escort* OR repas",
        "company:bouygues",
        "desamiantage",
        "*",
    ],
)
def test_a_search_reads_the_relevant_notices_by_default(runtime: Runtime, text: str) -> None:
    """By default a search ranks the relevant entries' own index (FTS5 table, partial GIN
    index): the same procedures as searching everything and keeping the relevant ones, once a
    notice is judged irrelevant."""
    with session_scope(runtime.sessions) as session:  # as a rematch would judge it
        bassin = session.scalars(select(Notice).where(Notice.native_id == "BASSIN")).one()
        bassin.relevant = False
    relevant = _relevant(runtime)
    assert relevant == {r.native_id for r in RECORDS} - {"BASSIN"}
    with session_scope(runtime.sessions) as session:
        found = [h.procedure.native_id for h in search(session, text).hits]
    assert set(found) == set(_found(runtime, text)) & relevant


def test_a_notice_whose_relevance_changes_moves_in_and_out_of_default_search(
    runtime: Runtime,
) -> None:
    """What `watcher rematch` writes (the notices' `relevant`) reaches the index at once, the
    notice's documents with it."""
    with session_scope(runtime.sessions) as session:
        assert [h.procedure.native_id for h in search(session, "désamiantage").hits] == [
            "CRA-TRAVAUX"
        ]
        notice = session.scalars(select(Notice).where(Notice.native_id == "CRA-TRAVAUX")).one()
        notice.relevant = False
    with session_scope(runtime.sessions) as session:
        assert search(session, "désamiantage").hits == []
        assert "CRA-TRAVAUX" not in [
            h.procedure.native_id for h in search(session, "rétention").hits
        ]
        notice = session.scalars(select(Notice).where(Notice.native_id == "CRA-TRAVAUX")).one()
        notice.relevant = True
    with session_scope(runtime.sessions) as session:
        assert [h.procedure.native_id for h in search(session, "désamiantage").hits] == [
            "CRA-TRAVAUX"
        ]
        assert "CRA-TRAVAUX" in [h.procedure.native_id for h in search(session, "rétention").hits]


def test_a_word_only_in_a_document_is_found_and_its_snippet_names_it(runtime: Runtime) -> None:
    with session_scope(runtime.sessions) as session:
        results = search(session, "désamiantage", relevant_only=False)
    [hit] = results.hits
    [snippet] = hit.snippets
    assert snippet.document == "CCAP.pdf"
    assert "<mark>désamiantage</mark>" in snippet.html


def test_results_are_ranked_paged_and_counted(runtime: Runtime) -> None:
    with session_scope(runtime.sessions) as session:
        first = search(session, "rétention", relevant_only=False, limit=2)
        assert first.total == 3
        assert first.next is not None
        cursor = Cursor.decode(first.next.encode())
        second = search(session, "rétention", relevant_only=False, limit=2, after=cursor)
    ids = [h.procedure.native_id for h in first.hits + second.hits]
    assert sorted(ids) == ["BASSIN", "CRA-REPAS", "CRA-TRAVAUX"]
    assert second.next is None
    # A title saying the word twice ranks before a title saying it once.
    assert ids[0] == "BASSIN"
    assert dict(first.facets["year"]) == {"2026": 2, "2025": 1}
    assert dict(first.facets["source"]) == {"boamp": 3}


def test_rebuild_gives_the_same_answers(runtime: Runtime) -> None:
    before = _found(runtime, "rétention")
    with session_scope(runtime.sessions) as session:
        assert rebuild(session) == 5  # four notices and one document
    assert _found(runtime, "rétention") == before
    assert _found(runtime, "désamiantage") == ["CRA-TRAVAUX"]


def test_the_migration_indexes_an_existing_database(database_url: str) -> None:
    """0013 on a database that already holds notices: they are found right after the upgrade."""
    from sqlalchemy import text  # noqa: PLC0415
    from sqlalchemy.orm import Session  # noqa: PLC0415

    from watcher.db.session import upgrade  # noqa: PLC0415

    engine = database_at(database_url, "0010")
    try:
        snap = '{"title": "Nettoyage du centre de rétention", "buyer": "SGAMI Sud", "cpv": []}'
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO notices (id, source_id, native_id, title, notice_type, snapshot,"
                    " content_hash, version, relevant, score, reasons, announced, first_seen_at,"
                    " last_seen_at) VALUES (1, 1, 'n1', 'Nettoyage du centre de rétention',"
                    " 'notice', :snap, 'h', 1, true, 0, '[]', true, :now, :now)"
                ),
                {"now": OLD_SCHEMA_NOW, "snap": snap},
            )
        assert upgrade(engine) is True
        with Session(engine) as session:
            results = search(session, "retention acheteur:sgami")
            assert [hit.procedure.native_id for hit in results.hits] == ["n1"]
    finally:
        engine.dispose()


def test_0017_indexes_the_relevant_entries_of_an_existing_index(database_url: str) -> None:
    """A database at 0016 whose index holds entries: after 0017, a search finds its relevant
    notices by default, and the others on request."""
    from sqlalchemy import text  # noqa: PLC0415
    from sqlalchemy.orm import Session  # noqa: PLC0415

    from watcher.db.session import upgrade  # noqa: PLC0415

    engine = database_at(database_url, "0016")
    try:
        with engine.begin() as conn:
            for ident, title, relevant in (
                (1, "Nettoyage du centre de rétention", True),
                (2, "Nettoyage du bassin de rétention", False),
            ):
                conn.execute(
                    text(
                        "INSERT INTO notices (id, source_id, native_id, title, notice_type,"
                        " snapshot, content_hash, version, relevant, score, reasons, announced,"
                        " first_seen_at, last_seen_at) VALUES (:id, 1, :native, :title,"
                        " 'notice', '{}', 'h', 1, :relevant, 0, '[]', true, :now, :now)"
                    ),
                    {
                        "id": ident,
                        "native": f"n{ident}",
                        "title": title,
                        "relevant": relevant,
                        "now": OLD_SCHEMA_NOW,
                    },
                )
                # As 0013–0016's store wrote an entry (no relevance yet).
                conn.execute(
                    text(
                        "INSERT INTO search_entries (id, notice_id, title, body)"
                        " VALUES (:id, :id, :title, '')"
                    ),
                    {"id": ident, "title": title},
                )
        assert upgrade(engine) is True
        with Session(engine) as session:
            assert [h.procedure.native_id for h in search(session, "nettoyage").hits] == ["n1"]
            everything = search(session, "nettoyage", relevant_only=False).hits
            assert sorted(h.procedure.native_id for h in everything) == ["n1", "n2"]
    finally:
        engine.dispose()


@pytest.mark.parametrize("text", ["rétention", "rétention OR restauration", "after:2000"])
def test_a_first_page_drawn_from_the_best_matches_is_exact(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    def first(candidates: int) -> tuple[list[str], int, bool]:
        monkeypatch.setattr("watcher.db.search.CANDIDATES", candidates)
        with session_scope(runtime.sessions) as session:
            found = search(session, text, relevant_only=False, limit=1)
        return [h.procedure.native_id for h in found.hits], found.total, found.capped

    ids, total, capped = first(1_000)
    assert not capped
    for candidates in (1, 2, 3):
        bounded_ids, bounded_total, bounded_capped = first(candidates)
        assert bounded_ids == ids
        # Capped: the total counts the candidates' procedures (at least the page).
        assert bounded_total == total if not bounded_capped else 1 <= bounded_total <= total


def test_words_a_poll_defers_are_found_once_filled(runtime: Runtime) -> None:
    with session_scope(runtime.sessions) as session:
        notice = session.scalars(select(Notice).where(Notice.native_id == "CRA-REPAS")).one()
        index_notices(
            session, [(notice.id, "Zeppelin", notice.snapshot, notice.relevant)], deferred=True
        )
        dialect = session.get_bind().dialect.name
    # PostgreSQL leaves the words to `fill_deferred`; SQLite indexes them at once.
    assert _found(runtime, "zeppelin") == ([] if dialect == "postgresql" else ["CRA-REPAS"])
    with session_scope(runtime.sessions) as session:
        fill_deferred(session)
    assert _found(runtime, "zeppelin") == ["CRA-REPAS"]
