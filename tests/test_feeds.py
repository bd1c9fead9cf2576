"""Every feed a reader can subscribe to: per site, source and event type, Atom and JSON Feed, French
and English, archived by RFC 5005 pages, the deadline calendar, and the same over HTTP with 304s."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import icalendar
import pytest
from click.testing import CliRunner
from lxml import etree
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.atom_schema import ATOM, atom_problems
from tests.helpers import runtime_env
from tests.loopback import LoopbackServer
from tests.test_pipeline import FIXTURES, BoampPortal, sources_yaml
from tests.test_timeline import corrigendum
from watcher.cli import main
from watcher.db.models import Event, Notice, SourceState
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime
from watcher.publish.catalog import EVENT_TYPES
from watcher.publish.feeds import write_feeds
from watcher.web.feeds import routes
from watcher.web.server import create_app

FH = "{http://purl.org/syndication/history/1.0}"
FIRST_POLL = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
SECOND_POLL = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
GAZETTEER = ("beziers", "dijon", "dunkerque", "lille-lesquin")


def beziers_cra() -> dict[str, Any]:
    """A BOAMP record for the CRA of Béziers, made from the Lesquin catering record."""
    page = json.loads((FIXTURES / "poll_page.json").read_text("utf-8"))
    record = copy.deepcopy(next(r for r in page["results"] if r["idweb"] == "26-117950"))
    donnees = {
        "MAPA": {
            "organisme": {
                "acheteurPublic": "Préfecture de l'Hérault",
                "adr": {"cp": "34500", "ville": "Béziers"},
            },
            "initial": {
                "description": {
                    "objet": "Nettoyage des locaux du CRA de Béziers",
                    "lieuPrincipal": "Centre de rétention administrative, Béziers (34500)",
                },
                "caracteristiques": {
                    "principales": "Nettoyage quotidien des zones de vie des personnes retenues."
                },
                "natureMarche": {"codeCPV": {"objetPrincipal": {"classPrincipale": "90910000"}}},
                "delais": {"receptionOffres": "2027-02-01T12:00:00+01:00"},
            },
        }
    }
    record.update(
        id="26_119001",
        idweb="26-119001",
        filename="26-119001",
        url_avis="https://www.boamp.fr/pages/avis/?q=idweb:26-119001",
        objet="Nettoyage des locaux du centre de rétention administrative de Béziers",
        nomacheteur="PREFECTURE DE L'HERAULT",
        code_departement=["34"],
        datelimitereponse="2027-02-01T11:00:00+00:00",
        datefindiffusion="2027-02-01",
        donnees=json.dumps(donnees, ensure_ascii=False),
    )
    return record


@dataclass
class World:
    """A database after two polls of the fixture portal, and feeds built after each."""

    runtime: Runtime
    before: Path  # feeds after the first poll
    out: Path  # feeds after the moved deadline


def poll(runtime: Runtime, portal: BoampPortal, page: str, when: dt.datetime) -> None:
    """One poll of the loopback portal serving `page` plus the Béziers CRA, at time `when`."""
    portal.load(page)
    portal.records.append(beziers_cra())
    ctx = runtime.context()
    ctx.clock = lambda: when
    [result] = run_sources(runtime.config.build(), ctx)
    assert result.ok, result.error


def build(runtime: Runtime, out: Path, **kwargs: Any) -> list[Path]:
    with runtime.sessions() as session:
        return write_feeds(session, runtime.settings, out, now=NOW, sites=GAZETTEER, **kwargs)


@pytest.fixture
def world(make_runtime: Callable[..., Runtime], tmp_path: Path) -> World:
    portal = BoampPortal()
    with LoopbackServer(portal) as server:
        runtime = make_runtime(sources_yaml(server.url))
        poll(runtime, portal, "poll_page.json", FIRST_POLL)
        build(runtime, tmp_path / "before")
        poll(runtime, portal, "poll_page_moved_deadline.json", SECOND_POLL)
        build(runtime, tmp_path / "feeds")
    return World(runtime, tmp_path / "before", tmp_path / "feeds")


def entries(path: Path) -> list[etree._Element]:
    return etree.parse(str(path)).getroot().findall(f"{ATOM}entry")


def titles(path: Path) -> list[str]:
    return [e.findtext(f"{ATOM}title") or "" for e in entries(path)]


def links(path: Path) -> dict[str, str]:
    root = etree.parse(str(path)).getroot()
    return {link.get("rel", ""): link.get("href", "") for link in root.findall(f"{ATOM}link")}


def test_every_document_is_valid(world: World) -> None:
    atoms = sorted(world.out.rglob("*.atom"))
    jsons = sorted(world.out.rglob("*.json"))
    assert len(atoms) == len(jsons) > 0
    for path in atoms:
        assert atom_problems(path.read_bytes()) == [], path
    for path in jsons:
        feed = json.loads(path.read_text("utf-8"))
        assert feed["version"] == "https://jsonfeed.org/version/1.1", path
        assert feed["title"] and feed["feed_url"].endswith(str(path.relative_to(world.out)))
        for item in feed["items"]:
            assert item["id"].startswith("tag:watcher.example,2026:")
            assert item["content_html"]
        atom_ids = [e.findtext(f"{ATOM}id") for e in entries(path.with_suffix(".atom"))]
        assert [item["id"] for item in feed["items"]] == atom_ids
    names = {str(p.relative_to(world.out)) for p in world.out.rglob("*") if p.is_file()}
    expected = {
        "all.atom",
        "deadlines.ics",
        "sites/beziers.atom",
        "sites/dijon.atom",  # in the gazetteer, no event yet: an empty feed to subscribe to
        "sources/boamp.json",
        "en/events/deadline_moved.atom",
        *(f"events/{kind}.atom" for kind in EVENT_TYPES),
    }
    assert expected <= names
    assert not [n for n in names if n.endswith(".tmp")]


def test_site_feed_carries_that_site_and_nothing_else(world: World) -> None:
    beziers = titles(world.out / "sites" / "beziers.atom")
    assert beziers == [
        "Nouveau marché : Nettoyage des locaux du centre de rétention administrative de Béziers"
    ]
    everything = " ".join(titles(world.out / "all.atom"))
    assert "bassin" not in everything.lower()  # Béziers' stormwater basin is not detention
    dunkerque = titles(world.out / "sites" / "dunkerque.atom")
    assert [t.split(" : ")[0] for t in dunkerque] == ["Date limite modifiée", "Nouveau marché"]
    assert entries(world.out / "sites" / "dijon.atom") == []


@pytest.mark.parametrize(
    ("path", "count", "prefix"),
    [
        ("all.atom", 4, None),
        ("sources/boamp.atom", 4, None),
        ("events/new.atom", 3, "Nouveau marché : "),
        ("events/deadline_moved.atom", 1, "Date limite modifiée : "),
        ("events/awarded.atom", 0, None),
        ("en/all.atom", 4, None),
        ("en/events/deadline_moved.atom", 1, "Deadline moved: "),  # English typography
    ],
)
def test_source_and_type_feeds(world: World, path: str, count: int, prefix: str | None) -> None:
    found = titles(world.out / path)
    assert len(found) == count
    if prefix:
        assert all(t.startswith(prefix) for t in found)


def test_english_documents(world: World) -> None:
    root = etree.parse(str(world.out / "en" / "sites" / "dunkerque.atom")).getroot()
    assert root.findtext(f"{ATOM}title") == "Detention and removal — site: CRA de Dunkerque"
    content = root.find(f"{ATOM}entry/{ATOM}content")
    assert content is not None
    assert "Tender deadline: 04/01/2027 → 18/01/2027" in (content.text or "")
    assert (
        links(world.out / "en" / "all.atom")["self"] == "https://watcher.example/feeds/en/all.atom"
    )


def calendar_events(path: Path) -> dict[str, Any]:
    calendar = icalendar.Calendar.from_ical(path.read_bytes())
    return {str(e["uid"]): e for e in calendar.walk("VEVENT")}


def test_calendar_follows_the_moved_deadline(world: World) -> None:
    before = calendar_events(world.before / "deadlines.ics")
    after = calendar_events(world.out / "deadlines.ics")
    assert set(before) == set(after)  # same UIDs: calendars move the event, never add one
    assert len(after) == 3  # Dunkerque, Lesquin, Béziers; never the stormwater basin
    uid = "boamp/26-118204@watcher.example"
    old, new = before[uid], after[uid]
    assert old["dtstart"].dt == dt.datetime(2027, 1, 4, 12, 0, tzinfo=dt.UTC)
    assert new["dtstart"].dt == dt.datetime(2027, 1, 18, 12, 0, tzinfo=dt.UTC)
    assert (int(old["sequence"]), int(new["sequence"])) == (0, 1)
    assert new["last-modified"].dt == SECOND_POLL
    assert "04/01/2027 → 18/01/2027" in str(new["description"])
    assert str(new["summary"]).startswith("Date limite : Construction du centre de rétention")
    beziers = after["boamp/26-119001@watcher.example"]
    assert int(beziers["sequence"]) == 0
    assert "bassin" not in " ".join(str(e["summary"]).lower() for e in after.values())
    # Once Lesquin's deadline has passed, it leaves the calendar.
    with world.runtime.sessions() as session:
        write_feeds(
            session,
            world.runtime.settings,
            world.out,
            now=dt.datetime(2026, 12, 20, tzinfo=dt.UTC),
        )
    assert len(calendar_events(world.out / "deadlines.ics")) == 2


def more_events(runtime: Runtime, count: int) -> None:
    """`count` more events on the notice of `add_events`, newer than all the others."""
    with runtime.sessions() as session:
        notice = session.scalars(select(Notice).where(Notice.native_id == "2412345")).one()
        top = session.scalar(select(func.count(Event.id))) or 0
        for i in range(count):
            session.add(
                Event(
                    key=f"place/2412345/v{top + i}/changed",
                    notice=notice,
                    type="changed",
                    created_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
                    + dt.timedelta(hours=top + i),
                    version=1,
                    changes=[],
                    site="beziers",
                )
            )
        session.commit()


def add_events(runtime: Runtime, count: int) -> list[str]:
    """`count` events on one relevant notice, an hour apart (two share a time: id breaks ties)."""
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    with runtime.sessions() as session:
        source = SourceState(name="place", kind="place", consecutive_failures=0)
        notice = Notice(
            source=source,
            native_id="2412345",
            url="https://www.marches-publics.gouv.fr/entreprise/consultation/2412345",
            title="Gardiennage du CRA de Béziers",
            notice_type="notice",
            snapshot={"title": "Gardiennage du CRA de Béziers", "url": None},
            content_hash="0" * 64,
            version=1,
            relevant=True,
            site="beziers",
            score=5.0,
            reasons=[],
            announced=True,
            first_seen_at=start,
            last_seen_at=start,
        )
        keys = [f"place/2412345/v{i}/changed" for i in range(count)]
        for i, key in enumerate(keys):
            when = start + dt.timedelta(hours=min(i, count - 2))
            session.add(
                Event(
                    key=key,
                    notice=notice,
                    type="changed",
                    created_at=when,
                    version=1,
                    changes=[],
                    site="beziers",
                )
            )
        session.commit()
    return keys


def test_archives_hold_every_event_exactly_once(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    runtime = make_runtime(sources_yaml("http://127.0.0.1:9"))
    keys = add_events(runtime, 5)  # 2.5 pages of 2
    build(runtime, tmp_path, page_size=2)
    base = "https://watcher.example/feeds/"
    current = tmp_path / "sites" / "beziers.atom"
    seen: list[str] = []
    documents = [current]
    while True:
        doc = documents[-1]
        seen += [e.findtext(f"{ATOM}id") or "" for e in entries(doc)]
        older = links(doc).get("prev-archive")
        if older is None:
            break
        assert older.startswith(base)
        documents.append(tmp_path / older.removeprefix(base))
    rel = [str(p.relative_to(tmp_path)) for p in documents]
    assert rel == [
        "sites/beziers.atom",
        "archive/sites/beziers/2.atom",
        "archive/sites/beziers/1.atom",
    ]
    assert sorted(seen) == sorted(f"tag:watcher.example,2026:{k}" for k in keys)
    assert len(entries(current)) == 1
    root = etree.parse(str(current)).getroot()
    assert root.find(f"{FH}archive") is None
    for page, newer in ((1, "archive/sites/beziers/2.atom"), (2, None)):
        path = tmp_path / "archive" / "sites" / "beziers" / f"{page}.atom"
        assert etree.parse(str(path)).getroot().find(f"{FH}archive") is not None
        assert links(path)["current"] == base + "sites/beziers.atom"
        assert links(path).get("next-archive") == (base + newer if newer else None)
        assert atom_problems(path.read_bytes()) == []
    # JSON Feed pages the same way, through next_url.
    feed = json.loads((tmp_path / "sites" / "beziers.json").read_text("utf-8"))
    chain = []
    while "next_url" in feed:
        chain.append(feed["next_url"])
        feed = json.loads((tmp_path / feed["next_url"].removeprefix(base)).read_text("utf-8"))
    assert chain == [base + "archive/sites/beziers/2.json", base + "archive/sites/beziers/1.json"]
    # The server pages the same way, to the byte.
    app = Starlette(routes=routes(runtime, page_size=2))
    with TestClient(app) as client:
        for path in ("sites/beziers.atom", "archive/sites/beziers/1.atom", "en/archive/all/2.json"):
            assert client.get(f"/feeds/{path}").content == (tmp_path / path).read_bytes(), path
        assert client.get("/feeds/archive/all/3.atom").status_code == 404


def test_archive_pages_stay_put_as_events_arrive(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    runtime = make_runtime(sources_yaml("http://127.0.0.1:9"))
    add_events(runtime, 5)
    build(runtime, tmp_path, page_size=2)
    archive = tmp_path / "archive" / "sites" / "beziers"
    page_one, page_two = (archive / "1.atom").read_bytes(), (archive / "2.atom").read_bytes()
    assert build(runtime, tmp_path, page_size=2) == []  # nothing changed, nothing rewritten

    more_events(runtime, 1)  # 6 events: a fuller subscription document, same archives
    changed = {str(p.relative_to(tmp_path)) for p in build(runtime, tmp_path, page_size=2)}
    assert "sites/beziers.atom" in changed
    assert not [name for name in changed if name.startswith("archive/")]
    assert len(entries(tmp_path / "sites" / "beziers.atom")) == 2

    more_events(runtime, 1)  # 7 events: page 3 is archived, page 2 now links to it
    changed = {str(p.relative_to(tmp_path)) for p in build(runtime, tmp_path, page_size=2)}
    assert {"archive/sites/beziers/2.atom", "archive/sites/beziers/3.atom"} <= changed
    assert "archive/sites/beziers/1.atom" not in changed
    assert (archive / "1.atom").read_bytes() == page_one
    assert (archive / "2.atom").read_bytes() != page_two
    assert [e.findtext(f"{ATOM}id") for e in entries(archive / "2.atom")] == [
        e.findtext(f"{ATOM}id") for e in etree.fromstring(page_two).findall(f"{ATOM}entry")
    ]
    assert links(archive / "2.atom")["next-archive"].endswith("/archive/sites/beziers/3.atom")
    assert links(tmp_path / "sites" / "beziers.atom")["prev-archive"].endswith("/3.atom")


def test_served_feeds_answer_304_and_speak_english(world: World) -> None:
    with TestClient(create_app(world.runtime)) as client:
        first = client.get("/feeds/sites/beziers.atom")
        assert first.status_code == 200
        assert first.headers["content-type"].startswith("application/atom+xml")
        assert first.content == (world.out / "sites" / "beziers.atom").read_bytes()
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert modified == "Wed, 25 Nov 2026 08:00:00 GMT"
        assert client.get(first.url, headers={"If-None-Match": etag}).status_code == 304
        assert client.get(first.url, headers={"If-Modified-Since": modified}).status_code == 304
        stale = client.get(first.url, headers={"If-None-Match": '"other"'})
        assert stale.status_code == 200
        english = client.get("/feeds/all.atom?lang=en")
        assert english.content == (world.out / "en" / "all.atom").read_bytes()
        assert b"<title>New tender: " in english.content
        assert b"<title>Deadline moved: " in english.content
        assert client.get("/feeds/en/all.atom").content == english.content
        json_feed = client.get("/feeds/events/new.json")
        assert json_feed.headers["content-type"].startswith("application/feed+json")
        assert len(json_feed.json()["items"]) == 3
        ics = client.get("/feeds/deadlines.ics")
        assert ics.headers["content-type"].startswith("text/calendar")
        again = client.get("/feeds/deadlines.ics", headers={"If-None-Match": ics.headers["etag"]})
        assert again.status_code == 304
        assert client.get("/feeds/sites/dijon.atom").status_code == 200  # gazetteer slug
        for missing in (
            "/feeds/sites/nowhere.atom",
            "/feeds/sources/nope.atom",
            "/feeds/events/bogus.atom",
            "/feeds/archive/all/1.atom",
            "/feeds/all.rss",
            "/feeds/sites/BEZIERS.atom",
            "/feeds/sites/beziers/1.atom",
        ):
            assert client.get(missing).status_code == 404, missing


def test_cli_feed_build(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in runtime_env(world.runtime).items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "cli"
    result = CliRunner().invoke(main, ["feed", "build", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"written or updated in {out}" in result.output
    assert (out / "sites" / "dunkerque.atom").exists()  # every gazetteer site has its feed
    assert titles(out / "sites" / "beziers.atom") == titles(world.out / "sites" / "beziers.atom")
    again = CliRunner().invoke(main, ["feed", "build", "--out", str(out)])
    assert again.exit_code == 0
    assert again.output.startswith("0 file(s)")  # nothing changed, nothing rewritten


def test_calendar_and_site_feed_follow_a_corrigendum(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    """A BOAMP corrigendum published as a notice of its own moves the original's calendar event."""
    portal = BoampPortal()
    with LoopbackServer(portal) as server:
        runtime = make_runtime(sources_yaml(server.url))
        poll(runtime, portal, "poll_page.json", FIRST_POLL)
        original = next(r for r in portal.records if r["idweb"] == "26-118204")
        portal.records.append(corrigendum(original))
        ctx = runtime.context()
        ctx.clock = lambda: SECOND_POLL
        [result] = run_sources(runtime.config.build(), ctx)
        assert result.ok, result.error
    build(runtime, tmp_path)
    found = calendar_events(tmp_path / "deadlines.ics")
    dunkerque = [e for e in found.values() if "Dunkerque" in str(e["summary"])]
    assert [str(e["uid"]) for e in dunkerque] == ["boamp/26-118204@watcher.example"]
    [event] = dunkerque
    # BOAMP's top-level `12:00:00+00:00` is Paris wall-clock time: 11:00 UTC (issue 13).
    assert event["dtstart"].dt == dt.datetime(2027, 1, 25, 11, 0, tzinfo=dt.UTC)
    assert int(event["sequence"]) == 1
    assert "04/01/2027 → 25/01/2027" in str(event["description"])
    [newest, first] = entries(tmp_path / "sites" / "dunkerque.atom")
    assert (newest.findtext(f"{ATOM}title") or "").startswith("Date limite modifiée : ")
    content = newest.findtext(f"{ATOM}content") or ""
    assert "Date limite : 25/01/2027" in content and "26-120001" in content
    assert "Date limite : 04/01/2027" in (first.findtext(f"{ATOM}content") or "")


