"""Every source kind is registered, documented, has fixtures, and parses them into valid notices
(kingfisher's `checkall` and `test_spiders.py`)."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import watcher.sources
from watcher.records import NOTICE_TYPES, NoticeRecord, RawPage
from watcher.sources import SOURCES
from watcher.sources.base import Source

PACKAGE = Path(watcher.sources.__file__).parent
FIXTURES = Path(__file__).parent / "fixtures"
HEADINGS = ("Portal", "URL", "Caveats", "Config keys")
# Modules of shared parsing code, not kinds.
# Shared helpers beside the kinds: the base class, the HTTP seam, HTML list->detail helpers.
HELPERS = {
    "__init__",
    "base",
    "boamp_donnees",
    "ocds",
    "http",
    "inflate",
    "scrape",
    "netdiag",
    "netguard",
    "time_limits",
    "validators",
}

# For each kind: the least config it needs, a recorded page, and that page's URL and type.
PARSE: dict[str, tuple[dict[str, Any], str, str, str]] = {
    "boamp": ({}, "poll_page.json", "https://boamp.example/records", "application/json"),
    "ted": (
        {},
        "search_page1.json",
        "https://api.ted.europa.eu/v3/notices/search",
        "application/json",
    ),
    "find_a_tender": ({}, "packages_page1.json", "https://fts.example/p", "application/json"),
    "contracts_finder": ({}, "search_page1.json", "https://cf.example/s", "application/json"),
    "place": (
        {},
        "results_page1.html",
        "https://www.marches-publics.gouv.fr/?page=Entreprise.EntrepriseAdvancedSearch&AllCons",
        "text/html",
    ),
    "html": (
        {
            "list_urls": ["https://prefecture.example/list.html"],
            "item": "li.avis",
            "fields": {"id": "@data-ref", "title": "h2.titre a", "link": "h2.titre a"},
        },
        "list.html",
        "https://prefecture.example/list.html",
        "text/html",
    ),
    "feed": (
        {"url": "https://feed.example/rss.xml"},
        "rss.xml",
        "https://feed.example/rss.xml",
        "text/xml",
    ),
    "decp": (
        {"urls": ["/r/1"]},
        "cra_2019format_reconstructed.json",
        "https://www.data.gouv.fr/r/1",
        "application/json",
    ),
}


def kind_modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in HELPERS)


@pytest.mark.parametrize("module_name", kind_modules())
def test_every_module_is_a_registered_documented_kind(module_name: str) -> None:
    module = importlib.import_module(f"watcher.sources.{module_name}")
    kinds = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Source) and cls.__module__ == module.__name__ and "kind" in cls.__dict__
    ]
    assert len(kinds) == 1, f"{module_name}: expected one Source subclass with a kind"
    cls = kinds[0]
    assert cls.kind == module_name, "the kind, the module name and the YAML kind are identical"
    assert SOURCES[cls.kind] is cls, f"{cls.kind} is not registered in watcher/sources/__init__.py"
    doc = module.__doc__ or ""
    for heading in HEADINGS:
        assert re.search(rf"^{heading}$", doc, re.M), f"{module_name}: docstring lacks '{heading}'"
    folder = FIXTURES / module_name
    assert folder.is_dir() and any(folder.iterdir()), f"no recorded fixtures in {folder}"


def test_every_registered_kind_has_a_module_and_a_parse_case() -> None:
    assert set(SOURCES) == set(kind_modules())
    assert set(SOURCES) == set(PARSE)


def valid(notice: NoticeRecord) -> list[str]:
    problems = []
    if not notice.native_id.strip():
        problems.append("empty native_id")
    if not notice.title.strip():
        problems.append("empty title")
    if notice.notice_type not in NOTICE_TYPES:
        problems.append(f"notice_type {notice.notice_type!r}")
    if notice.deadline is not None and notice.deadline.utcoffset() != dt.timedelta(0):
        problems.append("deadline not aware UTC")
    if notice.url is not None and not notice.url.startswith(("http://", "https://")):
        problems.append(f"url {notice.url!r}")
    if any(not re.fullmatch(r"\d{8}", c) for c in notice.cpv):
        problems.append(f"cpv {notice.cpv}")
    if not notice.raw:
        problems.append("no raw payload kept")
    return problems


@pytest.mark.parametrize("kind", sorted(PARSE))
def test_every_kind_parses_its_fixture_into_valid_notices(kind: str) -> None:
    config, fixture, url, media = PARSE[kind]
    cls = SOURCES[kind]
    source = cls(cls.Config(name=f"test-{kind}", kind=kind, **config))
    page = RawPage(url, (FIXTURES / kind / fixture).read_bytes(), media)
    notices = list(source.parse(page))
    assert notices, f"{kind}: {fixture} gave no notice"
    for notice in notices:
        assert valid(notice) == [], (kind, notice.native_id)


# What a run of one kind imports (issue 29: a cron run imports only what it uses): the kind
# asked for and its helpers, no other kind; the `feed` kind reads a feed without markup in its
# texts without lxml.
ONLY_WHAT_IS_USED = """
import sys
from pathlib import Path
from watcher.records import RawPage
from watcher.sources import SOURCES
config, fixture, url, media = {case!r}
cls = SOURCES[{kind!r}]
source = cls(cls.Config(name="test", kind={kind!r}, **config))
list(source.parse(RawPage(url, Path({folder!r}, fixture).read_bytes(), media)))
others = [m for m in sys.modules if m.startswith("watcher.sources.")
          and m.rpartition(".")[2] in SOURCES and m != "watcher.sources." + {kind!r}]
print(sorted(others), "lxml" in sys.modules)
"""


PLAIN_FEED = (
    b'<rss version="2.0"><channel><item><guid>a-1</guid><title>Nettoyage des locaux</title>'
    b"<link>https://acheteur.example/a/1</link><description>Lot 1 - Nord</description>"
    b"</item></channel></rss>"
)


@pytest.mark.parametrize(("kind", "lxml"), [("feed", False), ("html", True)])
def test_a_kind_imports_no_other_kind(kind: str, lxml: bool, tmp_path: Path) -> None:
    fixture = PARSE[kind][1]
    folder = FIXTURES / kind
    if kind == "feed":
        (tmp_path / fixture).write_bytes(PLAIN_FEED)
        folder = tmp_path
    code = ONLY_WHAT_IS_USED.format(kind=kind, case=PARSE[kind], folder=str(folder))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["[]", str(lxml)]


def test_the_registry_knows_every_kind_before_importing_one() -> None:
    assert sorted(SOURCES) == sorted(kind_modules())
    with pytest.raises(KeyError):
        SOURCES["nope"]
