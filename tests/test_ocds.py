"""Issue 12: the procedures published as OCDS. Every release of every procedure made from the test
data of every source kind validates against the OCDS 1.1 release schema shipped with the package;
records carry compiled and versioned releases made by ocdsmerge; the CLI and the API give them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from tests.helpers import runtime_env
from tests.sources import (
    test_boamp,
    test_contracts_finder,
    test_decp,
    test_feed,
    test_find_a_tender,
    test_place,
    test_ted,
)
from tests.test_story import play
from watcher.cli import main
from watcher.db.models import SourceState
from watcher.db.session import session_scope
from watcher.db.store import PollStore
from watcher.pipeline import ocds
from watcher.pipeline.ocds import package, release_errors, release_schema, root_ids, roots
from watcher.pipeline.runtime import Runtime
from watcher.records import NoticeRecord, RawPage, RunResult
from watcher.sources.html import HtmlSource

FIXTURES = Path(__file__).parent / "fixtures"
NOW = dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC)


def _html_records() -> list[NoticeRecord]:
    src = HtmlSource(
        HtmlSource.Config(
            name="html", kind="html", list_urls=["https://prefecture.example/list.html"],
            item="li.avis", fields=_html_fields(),
        )
    )  # fmt: skip
    page = RawPage(
        "https://prefecture.example/list.html",
        (FIXTURES / "html" / "list.html").read_bytes(),
        "text/html",
    )
    return list(src.parse(page))


def _html_fields() -> dict[str, str]:
    from tests.sources.test_html import FIELDS  # noqa: PLC0415

    return dict(FIELDS)


def records_by_kind() -> Iterator[tuple[str, list[NoticeRecord]]]:
    """The notices of the test data of every source kind, as their parsers read them."""
    boamp = [
        n
        for name in ("poll_page.json", "page_eforms.json", "page_national.json", "page_v1.json")
        for n in test_boamp.notices(name).values()
    ]
    yield "boamp", boamp
    yield "ted", list(test_ted._notices().values())
    yield "find_a_tender", list(test_find_a_tender._notices().values())
    yield "contracts_finder", list(test_contracts_finder._notices().values())
    decp = [
        n
        for name in ("interieur_2019format.json", "maximilien_2022format.json",
                     "cra_2019format_reconstructed.json", "decp_processing_2022_fixture.json")
        for n in test_decp.parse(name)
    ]  # fmt: skip
    yield "decp", decp
    place = list(
        test_place.source().parse(test_place.page("results_page1.html", test_place.SEARCH))
    )
    place += list(
        test_place.source().parse(
            test_place.page("maximilien_allcons.html", test_place.MAXIMILIEN + "/?AllCons=")
        )
    )
    yield "place", place
    yield "html", _html_records()
    yield "feed", test_feed.parse("atom.xml") + test_feed.parse("rss.xml")


def store_every_kind(runtime: Runtime) -> None:
    """Store the records of every source kind (`records_by_kind`), each kind as a source of
    its own polled at NOW."""
    with session_scope(runtime.sessions) as session:
        for kind, records in records_by_kind():
            assert records, kind
            state = SourceState(name=kind, kind=kind, consecutive_failures=0)
            session.add(state)
            session.flush()
            store = PollStore(session, state, runtime.matcher, NOW, RunResult(source=kind))
            store.add_page(RawPage(url=f"https://{kind}.example/", content=b""), records)
            store.finish()


SCHEMAS = Path(__file__).parent / "schemas" / "ocds"
SHIPPED = Path(__file__).parent.parent / "watcher" / "pipeline" / "schemas" / "ocds"


def record_package_validator() -> jsonschema.Draft4Validator:
    """The OCDS record-package schema, its `$ref`s to the release and versioned-release schemas
    resolved to the local copies (no network, issue 24)."""
    from referencing import Registry, Resource  # noqa: PLC0415
    from referencing.jsonschema import DRAFT4  # noqa: PLC0415

    schema = json.loads((SCHEMAS / "record-package-schema.json").read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry()
    for name in ("release-schema.json", "versioned-release-validation-schema.json"):
        document = json.loads((SHIPPED / name).read_text(encoding="utf-8"))
        resource = Resource.from_contents(document, default_specification=DRAFT4)
        registry = registry.with_resource(document["id"], resource)
    return jsonschema.Draft4Validator(schema, registry=registry)


def _validate_package(data: dict[str, Any]) -> int:
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"[:300]
        for e in record_package_validator().iter_errors(data)
    ]
    assert errors == []
    releases = [r for record in data["records"] for r in record["releases"]]
    assert release_errors(releases) == []
    validator = jsonschema.Draft4Validator(release_schema())
    for record in data["records"]:
        assert record["releases"] and record["ocid"].startswith("ocds-")
        compiled = record["compiledRelease"]
        assert compiled["tag"] == ["compiled"] and compiled["ocid"] == record["ocid"]
        assert list(validator.iter_errors(compiled)) == []
        assert isinstance(record["versionedRelease"], dict) and record["versionedRelease"]
    return len(releases)


def test_every_source_kind_exports_valid_ocds(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime("sources: []\n")
    counts: dict[str, tuple[int, int]] = {}
    store_every_kind(runtime)
    with runtime.sessions() as session:
        everything = roots(session, relevant_only=False)
        for kind in [k for k, _ in records_by_kind()]:
            mine = [r for r in everything if r.source.name == kind]
            data = package(session, mine, NOW)
            counts[kind] = (len(data["records"]), _validate_package(data))
    assert all(procedures and releases for procedures, releases in counts.values()), counts
    print("ocds per kind (procedures, releases):", counts)


def test_the_story_as_ocds_cli_and_api(make_runtime: Callable[..., Runtime]) -> None:
    story = play(make_runtime, "ted_first")
    runtime: Runtime = story["runtime"]
    env = runtime_env(runtime, WATCHER_OCID_PREFIX="ocds-test01")
    out = runtime.settings.data_dir / "ocds.json"
    result = CliRunner(env=env).invoke(main, ["export", "--ocds", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text("utf-8"))
    assert _validate_package(data) > 0
    [record] = [r for r in data["records"] if r["ocid"] == "ocds-test01-boamp-26-90001"]
    tags = [r["tag"][0] for r in record["releases"]]
    assert tags[0] == "planning" and tags.count("tender") == 2
    assert "tenderAmendment" in tags and tags.count("award") == 2
    compiled = record["compiledRelease"]
    assert compiled["tender"]["id"] == "b7e2c9d4-1f3a-4e6b-9c8d-5a4f3e2d1c0b"
    assert compiled["tender"]["tenderPeriod"]["endDate"] == "2027-03-01T11:00:00Z"
    assert compiled["tender"]["items"][0]["classification"] == {"scheme": "CPV", "id": "45216113"}
    award = compiled["awards"][0]
    assert award["suppliers"][0]["name"] == "SPIE BATIGNOLLES NORD"
    assert award["value"] == {"amount": 36500000.0, "currency": "EUR"}
    assert compiled["buyer"]["name"] == "MINISTERE DE L'INTERIEUR - SGAMI NORD"
    # The police station and the basin are not relevant: not in the package.
    assert len(data["records"]) == 1

    result = CliRunner(env=env).invoke(main, ["export", "--notice", "ted:712345-2026", "--ocds"])
    assert result.exit_code == 0, result.output
    one = json.loads(result.output)
    assert [r["ocid"] for r in one["records"]] == ["ocds-test01-boamp-26-90001"]
    # The JSON history export is unchanged.
    result = CliRunner(env=env).invoke(main, ["export", "--notice", "boamp:26-90001"])
    assert result.exit_code == 0 and json.loads(result.output)["events"]
    result = CliRunner(env=env).invoke(main, ["export"])
    assert result.exit_code != 0 and "--notice" in result.output


@pytest.mark.parametrize("tag", ["planning", "tenderAmendment", "contractAmendment"])
def test_release_errors_name_what_is_wrong(tag: str) -> None:
    good = {"ocid": "ocds-x-1", "id": "1", "date": "2026-01-01T00:00:00Z", "tag": [tag],
            "initiationType": "tender"}  # fmt: skip
    assert release_errors([good]) == []
    assert release_errors([{**good, "tag": ["nonsense"]}]) == ["1: unknown tag 'nonsense'"]
    assert release_errors([{k: v for k, v in good.items() if k != "date"}])


@pytest.mark.parametrize("batch", [1, 3, 200])
def test_the_streamed_package_is_the_package_as_json(
    make_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """Issue 29: `export --ocds` writes the package record by record, reading the procedures in
    batches; the text is the very one of the package made whole in memory."""
    runtime = make_runtime("sources: []\n")
    store_every_kind(runtime)
    monkeypatch.setattr(ocds, "BATCH", batch)
    with runtime.sessions() as session:
        for relevant_only in (True, False):
            ids = root_ids(session, relevant_only=relevant_only)
            whole = package(session, roots(session, relevant_only=relevant_only), NOW, prefix="p")
            chunks: list[str] = []
            told: list[tuple[int, int]] = []
            written = ocds.write_package(
                session,
                ids,
                NOW,
                chunks.append,
                prefix="p",
                progress=lambda *a, t=told: t.append(a),
            )
            assert "".join(chunks) == json.dumps(whole, ensure_ascii=False, indent=2)
            assert len(chunks) == len(ids) + 2  # the envelope's head, one per record, its tail
            assert told[-1] == (len(ids), len(ids)) == (written.records, len(told))
            assert written.releases == sum(len(r["releases"]) for r in whole["records"])
        chunks = []
        ocds.write_package(session, [], NOW, chunks.append)
        assert "".join(chunks) == json.dumps(package(session, [], NOW), indent=2)


@pytest.mark.parametrize(
    "value",
    [
        1e-05, 0.00015, -2.5e-07, 1e-4, 1e16, 1.2345678901234568e17, 36500000.0, 0.1, -0.0,
        2**64, -(2**63) - 1, "0.00001 et 1e-7 dans un titre", "é\u2028\x1f\x7f\t\"\\", [], {},
    ],
)  # fmt: skip
def test_records_are_written_as_the_standard_library_writes_them(value: Any) -> None:
    data = {"a": [value, {"b": value, "c": []}], "d": {}}
    assert ocds._indented(data) == json.dumps(data, ensure_ascii=False, indent=2)


def test_export_ocds_to_a_file_is_whole_or_not_at_all(
    make_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    runtime = make_runtime("sources: []\n")
    store_every_kind(runtime)
    env = runtime_env(runtime)
    out = tmp_path / "export" / "ocds.json"
    out.parent.mkdir()
    result = CliRunner(env=env).invoke(main, ["export", "--ocds", "--out", str(out)])
    assert result.exit_code == 0, result.output
    first = out.read_text("utf-8")
    shown = CliRunner(env=env).invoke(main, ["export", "--ocds"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["records"] == json.loads(first)["records"]
    assert result.output.strip().endswith("releases (OCDS 1.1)")

    def broken(*args: Any, **kwargs: Any) -> Any:
        yield from ()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ocds, "records", broken)
    result = CliRunner(env=env).invoke(main, ["export", "--ocds", "--out", str(out)])
    assert result.exit_code == 1 and "No space left on device" in result.output
    assert out.read_text("utf-8") == first  # the previous export, whole
    assert sorted(p.name for p in out.parent.iterdir() if "ocds" in p.name) == ["ocds.json"]
