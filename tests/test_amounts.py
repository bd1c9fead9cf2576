"""Amounts and awards as the portal means them (issue 24), on the real payloads of
`tests/fixtures/real/` (expected values read from the payload, the portal field named), and the
failure modes in general: any winner repeated, any zero, any fixed-offset time in summer."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from tests.test_ocds import _validate_package
from tests.test_real_captures import SPECS, parse
from watcher.companies.extract import awards
from watcher.companies.resolve import Overrides
from watcher.companies.store import Skipped, refresh_companies
from watcher.core import places, values
from watcher.core.normalize import format_value, snapshot
from watcher.core.phases import label, phase_of
from watcher.db.models import Company, CompanyContract, Notice, SourceState
from watcher.db.session import session_scope
from watcher.db.store import PollStore
from watcher.pipeline.ocds import _value, package, roots
from watcher.pipeline.runtime import Runtime
from watcher.records import NoticeRecord, RawPage, RunResult
from watcher.sources.boamp import parse_record

NOW = dt.datetime(2026, 12, 5, 8, tzinfo=dt.UTC)


def eforms() -> dict[str, NoticeRecord]:
    return {n.native_id: n for n in parse(SPECS["eforms_xml_as_boamp_records"])}


def store(runtime: Runtime, kind: str, records: list[NoticeRecord]) -> None:
    with session_scope(runtime.sessions) as session:
        state = SourceState(name=kind, kind=kind, consecutive_failures=0)
        session.add(state)
        session.flush()
        poll = PollStore(session, state, runtime.matcher, NOW, RunResult(source=kind))
        poll.add_page(RawPage(url=f"https://{kind}.example/", content=b""), records)
        poll.finish()


# --- row 1: eForms clos-nw is no award ------------------------------------------------------


def test_clos_nw_is_unsuccessful_never_an_award() -> None:
    # 524889-2023: efac:LotResult/cbc:TenderResultCode "clos-nw", no efac:LotTender, and
    # cbc:EstimatedOverallContractAmount 439000 EUR.
    notice = eforms()["524889-2023"]
    snap = snapshot(notice)
    assert notice.outcome == "unsuccessful" and notice.winners == ()
    assert phase_of("boamp", notice.notice_type, snap, notice.raw) == "tenderCancellation"
    assert label("tenderCancellation", "fr", snap["outcome"]) == (
        "Procédure infructueuse — aucun titulaire"
    )
    assert label("tenderCancellation", "en", snap["outcome"]) == (
        "Unsuccessful — no contract awarded"
    )
    shown = values.shown(snap) or ""
    assert shown.startswith("Estimation 439 000 €") and "attribué" not in shown
    assert awards("boamp", "award", snap, notice.raw, "1") == []


def test_unsuccessful_award_is_ocds_unsuccessful(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime("sources: []\n")
    found = eforms()
    store(runtime, "boamp", [found["524889-2023"], found["607986-2024"], found["611835-2024"]])
    with runtime.sessions() as session:
        data = package(session, roots(session, relevant_only=False), NOW)
        _validate_package(data)  # the record-package schema too: `packages` is not empty
        assert data["packages"]
        by_ref = {
            r["releases"][0]["tender"]["identifiers"][0]["id"]: r["compiledRelease"]
            for r in data["records"]
        }
    for ref in ("boamp:524889-2023", "boamp:607986-2024"):
        compiled = by_ref[ref]
        assert compiled["tender"]["status"] == "unsuccessful"
        assert [a["status"] for a in compiled["awards"]] == ["unsuccessful"]
        assert all("value" not in a and not a.get("suppliers") for a in compiled["awards"])
    assert by_ref["boamp:611835-2024"]["awards"][0]["status"] == "active"


# --- row 2: one winner named twice ----------------------------------------------------------


def test_refresh_with_winners_named_twice_real_eforms(
    make_runtime: Callable[..., Runtime],
) -> None:
    # 215550-2024: TPA-0004 (Astrazeneca Kft., ORG-0003) wins all 6 lots, ORG-0004 (NEUCA S.A.)
    # is its efac:SubContractor; 611835-2024: one winner for several lots.
    runtime = make_runtime("sources: []\n")
    found = eforms()
    store(runtime, "boamp", [found["215550-2024"], found["611835-2024"], found["525037-2024"]])
    with session_scope(runtime.sessions) as session:
        count = refresh_companies(session, Overrides(), NOW)
    with runtime.sessions() as session:
        contracts = session.scalars(select(CompanyContract)).all()
        names = {c.name: c.role for c in contracts}
        assert count == len(session.scalars(select(Company)).all()) > 0
    assert names["Astrazeneca Kft."] == "winner"
    assert names["NEUCA S.A."] == "subcontractor"
    astra = [c for c in contracts if c.name == "Astrazeneca Kft."]
    # one contract per lot, each with its cac:LegalMonetaryTotal/cbc:PayableAmount (PLN)
    assert sorted(c.amount or 0 for c in astra) == [
        5797.2,
        172447.8,
        2144443.98,
        3061342.5,
        4165928.0,
        4993456.0,
    ]
    assert {c.currency for c in astra} == {"PLN"}
    assert all(c.amount is None for c in contracts if c.role == "subcontractor")


def test_any_winner_repeated_and_a_failing_notice_never_stop_the_rebuild(
    make_runtime: Callable[..., Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    runtime = make_runtime("sources: []\n")
    lots = [{"number": str(n), "winners": ["ACME SARL"], "value": 1000.0 * n} for n in (1, 2, 3)]
    twice = NoticeRecord(
        native_id="twice",
        title="Lots 1 à 3",
        notice_type="award",
        winners=("ACME SARL", "ACME SARL", "Other SAS"),
    )
    store(runtime, "boamp", [twice])
    with session_scope(runtime.sessions) as session:
        notice = session.scalars(select(Notice)).one()
        notice.snapshot = {**notice.snapshot, "lots": lots}
        broken = Notice(
            source_id=notice.source_id,
            native_id="broken",
            title="x",
            notice_type="award",
            snapshot={"winners": 5},  # not a list: reading its winners fails
            content_hash="0" * 64,
            first_seen_at=NOW,
            last_seen_at=NOW,
        )
        session.add(broken)
    skipped = Skipped()
    with caplog.at_level(logging.WARNING), session_scope(runtime.sessions) as session:
        count = refresh_companies(session, Overrides(), NOW, skipped)
    with runtime.sessions() as session:
        contracts = session.scalars(select(CompanyContract)).all()
    assert count >= 2
    assert sorted(c.amount for c in contracts if c.name == "ACME SARL") == [1000, 2000, 3000]
    # the notice that cannot be read is skipped, counted and named; the others are rebuilt
    assert len(skipped.notices) == 1 and "broken" in skipped.notices[0]
    assert "broken" in caplog.text and "1 notice(s) skipped" in skipped.line()


# --- row 3: a zero is not stated ------------------------------------------------------------


@pytest.mark.parametrize("zero", [0, 0.0, -0.0])
@pytest.mark.parametrize("currency", ["EUR", "GBP", None])
def test_any_zero_is_not_stated(zero: float, currency: str | None) -> None:
    assert values.amount("awarded", zero, currency) is None
    assert format_value(zero, currency) is None
    assert _value(zero, currency) is None
    record = NoticeRecord(native_id="z", title="t", value=zero, currency=currency)
    snap = snapshot(record)
    assert snap["value"] is None and values.shown(snap) is None
    assert "amounts" not in snap  # no spurious key on a notice that states no amount


def test_real_zeros_are_not_stated() -> None:
    # DECP 2022 D2F0000402 `montant` 0.0; FNSimple 26-7319 lots `estimationValeur` "0.00";
    # Contracts Finder award 66d02159…-819851 awards[0].value.amount 0 (tender.value 2 000 000).
    decp = {n.native_id: n for n in parse(SPECS["decp_2022format_flux_maximilien"])}
    assert values.shown(snapshot(decp["13001845000028:D2F0000402"])) is None
    boamp = {n.native_id: n for n in parse(SPECS["boamp_v21_fnsimple_2026-01-21_5records"])}
    assert [lot.value for lot in boamp["26-7319"].lots] == [None, None]
    cf = {n.native_id: n for n in parse(SPECS["cf_ocds_search_page_2025-01-23_100releases"])}
    shown = values.shown(snapshot(cf["66d02159-fd3d-48e1-8b4d-5ba844a388aa-819851"])) or ""
    assert shown == "Fourchette 500 000 – 2 000 000 £"  # tender.minValue .. tender.value


# --- row 4: kinds of value with their labels -----------------------------------------------


def test_kinds_of_value_have_their_labels() -> None:
    range_ = {"kind": "range", "amount": 75000, "low": 1, "currency": "EUR", "tax": "HT"}
    assert values.describe(range_) == "Fourchette 1 – 75 000 € HT"
    assert values.describe({"kind": "maximum", "amount": 2e6, "per": "year"}) == (
        "Maximum annuel 2 000 000 €"
    )
    assert values.describe({"kind": "awarded", "amount": 12000, "currency": "GBP"}, "en") == (
        "Amount awarded 12 000 £"
    )
    assert values.describe({"kind": "contract", "amount": 5}) == "Valeur du marché 5 €"
    assert values.describe({"kind": "amended", "amount": 5}) == "Valeur après avenant 5 €"
    assert values.describe({"kind": "estimate", "amount": 5}, "en") == "Estimate 5 €"


# --- row 5: a fixed +01:00 in summer --------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "utc"),
    [
        ("2015-04-20T12:00:00+01:00", "2015-04-20T10:00:00+00:00"),  # summer: Paris is +02:00
        ("2015-07-14T09:30:00+01:00", "2015-07-14T07:30:00+00:00"),
        ("2015-01-20T12:00:00+01:00", "2015-01-20T11:00:00+00:00"),  # winter: the same
    ],
)
def test_any_v230_fixed_offset_is_paris_wall_clock(written: str, utc: str) -> None:
    donnees = {"OBJET": {"TITRE_MARCHE": "t"}, "CONDITION_DELAI": {"RECEPT_OFFRES": written}}
    record: dict[str, Any] = {"idweb": "15-1", "donnees": json.dumps(donnees)}
    notice = parse_record(record)
    assert notice is not None and notice.deadline is not None
    assert notice.deadline.isoformat() == utc
    assert notice.deadline_local == written[:16] and notice.deadline_zone == "Europe/Paris"
    # The top-level datelimitereponse of a V230 record is the UTC of that fixed +01:00.
    fixed = dt.datetime.fromisoformat(written).astimezone(dt.UTC).isoformat()
    top = parse_record({"idweb": "15-2", "datelimitereponse": fixed, "donnees": '{"OBJET": {}}'})
    assert top is not None and top.deadline is not None
    assert top.deadline.isoformat() == utc


# --- rows 6, 8, 10, 11, 13 on the real files ------------------------------------------------


def test_real_decp_amended_value_subcontractor_and_test_records() -> None:
    decp = {n.native_id: n for n in parse(SPECS["decp_2022format_flux_maximilien"])}
    amended = decp["13001845000028:D2F0000502"]  # montant 30000.0, modification montant 50.0
    assert amended.value == 50.0
    assert {(a.kind, a.amount) for a in amended.amounts} == {
        ("contract", 30000.0),
        ("amended", 50.0),
    }
    # actesSousTraitance[0].acteSousTraitance.sousTraitant SIRET 44090956244090
    assert decp["13001845000028:D2F2019S0000102"].subcontractors == ("SIRET 44090956244090",)
    full = parse(SPECS["decp_aife_2019_full"])
    tests = [n for n in full if any("test record" in f for f in n.flags)]
    # objet "Le marche du siecle" / "Le marche noir", titulaire "Nonna et Nonno", CPV 12345678
    assert tests and all(not n.winners and n.value is None for n in tests)
    assert not [n for n in full if "Nonna et Nonno" in n.winners]
    # Every record of the test buyer (acheteur.nom "Essentiel") is one, whatever its CPV
    # (12345678, 22222222, 12345555) or its winners ("ADS Noumea Technic", "BRAZIL VALMOTORES").
    essentiel = [n for n in full if n.buyer == "Essentiel"]
    assert len(essentiel) == 20
    assert len(tests) == 23  # with three concessions of the test authority
    assert all(any("test record" in f for f in n.flags) for n in essentiel)


def test_real_boamp_references_link_a_place_consultation() -> None:
    boamp = {n.native_id: n for n in parse(SPECS["boamp_v21_fnsimple_2026-01-21_5records"])}
    # 26-7113 urlProfilAch …marches-publics.gouv.fr/?…&id=2920347&orgAcronyme=g6l and
    # identifiantInterne "2025SGAMI57045": the reference PLACE gives the consultation.
    assert boamp["26-7113"].procedure_id == "2025SGAMI57045"
    # 26-7109 (identifiantInterne "2026-01-01", no PLACE link): no such identifier.
    assert boamp["26-7109"].procedure_id is None


def test_real_eforms_buyer_in_french_and_subcontractor() -> None:
    found = eforms()
    assert found["524889-2023"].buyer == "Centre commun de recherche"  # languageID FRA
    assert found["215550-2024"].subcontractors == ("NEUCA S.A.",)


def test_main_cpv_is_kept_first() -> None:
    record = NoticeRecord(native_id="c", title="t", cpv=("79710000", "45000000"))
    snap = snapshot(record)
    assert snap["cpv_main"] == "79710000" and snap["cpv"] == ["45000000", "79710000"]


@pytest.mark.parametrize(
    ("place", "expected"),
    [
        ("GUADELOUPE", ["971"]),  # samples/real Maximilien a2x:895296
        ("Les Abymes, Guadeloupe", ["971"]),
        ("MARTINIQUE", ["972"]),
        ("Guyane française", ["973"]),
        ("La Réunion", ["974"]),
        ("Mayotte", ["976"]),
        ("Nord", []),  # a metropolitan name alone stays unread (a town is often named so)
    ],
)
def test_an_overseas_departement_named_alone_is_read(place: str, expected: list[str]) -> None:
    assert places.in_text(place) == expected


def test_an_unsuccessful_award_is_told_as_such_in_events_feeds_and_mails(
    make_runtime: Callable[..., Runtime],
) -> None:
    """A call for tenders, then its award notice closed without a winner (the real 524889-2023,
    `clos-nw`, its `cbc:ContractFolderID` shared): the event says "Procédure infructueuse —
    aucun titulaire", never "Marché attribué", and its estimate is shown as an estimate."""
    runtime = make_runtime("sources: []\n")
    can = eforms()["524889-2023"]
    tender = NoticeRecord(
        native_id="call-1",
        title="Nettoyage du centre de rétention administrative de Metz",
        buyer=can.buyer,
        notice_type="notice",
        deadline=dt.datetime(2026, 12, 20, 11, tzinfo=dt.UTC),
        value=439000.0,
        currency="EUR",
        procedure_id=can.procedure_id,
        departments=("57",),
    )
    store(runtime, "boamp", [tender])
    with session_scope(runtime.sessions) as session:
        state = session.scalars(select(SourceState)).one()
        poll = PollStore(session, state, runtime.matcher, NOW, RunResult(source="boamp"))
        poll.add_page(RawPage(url="https://boamp.example/2", content=b""), [can])
        poll.finish()
    from watcher.db.models import Event  # noqa: PLC0415
    from watcher.notify.render import alert_item  # noqa: PLC0415

    with runtime.sessions() as session:
        events = session.scalars(select(Event).order_by(Event.id)).all()
        # No "missing fields" question either: an unsuccessful award has no winner to name.
        assert [e.type for e in events] == ["new", "cancelled"]
        for lang, words in (
            ("fr", "Procédure infructueuse — aucun titulaire"),
            ("en", "Unsuccessful — no contract awarded"),
        ):
            item = alert_item(events[-1], lang, "https://watcher.example")
            assert item.entry.title.startswith(words)
            assert "attribué" not in item.entry.title and "awarded :" not in item.entry.title
            # the call's estimate stays an estimate, never an amount awarded
            assert "attribué" not in item.body_text and "awarded 439" not in item.body_text
            assert ("Estimation 439 000 €" if lang == "fr" else "Estimate 439 000 €") in (
                item.body_text
            )
        notice = session.scalars(select(Notice).where(Notice.native_id == "524889-2023")).one()
        assert notice.phase == "tenderCancellation"


