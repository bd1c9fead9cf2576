"""End to end: a loopback server speaks the BOAMP API; `watcher run --once` polls it, stores every
notice and version, and the feed shows the relevant ones — new once, then only what changed."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from lxml import etree
from sqlalchemy import func, select

from tests.helpers import BOAMP_FIXTURES, BoampPortal, runtime_env
from tests.loopback import LoopbackServer
from watcher.cli import main
from watcher.db.models import Event, Notice, NoticeVersion, PollRun, SourceState
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime

ATOM = "{http://www.w3.org/2005/Atom}"
FIXTURES = BOAMP_FIXTURES


def sources_yaml(url: str, extra: str = "") -> str:
    return f"sources:\n  - name: boamp\n    kind: boamp\n    base_url: {url}\n{extra}"


def feed_entries(runtime: Runtime) -> list[etree._Element]:
    from watcher.publish.feeds import write_feeds  # noqa: PLC0415

    out = runtime.settings.data_dir / "feeds"
    with runtime.sessions() as session:
        write_feeds(session, runtime.settings, out)
    root = etree.parse(str(out / "all.atom")).getroot()
    return root.findall(f"{ATOM}entry")


def titles(entries: list[etree._Element]) -> list[str]:
    return [e.findtext(f"{ATOM}title") or "" for e in entries]


def test_poll_store_publish_then_repoll_then_moved_deadline(
    portal: tuple[BoampPortal, LoopbackServer], make_runtime: Callable[..., Runtime]
) -> None:
    handler, server = portal
    runtime = make_runtime(sources_yaml(server.url))
    sources = runtime.config.build()

    [first] = run_sources(sources, runtime.context())
    assert first.ok, first.error
    assert first.fetched == len(handler.records)
    with runtime.sessions() as session:
        stored = session.scalar(select(func.count(Notice.id)))
        relevant = session.scalars(select(Notice.title).where(Notice.relevant.is_(True))).all()
        irrelevant = session.scalars(select(Notice.title).where(Notice.relevant.is_(False))).all()
    assert stored == len(handler.records)  # every notice is kept, relevant or not
    assert any("Dunkerque" in t or "Loon-Plage" in t for t in relevant)
    assert all("bassin" not in t.lower() for t in relevant)
    assert any("bassin" in t.lower() for t in irrelevant)

    entries = feed_entries(runtime)
    assert len(entries) == len(relevant)
    assert all(t.startswith("Nouveau marché : ") for t in titles(entries))
    for entry in entries:
        link = entry.find(f"{ATOM}link[@rel='alternate']")
        assert link is not None
        assert link.get("href", "").startswith("https://www.boamp.fr/")
        assert (entry.findtext(f"{ATOM}id") or "").startswith("tag:watcher.example,2026:boamp/")

    # Nothing changed on the portal: nothing new in the feed, no new version.
    [second] = run_sources(sources, runtime.context())
    assert second.ok and second.new == 0 and second.changed == 0 and second.events == 0
    assert len(feed_entries(runtime)) == len(entries)

    # The deadline of the Dunkerque notice moves: exactly one new entry, old and new dates.
    handler.load("poll_page_moved_deadline.json")
    [third] = run_sources(sources, runtime.context())
    assert third.ok and third.changed == 1
    after = feed_entries(runtime)
    assert len(after) == len(entries) + 1
    newest = after[0]
    assert (newest.findtext(f"{ATOM}title") or "").startswith("Date limite modifiée : ")
    content = newest.findtext(f"{ATOM}content") or ""
    assert "04/01/2027 → 18/01/2027" in content
    with runtime.sessions() as session:
        versions = session.scalar(select(func.count(NoticeVersion.id)))
        runs = session.scalars(select(PollRun.ok)).all()
    assert versions == len(handler.records) + 1
    assert runs == [True, True, True]


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_run_once_failing_source_does_not_stop_the_others(
    portal: tuple[BoampPortal, LoopbackServer],
    make_runtime: Callable[..., Runtime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, server = portal
    extra = f"  - name: broken\n    kind: boamp\n    base_url: http://127.0.0.1:{_dead_port()}\n"
    runtime = make_runtime(sources_yaml(server.url, extra))
    for key, value in runtime_env(runtime, WATCHER_HTTP_RETRIES="0").items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["run", "--once"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "broken: FAILED" in result.output
    assert "error: 1 source(s) failed: broken" in result.output
    assert (runtime.settings.data_dir / "feeds" / "all.atom").exists()
    with runtime.sessions() as session:
        states = {s.name: s for s in session.scalars(select(SourceState))}
        assert session.scalar(select(func.count(Event.id))) > 0
    assert states["boamp"].consecutive_failures == 0 and states["boamp"].last_success_at
    assert states["broken"].consecutive_failures == 1 and states["broken"].last_error
    assert states["broken"].last_success_at is None

    # --source polls just one.
    result = CliRunner().invoke(main, ["run", "--once", "--source", "boamp"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["run", "--once", "--source", "nope"])
    assert result.exit_code == 1
    assert "no source named 'nope'" in result.output
