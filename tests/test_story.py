"""Issue 12: the Dunkerque procedure told right across portals and phases, whatever the order the
portals are polled in. A prior information notice on BOAMP, the contract notice on BOAMP and on TED,
a corrigendum moving the deadline, the award: one feed entry per round, the same in every order,
and the notices of the same buyer and town that are another tender stay out."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.helpers import BoampPortal
from tests.loopback import LoopbackServer, Reply, Request
from tests.test_pipeline import feed_entries
from watcher.db.models import Event, Notice
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime
from watcher.sources.base import Source

STORY = Path(__file__).parent / "fixtures" / "story"
ATOM = "{http://www.w3.org/2005/Atom}"
FOLDER = "b7e2c9d4-1f3a-4e6b-9c8d-5a4f3e2d1c0b"


def rounds(name: str) -> dict[int, list[dict[str, Any]]]:
    data = json.loads((STORY / name).read_text("utf-8"))
    return {int(k): v for k, v in data.items()}


class TedPortal:
    """The TED search API over a list of notices that grows round by round."""

    def __init__(self) -> None:
        self.notices: list[dict[str, Any]] = []

    def __call__(self, request: Request) -> Reply:
        assert request.method == "POST" and request.path == "/v3/notices/search"
        body = {
            "notices": self.notices,
            "totalNoticeCount": len(self.notices),
            "iterationNextToken": None,
        }
        return Reply(200, json.dumps(body).encode())


# How the two portals are polled: in each round, which polls (one run each, or both in one run),
# and which portal publishes its part of a round one round (a day) later.
ORDERS: dict[str, tuple[list[list[str]], str | None]] = {
    "boamp_first": ([["boamp"], ["ted"]], None),
    "ted_first": ([["ted"], ["boamp"]], None),
    "one_run": ([["boamp", "ted"]], None),
    "one_run_ted_first": ([["ted", "boamp"]], None),
    "ted_a_day_later": ([["boamp"], ["ted"]], "ted"),
    "boamp_a_day_later": ([["ted"], ["boamp"]], "boamp"),
    # The feeds written after every poll (as the scheduler does), so that an entry written when
    # one portal had told the news is written again when the other one tells it too.
    "feeds_after_each_poll": ([["boamp"], ["ted"]], None),
    "feeds_after_each_poll_ted_first": ([["ted"], ["boamp"]], None),
}
BUILD_AFTER_EACH_POLL = {"feeds_after_each_poll", "feeds_after_each_poll_ted_first"}


# Entries of the questions a procedure raises (issue 28), kept apart from its story.
ASKED = "Question à poser"


def play(
    make_runtime: Callable[..., Runtime],
    order: str,
    ted_extra: dict[int, list[dict[str, Any]]] | None = None,
    *,
    pin_title: str | None = None,
    before: Callable[[Runtime], None] | None = None,
) -> dict[str, Any]:
    """Play the story in `order` (TED publishing `ted_extra` too, by round; the prior information
    notice titled `pin_title` when given; `before` called with the runtime before the first
    poll); what each round added to the feed, and the stored procedures."""
    polls, late = ORDERS[order]
    boamp_rounds, ted_rounds = rounds("boamp_rounds.json"), rounds("ted_rounds.json")
    if pin_title is not None:
        boamp_rounds[1] = [{**boamp_rounds[1][0], "objet": pin_title}, *boamp_rounds[1][1:]]
    for number, notices in (ted_extra or {}).items():
        ted_rounds[number] = [*ted_rounds.get(number, []), *notices]
    boamp, ted = BoampPortal(), TedPortal()
    boamp.records = []
    added: list[list[str]] = []
    with LoopbackServer(boamp) as b, LoopbackServer(ted) as t:
        runtime = make_runtime(
            "sources:\n"
            f"  - {{name: boamp, kind: boamp, base_url: '{b.url}'}}\n"
            f"  - {{name: ted, kind: ted, base_url: '{t.url}', min_interval: 0}}\n"
        )
        by_name: dict[str, Source] = {s.name: s for s in runtime.config.build()}
        if before is not None:
            before(runtime)
        seen = 0
        for number in range(1, 6):
            boamp.records += _published(boamp_rounds, number, late == "boamp")
            ted.notices += _published(ted_rounds, number, late == "ted")
            for group in polls:
                results = run_sources([by_name[name] for name in group], runtime.context())
                assert all(r.ok for r in results), [r.error for r in results]
                if order in BUILD_AFTER_EACH_POLL:
                    feed_entries(runtime)
            entries = feed_entries(runtime)
            titles = [e.findtext(f"{ATOM}title") or "" for e in entries[: len(entries) - seen]]
            added.append([t for t in titles if not t.startswith(ASKED)])  # issue 28: apart
            seen = len(entries)
        entries = feed_entries(runtime)
        with runtime.sessions() as session:
            notices = session.scalars(select(Notice).order_by(Notice.native_id)).all()
            by_id = {n.id: n for n in notices}
            procedures = {
                n.native_id: (by_id[n.parent_id].native_id if n.parent_id else n.native_id)
                for n in notices
            }
            methods = {n.native_id: n.link_method for n in notices if n.link_method}
            relevant = sorted(n.native_id for n in notices if n.relevant)
            every = sorted(
                (by_id[e.notice_id].native_id, e.type) for e in session.scalars(select(Event))
            )
            events = [e for e in every if e[1] != "question_raised"]
            asked = [e for e in every if e[1] == "question_raised"]
    return {
        "runtime": runtime,
        "added": added,
        "entries": [
            _entry(e)
            for e in reversed(entries)
            if not (e.findtext(f"{ATOM}title") or "").startswith(ASKED)
        ],
        "asked": asked,
        "procedures": procedures,
        "methods": methods,
        "relevant": relevant,
        "events": events,
    }


def _published(
    by_round: dict[int, list[dict[str, Any]]], number: int, late: bool
) -> list[dict[str, Any]]:
    """What a portal publishes in round `number`; when `late`, its contract notice (round 2)
    comes a round (a day) later."""
    if not late:
        return by_round.get(number, [])
    if number == 2:
        return []
    return [*(by_round[2] if number == 3 else []), *by_round.get(number, [])]


def _entry(entry: Any) -> tuple[str, tuple[str, ...], str]:
    """An entry as a reader sees it: its title, its links, the lines of its text (all of them:
    the award published on both portals names both notices, whichever came first)."""
    content = entry.findtext(f"{ATOM}content") or ""
    links = tuple(sorted(set(re.findall(r'href="([^"]+)"', content))))
    text = re.sub(r"<[^>]+>", "\n", content)
    text = "\n".join(line for line in text.split("\n") if line)
    return entry.findtext(f"{ATOM}title") or "", links, text


@pytest.fixture(scope="module")
def told() -> dict[str, dict[str, Any]]:
    return {}


@pytest.mark.parametrize("order", list(ORDERS))
def test_the_story_is_the_same_in_every_order(
    make_runtime: Callable[..., Runtime], order: str, told: dict[str, dict[str, Any]]
) -> None:
    story = play(make_runtime, order)
    rounds_with_news = [titles for titles in story["added"] if titles]
    # Exactly one new entry per round of the story (a late portal's round adds nothing).
    assert [len(t) for t in rounds_with_news] == [1, 1, 1, 1], "\n".join(map(str, story["added"]))
    first, tender, corrigendum, award = (t[0] for t in rounds_with_news)
    name = "Construction du centre de rétention administrative de Dunkerque (Loon-Plage)"
    assert first == f"Avis de préinformation : {name}"  # not "Nouveau marché"
    assert tender == f"Appel d'offres publié : {name}"
    assert corrigendum == f"Date limite modifiée : {name}"
    assert award == f"Marché attribué : {name}"
    # Issue 28: the award raises one question to ask, told once whatever the order.
    assert len(story["asked"]) == 1, story["asked"]

    entries = story["entries"]
    _, links, text = entries[1]
    assert "https://www.boamp.fr/pages/avis/?q=idweb:26-120500" in links  # both portals
    assert "https://ted.europa.eu/fr/notice/-/detail/712345-2026" in links
    assert "Date limite : 15/02/2027 12:00" in text
    assert "Montant estimé : 40 000 000 €" in text and "Lots : 1" in text
    assert "Date limite de réception des offres : 15/02/2027 → 01/03/2027" in entries[2][2]
    assert "SPIE BATIGNOLLES NORD" in entries[3][2] and "36 500 000 €" in entries[3][2]
    # The award, on BOAMP and on TED: one entry naming both notices, in every order.
    assert (
        "Publié sur : boamp 27-41000 https://www.boamp.fr/pages/avis/?q=idweb:27-41000, "
        "ted 301234-2027 https://ted.europa.eu/fr/notice/-/detail/301234-2027"
    ) in entries[3][2]
    assert "Avis lié" not in entries[3][2]

    # One procedure; the police station and the port's basin are other tenders, not relevant.
    procedure = {k for k, v in story["procedures"].items() if v == "26-90001"}
    assert procedure == {
        "26-90001",
        "26-120500",
        "712345-2026",
        "27-00410",
        "27-41000",
        "301234-2027",
    }
    assert story["relevant"] == sorted(procedure)
    groups = {
        frozenset(k for k, v in story["procedures"].items() if v == root)
        for root in story["procedures"].values()
    }
    # The police station is one procedure on both portals (by its own identifier), the basin another.
    assert groups == {
        frozenset(procedure),
        frozenset({"26-120511", "712399-2026"}),
        frozenset({"26-120530"}),
    }
    assert set(story["methods"].values()) <= {"reference", "procedure_id"}  # no guess needed

    story["groups"] = groups
    told[order] = story
    if len(told) == len(ORDERS):
        reference = told["boamp_first"]
        for other in told.values():
            assert other["entries"] == reference["entries"]
            assert other["groups"] == reference["groups"]
            assert [k for _, k in other["events"]] == [k for _, k in reference["events"]] or (
                sorted(k for _, k in other["events"]) == sorted(k for _, k in reference["events"])
            )


def ted_corrigendum() -> dict[str, Any]:
    """TED's corrigendum of the contract notice: the deadline moved to 01/03/2027, as BOAMP's."""
    notice = dict(rounds("ted_rounds.json")[2][0])
    notice.update(
        {
            "publication-number": "150777-2027",
            "notice-identifier": "150777-2027-uuid",
            "notice-type": "corr",
            "form-type": "change",
            "publication-date": "2027-01-12+01:00",
            "deadline-receipt-tender-date-lot": ["2027-03-01+01:00"],
            "deadline-receipt-tender-time-lot": ["12:00:00+01:00"],
        }
    )
    notice["links"] = {
        "html": {"FRA": "https://ted.europa.eu/fr/notice/-/detail/150777-2027"},
    }
    return notice


@pytest.fixture(scope="module")
def corrected() -> dict[str, list[Any]]:
    return {}


@pytest.mark.parametrize("order", ["boamp_first", "ted_first", "one_run_ted_first"])
def test_a_corrigendum_on_both_portals_names_both_in_every_order(
    make_runtime: Callable[..., Runtime], order: str, corrected: dict[str, list[Any]]
) -> None:
    story = play(make_runtime, order, ted_extra={3: [ted_corrigendum()]})
    assert [len(t) for t in story["added"] if t] == [1, 1, 1, 1], story["added"]
    text = story["entries"][2][2]
    assert "Date limite de réception des offres : 15/02/2027 → 01/03/2027" in text
    assert (
        "Publié sur : boamp 27-00410 https://www.boamp.fr/pages/avis/?q=idweb:27-00410, "
        "ted 150777-2027 https://ted.europa.eu/fr/notice/-/detail/150777-2027"
    ) in text
    assert "Avis lié" not in text
    # Only the corrigendum's entry names it: the call for tenders and the award do not.
    assert all("150777-2027" not in e[2] for i, e in enumerate(story["entries"]) if i != 2)
    corrected[order] = story["entries"]
    if len(corrected) == 3:
        first, *others = corrected.values()
        assert all(entries == first for entries in others)
