"""Issue 23: the compiled procedure (`watcher.core.compiled`): pure rules, table-driven, and its
agreement with the OCDS export's `compiledRelease` over the test data of every source kind."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from tests.test_ocds import NOW, records_by_kind, store_every_kind
from watcher.companies.extract import Award
from watcher.companies.resolve import Mention
from watcher.companies.store import counted_once
from watcher.core.compiled import Member, compile_procedure, status_at
from watcher.pipeline.ocds import record, roots
from watcher.pipeline.runtime import Runtime

PIN = Member(1, "26-90001", "boamp", "boamp", "planning", "prior_information",
             {"title": "Avis de préinformation — CRA", "published": "2026-09-15",
              "buyer": "SGAMI NORD", "value": 40e6, "currency": "EUR"})  # fmt: skip
CALL = Member(2, "26-120500", "boamp", "boamp", "tender", "notice",
              {"title": "Construction du CRA", "published": "2026-11-20",
               "deadline": "2027-02-15T11:00:00+00:00", "value": 40e6, "currency": "EUR",
               "lots": [{"number": "1", "title": "Gros œuvre"}],
               "documents": ["https://example.org/dce.zip"]},
              url="https://boamp/26-120500")  # fmt: skip
TED_CALL = Member(3, "712345-2026", "ted", "ted", "tender", "notice",
                  {"title": "France – Prisons – Construction du CRA (TED)",
                   "published": "2026-11-21", "deadline": "2027-02-15T11:00:00+00:00",
                   "lots": [{"number": "LOT-0001", "title": "Lot TED"}]})  # fmt: skip
CORR = Member(4, "27-00410", "boamp", "boamp", "tenderAmendment", "corrigendum",
              {"title": "Rectificatif", "published": "2027-01-10",
               "deadline": "2027-03-01T11:00:00+00:00"})  # fmt: skip
AWARD = Member(5, "27-41000", "boamp", "boamp", "award", "award",
               {"title": "Attribution", "published": "2027-05-03", "value": 36.5e6,
                "currency": "EUR", "winners": ["SPIE BATIGNOLLES NORD"]})  # fmt: skip
TED_AWARD = Member(6, "301234-2027", "ted", "ted", "award", "award",
                   {"published": "2027-05-04", "value": 36.5e6, "currency": "EUR",
                    "winners": ["Spie Batignolles Nord"]})  # fmt: skip
AMENDED = Member(7, "d-1", "decp", "decp", "contractAmendment", "award",
                 {"published": "2027-09-01", "value": 38e6, "currency": "EUR"})  # fmt: skip
CANCEL = Member(8, "27-50000", "boamp", "boamp", "tenderCancellation", "cancellation",
                {"published": "2027-04-01"})  # fmt: skip
FLOP = Member(9, "27-50001", "boamp", "boamp", "award", "award",
              {"published": "2027-04-02", "outcome": "unsuccessful"})  # fmt: skip
WITH_AMOUNTS = Member(10, "27-60000", "boamp", "boamp", "award", "award",
                      {"published": "2027-05-03", "value": 1.0, "amounts": [
                          {"kind": "maximum", "amount": 5e6, "currency": "EUR"},
                          {"kind": "awarded", "amount": 4.2e6, "currency": "EUR", "tax": "HT"}]})  # fmt: skip

PER_LOT = Member(11, "27-70000", "boamp", "boamp", "award", "award",
                 {"published": "2027-05-03", "amounts": [
                     {"kind": "awarded", "amount": 1e6, "currency": "EUR", "lot": "1"},
                     {"kind": "awarded", "amount": 2e6, "currency": "EUR", "lot": "2"}]})  # fmt: skip


def _from(compiled: dict[str, Any], key: str) -> str:
    return str(compiled["from"][key]["ref"])


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ([PIN], {"status": "planned", "title": "Avis de préinformation — CRA", "title@": "26-90001",
                 "estimate": 40e6, "deadline": None}),
        ([PIN, CALL], {"status": "open", "title": "Construction du CRA", "title@": "26-120500",
                       "deadline": "2027-02-15T11:00:00+00:00", "deadline@": "26-120500"}),
        # TED's call a day later: the national wording is kept; TED's alone loses its prefix.
        ([TED_CALL, PIN, CALL], {"title": "Construction du CRA", "lots": 1}),
        ([PIN, TED_CALL], {"title": "Construction du CRA (TED)", "title@": "712345-2026"}),
        ([CORR, CALL, PIN], {"deadline": "2027-03-01T11:00:00+00:00", "deadline@": "27-00410",
                             "title": "Construction du CRA"}),
        # The same award on two portals: one winner; the estimate and the award stay apart.
        ([PIN, CALL, CORR, TED_AWARD, AWARD],
         {"status": "awarded", "awarded": 36.5e6, "estimate": 40e6, "winners": 1,
          "deadline": "2027-03-01T11:00:00+00:00", "awarded@": "301234-2027"}),
        ([CALL, AWARD, AMENDED], {"status": "modified", "awarded": 38e6, "awarded@": "d-1"}),
        ([CALL, CANCEL], {"status": "cancelled"}),
        ([CALL, FLOP], {"status": "unsuccessful"}),
        ([CALL, WITH_AMOUNTS], {"awarded": 4.2e6, "estimate": 5e6, "estimate@": "27-60000"}),
        # Awarded per lot only: the procedure's awarded amount is their sum.
        ([CALL, PER_LOT], {"awarded": 3e6, "estimate": 40e6, "awarded@": "27-70000"}),
    ],
)  # fmt: skip
def test_compile_procedure(members: list[Member], expected: dict[str, Any]) -> None:
    compiled = compile_procedure(members)
    for key, value in expected.items():
        if key.endswith("@"):
            assert _from(compiled, key[:-1]) == value, key
        elif key in {"estimate", "awarded"}:
            assert (compiled.get(key) or {}).get("amount") == value, key
        elif key in {"lots", "winners"}:
            assert len(compiled[key]) == value, compiled[key]
        else:
            assert compiled.get(key) == value, key


def test_an_open_call_past_its_deadline_is_closed_for_bids() -> None:
    compiled = compile_procedure([CALL])
    assert status_at(compiled, dt.datetime(2027, 2, 1, tzinfo=dt.UTC)) == "open"
    assert status_at(compiled, dt.datetime(2027, 2, 16, tzinfo=dt.UTC)) == "closed"


def _utc(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def test_the_compiled_procedure_agrees_with_the_ocds_compiled_release(
    make_runtime: Callable[..., Runtime],
) -> None:
    """Over the test data of every source kind: buyer, title, deadline, estimate, winners and
    awarded amount say the same in the stored record and in ocdsmerge's compiledRelease."""
    runtime = make_runtime("sources: []\n")
    store_every_kind(runtime)
    compared: dict[str, int] = {}
    with runtime.sessions() as session:
        for root in roots(session, relevant_only=False):
            compiled = root.compiled
            assert compiled, root.native_id
            release = record(session, root)["compiledRelease"]
            tender = release.get("tender") or {}
            where = f"{root.source.name} {root.native_id}"
            assert compiled.get("buyer") == (release.get("buyer") or {}).get("name"), where
            if tender.get("title"):
                assert compiled.get("title") and tender["title"].endswith(compiled["title"]), where
            end = (tender.get("tenderPeriod") or {}).get("endDate")
            assert _utc(compiled.get("deadline")) == _utc(end), where
            estimate = (compiled.get("estimate") or {}).get("amount")
            if (tender.get("value") or {}).get("amount") is not None:
                assert estimate == tender["value"]["amount"], where
            suppliers = {
                s["name"] for a in release.get("awards") or [] for s in a.get("suppliers") or []
            }
            assert {w["name"] for w in compiled.get("winners") or []} <= suppliers, where
            values = {(a.get("value") or {}).get("amount") for a in release.get("awards") or []}
            awarded = (compiled.get("awarded") or {}).get("amount")
            if awarded is not None:
                assert awarded in values, where
            compared[root.source.name] = compared.get(root.source.name, 0) + 1
    assert set(compared) == {kind for kind, _ in records_by_kind()}, compared


