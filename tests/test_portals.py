"""Issue 4 end to end: BOAMP, TED and Find a Tender served from loopback; the feed carries the
relevant notices of all three and no others, each linked to its own portal, and the same tender on
two portals makes one event with both links."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from lxml import etree

from tests.helpers import runtime_env
from tests.loopback import LoopbackServer, Reply, Request
from tests.test_pipeline import BoampPortal
from watcher.cli import main
from watcher.pipeline.runtime import Runtime

FIXTURES = Path(__file__).parent / "fixtures"
ATOM = "{http://www.w3.org/2005/Atom}"


def ted_portal(notices: list[dict[str, Any]]) -> Callable[[Request], Reply]:
    def handler(request: Request) -> Reply:
        assert request.method == "POST" and request.path == "/v3/notices/search"
        body = {"notices": notices, "totalNoticeCount": len(notices), "iterationNextToken": None}
        return Reply(200, json.dumps(body).encode())

    return handler


def fts_portal(request: Request) -> Reply:
    assert request.path == "/api/1.0/ocdsReleasePackages"
    if request.param("stages") != "tender":
        return Reply(200, b'{"releases": [], "links": {}}')
    package = json.loads((FIXTURES / "find_a_tender" / "packages_page1.json").read_text("utf-8"))
    package["links"] = {}
    return Reply(200, json.dumps(package).encode())


def ted_notices() -> list[dict[str, Any]]:
    page = json.loads((FIXTURES / "ted" / "search_page1.json").read_text("utf-8"))
    notices: list[dict[str, Any]] = page["notices"]
    # The BOAMP Dunkerque tender, as TED publishes it: same buyer, title and deadline, no shared id.
    loon = next(n for n in notices if n["publication-number"] == "612845-2025")
    twin = copy.deepcopy(loon)
    twin["publication-number"] = "700001-2026"
    twin["notice-title"] = {
        "fra": "France – Travaux de construction de prisons – Construction du centre de rétention "
        "administrative de Dunkerque (Loon-Plage)"
    }
    twin["buyer-name"] = {"fra": ["MINISTERE DE L'INTERIEUR - SGAMI NORD"]}
    twin["deadline-receipt-tender-date-lot"] = ["2027-01-04+01:00"]
    twin["deadline-receipt-tender-time-lot"] = ["13:00:00+01:00"]
    twin["publication-date"] = "2026-11-20+01:00"
    return [*notices, twin]


def test_three_portals_one_feed(make_runtime: Callable[..., Runtime], monkeypatch: Any) -> None:
    with (
        LoopbackServer(BoampPortal()) as boamp,
        LoopbackServer(ted_portal(ted_notices())) as ted,
        LoopbackServer(fts_portal) as fts,
    ):
        runtime = make_runtime(
            "sources:\n"
            f"  - {{name: boamp, kind: boamp, base_url: '{boamp.url}'}}\n"
            f"  - {{name: ted, kind: ted, base_url: '{ted.url}', min_interval: 0}}\n"
            f"  - {{name: fts, kind: find_a_tender, base_url: '{fts.url}'}}\n"
        )
        for key, value in runtime_env(runtime).items():
            monkeypatch.setenv(key, value)
        result = CliRunner().invoke(main, ["run", "--once"])
    assert result.exit_code == 0, result.output
    root = etree.parse(str(runtime.settings.data_dir / "feeds" / "all.atom")).getroot()
    entries = root.findall(f"{ATOM}entry")
    by_title = {e.findtext(f"{ATOM}title") or "": e for e in entries}
    text = "\n".join(by_title)
    # relevant notices of all three portals...
    assert "Dunkerque" in text and "Lesquin" in text  # BOAMP
    assert "612845-2025" not in text and "Loon-Plage" in text  # TED
    assert "Heathrow Immigration Removal Centre" in text  # Find a Tender
    # ...and no others
    for noise in ("bassin", "Bewachung", "Assurances", "Office removals"):
        assert noise not in text, noise
    # each entry links to the notice on its own portal
    hosts = {
        "boamp": "www.boamp.fr",
        "ted": "ted.europa.eu",
        "fts": "www.find-tender.service.gov.uk",
    }
    for entry in entries:
        source = next(
            c.get("term") for c in entry.findall(f"{ATOM}category") if c.get("term") in hosts
        )
        href = entry.find(f"{ATOM}link[@rel='alternate']").get("href")
        assert hosts[source] in href, (source, href)
    # the Dunkerque tender is on BOAMP and TED: one event, both links
    dunkerque = [t for t in by_title if "Dunkerque" in t and "Construction" in t]
    assert len(dunkerque) == 1, dunkerque
    content = by_title[dunkerque[0]].findtext(f"{ATOM}content") or ""
    assert "boamp.fr" in by_title[dunkerque[0]].find(f"{ATOM}link[@rel='alternate']").get("href")
    assert "ted.europa.eu/fr/notice/-/detail/700001-2026" in content