def test_french_and_english_entries_have_distinct_ids() -> None:
    """Issue 25: the same id in both languages made readers that take both feeds drop one."""
    import datetime as dt  # noqa: PLC0415

    from watcher.publish.entries import render_entry  # noqa: PLC0415

    made = {
        lang: render_entry(
            key="boamp/26-1/1",
            kind="new_tender",
            created_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
            changes=[],
            snapshot={"title": "Repas du CRA"},
            site=None,
            source="boamp",
            lang=lang,
        )
        for lang in ("fr", "en")
    }
    assert made["fr"].key == "boamp/26-1/1"  # unchanged: readers keep what they saw
    assert made["en"].key == "boamp/26-1/1:en"


def test_calendar_names_the_site_not_its_slug() -> None:
    """Issue 25: `Site : dunkerque` in a calendar event → `Site : CRA de Dunkerque`."""
    import datetime as dt  # noqa: PLC0415

    from watcher.publish.ical import Deadline, vevent  # noqa: PLC0415

    when = dt.datetime(2027, 1, 4, 12, tzinfo=dt.UTC)
    item = Deadline("boamp", "26-1", "Construction", None, None, when, "dunkerque", 0, when)
    text = vevent(item, "https://watcher.example").decode()
    assert "Site : CRA de Dunkerque" in text.replace("\r\n ", "")
    assert "Site : dunkerque" not in text
