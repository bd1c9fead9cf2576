"""Companies: identifiers checked with python-stdnum, names normalised, the same company seen under
variants is one company, different companies with similar names stay apart, and the maintainers'
companies.yaml has the last word. Then the same through real polls of BOAMP and DECP portals."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from tests.loopback import LoopbackServer, Reply, Request
from tests.test_pipeline import BoampPortal
from tests.test_timeline import award
from watcher.companies.extract import awards, parties
from watcher.companies.resolve import (
    Identifier,
    Mention,
    identifier,
    load_overrides,
    normalise_name,
    resolve,
)
from watcher.db.models import Company, CompanyContract
from watcher.errors import ConfigError
from watcher.pipeline.cycle import after_polls
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime

# Made-up numbers with valid check digits (not the real companies').
SIRET_NORD = "39318420500028"
SIREN_NORD = "393184205"
SIRET_OTHER = "52107430200014"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("SPIE BATIGNOLLES NORD", "spie batignolles nord"),
        ("Spie-Batignolles Nord SAS", "spie batignolles nord"),
        ("SOCIÉTÉ SPIE batignolles nord", "spie batignolles nord"),
        ("Mitie Care & Custody Ltd", "mitie care custody"),
        ("Serco Limited", "serco"),
        ("SAS", "sas"),  # nothing but a legal form: kept
        ("GEPSA", "gepsa"),
    ],
)
def test_normalise_name(name: str, expected: str) -> None:
    assert normalise_name(name) == expected


@pytest.mark.parametrize(
    ("scheme", "value", "expected"),
    [
        ("SIRET", "393 184 205 00028", Identifier("siret", SIRET_NORD, True)),
        ("SIRET", "39318420500029", Identifier("siret", "39318420500029", False)),
        (None, SIRET_NORD, Identifier("siret", SIRET_NORD, True)),
        ("SIREN", SIREN_NORD, Identifier("siren", SIREN_NORD, True)),
        ("TVA", "FR 40 303 265 045", Identifier("vat_fr", "FR40303265045", True)),
        ("GB-COH", "2351234", Identifier("gb_coh", "02351234", True)),
        ("GB-COH", "SC123456", Identifier("gb_coh", "SC123456", True)),
        ("GB-CFS", "307567", Identifier("other", "307567", False)),
    ],
)
def test_identifiers_are_validated_and_normalised(
    scheme: str | None, value: str, expected: Identifier
) -> None:
    assert identifier(scheme, value) == expected


def test_siret_siren_and_vat_share_the_siren() -> None:
    siret = identifier("SIRET", SIRET_NORD)
    siren = identifier("SIREN", SIREN_NORD)
    assert siret and siren and siret.key == siren.key == f"siren:{SIREN_NORD}"
    assert identifier("TVA", "FR40303265045").key == "siren:303265045"  # type: ignore[union-attr]
    assert identifier("SIRET", "39318420500029").key is None  # a bad checksum never merges


def _m(name: str, *ids: tuple[str, str], ref: str = "") -> Mention:
    found = tuple(i for s, v in ids if (i := identifier(s, v)) is not None)
    return Mention(name, found, ref or name)


def test_same_siret_under_a_name_variant_is_one_company() -> None:
    boamp = _m("SPIE BATIGNOLLES NORD", ("SIRET", SIRET_NORD), ref="boamp")
    decp = _m("Spie Batignolles-Nord (agence de Lille)", ("SIRET", SIRET_NORD), ref="decp")
    [company] = resolve([boamp, decp])
    assert company.slug == "spie-batignolles-nord"
    assert [e.method for e in company.evidence] == ["identifier"]
    assert company.confidence == 1.0
    assert {i.value for i in company.identifiers} == {SIRET_NORD}


def test_names_alone_merge_variants_and_keep_the_evidence() -> None:
    with_siret = _m("SPIE BATIGNOLLES NORD", ("SIRET", SIRET_NORD), ref="a")
    variant = _m("Spie Batignolles Nord SAS", ref="b")
    typo = _m("SPIE BATIGNOLES NORD", ref="c")
    [company] = resolve([with_siret, variant, typo])
    methods = sorted(e.method for e in company.evidence)
    assert methods == ["same_name", "similar_name"]
    assert 0.8 < company.confidence < 1.0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (_m("SPIE BATIGNOLLES NORD"), _m("SPIE BATIGNOLLES SUD")),
        (_m("ONET SECURITE"), _m("ONET SERVICES")),
        (_m("GEPSA"), _m("GEPSA SUD")),
        (_m("ISL INGENIERIE"), _m("ISM INGENIERIE")),  # seen in the 2019 DECP file
        # Same name, different legal entities: the identifiers say two.
        (
            _m("SPIE BATIGNOLLES NORD", ("SIRET", SIRET_NORD)),
            _m("SPIE BATIGNOLLES NORD SAS", ("SIRET", SIRET_OTHER)),
        ),
    ],
    ids=["nord-sud", "onet", "gepsa", "isl-ism", "different-siren"],
)
def test_different_companies_with_similar_names_stay_two(a: Mention, b: Mention) -> None:
    assert len(resolve([a, b])) == 2


OVERRIDES = """
companies:
  spie-batignolles-nord:
    name: SPIE batignolles nord
    parent: spie
    match: ["SPIE Batignolles Nord Lille", "siren:393184205"]
  spie:
    name: SPIE (groupe)
