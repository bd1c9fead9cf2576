"""The company rebuild after a round reads again only the award notices the round added or
changed (issue 29), and its result is the same as a full `watcher companies refresh`: the same
companies, contracts and totals, round after round, through real polls of BOAMP and DECP portals
(new awards, an amended one, a winner renamed, `companies.yaml` edited)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tests.loopback import LoopbackServer
from tests.test_companies import SIRET_NORD, SIRET_OTHER, Portals, decp_contract
from tests.test_timeline import award
from watcher.companies.resolve import Overrides
from watcher.companies.store import (
    Skipped,
    overrides_path,
    read_awards,
    read_overrides,
    refresh_companies,
    update_companies,
)
from watcher.db.models import Company, CompanyAwards, CompanyContract, Notice
from watcher.db.session import session_scope
from watcher.pipeline.cycle import after_polls
from watcher.pipeline.poll import run_sources, utcnow
from watcher.pipeline.runtime import Runtime
from watcher.web.company_listing import company_rows


def _state(session: Session) -> dict[str, Any]:
    """What a reader sees: companies by slug, their contracts, the listing's totals."""
    companies = {c.id: c for c in session.scalars(select(Company))}
    contracts = sorted(
        (
            companies[c.company_id].slug,
            c.notice_id,
            c.procedure_notice_id,
            c.name,
            json.dumps(c.identifiers, sort_keys=True),
            c.lot or "",
            c.amount or 0.0,
            c.currency or "",
            c.amount_kind,
            c.shared,
            c.role,
            str(c.awarded_on),
            c.site or "",
            c.relevant,
        )
        for c in session.scalars(select(CompanyContract))
    )
    return {
        "companies": {
            c.slug: (c.name, c.parent, c.identifiers, c.names, c.evidence, c.confidence)
            for c in companies.values()
        },
        "contracts": contracts,
        "totals": {r.slug: (r.contracts, r.subcontracts, r.totals) for r in company_rows(session)},
    }


def _ids(session: Session) -> tuple[list[Any], list[Any]]:
    companies = sorted(session.execute(select(Company.id, Company.slug)).tuples())
    contracts = sorted(session.execute(select(CompanyContract.id, CompanyContract.notice_id)))
    return companies, contracts


def _full(runtime: Runtime, *, wipe: bool = False) -> None:
    overrides = read_overrides(overrides_path(runtime.settings.sources))
    with session_scope(runtime.sessions) as session:
        if wipe:  # as the rebuild before issue 29: from nothing
            for table in (CompanyContract, Company, CompanyAwards):
                session.execute(delete(table))
        refresh_companies(session, overrides, utcnow())


def _assert_same_as_full_refresh(runtime: Runtime) -> dict[str, Any]:
    with runtime.sessions() as session:
        incremental, ids = _state(session), _ids(session)
    _full(runtime)
    with runtime.sessions() as session:
        # Nothing to correct: the same rows, even the same ids.
        assert _state(session) == incremental
        assert _ids(session) == ids
    _full(runtime, wipe=True)
    with runtime.sessions() as session:
        assert _state(session) == incremental
    return incremental


def _boamp_award(portals: Portals, idweb: str, winner: dict[str, str], amount: str) -> None:
    record = award(portals.boamp.records[0])
    record.update(idweb=idweb, id=idweb.replace("-", "_"), titulaire=[winner["denomination"]])
    donnees = json.loads(record["donnees"])
    donnees["MAPA"]["attribution"]["decision"] = {"titulaire": winner}
    donnees["MAPA"]["attribution"]["montant"] = {"valeur": amount}
    record["donnees"] = json.dumps(donnees)
    portals.boamp.records = [r for r in portals.boamp.records if r["idweb"] != idweb]
    portals.boamp.records.append(record)


