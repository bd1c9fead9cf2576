"""The relevance matcher: the labelled dev set, the traps of issue 3, rule files and `watcher match`."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from watcher.cli.match import match_command
from watcher.errors import ConfigError
from watcher.match.matcher import Matcher, MatchInput, input_from_dict, match_jsonl_line
from watcher.records import Lot, NoticeRecord

FIXTURES = Path(__file__).parent / "fixtures" / "match"
DEV = FIXTURES / "labeled-dev.jsonl"
HARD = FIXTURES / "hard-cases.yaml"
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


# Hand-written hard cases, one per trap of issue 3 and more: see the file's header.
HARD_CASES: list[dict[str, Any]] = yaml.safe_load(HARD.read_text(encoding="utf-8"))


def _input(notice: dict[str, Any]) -> MatchInput:
    return MatchInput(**{**notice, "cpv": tuple(notice.get("cpv", ()))})


@pytest.mark.parametrize("case", HARD_CASES, ids=[c["id"] for c in HARD_CASES])
def test_hard_case(matcher: Matcher, case: dict[str, Any]) -> None:
    verdict = matcher.match(_input(case["notice"]))
    assert verdict.relevant is case["relevant"], verdict.reasons
    assert verdict.site == case["site"], verdict.reasons


def test_hard_cases_cover_both_sides() -> None:
    assert len({c["id"] for c in HARD_CASES}) == len(HARD_CASES)
    assert sum(c["relevant"] for c in HARD_CASES) >= 40
    assert sum(not c["relevant"] for c in HARD_CASES) >= 40


def test_every_relevant_verdict_has_a_reason(matcher: Matcher) -> None:
    inputs = [input_from_dict(r) for r in DEV_ROWS] + [_input(c["notice"]) for c in HARD_CASES]
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
        "Zones d’attente : hôtellerie, police aux frontières",
        "ZONE D'ATTENTE - HOTELLERIE - POLICE AUX FRONTIERES",
        "Hôtellerie de la zone d'attente (Police aux Frontières)",
    ],
)
def test_matching_ignores_case_accents_elision_and_plurals(matcher: Matcher, title: str) -> None:
    assert matcher.match(MatchInput(title=title)).relevant


_WEAK = "Les prestations ont lieu dans le département de la Gironde, sur le site existant."


@pytest.mark.parametrize(
    ("description", "departments", "site"),
    [
        # A site named only by a nearby area is confirmed by the notice's own place list …
        (_WEAK, ("33",), "bordeaux"),
        (_WEAK, ("40", "33"), "bordeaux"),
        # … and stays untagged without it, or when the notice is executed elsewhere.
        (_WEAK, (), None),
        (_WEAK, ("75",), None),
        # Two sites named stay two, even when the portal gives only one of their départements.
        ("Sites de Lesquin et de Coquelles.", ("59",), None),
        # The place list never names a site by itself.
        ("Prestations de nettoyage des locaux.", ("33",), None),
    ],
)
def test_the_notices_departements_confirm_a_weakly_named_site(
    matcher: Matcher, description: str, departments: tuple[str, ...], site: str | None
) -> None:
    title = "Nettoyage des locaux du centre de rétention administrative"
    verdict = matcher.match(MatchInput(title, description=description, departments=departments))
    assert verdict.relevant
    assert verdict.site == site, verdict.reasons
    if site:
        assert f"→ {site} (the notice's département" in verdict.reasons[-1]


def test_words_match_whole(matcher: Matcher) -> None:
    # "rétentions" is a plural of a weak word; "CRAMIF" and "ZAPIZ" are other words.
    verdict = matcher.match(MatchInput(title="Archives CRAMIF, ZAPIZ et rétentions"))
    assert not verdict.relevant
    assert verdict.score < 1


def test_site_aliases_cover_every_slug_of_sites_md(matcher: Matcher) -> None:
    slugs = {
        "bordeaux",
        "cayenne",
        "coquelles",
        "hendaye",
        "la-reunion",
        "les-abymes",
        "lille-lesquin",
        "lyon",
        "marseille",
        "mayotte",
        "mesnil-amelot",
        "metz",
        "nice",
        "nimes",
        "palaiseau",
        "paris-cite",
        "perpignan",
        "plaisir",
        "rennes",
        "rouen",
        "sete",
        "strasbourg",
        "toulouse",
        "vincennes",
        "dunkerque",
        "aix-en-provence",
        "beziers",
        "dijon",
        "goussainville",
        "nantes",
        "orleans",
        "roissy-zapi",
        "marignane-za",
        "heathrow-irc",
        "gatwick-irc",
        "dungavel-irc",
        "derwentside-irc",
        "yarls-wood-irc",
        "campsfield-irc",
        "haslar-irc",
        "manston-sthf",
        "larne-house-sthf",
    }
    assert set(matcher.site_slugs) == slugs


def test_match_is_thread_safe(matcher: Matcher) -> None:
    inputs = [input_from_dict(r) for r in DEV_ROWS] * 5
    sequential = [matcher.match(i) for i in inputs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(matcher.match, inputs)) == sequential


def test_a_text_seen_before_gives_the_same_verdict() -> None:
    """The matcher remembers the words and hits of recent texts (buyers, re-published notices):
    a notice matched again, or after others that share its texts, reads exactly as the first time."""
    inputs = [input_from_dict(r) for r in DEV_ROWS]
    first = [Matcher.load().match(i) for i in inputs]
    shared = Matcher.load()
    assert [shared.match(i) for i in inputs] == first
    assert [shared.match(i) for i in reversed(inputs)] == first[::-1]


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
    # The feeds read the slugs alone, without compiling the rules (issue 29): the same ones.
    assert Matcher.slugs([sites]) == matcher.site_slugs
    assert Matcher.slugs() == Matcher.load().site_slugs
    assert "orly-za" in matcher.site_slugs and "orly-za" not in Matcher.slugs()
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
    ids=[
        "yaml",
        "not-a-mapping",
        "unknown-key",
        "bad-weight",
        "unknown-context",
        "empty-term",
        "duplicate-id",
    ],
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
    text = f'{good}\nnot json\n{{"id": "b"}}\n\n{good}\n'
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
    result = CliRunner().invoke(match_command, ["--jsonl", str(notices), "--sources", str(sources)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["relevant"] is True


def test_cli_bad_rules_is_one_line_and_exit_1(tmp_path: Path) -> None:
    _write(tmp_path / "extra.yaml", "signals: {}\n")
    sources = _write(tmp_path / "sources.yaml", "sources: []\nrules: [extra.yaml]\n")
    notices = _write(tmp_path / "n.jsonl", "")
    result = CliRunner().invoke(match_command, ["--jsonl", str(notices), "--sources", str(sources)])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: extra.yaml: signals: ")
    assert "Traceback" not in result.output
