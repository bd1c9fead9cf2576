"""A procedure's whole story: corrigenda, awards and cancellations published as notices of their
own become events of the original procedure, in the feed and in its history."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from tests.helpers import runtime_env
from tests.loopback import LoopbackServer
from tests.test_pipeline import BoampPortal, feed_entries, sources_yaml
from watcher.core.timeline import linked_event, similarity
from watcher.db.models import Event, Notice
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime

ATOM = "{http://www.w3.org/2005/Atom}"


def linked_record(base: dict[str, Any], idweb: str, **fields: Any) -> dict[str, Any]:
    record = copy.deepcopy(base)
    record.update(idweb=idweb, id=idweb.replace("-", "_"), url_avis=None, annonce_lie=["26-118204"])
    record.update(fields)
    return record


def corrigendum(base: dict[str, Any]) -> dict[str, Any]:
    return linked_record(
        base,
        "26-120001",
        nature="RECTIFICATIF",
        nature_libelle="Rectificatif",
        etat="RECTIFICATIF",
        dateparution="2026-12-01",
        datelimitereponse="2027-01-25T12:00:00+00:00",
        donnees=None,
        contractfolderid=None,
    )


def award(base: dict[str, Any]) -> dict[str, Any]:
    donnees = {
        "MAPA": {
            "attribution": {
                "avisInitial": {"idWeb": "26-118204"},
                "montant": {"valeur": "36500000"},
            }
        }
    }
    return linked_record(
        base,
        "26-130001",
        nature="ATTRIBUTION",
        nature_libelle="Avis d'attribution",
        etat="INITIAL",
        dateparution="2027-03-02",
        datelimitereponse=None,
        titulaire=["SPIE BATIGNOLLES NORD"],
        donnees=json.dumps(donnees),
        contractfolderid=None,
    )


def test_corrigendum_then_award_are_events_of_the_original(
    make_runtime: Callable[..., Runtime],
) -> None:
    portal = BoampPortal()
    with LoopbackServer(portal) as server:
        runtime = make_runtime(sources_yaml(server.url))
        sources = runtime.config.build()
        run_sources(sources, runtime.context())
        original = portal.records[0]
        assert original["idweb"] == "26-118204"

        portal.records.append(corrigendum(original))
        [result] = run_sources(sources, runtime.context())
        assert result.ok and result.new == 1 and result.events == 1
        newest = feed_entries(runtime)[0]
        title = newest.findtext(f"{ATOM}title") or ""
        content = newest.findtext(f"{ATOM}content") or ""
        assert title.startswith("Date limite modifiée : Construction du centre de rétention")
        assert "04/01/2027 → 25/01/2027" in content
        assert "26-120001" in content  # the corrigendum's reference...
        assert "idweb:26-120001" in content  # ...and its link

        portal.records.append(award(original))
        [result] = run_sources(sources, runtime.context())
        assert result.ok and result.events == 1
        newest = feed_entries(runtime)[0]
        assert (newest.findtext(f"{ATOM}title") or "").startswith("Marché attribué : Construction")
        content = newest.findtext(f"{ATOM}content") or ""
        assert "SPIE BATIGNOLLES NORD" in content
        assert "36 500 000 €" in content

    with runtime.sessions() as session:
        root = session.scalars(select(Notice).where(Notice.native_id == "26-118204")).one()
        children = session.scalars(select(Notice).where(Notice.parent_id == root.id)).all()
        kinds = session.scalars(
            select(Event.type).where(Event.notice_id == root.id).order_by(Event.id)
        ).all()
        assert {c.native_id for c in children} == {"26-120001", "26-130001"}
        assert all(c.relevant and c.site == root.site for c in children)
        assert kinds == ["new", "deadline_moved", "awarded"]
        assert root.deadline is not None and root.deadline.day == 25  # the procedure's deadline


SNAP = {
    "title": "Construction du CRA de Dunkerque",
    "buyer": "SGAMI Nord",
    "deadline": "2027-01-04T12:00:00+00:00",
    "notice_type": "notice",
    "winners": [],
    "value": None,
}


@pytest.mark.parametrize(
    ("linked", "same_source", "expected"),
    [
        (
            {"notice_type": "corrigendum", "deadline": "2027-01-25T12:00:00+00:00"},
            True,
            "deadline_moved",
        ),
        (
            {"notice_type": "corrigendum", "deadline": "2027-01-04T12:00:00+00:00"},
            True,
            "corrigendum",
        ),
        ({"notice_type": "award", "winners": ["SPIE"], "value": 1.0}, True, "awarded"),
        ({"notice_type": "award", "title": "Procédure déclarée sans suite"}, True, "cancelled"),
        ({"notice_type": "award", "description": "Lot 2 infructueux"}, True, "cancelled"),
        ({"notice_type": "cancellation"}, True, "cancelled"),
        ({"notice_type": "notice", "deadline": "2027-01-04T12:00:00+00:00"}, False, None),
    ],
)
def test_linked_event_table(
    linked: dict[str, Any], same_source: bool, expected: str | None
) -> None:
    outcome = linked_event(SNAP, {**SNAP, **linked}, same_source=same_source)
    assert (outcome[0] if outcome else None) == expected


def test_similarity_links_the_same_tender_only() -> None:
    ted = {
        **SNAP,
        "title": "France – Travaux de construction de prisons – Construction du CRA de Dunkerque",
    }
    assert similarity(SNAP, ted) >= 0.85
    other = {
        **SNAP,
        "title": "Construction d'un commissariat à Dunkerque",
        "deadline": "2027-02-01T12:00:00+00:00",
    }
    assert similarity(SNAP, other) < 0.85


def test_deadline_reminder_export_and_rematch(make_runtime: Callable[..., Runtime]) -> None:
    import datetime as dt  # noqa: PLC0415

    from click.testing import CliRunner  # noqa: PLC0415

    from watcher.cli import main  # noqa: PLC0415
    from watcher.db.session import session_scope  # noqa: PLC0415
    from watcher.pipeline.maintenance import export_procedure, rematch, remind_deadlines  # noqa: PLC0415

    portal = BoampPortal()
    with LoopbackServer(portal) as server:
        runtime = make_runtime(sources_yaml(server.url))
        run_sources(runtime.config.build(), runtime.context())
        portal.records.append(corrigendum(portal.records[0]))
        run_sources(runtime.config.build(), runtime.context())
    # 5 days before the corrected deadline (25/01/2027): one reminder, once.
    now = dt.datetime(2027, 1, 20, 9, tzinfo=dt.UTC)
    with session_scope(runtime.sessions) as session:
        assert remind_deadlines(session, now, 7) == 1
        assert remind_deadlines(session, now, 7) == 0
    assert feed_entries(runtime)[0].findtext(f"{ATOM}title", "").startswith("Date limite proche")

    with runtime.sessions() as session:
        data = export_procedure(session, "boamp:26-120001", now)
    assert data["procedure"]["title"].startswith("Construction du centre de rétention")
    assert [n["native_id"] for n in data["notices"]] == ["26-118204", "26-120001"]
    assert all(v["sha256_verified"] for n in data["notices"] for v in n["versions"])
    assert [e["type"] for e in data["events"]] == ["new", "deadline_moved", "deadline_soon"]

    with session_scope(runtime.sessions) as session:
        report = rematch(session, runtime.matcher, now)
    assert report.checked == 4 and report.events == 0  # same rules: nothing new

    env = runtime_env(runtime)
    out = runtime.settings.data_dir / "export.json"
    result = CliRunner(env=env).invoke(
        main, ["export", "--notice", "boamp:26-118204", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text("utf-8"))["events"]
    result = CliRunner(env=env).invoke(main, ["export", "--notice", "nope:1"])
    assert result.exit_code == 1 and "no notice 'nope:1'" in result.output
    result = CliRunner(env=env).invoke(main, ["rematch"])
    assert result.exit_code == 0, result.output
    assert "4 notices checked" in result.output


@pytest.mark.parametrize(
    ("same_wording", "fields"),
    [
        # The procedure's facts come from this portal: every field it changes is news.
        (True, ["deadline", "place"]),
        # They come from another portal: its own wording of the place is no news.
        (False, ["deadline"]),
    ],
)
def test_a_corrigendum_of_another_portal_is_compared_on_what_portals_state_alike(
    same_wording: bool, fields: list[str]
) -> None:
    procedure = {**SNAP, "place": "Loon-Plage (59279)"}
    corrigendum = {
        **SNAP,
        "notice_type": "corrigendum",
        "place": "Loon-Plage",
        "deadline": "2027-03-01T11:00:00+00:00",
    }
    outcome = linked_event(procedure, corrigendum, same_source=False, same_wording=same_wording)
    assert outcome is not None and outcome[0] == "deadline_moved"
    assert [c.field for c in outcome[1]] == fields