def test_rounds_of_polls_give_what_a_full_refresh_gives(
    make_runtime: Callable[..., Runtime],
) -> None:
    portals = Portals()
    spie = {"denomination": "SPIE BATIGNOLLES NORD", "codeIdentificationNational": SIRET_NORD}
    with LoopbackServer(portals) as server:
        runtime = make_runtime(
            f"sources:\n  - name: boamp\n    kind: boamp\n    base_url: {server.url}\n"
            f"  - name: decp\n    kind: decp\n    base_url: {server.url}\n"
            f"    urls: [/decp/cra.json]\n"
        )
        sources = runtime.config.build()
        overrides = overrides_path(runtime.settings.sources)

        def round_of_polls() -> dict[str, Any]:
            results = run_sources(sources, runtime.context())
            assert all(r.ok for r in results), results
            after_polls(runtime, results)
            return _assert_same_as_full_refresh(runtime)

        # 1. No award yet; then an award on BOAMP and a contract on DECP (SIRET: one company).
        round_of_polls()
        _boamp_award(portals, "26-130001", spie, "36500000")
        portals.decp = [decp_contract("Spie Batignolles-Nord SAS", SIRET_NORD, "2027-0001")]
        state = round_of_polls()
        assert len(state["companies"]) == 1
        # 2. The award amended (another amount), a second company with a near name.
        _boamp_award(portals, "26-130001", spie, "38000000")
        portals.decp.append(decp_contract("SPIE BATIGNOLLES NORD", SIRET_OTHER, "2027-0002"))
        state = round_of_polls()
        assert len(state["companies"]) == 2
        assert 38e6 in {c[6] for c in state["contracts"]}
        assert 36.5e6 not in {c[6] for c in state["contracts"] if c[1] != c[2]}
        # 3. companies.yaml names the group; a third company; a winner renamed.
        overrides.write_text(
            "companies:\n  spie:\n    name: SPIE (groupe)\n"
            "  spie-batignolles-nord:\n    parent: spie\n",
            encoding="utf-8",
        )
        _boamp_award(portals, "26-130002", {"denomination": "GEPSA"}, "1200000")
        portals.decp[0] = decp_contract("SPIE Batignolles Nord (Lille)", SIRET_NORD, "2027-0001")
        state = round_of_polls()
        assert "spie" in state["companies"] and "gepsa" in state["companies"]
        # 4. The overrides removed (taken up at the next round with news): no group left.
        overrides.unlink()
        _boamp_award(portals, "26-130002", {"denomination": "GEPSA SA"}, "1250000")
        state = round_of_polls()
        assert "spie" not in state["companies"]
        # 5. A round with nothing new reads no award notice again.
        with session_scope(runtime.sessions) as session:
            assert read_awards(session, Skipped()) == 0


def test_only_the_notices_a_round_changed_are_read_again(
    make_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    portals = Portals()
    spie = {"denomination": "SPIE BATIGNOLLES NORD", "codeIdentificationNational": SIRET_NORD}
    with LoopbackServer(portals) as server:
        runtime = make_runtime(
            f"sources:\n  - name: boamp\n    kind: boamp\n    base_url: {server.url}\n"
        )
        sources = runtime.config.build()
        _boamp_award(portals, "26-130001", spie, "36500000")
        _boamp_award(portals, "26-130002", {"denomination": "GEPSA"}, "1200000")
        after_polls(runtime, run_sources(sources, runtime.context()))
        read: list[str] = []
        import watcher.companies.store as store  # noqa: PLC0415

        real = store.awards

        def counting(*args: Any) -> Any:
            read.append(args[4])
            return real(*args)

        monkeypatch.setattr(store, "awards", counting)
        _boamp_award(portals, "26-130002", {"denomination": "GEPSA SAS"}, "1300000")
        after_polls(runtime, run_sources(sources, runtime.context()))
    assert len(read) == 1  # the changed award notice only
    with session_scope(runtime.sessions) as session:
        assert refresh_companies(session, Overrides(), utcnow()) == 2
    assert len(read) == 3  # `watcher companies refresh` reads every one
    # A notice that is no longer an award notice: its winners are forgotten.
    with session_scope(runtime.sessions) as session:
        gepsa = session.scalars(select(Notice).where(Notice.native_id == "26-130002")).one()
        gepsa.notice_type = "notice"
    with session_scope(runtime.sessions) as session:
        assert update_companies(session, Overrides(), utcnow()) == 1
        assert session.get(CompanyAwards, gepsa.id) is None
    _assert_same_as_full_refresh(runtime)