distinct:
  - ["ACME PROTECTION", "ACME PROTECTIONS"]
"""


def test_overrides_merge_split_name_and_group() -> None:
    overrides = load_overrides(OVERRIDES)
    mentions = [
        _m("SPIE BATIGNOLLES NORD", ("SIRET", SIRET_NORD)),
        _m("SPIE Batignolles Nord Lille"),  # too far for names alone: merged by the file
        _m("ACME PROTECTION"),
        _m("ACME PROTECTIONS"),  # near enough to be one, but the file says two
    ]
    companies = {c.slug: c for c in resolve(mentions, overrides)}
    assert set(companies) == {
        "spie-batignolles-nord",
        "spie",
        "acme-protection",
        "acme-protections",
    }
    assert len(resolve(mentions[2:])) == 1  # without the file: one company
    nord = companies["spie-batignolles-nord"]
    assert nord.name == "SPIE batignolles nord" and nord.parent == "spie"
    assert len(nord.mentions) == 2 and "override" in {e.method for e in nord.evidence}
    assert companies["spie"].name == "SPIE (groupe)" and not companies["spie"].mentions


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("companies:\n  x:\n    nom: X\n", "companies.yaml: companies.x.nom: Extra inputs"),
        ("companies:\n  x:\n    parent: x\n", "a company is not its own parent"),
    ],
)
def test_bad_override_file_is_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_overrides(text)


def test_winners_identifiers_read_from_each_portal_payload() -> None:
    decp = {
        "titulaires": [
            {"typeIdentifiant": "SIRET", "id": SIRET_NORD, "denominationSociale": "SPIE"}
        ]
    }
    assert parties(json.dumps(decp)) == [("SPIE", (Identifier("siret", SIRET_NORD),))]
    ocds = {
        "awards": [
            {"suppliers": [{"id": "GB-COH-02351234", "name": "Mitie Care and Custody Ltd"}]}
        ],
        "parties": [
            {
                "name": "Mitie Care and Custody Ltd",
                "identifier": {"scheme": "GB-COH", "id": "02351234"},
                "roles": ["supplier"],
            }
        ],
    }
    snap = {"winners": ["Mitie Care and Custody Ltd"], "value": 1200000.0, "currency": "GBP"}
    [won] = awards("find_a_tender", "award", snap, json.dumps(ocds), "1")
    assert won.mention.identifiers == (Identifier("gb_coh", "02351234"),)
    assert (won.amount, won.currency, won.amount_kind, won.shared) == (
        1200000.0,
        "GBP",
        "award_value",
        1,
    )
    eforms = {
        "efac:Organization": {
            "efac:Company": {
                "cac:PartyName": {"cbc:Name": "SPIE BATIGNOLLES NORD"},
                "cac:PartyLegalEntity": {"cbc:CompanyID": SIRET_NORD},
            }
        }
    }
    boamp = {"titulaire": ["SPIE BATIGNOLLES NORD"], "donnees": json.dumps(eforms)}
    [won] = awards("boamp", "award", {"winners": ["SPIE BATIGNOLLES NORD"]}, json.dumps(boamp), "2")
    assert won.mention.identifiers == (Identifier("siret", SIRET_NORD),)
    ted = {
        "winner-name": {"fra": ["A SAS", "A SAS", "B SARL"]},
        "winner-identifier": [SIRET_NORD, SIRET_OTHER],
    }
    found = awards(
        "ted", "award", {"winners": ["A SAS", "B SARL"], "value": 10.0}, json.dumps(ted), "3"
    )
    assert [w.mention.identifiers[0].value for w in found] == [SIRET_NORD, SIRET_OTHER]
    assert {w.shared for w in found} == {2}  # one total for two winners: shared, never summed


def test_amount_kinds() -> None:
    decp = json.dumps({"nature": "Accord-cadre", "titulaires": []})
    [won] = awards("decp", "award", {"winners": ["X"], "value": 5.0}, decp, "1")
    assert won.amount_kind == "framework_maximum"
    [won] = awards("decp", "award", {"winners": ["X"], "value": 5.0}, "{}", "1")
    assert won.amount_kind == "contract_value"
    lots = {
        "winners": ["X", "Y"],
        "value": 9.0,
        "lots": [
            {"number": "1", "winners": ["X"], "value": 4.0},
            {"number": "2", "winners": ["Y"], "value": 5.0},
        ],
    }
    found = awards("boamp", "award", lots, "{}", "1")
    assert [(w.mention.name, w.lot, w.amount, w.shared) for w in found] == [
        ("X", "1", 4.0, 1),
        ("Y", "2", 5.0, 1),
    ]


# --- through real polls --------------------------------------------------------------------


def decp_contract(name: str, siret: str, ident: str) -> dict[str, Any]:
    return {
        "id": ident,
        "acheteur": {"id": "13000000000000", "nom": "Ministère de l'Intérieur - SGAMI Nord"},
        "_type": "Marché",
        "nature": "Marché",
        "objet": "Construction du centre de rétention administrative de Dunkerque (Loon-Plage)",
        "codeCPV": "45216000",
        "procedure": "Procédure adaptée",
        "lieuExecution": {"code": "59", "typeCode": "Code département", "nom": "(59) Nord"},
        "dateNotification": "2027-02-20",
        "datePublicationDonnees": "2027-03-05",
        "montant": 36500000,
        "titulaires": [{"typeIdentifiant": "SIRET", "id": siret, "denominationSociale": name}],
        "modifications": [],
    }


class Portals:
    """BOAMP at its API path, DECP files under /decp/."""

    def __init__(self) -> None:
        self.boamp = BoampPortal()
        self.decp: list[dict[str, Any]] = []

    def __call__(self, request: Request) -> Reply:
        if request.path.startswith("/decp/"):
            return Reply(200, json.dumps({"marches": self.decp}).encode())
        return self.boamp(request)


def test_boamp_with_siret_and_decp_variant_are_one_company_through_polls(
    make_runtime: Callable[..., Runtime],
) -> None:
    portals = Portals()
    with LoopbackServer(portals) as server:
        runtime = make_runtime(
            f"sources:\n  - name: boamp\n    kind: boamp\n    base_url: {server.url}\n"
            f"  - name: decp\n    kind: decp\n    base_url: {server.url}\n"
            f"    urls: [/decp/cra.json]\n"
        )
        sources = runtime.config.build()
        run_sources(sources, runtime.context())
        record = award(portals.boamp.records[0])
        donnees = json.loads(record["donnees"])
        donnees["MAPA"]["attribution"]["decision"] = {
            "titulaire": {
                "denomination": "SPIE BATIGNOLLES NORD",
                "codeIdentificationNational": SIRET_NORD,
            }
        }
        record["donnees"] = json.dumps(donnees)
        portals.boamp.records.append(record)
        portals.decp = [
            decp_contract("Spie Batignolles-Nord SAS (agence Lille)", SIRET_NORD, "2027-0001"),
            # Same-looking name, another legal entity (another SIREN): another company.
            decp_contract("SPIE BATIGNOLLES NORD", SIRET_OTHER, "2027-0002"),
        ]
        results = run_sources(sources, runtime.context())
        assert all(r.ok for r in results), results
        after_polls(runtime, results)

    with runtime.sessions() as session:
        companies = session.scalars(select(Company).order_by(Company.slug)).all()
        by_siren = {
            c.slug: {i["value"][:9] for i in c.identifiers if i["valid"]} for c in companies
        }
        [nord] = [c for c in companies if by_siren[c.slug] == {SIREN_NORD}]
        contracts = session.scalars(
            select(CompanyContract).where(CompanyContract.company_id == nord.id)
        ).all()
        assert sorted(c.name for c in contracts) == [
            "SPIE BATIGNOLLES NORD",
            "Spie Batignolles-Nord SAS (agence Lille)",
        ]
        assert {c.amount_kind for c in contracts} == {"award_value", "contract_value"}
        assert "identifier" in {e["method"] for e in nord.evidence}
        other = [c for c in companies if by_siren[c.slug] == {SIRET_OTHER[:9]}]
        assert len(other) == 1 and other[0].id != nord.id


def test_ocds_awards_give_each_supplier_its_own_amount() -> None:
    release = {
        "awards": [
            {
                "id": "1",
                "value": {"amount": 400.0, "currency": "GBP"},
                "suppliers": [{"name": "A Ltd"}],
            },
            {
                "id": "2",
                "value": {"amount": 600.0, "currency": "GBP"},
                "suppliers": [{"name": "B Ltd"}],
            },
        ]
    }
    snap = {"winners": ["A Ltd", "B Ltd"], "value": 1000.0, "currency": "GBP"}
    found = awards("contracts_finder", "award", snap, json.dumps(release), "1")
    assert [(w.mention.name, w.amount, w.currency, w.shared) for w in found] == [
        ("A Ltd", 400.0, "GBP", 1),
        ("B Ltd", 600.0, "GBP", 1),
    ]
