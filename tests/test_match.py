"""The relevance matcher: the labelled dev set, the traps of issue 3, rule files and `watcher match`."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from watcher.cli_match import match_command
from watcher.errors import ConfigError
from watcher.match import Matcher, MatchInput, input_from_dict, match_jsonl_line
from watcher.records import Lot, NoticeRecord

DEV = Path(__file__).parent / "fixtures" / "match" / "labeled-dev.jsonl"
DEV_ROWS = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.load()


@pytest.mark.parametrize("row", DEV_ROWS, ids=[r["id"] for r in DEV_ROWS])
def test_dev_set_line(matcher: Matcher, row: dict[str, Any]) -> None:
    out = match_jsonl_line(matcher, row)
    assert out["id"] == row["id"]
    assert out["relevant"] is row["relevant"], (row["note"], out["reasons"])
    if row["relevant"]:
        assert out["site"] == row["site"], out["reasons"]
        assert out["reasons"]
    else:
        assert out["site"] is None


def test_dev_set_meets_the_targets(matcher: Matcher) -> None:
    outs = [match_jsonl_line(matcher, r) for r in DEV_ROWS]
    tp = sum(o["relevant"] and r["relevant"] for o, r in zip(outs, DEV_ROWS, strict=True))
    predicted = sum(o["relevant"] for o in outs)
    gold = sum(r["relevant"] for r in DEV_ROWS)
    sited = [(o, r) for o, r in zip(outs, DEV_ROWS, strict=True) if r["relevant"] and r["site"]]
    assert tp / predicted >= 0.95
    assert tp / gold >= 0.95
    assert sum(o["site"] == r["site"] for o, r in sited) / len(sited) >= 0.90


# (id, expected relevant, expected site, notice fields)
HARD_CASES: list[tuple[str, bool, str | None, dict[str, Any]]] = [
    ("stormwater-basin-lot-of-a-cra", True, "dunkerque", {
        "title": "Lot 7 : bassin de rétention des eaux pluviales — construction du centre de "
        "rétention administrative de Loon-Plage",
        "buyer": "Ministère de l'Intérieur et des Outre-mer", "place": "Loon-Plage"}),
    ("bassin-de-retention", False, None, {
        "title": "Création d'un bassin de rétention — zone d'activités de Lesquin",
        "buyer": "Métropole européenne de Lille", "cpv": ("45232454",)}),
    ("bac-and-local-de-retention-chemicals", False, None, {
        "title": "Construction d'un local de rétention des produits dangereux",
        "description": "Sol formant cuvette de rétention, bacs de rétention inclus.",
        "buyer": "Commune de Sète"}),
    ("retenue-de-garantie", False, None, {
        "title": "Réfection de voirie — Ville de Plaisir", "buyer": "Ville de Plaisir",
        "description": "Une retenue de garantie de 5 % est appliquée sur chaque acompte."}),
    ("centre-ressources-autisme", False, None, {
        "title": "Mobilier pour le CRA de Nantes", "buyer": "CHU de Nantes",
        "description": "Équipement des locaux du Centre Ressources Autisme (CRA) des Pays de la "
        "Loire, accueil des familles étrangères."}),
    ("chambre-regionale-agriculture", False, None, {
        "title": "Prestations de nettoyage — CRA Bretagne", "place": "Rennes",
        "buyer": "Chambre régionale d'agriculture de Bretagne"}),
    ("cram-is-not-cra", False, None, {
        "title": "Archives de la CRAM et de la CRAMIF", "buyer": "Assurance maladie"}),
    ("hotel-de-police-same-town", False, None, {
        "title": "Construction de l'hôtel de police de Loon-Plage", "buyer": "SGAMI Nord",
        "cpv": ("45216111",), "place": "Loon-Plage"}),
    ("garde-a-vue-same-buyer", False, None, {
        "title": "Réfection des cellules de garde à vue du commissariat de Coquelles",
        "buyer": "SGAMI Nord", "place": "Coquelles"}),
    ("prison", False, None, {
        "title": "Restauration des personnes détenues du centre pénitentiaire de Lille-Annœullin",
        "buyer": "Direction interrégionale des services pénitentiaires de Lille"}),
    ("centre-de-detention", False, None, {
        "title": "Maintenance du centre de détention de Bapaume", "cpv": ("45216113",),
        "buyer": "Direction interrégionale des services pénitentiaires de Lille"}),
    ("cef", False, None, {
        "title": "Restauration du centre éducatif fermé de Sainte-Gauburge",
        "buyer": "Protection judiciaire de la jeunesse"}),
    ("caes-huda", False, None, {
        "title": "Gestion d'un CAES et d'un HUDA", "buyer": "Préfecture du Nord",
        "description": "Hébergement et accompagnement des demandeurs d'asile étrangers."}),
    ("ofii-voluntary-return", False, None, {
        "title": "Billetterie aérienne — aide au retour volontaire",
        "buyer": "Office français de l'immigration et de l'intégration (OFII)",
        "description": "Billets d'avion pour les étrangers bénéficiant de l'aide au retour "
        "volontaire vers leur pays d'origine."}),
    ("voluntary-returnees-frontex", False, None, {
        "title": "Travel services for voluntary returns", "buyer": "Frontex",
        "description": "Scheduled flights for returnees in assisted voluntary return and "
        "reintegration programmes."}),
    ("cra-59", True, "lille-lesquin", {
        "title": "Nettoyage des locaux du CRA 59", "buyer": "SGAMI Nord", "department": "59"}),
    ("cra-de-lesquin", True, "lille-lesquin", {
        "title": "Remplacement des serrures du CRA de Lesquin", "buyer": "SGAMI Nord"}),
    ("lieu-de-retention", True, None, {
        "title": "Blanchisserie pour un lieu de rétention administrative",
        "buyer": "Préfecture du Nord"}),
    ("local-de-retention-in-a-police-station", True, None, {
        "title": "Travaux dans le local de rétention administrative du commissariat de Nice",
        "buyer": "SGAMI Sud", "place": "Nice"}),
    ("zone-d-attente-orly", True, None, {
        "title": "Hôtellerie de la zone d'attente de l'aéroport d'Orly",
        "buyer": "Direction de la police aux frontières d'Orly"}),
    ("zone-d-attente-roissy", True, "roissy-zapi", {
        "title": "Nettoyage de la zone d'attente de Roissy",
        "buyer": "Direction de la police aux frontières"}),
    ("zone-d-attente-lorries", False, None, {
        "title": "Zone d'attente des poids lourds du port de Calais",
        "buyer": "Ports du Détroit", "description": "Contrôle des accès et gardiennage."}),
    ("eloignement-charter", True, None, {
        "title": "Affrètement d'avions pour des vols d'éloignement", "buyer": "DNPAF",
        "cpv": ("60420000",)}),
    ("eloignement-of-birds", False, None, {
        "title": "Éloignement des oiseaux — aéroport de Lyon Saint-Exupéry",
        "buyer": "Aéroports de Lyon"}),
    ("military-charter", False, None, {
        "title": "Affrètement d'aéronefs pour la relève des forces", "cpv": ("60420000",),
        "buyer": "Ministère des Armées"}),
    ("removal-centre", True, "yarls-wood-irc", {
        "title": "Catering at Yarl's Wood removal centre", "buyer": "Home Office"}),
    ("site-name-only", True, "heathrow-irc", {
        "title": "Catering services at Harmondsworth and Colnbrook", "buyer": "Home Office"}),
    ("office-removals", False, None, {
        "title": "Removal and storage services for Home Office buildings",
        "buyer": "Home Office"}),
    ("escorting-of-detained-persons", True, None, {
        "title": "Escorting services contract", "buyer": "Home Office",
        "description": "In-country and overseas escorting of detained individuals."}),
    ("school-escorts", False, None, {
        "title": "Passenger assistants to escort pupils", "buyer": "Kent County Council",
        "cpv": ("60130000",)}),
    ("pre-departure-accommodation-uk", True, "gatwick-irc", {
        "title": "Refurbishment of the pre-departure accommodation at Tinsley House",
        "buyer": "Home Office"}),
    ("pre-departure-refugee-resettlement", False, None, {
        "title": "Pre-departure accommodation and orientation for refugees",
        "buyer": "Home Office",
        "description": "Pre-departure orientation and health assessments for refugees under the UK "
        "Resettlement Scheme, delivered with IOM."}),
    ("short-term-holding-facility", True, "manston-sthf", {
        "title": "Manston short-term holding facility — catering", "buyer": "Home Office"}),
    ("asylum-barge", False, None, {
        "title": "Accommodation barge for asylum seekers — Portland", "buyer": "Home Office"}),
    ("detention-basin", False, None, {
        "title": "Detention basin maintenance at Gatwick Airport", "buyer": "Gatwick Airport"}),
    ("belgian-closed-centres", True, None, {
        "title": "Belgique-Bruxelles : services de restauration pour les centres fermés",
        "buyer": "Office des étrangers"}),
    ("spanish-cie", True, None, {
        "title": "Limpieza del CIE de Aluche", "buyer": "Ministerio del Interior",
        "description": "Servicio de limpieza del centro de internamiento de extranjeros."}),
    ("two-cras-is-multi-site", True, None, {
        "title": "Repas pour les CRA de Marseille et de Nice", "buyer": "SGAMI Sud"}),
    ("landmark-site-does-not-win", True, "mesnil-amelot", {
        "title": "Construction du CRA du Mesnil-Amelot", "place": "Le Mesnil-Amelot",
        "description": "Terrain situé à proximité de l'aéroport de Roissy-Charles-de-Gaulle."}),
    ("capitals-and-no-accents", True, "coquelles", {
        "title": "NETTOYAGE DU CENTRE DE RETENTION ADMINISTRATIVE DE COQUELLES",
        "buyer": "SGAMI NORD"}),
    ("nice-guidelines-are-not-nice", True, "heathrow-irc", {
        "title": "Healthcare at Heathrow Immigration Removal Centre", "buyer": "NHS England",
        "description": "Services follow NICE guidelines."}),
]


@pytest.mark.parametrize(
    ("relevant", "site", "fields"), [c[1:] for c in HARD_CASES], ids=[c[0] for c in HARD_CASES]
)
def test_hard_case(matcher: Matcher, relevant: bool, site: str | None, fields: dict[str, Any]) -> None:
    verdict = matcher.match(MatchInput(**fields))
    assert verdict.relevant is relevant, verdict.reasons
    assert verdict.site == (site if relevant else None), verdict.reasons


def test_every_relevant_verdict_has_a_reason(matcher: Matcher) -> None:
    inputs = [input_from_dict(r) for r in DEV_ROWS] + [MatchInput(**c[3]) for c in HARD_CASES]
    for verdict in map(matcher.match, inputs):
        assert not verdict.relevant or verdict.reasons


def test_reasons_name_the_phrase_and_the_site(matcher: Matcher) -> None:
    verdict = matcher.match(
        MatchInput(title="Construction du centre de rétention administrative de Loon-Plage")
    )
    assert "phrase 'centre de rétention administrative' in title" in verdict.reasons
    assert "site: Loon-Plage → dunkerque" in verdict.reasons


def test_trap_and_veto_are_explained(matcher: Matcher) -> None:
    trap = matcher.match(MatchInput(title="Bassins de rétention des eaux pluviales"))
    assert any(r.startswith("trap 'bassin de rétention'") for r in trap.reasons)
    veto = matcher.match(MatchInput(title="Locaux du Centre Ressources Autisme (CRA) de Dijon"))
    assert "'CRA' ignored: the notice says 'centre ressources autisme'" in veto.reasons


@pytest.mark.parametrize(
    "title",
    [
        "Zones d’attente : hôtellerie pour les étrangers",
        "ZONE D'ATTENTE - hotellerie pour les etrangers",
        "Hôtellerie des zones d'attente, étrangers non admis",
    ],
)
def test_matching_ignores_case_accents_elision_and_plurals(matcher: Matcher, title: str) -> None:
    assert matcher.match(MatchInput(title=title)).relevant


def test_words_match_whole(matcher: Matcher) -> None:
    # "rétentions" is a plural of a weak word; "CRAMIF" and "ZAPIZ" are other words.
    verdict = matcher.match(MatchInput(title="Archives CRAMIF, ZAPIZ et rétentions"))
    assert not verdict.relevant
    assert verdict.score < 1


def test_site_aliases_cover_every_slug_of_sites_md(matcher: Matcher) -> None:
    slugs = {
        "bordeaux", "cayenne", "coquelles", "hendaye", "la-reunion", "les-abymes",
        "lille-lesquin", "lyon", "marseille", "mayotte", "mesnil-amelot", "metz", "nice", "nimes",
        "palaiseau", "paris-cite", "perpignan", "plaisir", "rennes", "rouen", "sete", "strasbourg",
        "toulouse", "vincennes", "dunkerque", "aix-en-provence", "beziers", "dijon",
        "goussainville", "nantes", "orleans", "roissy-zapi", "marignane-za", "heathrow-irc",
        "gatwick-irc", "dungavel-irc", "derwentside-irc", "yarls-wood-irc", "campsfield-irc",
        "haslar-irc", "manston-sthf", "larne-house-sthf",
    }
    assert set(matcher.site_slugs) == slugs


def test_match_is_thread_safe(matcher: Matcher) -> None:
    inputs = [input_from_dict(r) for r in DEV_ROWS] * 5
    sequential = [matcher.match(i) for i in inputs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(matcher.match, inputs)) == sequential


def test_input_from_a_parsed_notice_includes_lots(matcher: Matcher) -> None:
    notice = NoticeRecord(
        native_id="x",
        title="Marché de services — SGAMI Nord",
        lots=(Lot(number="1", title="Restauration des personnes retenues du CRA de Coquelles"),),
    )
    verdict = matcher.match(MatchInput.from_notice(notice))
    assert (verdict.relevant, verdict.site) == (True, "coquelles")


def test_input_from_dict_tolerates_sloppy_portals() -> None:
    item = input_from_dict({"title": "t", "cpv": "45216113", "department": 6})
    assert (item.cpv, item.department) == (("45216113",), "06")
    with pytest.raises(ValueError, match="'title' is missing"):
        input_from_dict({"buyer": "x"})
    with pytest.raises(ValueError, match="'buyer' must be a text"):
        input_from_dict({"title": "t", "buyer": ["x"]})


# --- maintainers' rule files ---------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_extra_rules_and_sites_are_merged(tmp_path: Path) -> None:
    rules = _write(
        tmp_path / "extra.yaml",
        "signals:\n"
        "  - id: transit-home\n"
        "    weight: 2\n"
        "    terms: [foyer de transit pour retenus]\n"
        "contexts:\n"
        "  retention_fr: [centre de transit]\n",
    )
    sites = _write(
        tmp_path / "more-sites.yaml",
        "sites:\n"
        "  orly-za:\n"
        "    label: zone d'attente d'Orly\n"
        "    kind: za\n"
        "    places: [Orly]\n"
        "  coquelles:\n"
        "    places: [Fort-Nieulay]\n",
    )
    matcher = Matcher.load(extra_rules=[rules], extra_sites=[sites])
    assert matcher.match(MatchInput(title="Gestion du foyer de transit pour retenus")).relevant
    orly = matcher.match(MatchInput(title="Nettoyage de la ZAPI d'Orly"))
    assert orly.site == "orly-za"
    fort = matcher.match(MatchInput(title="Travaux au centre de rétention de Fort-Nieulay"))
    assert fort.site == "coquelles"
    # the shipped rules are still there
    assert matcher.match(MatchInput(title="Centre de rétention administrative de Sète")).relevant


def test_extra_rule_with_a_known_id_replaces_it(tmp_path: Path) -> None:
    rules = _write(tmp_path / "x.yaml", "signals:\n  - {id: umcra, weight: 0.1, terms: [UMCRA]}\n")
    matcher = Matcher.load(extra_rules=[rules])
    assert not matcher.match(MatchInput(title="Convention UMCRA")).relevant


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("signals: [\n", "broken.yaml: line 2, column 1: YAML does not parse"),
        ("- a\n- b\n", "broken.yaml: expected a mapping of sections at the top"),
        ("signal: []\n", "broken.yaml: signal: unknown key"),
        (
            "signals:\n  - {id: neg, weight: -1, terms: [x]}\n",
            "broken.yaml: signals[0] (id 'neg').weight: Input should be greater than 0",
        ),
        (
            "signals:\n  - {id: ok, weight: 1, terms: [x], needs: [nowhere]}\n",
            "broken.yaml: signals[0] (id 'ok').needs: unknown context 'nowhere'",
        ),
        (
            "traps:\n  - {id: t, terms: ['—']}\n",
            "broken.yaml: traps[0] (id 't').terms: phrase '—' has no letters or digits",
        ),
        (
            "signals:\n  - {id: a, weight: 1, terms: [x]}\n  - {id: a, weight: 1, terms: [y]}\n",
            "broken.yaml: signals[1]: id 'a' is used twice",
        ),
    ],
    ids=["yaml", "not-a-mapping", "unknown-key", "bad-weight", "unknown-context", "empty-term",
         "duplicate-id"],
)
def test_broken_rules_file_gives_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    broken = _write(tmp_path / "broken.yaml", text)
    with pytest.raises(ConfigError) as info:
        Matcher.load(extra_rules=[broken])
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sites:\n  new-site:\n    places: [X]\n", "my-sites.yaml: sites.new-site.label: missing"),
        (
            "sites:\n  Bad Slug:\n    label: x\n    kind: cra\n",
            "my-sites.yaml: sites.Bad Slug: a slug is lower-case words joined by '-'",
        ),
        (
            "sites:\n  nice:\n    exact_case: [Nizza]\n",
            "my-sites.yaml: sites.nice.exact_case: 'Nizza' is not one of its names",
        ),
    ],
    ids=["new-site-without-label", "bad-slug", "exact-case-not-an-alias"],
)
def test_broken_sites_file_gives_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    broken = _write(tmp_path / "my-sites.yaml", text)
    with pytest.raises(ConfigError) as info:
        Matcher.load(extra_sites=[broken])
    assert str(info.value).startswith(message)


def test_missing_rules_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        Matcher.load(extra_rules=[tmp_path / "nope.yaml"])


# --- `watcher match` ---------------------------------------------------------------------


def test_cli_prints_one_json_line_per_notice(tmp_path: Path) -> None:
    notices = _write(tmp_path / "n.jsonl", "\n".join(json.dumps(r) for r in DEV_ROWS[:12]) + "\n")
    result = CliRunner().invoke(match_command, ["--jsonl", str(notices)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == [r["id"] for r in DEV_ROWS[:12]]
    roissy = next(line for line in lines if line["id"] == "dev-008")
    assert set(roissy) == {"id", "relevant", "site", "score", "reasons"}
    assert (roissy["relevant"], roissy["site"]) == (True, "roissy-zapi")
    assert "zone d'attente" in result.stdout  # ensure_ascii=False keeps accents readable
    assert "\\u" not in result.stdout


def test_cli_reads_stdin_and_reports_bad_lines(tmp_path: Path) -> None:
    good = json.dumps({"id": "a", "title": "Nettoyage du CRA de Coquelles"}, ensure_ascii=False)
    text = f"{good}\nnot json\n{{\"id\": \"b\"}}\n\n{good}\n"
    result = CliRunner().invoke(match_command, ["--jsonl", "-"], input=text)
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 2
    assert "line 2: not valid JSON" in result.stderr
    assert "line 3: 'title' is missing or empty" in result.stderr
    assert "Traceback" not in result.output


def test_cli_merges_rules_named_in_sources_file(tmp_path: Path) -> None:
    _write(tmp_path / "extra.yaml", "signals:\n  - {id: foyer, weight: 2, terms: [foyer X]}\n")
    sources = _write(tmp_path / "sources.yaml", "sources: []\nrules: [extra.yaml]\n")
    notices = _write(tmp_path / "n.jsonl", json.dumps({"id": "f", "title": "Le foyer X"}) + "\n")
    result = CliRunner().invoke(
        match_command, ["--jsonl", str(notices), "--sources", str(sources)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["relevant"] is True


def test_cli_bad_rules_is_one_line_and_exit_1(tmp_path: Path) -> None:
    _write(tmp_path / "extra.yaml", "signals: {}\n")
    sources = _write(tmp_path / "sources.yaml", "sources: []\nrules: [extra.yaml]\n")
    notices = _write(tmp_path / "n.jsonl", "")
    result = CliRunner().invoke(
        match_command, ["--jsonl", str(notices), "--sources", str(sources)]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: extra.yaml: signals: ")
    assert "Traceback" not in result.output
