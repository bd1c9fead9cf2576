"""Documents of relevant notices: a loopback portal serves the fixture PDFs and ZIP; the watcher keeps
each version with its sha256 and text, announces changes once (never the first download), refuses
what is not a public document, and finds words inside the PDFs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.helpers import runtime_env
from tests.loopback import LoopbackServer, Reply, Request
from watcher.cli import main
from watcher.db.models import Document, DocumentVersion, Event, Notice, SourceState
from watcher.documents.sync import (
    DocumentsReport,
    DocumentsSettings,
    blob_path,
    search_documents,
    sync_documents,
)
from watcher.documents.text import ZipLimits, extract, filename_for, sniff
from watcher.pipeline.runtime import Runtime

FIXTURES = Path(__file__).parent / "fixtures" / "documents"
PDF = {"Content-Type": "application/pdf"}
HTML = {"Content-Type": "text/html; charset=utf-8"}
BOAMP_API = "/api/explore/v2.1/catalog/datasets/boamp/records"
T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class DocsPortal:
    """Serves files by path; `files[path] = (body, headers)`; answers 304 to a matching ETag."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, dict[str, str]]] = {
            "/docs/RC.pdf": (fixture("RC_v1.pdf"), PDF),
            "/docs/avis.pdf": (fixture("avis.pdf"), {"Content-Type": "application/octet-stream"}),
            "/docs/dce": (
                fixture("DCE.zip"),
                {
                    "Content-Type": "application/zip",
                    "Content-Disposition": "attachment; filename*=UTF-8''DCE%20Dunkerque.zip",
                },
            ),
            "/login": (fixture("login.html"), HTML),
            "/index.php": (fixture("place_dce_page.html"), HTML),
        }
        self.failing: dict[str, int] = {}
        self.etags = False

    def __call__(self, request: Request) -> Reply:
        if request.path == BOAMP_API:  # an empty BOAMP, for `watcher run --once`
            return Reply(200, b'{"total_count": 0, "results": []}')
        if self.failing.get(request.path):
            self.failing[request.path] -= 1
            return Reply(503, b"busy", {"Content-Type": "text/plain"})
        if request.path not in self.files:
            return Reply(404, b"not found", {"Content-Type": "text/plain"})
        body, headers = self.files[request.path]
        if self.etags:
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if request.headers.get("if-none-match") == etag:
                return Reply(304, b"", {"ETag": etag})
            headers = {**headers, "ETag": etag}
        return Reply(200, body, headers)

    def paths(self, server: LoopbackServer) -> list[str]:
        return [r.path for r in server.requests]


