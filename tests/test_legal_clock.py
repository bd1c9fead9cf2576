"""The legal clock, the renewal radar and the request for documents (issue 28): edge dates, the
rules' own wording, and the Dunkerque story with a single offer and a +20 % amendment."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import unquote

import pytest

from watcher.core import access_request, legal_clock, questions, radar
from watcher.core.calendar import add_working_days, holidays, next_working_day

D = dt.date


def award(**fields: Any) -> dict[str, Any]:
    return {"id": "a1", "notice_type": "award"} | fields


def by_code(windows: list[legal_clock.Window]) -> dict[str, legal_clock.Window]:
    return {w.code: w for w in windows}


def test_refere_contractuel_published_on_a_friday_ending_on_easter_monday() -> None:
    """R551-7: "au plus tard le trente et unième jour suivant la publication" in the OJEU.
    Published Friday 6 March 2026: the 31st day is Monday 6 April 2026, Easter Monday; the
    deadline moves to the next working day, Tuesday 7 April (CPC art. 642)."""
    window = by_code(legal_clock.windows([award(kind="ted", published="2026-03-06")]))
    ref = window["refere_contractuel"]
    assert ref.closes == D(2026, 4, 6)
    assert ref.extended == D(2026, 4, 7)
    assert ref.open_on(D(2026, 4, 7)) and not ref.open_on(D(2026, 4, 8))
    assert "R551-7" in ref.rule


def test_refere_contractuel_ending_on_a_sunday_and_a_public_holiday() -> None:
    """Published Thursday 1 October 2026 → 1 November 2026: a Sunday and All Saints' Day."""
    ref = by_code(legal_clock.windows([award(kind="ted", published="2026-10-01")]))[
        "refere_contractuel"
    ]
    assert (ref.closes, ref.extended) == (D(2026, 11, 1), D(2026, 11, 2))


def test_refere_contractuel_on_a_working_day_is_not_extended() -> None:
    ref = by_code(legal_clock.windows([award(kind="ted", published="2027-05-04")]))[
        "refere_contractuel"
    ]
    assert (ref.closes, ref.extended) == (D(2027, 6, 4), None)


def test_without_an_ojeu_award_notice_six_months_from_the_day_after_conclusion() -> None:
    """A DECP contract notified on 17 January 2019: six months from 18 January, 18 July 2019,
    at the latest (the conclusion, not published, is on or before the notification)."""
    ref = by_code(legal_clock.windows([award(kind="decp", notified="2019-01-17")]))[
        "refere_contractuel"
    ]
    assert ref.closes == D(2019, 7, 18)
    assert "au plus tard" in ref.note_fr and "at the latest" in ref.note_en


def test_a_boamp_award_without_conclusion_date_is_not_computed() -> None:
    """A BOAMP award notice does not start the 31 days (the text names the OJEU)."""
    ref = by_code(legal_clock.windows([award(kind="boamp", published="2026-03-06")]))[
        "refere_contractuel"
    ]
    assert ref.closes is None and ref.open_on(D(2026, 3, 7)) is None
    assert "ne peut pas être calculée" in ref.note_fr


def test_tarn_et_garonne_is_a_two_month_delai_franc() -> None:
    """Published 10 January 2026: open until 11 March 2026; published 13 May 2026: 14 July 2026,
    the national holiday, moves to 15 July."""
    first = by_code(legal_clock.windows([award(kind="boamp", published="2026-01-10")]))[
        "tarn_et_garonne"
    ]
    assert first.closes == D(2026, 3, 11) and first.extended is None
    second = by_code(legal_clock.windows([award(kind="boamp", published="2026-05-13")]))[
        "tarn_et_garonne"
    ]
    assert (second.closes, second.extended) == (D(2026, 7, 14), D(2026, 7, 15))
    assert "358994" in second.rule


def test_uk_procurement_act_standstill_is_eight_working_days() -> None:
    """Procurement Act 2023 s. 51: 8 working days beginning with the publication day. Published
    Thursday 17 April 2025: Good Friday and Easter Monday skipped, ends Wednesday 30 April."""
    notices = [
        {"id": "t", "notice_type": "notice", "kind": "find_a_tender", "published": "2025-03-01"},
        award(kind="find_a_tender", published="2025-04-17"),
    ]
    windows = by_code(legal_clock.windows(notices))
    assert windows["uk_standstill"].closes == D(2025, 4, 30)
    assert windows["uk_standstill"].rule == "Procurement Act 2023 s. 51"
    assert windows["uk_proceedings"].closes is None  # knowledge: not published


def test_uk_before_the_act_the_2015_regulations_apply_and_are_not_computed() -> None:
    notices = [
        {"id": "t", "notice_type": "notice", "kind": "contracts_finder", "published": "2024-06-01"},
        award(kind="contracts_finder", published="2025-04-17"),
    ]
    windows = by_code(legal_clock.windows(notices))
    assert windows["uk_standstill"].rule.startswith("Public Contracts Regulations 2015")
    assert windows["uk_standstill"].closes is None
    assert windows["uk_proceedings"].rule.endswith("reg. 92")


def test_no_award_no_clock() -> None:
    assert legal_clock.windows([{"id": "c", "notice_type": "notice"}]) == []