def _award_notice(ident: int, kind: str, day: str, parent: int | None = None) -> Any:
    source = SimpleNamespace(kind=kind)
    published = dt.date.fromisoformat(day)
    return SimpleNamespace(id=ident, parent_id=parent, native_id=f"n{ident}", published=published,
                           source=source)  # fmt: skip


def test_an_award_counts_once_per_procedure_company_and_lot() -> None:
    """BOAMP's award, TED's the next day, an amendment: one contract, the amendment's amount;
    lot 1 and lot 2 of the same company are two; TED's `LOT-0001` is BOAMP's lot 1."""
    spie = Mention("SPIE BATIGNOLLES NORD")
    boamp, ted = (
        _award_notice(10, "boamp", "2027-05-03", 1),
        _award_notice(11, "ted", "2027-05-04", 1),
    )
    amended = _award_notice(12, "decp", "2027-09-01", 1)
    other = _award_notice(20, "boamp", "2027-05-03")  # another procedure
    found = [
        (ted, Award(spie, 36.5e6, "EUR", "award_value", lot="LOT-0001")),
        (boamp, Award(spie, 36.5e6, "EUR", "award_value", lot="1")),
        (boamp, Award(spie, 36.5e6, "EUR", "award_value", lot="1")),  # named twice by one notice
        (boamp, Award(spie, 2e6, "EUR", "award_value", lot="2")),
        (amended, Award(spie, 38e6, "EUR", "contract_value", lot="1")),
        (other, Award(spie, 1e6, "EUR", "award_value")),
    ]
    slugs = dict.fromkeys(range(len(found)), "spie-batignolles-nord")
    kept = [found[i][1] for i in counted_once(found, slugs)]  # type: ignore[arg-type]
    assert sorted((a.lot or "", a.amount) for a in kept) == [("", 1e6), ("1", 38e6), ("2", 2e6)]
    # Whatever the order the notices were stored in.
    again = counted_once(list(reversed(found)), slugs)  # type: ignore[arg-type]
    assert len(again) == 3