@pytest.fixture(autouse=True)
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Document links name a portal on 127.0.0.1: allowed explicitly (`watcher.sources.netguard`)."""
    monkeypatch.setenv("WATCHER_FETCH_ALLOW", "127.0.0.0/8")


@pytest.fixture
def portal() -> Iterator[tuple[DocsPortal, LoopbackServer]]:
    handler = DocsPortal()
    with LoopbackServer(handler) as server:
        yield handler, server


@pytest.fixture
def runtime(
    portal: tuple[DocsPortal, LoopbackServer], make_runtime: Callable[..., Runtime]
) -> Runtime:
    _, server = portal
    return make_runtime(f"sources:\n  - name: boamp\n    kind: boamp\n    base_url: {server.url}\n")


def set_notice(runtime: Runtime, native_id: str, links: list[str], *, relevant: bool = True) -> int:
    """Create or update a stored notice of source `boamp` that links `links`."""
    with runtime.sessions() as session, session.begin():
        state = session.scalar(select(SourceState).where(SourceState.name == "boamp"))
        if state is None:
            state = SourceState(name="boamp", kind="boamp", consecutive_failures=0)
            session.add(state)
            session.flush()
        notice = session.scalar(select(Notice).where(Notice.native_id == native_id))
        if notice is None:
            notice = Notice(
                source_id=state.id,
                native_id=native_id,
                title=f"Construction du CRA de Dunkerque ({native_id})",
                notice_type="notice",
                content_hash="0" * 64,
                version=1,
                relevant=relevant,
                site="dunkerque",
                score=1.0,
                reasons=[],
                announced=True,
                first_seen_at=T0,
                last_seen_at=T0,
            )
        notice.snapshot = {"title": notice.title, "documents": sorted(links)}
        session.add(notice)
        session.flush()
        return notice.id


def sync(
    runtime: Runtime, days: int = 0, sleeps: list[float] | None = None, **settings: Any
) -> DocumentsReport:
    ctx = dataclasses.replace(
        runtime.context(), sleep=(sleeps.append if sleeps is not None else lambda _s: None)
    )
    conf = DocumentsSettings(**settings)
    return sync_documents(ctx, now=T0 + dt.timedelta(days=days), settings=conf)


def documents(runtime: Runtime) -> dict[str, Document]:
    with runtime.sessions() as session:
        return {d.url.rsplit("/", 1)[-1]: d for d in session.scalars(select(Document))}


def versions(runtime: Runtime) -> list[DocumentVersion]:
    with runtime.sessions() as session:
        query = select(DocumentVersion).order_by(
            DocumentVersion.document_id, DocumentVersion.version
        )
        return list(session.scalars(query))


def events(runtime: Runtime) -> list[Event]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Event).order_by(Event.id)))


def test_first_sync_is_a_silent_baseline_then_a_changed_pdf_is_announced_once(
    portal: tuple[DocsPortal, LoopbackServer], runtime: Runtime
) -> None:
    handler, server = portal
    links = [f"{server.url}/docs/RC.pdf", f"{server.url}/docs/avis.pdf", f"{server.url}/docs/dce"]
    set_notice(runtime, "26-100", links)
    set_notice(runtime, "26-200", [f"{server.url}/docs/RC.pdf"], relevant=False)

    first = sync(runtime)
    assert (first.notices, first.new_versions, first.events, first.failed) == (1, 3, 0, 0)
    assert events(runtime) == []  # the first download is the baseline: nothing "changed"
    stored = {v.filename: v for v in versions(runtime)}
    assert set(stored) == {"RC.pdf", "avis.pdf", "DCE Dunkerque.zip"}
    rc = stored["RC.pdf"]
    assert rc.sha256 == hashlib.sha256(fixture("RC_v1.pdf")).hexdigest()
    assert rc.content_type == "application/pdf" and rc.size == len(fixture("RC_v1.pdf"))
    assert "centre de rétention administrative de Dunkerque" in (rc.text or "")
    assert stored["avis.pdf"].content_type == "application/pdf"  # sniffed, not announced
    dce = stored["DCE Dunkerque.zip"]
    assert dce.members == ["DCE/CCTP.pdf", "DCE/RC.pdf", "DCE/plans/plan-masse.dwg"]
    assert "=== DCE/CCTP.pdf ===" in (dce.text or "") and "modulaire" in (dce.text or "")
    data_dir = runtime.settings.data_dir
    assert blob_path(data_dir, rc.sha256).read_bytes() == fixture("RC_v1.pdf")
    # The irrelevant notice links the same file: it is never fetched for that notice.
    assert handler.paths(server).count("/docs/RC.pdf") == 1

    second = sync(runtime, days=1)
    assert (second.unchanged, second.new_versions, second.events) == (3, 0, 0)

    handler.files["/docs/RC.pdf"] = (fixture("RC_v2.pdf"), PDF)
    third = sync(runtime, days=2)
    assert (third.new_versions, third.events) == (1, 1)
    [event] = events(runtime)
    assert event.type == "documents_changed" and event.site == "dunkerque"
    assert event.key.startswith("boamp/26-100/documents/")
    assert event.changes == [
        {"field": "documents", "label": "Documents", "old": "RC.pdf (v1)", "new": "RC.pdf (v2)"}
    ]
    assert event.created_at == T0 + dt.timedelta(days=2)
    assert [v.version for v in versions(runtime) if v.filename == "RC.pdf"] == [1, 2]

    assert sync(runtime, days=3).events == 0  # unchanged again: nothing new
    assert len(events(runtime)) == 1


def test_added_and_removed_documents_are_named_in_one_event(
    portal: tuple[DocsPortal, LoopbackServer], runtime: Runtime
) -> None:
    _, server = portal
    rc, avis, dce = (f"{server.url}/docs/{p}" for p in ("RC.pdf", "avis.pdf", "dce"))
    set_notice(runtime, "26-100", [rc, avis])
    sync(runtime)
    set_notice(runtime, "26-100", [rc, dce])  # a corrigendum swaps the avis for the DCE
    report = sync(runtime, days=1)
    assert report.events == 1
    [event] = events(runtime)
    assert event.changes == [
        {"field": "documents", "label": "Documents", "old": "avis.pdf (v1)", "new": None},
        {"field": "documents", "label": "Documents", "old": None, "new": "DCE Dunkerque.zip (v1)"},
    ]
    assert documents(runtime)["avis.pdf"].removed_at == T0 + dt.timedelta(days=1)
    assert sync(runtime, days=2).events == 0


def test_a_failed_download_is_recorded_retried_and_not_a_false_alarm(
    portal: tuple[DocsPortal, LoopbackServer], runtime: Runtime
) -> None:
    handler, server = portal
    set_notice(runtime, "26-100", [f"{server.url}/docs/RC.pdf", f"{server.url}/docs/avis.pdf"])
    handler.failing["/docs/RC.pdf"] = 2  # the first try and its retry
    first = sync(runtime)
    assert (first.failed, first.new_versions) == (1, 1)
    assert any("HTTP 503" in e for e in first.errors)
    rc = documents(runtime)["RC.pdf"]
    assert rc.status == "failed" and rc.failures == 1 and "503" in (rc.last_error or "")

    second = sync(runtime, days=1)
    assert (second.failed, second.new_versions, second.events) == (0, 1, 0)
    rc = documents(runtime)["RC.pdf"]
    assert rc.status == "ok" and rc.failures == 0 and rc.last_error is None


def test_login_pages_and_the_place_dce_form_are_not_downloadable(
    portal: tuple[DocsPortal, LoopbackServer], runtime: Runtime
) -> None:
    handler, server = portal
    place = (
        f"{server.url}/index.php?page=Entreprise.EntrepriseDemandeTelechargementDce"
        "&refConsultation=625746&orgAcronyme=x7c"
    )
    set_notice(runtime, "26-100", [f"{server.url}/login", place, f"{server.url}/docs/avis.pdf"])
    report = sync(runtime)
    assert (report.not_downloadable, report.failed, report.new_versions) == (2, 0, 1)
    assert report.errors == []
    docs = documents(runtime)
    login, form = docs["login"], docs[place.rsplit("/", 1)[-1]]
    assert (login.status, login.last_error) == ("not_downloadable", None)
    assert (form.status, form.last_error) == ("not_downloadable", None)
    assert len(versions(runtime)) == 1

    before = len(server.requests)
    sync(runtime, days=1)
    assert handler.paths(server)[before:] == ["/docs/avis.pdf"]  # web pages are checked once


def test_an_oversized_file_is_refused_cleanly_and_retried(
    portal: tuple[DocsPortal, LoopbackServer], runtime: Runtime
) -> None:
    handler, server = portal
    handler.files["/docs/big.pdf"] = (b"%PDF-1.4\n" + b"0" * 5000, PDF)
    set_notice(runtime, "26-100", [f"{server.url}/docs/big.pdf", f"{server.url}/docs/avis.pdf"])
    report = sync(runtime, max_bytes=2000)
    assert (report.failed, report.new_versions) == (1, 1)
    big = documents(runtime)["big.pdf"]
    assert big.status == "too_large" and big.last_error == "larger than the 2000 bytes cap"
    sync(runtime, days=1, max_bytes=2000)
    assert documents(runtime)["big.pdf"].failures == 2
    assert [v.filename for v in versions(runtime)] == ["avis.pdf"]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


BOMBS = {
    "one member expands 1000 times": ({"CCTP.pdf": b"\0" * (20 * 1024 * 1024)}, "expands more"),
    "too many members": ({f"p{i}.pdf": b"%PDF-1.4" for i in range(60)}, "more than 50 files"),
    "too many bytes in all": (
        {f"p{i}.pdf": bytes(range(256)) * 4096 for i in range(3)},
        "more than 2000000 bytes uncompressed",
    ),
}


@pytest.mark.parametrize(("members", "reason"), BOMBS.values(), ids=BOMBS.keys())
def test_zip_bombs_are_kept_but_never_expanded(
    portal: tuple[DocsPortal, LoopbackServer],
    runtime: Runtime,
    members: dict[str, bytes],
    reason: str,
) -> None:
    handler, server = portal
    handler.files["/docs/bomb.zip"] = (_zip(members), {"Content-Type": "application/zip"})
    set_notice(runtime, "26-100", [f"{server.url}/docs/bomb.zip", f"{server.url}/docs/avis.pdf"])
    report = sync(runtime, zip_max_members=50, zip_max_bytes=2_000_000)
    assert (report.failed, report.new_versions) == (0, 2)
    bomb = next(v for v in versions(runtime) if v.filename == "bomb.zip")
    assert bomb.text is None
    assert (bomb.extract_error or "").startswith("archive refused: ")
    assert reason in (bomb.extract_error or "")
    assert documents(runtime)["bomb.zip"].last_error == bomb.extract_error


def test_search_finds_words_inside_the_pdfs(
    portal: tuple[DocsPortal, LoopbackServer], runtime: Runtime
) -> None:
    handler, server = portal
    set_notice(runtime, "26-100", [f"{server.url}/docs/RC.pdf", f"{server.url}/docs/dce"])
    sync(runtime)
    with runtime.sessions() as session:
        assert search_documents(session, "familles") == []
        hits = search_documents(session, "dunkerque")  # case-insensitive
        assert {h.filename for h in hits} == {"RC.pdf", "DCE Dunkerque.zip"}  # its RC too
        [hit] = search_documents(session, "bâtiment modulaire")  # every word, inside the ZIP
        assert hit.filename == "DCE Dunkerque.zip" and "modulaire" in hit.snippet
        assert search_documents(session, "100%") == []  # LIKE wildcards are literal
    handler.files["/docs/RC.pdf"] = (fixture("RC_v2.pdf"), PDF)
    sync(runtime, days=1)
    with runtime.sessions() as session:
        [hit] = search_documents(session, "familles")
    assert (hit.native_id, hit.source, hit.version) == ("26-100", "boamp", 2)
    assert "zone pour les familles" in hit.snippet
    assert hit.sha256 == hashlib.sha256(fixture("RC_v2.pdf")).hexdigest()


def test_requests_are_polite_and_conditional(
    portal: tuple[DocsPortal, LoopbackServer], runtime: Runtime
) -> None:
    handler, server = portal
    handler.etags = True
    set_notice(runtime, "26-100", [f"{server.url}/docs/RC.pdf", f"{server.url}/docs/avis.pdf"])
    sleeps: list[float] = []
    sync(runtime, sleeps=sleeps)
    assert sleeps and 0.5 < max(sleeps) <= 1.0  # one second between two requests to one host
    report = sync(runtime, days=1)
    assert (report.unchanged, report.new_versions) == (2, 0)
    assert all(r.headers.get("if-none-match") for r in server.requests[-2:])


def test_cli_sync_search_and_run_once(
    portal: tuple[DocsPortal, LoopbackServer],
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, server = portal
    set_notice(runtime, "26-100", [f"{server.url}/docs/RC.pdf"])
    # A CLI process exits and so closes its database; a test must dispose the runtimes it made.
    made: list[Runtime] = []
    from_env = Runtime.from_env
    monkeypatch.setattr(
        Runtime, "from_env", classmethod(lambda _cls: made.append(from_env()) or made[-1])
    )
    try:
        _cli_checks(runtime, monkeypatch)
    finally:
        for each in made:
            if "engine" in each.__dict__:
                each.engine.dispose()


def _cli_checks(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    env = runtime_env(runtime, WATCHER_DOCUMENTS_MIN_INTERVAL="0", WATCHER_HTTP_RETRIES="0")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["run", "--once"])
    assert result.exit_code == 0, result.output
    assert "documents:" not in result.output  # off by default

    monkeypatch.setenv("WATCHER_DOCUMENTS", "1")
    result = CliRunner().invoke(main, ["run", "--once"])
    assert result.exit_code == 0, result.output
    assert "documents: 1 notices, 1 fetched, 1 new versions" in result.output

    result = CliRunner().invoke(main, ["documents", "sync"])
    assert result.exit_code == 0, result.output
    assert "1 unchanged" in result.output

    result = CliRunner().invoke(main, ["documents", "search", "Loon-Plage"])
    assert result.exit_code == 0, result.output
    assert "boamp/26-100  RC.pdf (v1)" in result.output
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(DocumentVersion.id))) == 1

    monkeypatch.setenv("WATCHER_DOCUMENTS_MAX_BYTES", "-1")
    result = CliRunner().invoke(main, ["documents", "sync"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "error: environment: WATCHER_DOCUMENTS_MAX_BYTES=-1: must be more than 0" in (
        result.output
    )


@pytest.mark.parametrize(
    ("content", "content_type", "kind"),
    [
        (b"%PDF-1.7\n...", "application/octet-stream", "pdf"),
        (b"\r\n%PDF-1.4", "text/html", "pdf"),  # magic bytes win over a wrong type
        (b"PK\x03\x04rest", None, "zip"),
        (b"\xef\xbb\xbf  <!DOCTYPE html><html>", "application/octet-stream", "html"),
        (b"<html><body>Connexion</body></html>", None, "html"),
        (b"anything", "text/html; charset=utf-8", "html"),
        (b"\xd0\xcf\x11\xe0 an old .doc", "application/msword", "other"),
    ],
)
def test_sniff(content: bytes, content_type: str | None, kind: str) -> None:
    assert sniff(content, content_type) == kind


@pytest.mark.parametrize(
    ("url", "disposition", "name"),
    [
        ("https://x.fr/a/R%C3%A8glement.pdf", None, "Règlement.pdf"),
        ("https://x.fr/get?id=1", 'attachment; filename="RC 2026.pdf"', "RC 2026.pdf"),
        ("https://x.fr/get", "attachment; filename*=UTF-8''C%C3%A9dule.zip", "Cédule.zip"),
        ("https://x.fr/get", 'attachment; filename="..\\..\\evil.pdf"', "evil.pdf"),
        ("https://x.fr/", None, "document"),
    ],
)
def test_filename_for(url: str, disposition: str | None, name: str) -> None:
    assert filename_for(url, disposition) == name


def test_nested_zip_and_broken_members() -> None:
    inner = _zip({"lot1/CCTP.pdf": fixture("avis.pdf")})
    outer = _zip(
        {"lot1.zip": inner, "broken.pdf": b"%PDF-1.4 not really", "RC.pdf": fixture("RC_v1.pdf")}
    )
    result = extract(outer, "zip", ZipLimits())
    assert result.members == ("lot1.zip", "lot1.zip/lot1/CCTP.pdf", "broken.pdf", "RC.pdf")
    assert "Avis d'appel public" in (result.text or "") and "Dunkerque" in (result.text or "")
    assert result.error and "broken.pdf: unreadable PDF" in result.error