def test_ocds_tender_range_and_audit_counters(make_runtime: Callable[..., Runtime]) -> None:
    # FNSimple 26-7308: valeurEstimee.fourchette valeurBasse "1", valeurHaute "75000" (@devise
    # EUR); 26-7319: lots estimationValeur "0.00"; eForms 524889-2023: clos-nw; 215550-2024:
    # efac:SubContractor.
    from watcher.core.audit import audit  # noqa: PLC0415

    runtime = make_runtime("sources: []\n")
    boamp = {n.native_id: n for n in parse(SPECS["boamp_v21_fnsimple_2026-01-21_5records"])}
    found = eforms()
    store(runtime, "boamp", [boamp["26-7308"], boamp["26-7319"], found["524889-2023"]])
    with runtime.sessions() as session:
        data = package(session, roots(session, relevant_only=False), NOW)
        _validate_package(data)
        tenders = [r["compiledRelease"]["tender"] for r in data["records"]]
    [ranged] = [t for t in tenders if "minValue" in t]
    assert ranged["minValue"] == {"amount": 1.0, "currency": "EUR"}
    assert ranged["value"] == {"amount": 75000.0, "currency": "EUR"}
    assert all((t.get("value") or {}).get("amount") != 0 for t in tenders)  # never {"amount": 0.0}
    old_zero = {"value": 0.0, "currency": "GBP", "notice_type": "award"}  # stored before
    counted = audit(
        "x",
        [
            (snapshot(found["524889-2023"]), found["524889-2023"].raw),
            (snapshot(found["215550-2024"]), found["215550-2024"].raw),
            ({**snapshot(found["215550-2024"]), "subcontractors": []}, found["215550-2024"].raw),
            (old_zero, None),
        ],
    )
    assert counted.unsuccessful == 1
    assert counted.zero_shown == 1
    assert counted.unread_subcontractors == 1
    assert "unsuccessful awards (no winner): 1" in "\n".join(counted.lines())