def test_an_entry_tells_the_notice_that_made_its_event() -> None:
    """The award event, stored on the prior information notice: the award's type and link, the
    procedure's title, no deadline the award never gave; the same award on TED named beside it,
    and BOAMP's the main link whichever portal told it first."""
    from watcher.publish.entries import render_entry  # noqa: PLC0415

    pin = {"title": "Avis de préinformation — CRA", "url": "https://boamp/26-90001",
           "notice_type": "prior_information", "deadline": "2027-03-01T11:00:00+00:00"}  # fmt: skip
    boamp = {"ref": "27-41000", "source": "boamp", "url": "https://boamp/27-41000",
             "notice_type": "award", "phase": "award"}  # fmt: skip
    ted = {"ref": "301234-2027", "source": "ted", "url": "https://ted/301234-2027",
           "notice_type": "award", "phase": "award"}  # fmt: skip
    for teller, other in ((boamp, ted), (ted, boamp)):
        also = [{**other, "twin_of": f"{teller['source']}:{teller['ref']}"}]
        entry = render_entry(
            key="k", kind="awarded", created_at=NOW, changes=[], snapshot=pin, site=None,
            source="boamp", detail=teller, also=also, procedure_title="Construction du CRA",
        )  # fmt: skip
        assert entry.title == "Marché attribué : Construction du CRA"
        assert entry.link == "https://boamp/27-41000"
        assert "Type d'avis : Avis d'attribution" in entry.text
        assert "Date limite" not in entry.text
