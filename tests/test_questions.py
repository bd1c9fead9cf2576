"""Questions to ask (issue 28): golden counts on the real DECP files, contracts checked by hand,
the received-tenders figures of the real eForms notices, and each question on its own."""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.test_real_captures import load
from watcher.core import questions
from watcher.core.facts import procedure_type
from watcher.core.incumbency import incumbency
from watcher.core.normalize import snapshot
from watcher.records import NoticeRecord, RawPage
from watcher.sources.boamp import page_records, parse_record
from watcher.sources.decp import DecpSource

EFORMS = Path(__file__).parent / "fixtures" / "eforms_xml"
NS = {
    "efac": "http://data.europa.eu/p27/eforms-ubl-extension-aggregate-components/1",
    "efbc": "http://data.europa.eu/p27/eforms-ubl-extension-basic-components/1",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}


def decp(name: str) -> list[NoticeRecord]:
    config = DecpSource.Config(name="decp", kind="decp", urls=["https://example.invalid/x"])
    return list(
        DecpSource(config).parse(RawPage(url="https://example.invalid/x", content=load(name)))
    )


def procedure(record: NoticeRecord) -> dict[str, Any]:
    """A one-notice procedure, as a DECP contract is."""
    return {
        "id": record.native_id,
        "notices": [snapshot(record) | {"id": record.native_id, "kind": "decp"}],
    }


@pytest.fixture(scope="module")
def aife() -> dict[str, list[questions.Question]]:
    return {r.native_id: questions.ask(procedure(r)) for r in decp("decp_aife_2019_full.json.zip")}


def counts(asked: dict[str, list[questions.Question]]) -> dict[str, int]:
    return dict(collections.Counter(q.code for qs in asked.values() for q in qs))


def test_the_whole_aife_file_raises_these_questions(
    aife: dict[str, list[questions.Question]],
) -> None:
    """4,270 contracts; the 2019 format has no `offresRecues`, so no single-offer question."""
    assert len(aife) == 4270
    assert counts(aife) == {
        "award_without_call": 3474,
        "missing_fields": 3938,
        "no_publicity": 138,
        "late_data": 11,
        "value_growth": 10,
        "duration_extension": 10,
    }


def _one(asked: dict[str, list[questions.Question]], ident: str, code: str) -> questions.Question:
    return next(q for q in asked[ident] if q.code == code)


def test_three_aife_contracts_per_question_checked_by_hand(
    aife: dict[str, list[questions.Question]],
) -> None:
    # `procedure` "Marché public négocié sans publicité ni mise en concurrence préalable",
    # Mairie de Fos sur Mer, `montant` 122748 / 262054.6 / 11578.
    for ident in ("2018jAiR9ay9k100", "20184xIcHNKG4a00", "2018h36s4gnILo00"):
        q = _one(aife, f"21130039700018:{ident}", "no_publicity")
        assert q.figures["procedure_type"] == "negotiated_without_publicity"
    # `dateNotification` / the first `datePublicationDonnees` of the contract's records.
    late = {
        "51746592800011:2018XghctIvbGY00": 106,  # 2018-12-17 → 2019-04-02 (CPAM du Rhône)
        "28180013600018:201829bFCXq1AS00": 103,  # 2018-12-21 → 2019-04-03 (SDIS 18 Cher)
        "21680297500013:2018k0IibbJzzB00": 77,  # 2018-12-27 → 2019-03-14 (Ville de Saint-Louis)
    }
    for ident, days in late.items():
        assert _one(aife, ident, "late_data").figures["days"] == days
    # 2018iUQ7ABqV3200: notified 2019-01-17, first published 2019-01-22, again 2019-04-01: on time.
    assert not [q for q in aife["21974002400019:2018iUQ7ABqV3200"] if q.code == "late_data"]
    # Every amendment of the file is in the AIFE's own test records (buyer "Essentiel"):
    # `montant` 123456.78 → `modifications[0].montant` 987654.32, `dureeMois` 8 → 10.
    growth = _one(aife, "80128543800017:2018123456789100", "value_growth")
    assert growth.figures == {"awarded": 123456.78, "amended": 987654.32, "percent": 700.0}
    # `montant` 7789456.56 → 9876543 (+26.8 %), `dureeMois` 8 → 10.
    for ident in ("61777424406581:7205378201355733", "26059318999697:8643506567323079"):
        assert _one(aife, ident, "value_growth").figures["percent"] == 26.8
        assert _one(aife, ident, "duration_extension").figures == {
            "awarded_months": 8,
            "amended_months": 10,
        }
    # `montant` 123456.22 → 123456.33 (+0.0001 %: no question), `dureeMois` 2 → 3.
    assert [q.code for q in aife["35084735885911:2018123456789100"]].count("value_growth") == 0
    assert (
        _one(aife, "35084735885911:2018123456789100", "duration_extension").figures[
            "amended_months"
        ]
        == 3
    )
    # Open calls of 26 130 € and 27 605 € (above 25 000 € in 2018) and a MAPA of 110 000 €,
    # no `dateNotification`, no `datePublicationDonnees`, no call seen.
    for ident in (
        "83455372900015:2018COs68fWklM00",
        "83455372900015:2018HpeYnlSAGW00",
        "21974004000015:2018_TPLyTsQ2000",
    ):
        assert _one(aife, ident, "award_without_call")
        assert _one(aife, ident, "missing_fields").figures["missing"] == [
            "notified",
            "data_published",
        ]


