"""Issue 12: every source kind's notices have a phase (an OCDS release tag), and a contract
modification tells its new amount and end date."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from tests.test_linking import _poll
from watcher.core.amendments import contract_changes, contract_terms
from watcher.core.phases import PHASES, phase_of, related_procedures, stage, version_phase
from watcher.db.models import Event
from watcher.pipeline.runtime import Runtime
from watcher.sources.decp import _record as decp_record


@pytest.mark.parametrize(
    ("kind", "notice_type", "snap", "raw", "expected"),
    [
        ("boamp", "prior_information", {}, "", "planning"),
        ("boamp", "notice", {}, "", "tender"),
        ("boamp", "corrigendum", {}, "", "tenderAmendment"),
        ("boamp", "award", {}, "", "award"),
        ("boamp", "award", {"title": "Procédure déclarée sans suite"}, "", "tenderCancellation"),
        ("boamp", "corrigendum", {"description": "Lot 2 infructueux"}, "", "tenderCancellation"),
        ("boamp", "cancellation", {}, "", "tenderCancellation"),
        ("ted", "corrigendum", {}, '{"notice-type": "can-modif"}', "contractAmendment"),
        ("ted", "award", {}, '{"notice-type": "can-standard"}', "award"),
        ("ted", "prior_information", {}, '{"notice-type": "pin-only"}', "planning"),
        ("decp", "award", {}, '{"id": "1", "modifications": []}', "contract"),
        ("decp", "award", {}, '{"id": "1", "modifications": [{"montant": 2}]}', "contractAmendment"),
        ("find_a_tender", "notice", {}, '{"tag": ["tenderUpdate"]}', "tenderUpdate"),
        ("find_a_tender", "award", {}, '{"tag": ["award"]}', "award"),
        ("contracts_finder", "notice", {}, '{"tag": ["tender"], "tender": {"status": "cancelled"}}', "tenderCancellation"),
        ("contracts_finder", "notice", {}, '{"tag": ["compiled", "planning"]}', "planning"),
        ("place", "notice", {}, "<html>", "tender"),
        ("html", "notice", {}, "", "tender"),
        ("feed", "award", {}, "", "award"),
    ],
)  # fmt: skip
def test_phase_of_every_kind(
    kind: str, notice_type: str, snap: dict[str, Any], raw: str, expected: str
) -> None:
    assert phase_of(kind, notice_type, snap, raw) == expected
    assert expected in PHASES


def test_versions_and_stages() -> None:
    assert version_phase("tender", 1) == "tender"
    assert version_phase("tender", 2) == "tenderUpdate"
    assert version_phase("award", 3) == "awardUpdate"
    assert version_phase("tenderAmendment", 2) == "tenderAmendment"
    assert [stage(p) for p in ("tenderAmendment", "awardUpdate", "contractAmendment")] == [
        "tender",
        "award",
        "contract",
    ]


def test_related_processes_are_read_for_ocds_kinds_only() -> None:
    raw = json.dumps(
        {"relatedProcesses": [{"identifier": "ocds-b5fd17-1", "scheme": "ocid"}, {"id": "x"}]}
    )
    assert related_procedures("find_a_tender", raw) == ("ocds-b5fd17-1",)
    assert related_procedures("boamp", raw) == ()
    assert related_procedures("contracts_finder", "not json") == ()


CONTRACT: dict[str, Any] = {
    "id": "2026-SGAMI-N-042",
    "acheteur": {"id": "13000000000017", "nom": "SGAMI Nord"},
    "objet": "Restauration des personnes retenues au CRA de Lesquin",
    "codeCPV": "55321000",
    "montant": 1200000,
    "dureeMois": 36,
    "dateNotification": "2026-01-15",
    "datePublicationDonnees": "2026-02-01",
    "titulaires": [{"id": "1", "denominationSociale": "API Restauration"}],
    "modifications": [],
}


def test_contract_terms_after_modifications() -> None:
    modified = copy.deepcopy(CONTRACT)
    modified["modifications"] = [{"modification": {"montant": 1310000, "dureeMois": 48}}]
    assert contract_terms(json.dumps(CONTRACT)) == {
        "value": 1200000.0,
        "months": 36.0,
        "end": "2029-01-15",
    }
    changes = contract_changes(json.dumps(CONTRACT), json.dumps(modified))
    assert [c.describe() for c in changes] == [
        "Montant : 1 200 000 € → 1 310 000 €",
        "Fin prévue du marché : 15/01/2029 → 15/01/2030",
    ]
    assert contract_changes("", "not json") == []


def test_a_contract_modification_is_announced_with_its_new_amount_and_end(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime("sources: []\n")
    url = "https://www.data.gouv.fr/fr/datasets/r/decp.json"
    first = decp_record([CONTRACT], url)
    modified = copy.deepcopy(CONTRACT)
    modified["modifications"] = [
        {"objetModification": "Ajout de repas", "montant": 1310000, "dureeMois": 48}
    ]
    second = decp_record([modified], url)
    assert first and second
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    _poll(runtime, "decp", "decp", [first], now)
    result = _poll(runtime, "decp", "decp", [second], now + dt.timedelta(days=1))
    assert result.changed == 1
    with runtime.sessions() as session:
        events = session.scalars(select(Event).order_by(Event.id)).all()
    # The questions the contract raises (issue 28) are told apart, once each.
    asked = [e.detail["question"] for e in events if e.type == "question_raised"]
    assert len(asked) == len(set(asked))
    events = [e for e in events if e.type != "question_raised"]
    assert [e.type for e in events] == ["new", "contract_modified"]
    assert events[-1].type == "contract_modified"
    lines = [f"{c['label']} : {c['old']} → {c['new']}" for c in events[-1].changes]
    assert lines[:2] == [
        "Montant : 1 200 000 € → 1 310 000 €",
        "Fin prévue du marché : 15/01/2029 → 15/01/2030",
    ]