def test_real_decp_repeated_id_keeps_every_versions_winners() -> None:
    # AIFE 2019 file: id 2018bMSc9pLWfL00 (acheteur.id 51825697900015) given twice,
    # titulaires[0].denominationSociale "SMACL Assurances" in one record, "SMACL" in the other.
    full = {n.native_id: n for n in parse(SPECS["decp_aife_2019_full"])}
    notice = full["51825697900015:2018bMSc9pLWfL00"]
    assert set(notice.winners) == {"SMACL Assurances", "SMACL"}
    assert "2 versions of contract 2018bMSc9pLWfL00 in the file" in notice.flags


def test_subcontractors_are_kept_apart_from_winners_in_totals(
    make_runtime: Callable[..., Runtime],
) -> None:
    # 215550-2024: Astrazeneca Kft. wins 6 lots (PLN), NEUCA S.A. is its efac:SubContractor.
    from watcher.web.company_listing import amount_text, company_rows  # noqa: PLC0415

    runtime = make_runtime("sources: []\n")
    store(runtime, "boamp", [eforms()["215550-2024"]])
    with session_scope(runtime.sessions) as session:
        for notice in session.scalars(select(Notice)):
            notice.relevant = True  # as if at a detention site: the listing shows only those
    with session_scope(runtime.sessions) as session:
        refresh_companies(session, Overrides(), NOW)
    with runtime.sessions() as session:
        rows = {row.name: row for row in company_rows(session)}
    neuca, astra = rows["NEUCA S.A."], rows["Astrazeneca Kft."]
    assert (neuca.contracts, neuca.subcontracts, neuca.totals) == (0, 1, {})
    assert astra.subcontracts == 0 and astra.contracts == 6
    assert astra.totals == {("PLN", "award_value"): pytest.approx(14543415.48)}
    assert amount_text(None, None, "subcontract", "fr") == "— (sous-traitance)"
    assert neuca.as_json()["subcontracts"] == 1


def test_eforms_says_whether_it_is_a_framework() -> None:
    # cbc:ContractingSystemTypeCode listName "framework-agreement": "none" in 215550-2024 (an
    # award value, though the payload holds the word), "fa-wo-rc" in 522031-2023 (a framework).
    found = eforms()
    kinds = {
        ref: {a.amount_kind for a in awards("boamp", "award", snapshot(n), n.raw, ref)}
        for ref, n in found.items()
        if ref in {"215550-2024", "522031-2023"}
    }
    assert kinds == {
        "215550-2024": {"award_value", "subcontract"},
        "522031-2023": {"framework_maximum"},
    }