def test_incumbency_over_a_buyers_contracts_in_the_aife_file() -> None:
    """A DECP file has contracts, not sites: grouped here by buyer, CPV and place as a stand-in
    for "a site's procedures", dated by `dateNotification`. Checked by hand: SIDES SERVICE holds
    the SDIS 90's two fire-engine refits (notified 2018-11-26 and 2019-01-08); ERNST & YOUNG two
    of Ports de Normandie's legal-advice contracts in a row (2019-01-22, 2019-02-08; JURIADIS,
    2019-01-21, comes before); Securitas holds lots 2, 3 and 4 of the École des Mines' guarding
    (2019-03-27, -27, -29): lots of one procedure notified on two days, which the stand-in
    grouping cannot tell from a succession. "SANS SUITE", written as a winner by the Mairie de
    Saint-Maur-des-Fossés, is not a company."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = collections.defaultdict(list)
    for r in decp("decp_aife_2019_full.json.zip"):
        groups[(r.buyer, r.cpv[:1], r.place)].append(procedure(r))
    found = {
        (key[0], q.figures["company"]): q.figures["procedures"]
        for key, procedures in groups.items()
        for q in incumbency(procedures)
    }
    assert len(found) == 12
    assert found[("SDIS 90 Territoire de Belfort", "SIDES SERVICE")] == 2
    assert found[("Ports de Normandie", "ERNST & YOUNG")] == 2
    assert found[("Ecole des Mines de Paris", "Securitas France SARL")] == 3
    assert not [company for _, company in found if company == "SANS SUITE"]
    # GROUPAMA's four insurance contracts of Inter Caux Vexin have no date: not placed in time.
    assert not [key for key in found if "Inter Caux Vexin" in key[0]]


def test_the_2022_flux_file_raises_these_questions() -> None:
    """4 records of GIP Maximilien, notified in 2018-2019, data published 2024-10-06."""
    asked = {
        r.native_id: questions.ask(procedure(r))
        for r in decp("decp_2022format_flux_maximilien.json")
    }
    assert counts(asked) == {"late_data": 4, "missing_fields": 2, "award_without_call": 2}
    late = _one(asked, "13001845000028:D2F0000402", "late_data")  # 2019-06-07 → 2024-10-06
    assert late.figures["days"] == 1948


def test_the_received_tenders_of_the_real_eforms_awards() -> None:
    """BT-759 counted as every tender only when BT-760 says `tenders`; the XML is the reference."""
    expected: dict[str, dict[str, int]] = {}
    for path in sorted(EFORMS.glob("*.xml.gz")):
        root = ET.fromstring(gzip.decompress(path.read_bytes()))
        # package_can_v1.8__2024-OJS197-00607986.xml.gz → 607986-2024
        year, rest = path.name.split("__")[1].split("-OJS")
        number = f"{rest[4:].split('.')[0].lstrip('0')}-{year}"
        lots: dict[str, int] = {}
        for result in root.iterfind(".//efac:NoticeResult/efac:LotResult", NS):
            lot = result.findtext("efac:TenderLot/cbc:ID", "", NS)
            for stats in result.iterfind("efac:ReceivedSubmissionsStatistics", NS):
                if stats.findtext("efbc:StatisticsCode", "", NS) == "tenders":
                    lots[lot] = int(stats.findtext("efbc:StatisticsNumeric", "", NS))
        expected[number] = lots
    assert expected["607986-2024"] == {"LOT-0001": 3}  # BT-760 `tenders`, BT-759 3
    assert sum(bool(lots) for lots in expected.values()) == 1  # t-sme, t-esubm or no code else
    read = {}
    for record in page_records(
        gzip.decompress((EFORMS / "eforms_xml_as_boamp_records.json.gz").read_bytes())
    ):
        notice = parse_record(record)
        assert notice is not None
        read[notice.native_id] = dict(notice.tenders_by_lot)
        if notice.native_id == "607986-2024":
            assert notice.tenders_received == 3
    assert read == expected


@pytest.mark.parametrize(
    ("label", "method", "kind"),
    [
        ("Procédure adaptée", None, "adapted"),
        (
            "Marché public négocié sans publicité ni mise en concurrence préalable",
            None,
            "negotiated_without_publicity",
        ),
        (
            "Proc\ufffddure n\ufffdgoci\ufffde avec mise en concurrence pr\ufffdalable",
            None,
            "negotiated_with_publicity",
        ),
        ("Procédure non négociée ouverte", None, "open"),
        ("neg-wo-call", None, "negotiated_without_publicity"),
        ("Single tender action (below threshold)", "limited", "negotiated_without_publicity"),
        ("Call-off from a framework agreement", "selective", "other"),
        ("Not specified", "open", "open"),
        ("Procédure NC", None, None),
        (None, None, None),
    ],
)
def test_procedure_types_from_each_portals_wording(
    label: str | None, method: str | None, kind: str | None
) -> None:
    assert procedure_type(label, method=method) == kind


def test_a_notice_without_the_new_facts_has_no_new_snapshot_key() -> None:
    """A notice stored before issue 28 shows no spurious change."""
    keys = set(snapshot(NoticeRecord(native_id="1", title="t")))
    assert not keys & {
        "tenders_received",
        "procedure_type",
        "notified",
        "modifications",
        "duration_months",
        "outcome",
    }
    stated = snapshot(
        NoticeRecord(native_id="1", title="t", tenders_received=1, outcome="unsuccessful")
    )
    assert (stated["tenders_received"], stated["outcome"]) == (1, "unsuccessful")


def notice(**fields: Any) -> dict[str, Any]:
    return {"id": fields.pop("id", "n1"), "notice_type": "award", "currency": "EUR"} | fields


def codes(*notices: dict[str, Any]) -> list[str]:
    return [q.code for q in questions.ask({"id": "p", "notices": list(notices)})]


def test_a_short_submission_period_counts_from_the_first_call_to_the_last_deadline() -> None:
    call = notice(
        id="c",
        notice_type="notice",
        published="2026-03-02",
        deadline="2026-03-20T11:00:00+00:00",
        procedure_type="open",
    )
    assert "short_submission" in codes(call)  # 18 days for an open procedure (minimum 30, lag 5)
    longer = notice(
        id="r",
        notice_type="corrigendum",
        published="2026-03-10",
        deadline="2026-03-29T11:00:00+00:00",
    )
    assert "short_submission" not in codes(call, longer)  # 27 days: within the 5-day lag
    accelerated = call | {"accelerated": True}
    assert "short_submission" not in codes(accelerated)  # 18 ≥ 15 − 5
    assert "short_submission" not in codes(call | {"procedure_type": "adapted"})  # no minimum


def test_unsuccessful_then_negotiated() -> None:
    failed = notice(id="a", outcome="unsuccessful")
    award = notice(
        id="b",
        procedure_type="negotiated_without_publicity",
        procedure_label="neg-wo-call",
        winners=["X"],
        value=1.0,
    )
    asked = questions.ask({"id": "p", "notices": [failed, award]})
    found = next(q for q in asked if q.code == "unsuccessful_then_negotiated")
    assert found.notices == ("a", "b")


def test_questions_are_questions_in_both_languages() -> None:
    award = notice(
        tenders_received=1,
        procedure_type="negotiated_without_publicity",
        value=100000.0,
        winners=["X"],
        modifications=[{"amount": 150000.0, "duration_months": 48}],
        duration_months=36,
    )
    for q in questions.ask({"id": "p", "notices": [award]}):
        assert q.fr.endswith("?") and q.en.endswith("?"), q.code
        assert q.evidence_fr and q.evidence_en and q.notices and q.cite


def test_boamp_states_its_procedure_and_duration() -> None:
    """`procedure_libelle` "Procédure Ouverte" on all five FNSimple records of 21 January 2026;
    `donnees.FNSimple.initial.natureMarche.dureeMois` 12, absent, 5, 72, 10."""
    records = json.loads(load("boamp_v21_fnsimple_2026-01-21_5records.json"))["data"]["results"]
    notices = [n for r in records if (n := parse_record(r)) is not None]
    assert {n.native_id: n.duration_months for n in notices} == {
        "26-7298": 12,
        "26-7308": None,
        "26-7319": 5,
        "26-7109": 72,
        "26-7113": 10,
    }
    assert {(n.procedure_type, n.procedure_label) for n in notices} == {
        ("open", "Procédure Ouverte")
    }


def test_contracts_finder_states_its_procedure_and_contract_period() -> None:
    """Release 2a1e3359-…-819950: `procurementMethodDetails` "Direct award", the award's
    `contractPeriod` 2025-01-23 → 2025-04-23 (the tender's, 2025-01-06 → 2026-01-05, is the
    planned one); no release of the page gives `numberOfTenderers`."""
    from watcher.sources.contracts_finder import ContractsFinderSource  # noqa: PLC0415

    content = load("cf_ocds_search_page_2025-01-23_100releases.json.gz")
    config = ContractsFinderSource.Config(name="cf", kind="contracts_finder")
    notices = list(
        ContractsFinderSource(config).parse(RawPage(url="https://x.invalid/", content=content))
    )
    first = next(n for n in notices if n.native_id == "2a1e3359-87a0-4fdd-ac61-20d5e6520a13-819950")
    assert (first.procedure_type, first.procedure_label) == (
        "negotiated_without_publicity",
        "Direct award",
    )
    assert (first.contract_start, first.contract_end) == (
        dt.date(2025, 1, 23),
        dt.date(2025, 4, 23),
    )
    assert all(n.tenders_received is None for n in notices)
    assert sum(n.contract_end is not None for n in notices) == 99  # 99 releases give a period
