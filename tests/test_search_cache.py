"""Search answers kept until the data changes; passages marked without the engines (issue 27)."""

from __future__ import annotations

import threading

import pytest

from tests.test_linking import _poll
from tests.test_search import NOW, RECORDS, runtime  # noqa: F401 - the fixture
from watcher.core.highlight import Matcher, passage
from watcher.core.query import parse
from watcher.db.search import Results, search
from watcher.db.search_cache import ResultCache
from watcher.db.session import session_scope
from watcher.pipeline.runtime import Runtime
from watcher.records import NoticeRecord

# --- the cache (pure) ----------------------------------------------------------------------


def test_an_answer_is_kept_for_its_generation_only() -> None:
    cache: ResultCache[str] = ResultCache(2)
    cache.put("a", 1, "A")
    assert cache.get("a", 1) == "A"
    assert cache.get("a", 2) is None  # the data changed
    cache.put("b", None, "B")  # a database without a generation: never kept
    assert cache.get("b", None) is None
    assert len(cache) == 1


def test_the_least_recently_used_answer_goes_first() -> None:
    cache: ResultCache[str] = ResultCache(2)
    cache.put("a", 1, "A")
    cache.put("b", 1, "B")
    assert cache.get("a", 1) == "A"
    cache.put("c", 1, "C")
    assert (cache.get("a", 1), cache.get("b", 1), cache.get("c", 1)) == ("A", None, "C")


def test_size_zero_keeps_nothing() -> None:
    cache: ResultCache[str] = ResultCache(0)
    cache.put("a", 1, "A")
    assert cache.get("a", 1) is None and len(cache) == 0


def test_threads_share_it_safely() -> None:
    cache: ResultCache[int] = ResultCache(50)

    def work(offset: int) -> None:
        for i in range(2_000):
            cache.put((offset + i) % 80, 1, i)
            cache.get((offset * i) % 80, 1)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 50


def test_readers_of_an_answer_being_computed_wait_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("watcher.db.search_cache.current", lambda _session: 7)
    cache: ResultCache[int] = ResultCache()
    started, release = threading.Event(), threading.Event()
    computed: list[int] = []

    def compute() -> int:
        computed.append(1)
        started.set()
        release.wait(5)
        return 42

    answers: list[int] = []
    first = threading.Thread(target=lambda: answers.append(cache.answer(None, "q", compute)))  # type: ignore[arg-type]
    first.start()
    started.wait(5)
    others = [
        threading.Thread(target=lambda: answers.append(cache.answer(None, "q", compute)))  # type: ignore[arg-type]
        for _ in range(5)
    ]
    for thread in others:
        thread.start()
    release.set()
    for thread in [first, *others]:
        thread.join()
    assert answers == [42] * 6 and len(computed) == 1


# --- the cache in front of search() ----------------------------------------------------------


def test_a_search_is_answered_again_until_a_commit_writes_data(
    runtime: Runtime,  # noqa: F811 - the fixture
) -> None:
    cache: ResultCache[Results] = ResultCache()

    def ask(text: str) -> Results:
        with session_scope(runtime.sessions) as session:
            return search(session, text, relevant_only=False, cache=cache)

    first = ask("rétention")
    assert ask("rétention") is first
    # The same meaning, spelt otherwise: the kept answer, told with the new words.
    again = ask("  Rétention ")
    assert again.hits is first.hits and again.query.text == "  Rétention "
    assert ask("rétention -bassin") is not first
    more = NoticeRecord(
        native_id="CRA-NETTOYAGE",
        title="Nettoyage du centre de rétention administrative de Coquelles",
        buyer="SGAMI Nord",
        published=NOW.date(),
        department="62",
    )
    _poll(runtime, "boamp", "boamp", [*RECORDS, more])
    after = ask("rétention")
    assert after is not first
    assert "CRA-NETTOYAGE" in {hit.procedure.native_id for hit in after.hits}


# --- passages (pure) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "text", "shown"),
    [
        ("retention", "Le centre de Rétention de Lesquin", "Le centre de [Rétention] de Lesquin"),
        ("RÉTENTION", "centre de rétention", "centre de [rétention]"),
        ('"centre de rétention"', "Un centre  de rétention.", "Un [centre de rétention]."),
        ("escort*", "Escortes et transferts", "[Escortes] et transferts"),
        ("oeuvre", "Gros oeuvre", "Gros [oeuvre]"),
        ("cœur", "le coeur du sujet", "le [coeur] du sujet"),
        ("tion", "rétention", ""),  # words, not parts of words
        ("a", "b" * 10, ""),
    ],
)
def test_a_passage_marks_the_words_found(query: str, text: str, shown: str) -> None:
    matcher = Matcher.of(parse(query).groups)
    assert passage(text, matcher.spans(text), "[", "]") == shown


def test_a_long_text_is_cut_around_the_words() -> None:
    text = " ".join(f"mot{i}" for i in range(200)) + " désamiantage " + "fin " * 200
    matcher = Matcher.of(parse("desamiantage").groups)
    shown = passage(text, matcher.spans(text), "[", "]")
    assert shown.startswith("…mot197 mot198 mot199 [désamiantage] fin")
    assert shown.endswith("…") and len(shown.split()) == 24


def test_a_text_matches_when_every_group_is_said() -> None:
    matcher = Matcher.of(parse("rétention lesquin OR dunkerque").groups)
    assert matcher.matches("Centre de rétention de Dunkerque")
    assert not matcher.matches("Centre de rétention de Lille")