@pytest.mark.parametrize(
    ("country", "year", "day"),
    [
        ("FR", 2026, D(2026, 5, 14)),  # Ascension
        ("FR", 2026, D(2026, 5, 25)),  # Whit Monday
        ("GB", 2026, D(2026, 12, 28)),  # Boxing Day (Saturday) moved to Monday
        ("GB", 2022, D(2022, 12, 27)),  # Christmas (Sunday) moved to Tuesday
        ("GB", 2021, D(2021, 12, 28)),  # Boxing Day moved after Christmas' Monday
    ],
)
def test_public_holidays(country: str, year: int, day: dt.date) -> None:
    assert day in holidays(country, year)


def test_working_days() -> None:
    assert next_working_day(D(2026, 12, 25), "FR") == D(2026, 12, 28)
    assert add_working_days(D(2025, 3, 14), 8, "GB") == D(2025, 3, 25)


def test_radar_end_dates_stated_computed_or_unknown() -> None:
    stated = radar.contract_end([{"id": "x", "contract_end": "2028-01-31"}])
    assert stated.date == D(2028, 1, 31) and stated.notices == ("x",)
    computed = radar.contract_end(
        [
            {
                "id": "d",
                "notified": "2019-01-31",
                "duration_months": 13,
                "modifications": [{"duration_months": 25}],
            }
        ]
    )
    assert computed.date == D(2021, 2, 28)  # 31 January + 25 months: the month's last day
    assert "25 mois" in computed.basis_fr
    assert radar.contract_end([{"id": "u", "duration_months": 12}]).date is None  # no start
    assert radar.horizon(D(2027, 3, 1), D(2026, 12, 5)) == 6
    assert radar.horizon(D(2028, 12, 1), D(2026, 12, 5)) == 24
    assert radar.horizon(D(2030, 1, 1), D(2026, 12, 5)) is None
    assert radar.horizon(None, D(2026, 12, 5)) is None


def dunkerque() -> list[dict[str, Any]]:
    """The Dunkerque story (tests/fixtures/story) with a single offer on its TED award and a DECP
    record whose amendment brings the contract from 36 500 000 € to 43 800 000 € (+20 %)."""
    return [
        {
            "id": "712345-2026",
            "kind": "ted",
            "notice_type": "notice",
            "published": "2026-11-21",
            "deadline": "2027-02-15T11:00:00+00:00",
            "procedure_type": "open",
        },
        {
            "id": "27-00410",
            "kind": "boamp",
            "notice_type": "corrigendum",
            "published": "2027-01-20",
            "deadline": "2027-03-01T11:00:00+00:00",
        },
        {
            "id": "301234-2027",
            "kind": "ted",
            "notice_type": "award",
            "published": "2027-05-04",
            "buyer": "Ministère de l'Intérieur",
            "title": "Construction du CRA de Dunkerque",
            "winners": ["SPIE BATIGNOLLES NORD"],
            "value": 36500000.0,
            "currency": "EUR",
            "tenders_received": 1,
            "procedure_type": "open",
            "procedure_id": "b7e2c9d4-1f3a-4e6b-9c8d-5a4f3e2d1c0b",
        },
        {
            "id": "13000000000000:2027DK0001",
            "kind": "decp",
            "notice_type": "award",
            "published": "2027-05-20",
            "notified": "2027-04-20",
            "data_published": "2027-05-20",
            "winners": ["SPIE BATIGNOLLES NORD"],
            "value": 36500000.0,
            "currency": "EUR",
            "duration_months": 48,
            "procedure_type": "open",
            "modifications": [{"date": "2028-01-10", "amount": 43800000.0}],
        },
    ]


def test_the_dunkerque_story_single_offer_and_twenty_percent() -> None:
    notices = dunkerque()
    asked = {q.code: q for q in questions.ask({"id": "dk", "notices": notices})}
    assert set(asked) == {"single_offer", "value_growth"}
    assert asked["single_offer"].notices == ("301234-2027",)
    assert "une seule offre" in asked["single_offer"].evidence_fr[0]
    growth = asked["value_growth"]
    assert growth.figures["percent"] == 20.0
    assert "36 500 000 €" in growth.evidence_fr[0] and "43 800 000 €" in growth.evidence_fr[0]
    assert "+20 %" in growth.evidence_fr[0] and "+20%" in growth.evidence_en[0]
    assert radar.contract_end(notices).date == D(2031, 4, 20)  # notified + 48 months
    # The 31 days run from the TED award notice, not from the DECP record's notification.
    ref = by_code(legal_clock.windows(notices))["refere_contractuel"]
    assert ref.notice == "301234-2027"
    assert ref.closes == D(2027, 5, 4) + dt.timedelta(days=31) == D(2027, 6, 4)


def test_the_request_letters() -> None:
    notices = dunkerque()
    letter = access_request.request_for(notices)
    assert letter.language == "fr"
    assert "L311-1" in letter.body and "rapport d'analyse des offres" in letter.body
    assert "SPIE BATIGNOLLES NORD" in letter.body and "04/05/2027" in letter.body
    assert "301234-2027" in letter.body and "375529" in letter.body
    assert letter.mailto.startswith("mailto:?subject=")
    assert unquote(letter.mailto.split("body=")[1]) == letter.body
    uk = access_request.request_for(
        [award(kind="find_a_tender", title="Escort services", published="2025-04-17")]
    )
    assert uk.language == "en" and "Freedom of Information Act 2000" in uk.body
    assert "17 April 2025" in uk.body
