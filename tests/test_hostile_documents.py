"""A small PDF that costs minutes of CPU (issue 18, row 5): its text is read within a budget, the
document recorded as refused, the other documents read, the sync bounded; SQLite and PostgreSQL."""

from __future__ import annotations

import io
import resource
import time
import zlib
from collections.abc import Callable, Iterator

import pytest

from tests.loopback import LoopbackServer
from tests.test_documents import (
    PDF,
    DocsPortal,
    documents,
    fixture,
    set_notice,
    sync,
    versions,
)
from watcher.documents.budget import extract_within
from watcher.documents.text import extract
from watcher.pipeline.runtime import Runtime


@pytest.fixture(autouse=True)
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Document links name a portal on 127.0.0.1: allowed explicitly (`watcher.sources.netguard`)."""
    monkeypatch.setenv("WATCHER_FETCH_ALLOW", "127.0.0.0/8")


def costly_pdf(pages: int = 40, tokens: int = 300_000) -> bytes:
    """A valid PDF of about 10 KB: `pages` pages sharing one content stream of `tokens` tokens."""
    content = zlib.compress(b"BT /F1 1 Tf (a) Tj ET " * (tokens // 7), 9)
    font = b"<< /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages)).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
        + content
        + b"\nendstream",
    ]
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R /Resources "
    objects += [page + font + b" >>"] * pages
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


COSTLY = costly_pdf()


@pytest.fixture
def costly() -> Iterator[tuple[DocsPortal, str]]:
    handler = DocsPortal()
    handler.files["/docs/costly.pdf"] = (COSTLY, PDF)
    with LoopbackServer(handler) as server:
        yield handler, server.url


@pytest.fixture
def runtime(costly: tuple[DocsPortal, str], make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime(f"sources:\n  - name: boamp\n    kind: boamp\n    base_url: {costly[1]}\n")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_the_costly_pdf_is_small_and_really_costly() -> None:
    assert len(COSTLY) < 12_000
    started = time.process_time()
    reader_pages = 2
    from pypdf import PdfReader  # noqa: PLC0415

    reader = PdfReader(io.BytesIO(COSTLY))
    for page in reader.pages[:reader_pages]:
        page.extract_text()
    assert len(reader.pages) == 40
    assert time.process_time() - started > 0.5  # ~1 s a page: 40 s for the file


def test_a_costly_pdf_is_refused_within_its_budget_and_the_others_are_read(
    costly: tuple[DocsPortal, str], runtime: Runtime
) -> None:
    _, url = costly
    set_notice(runtime, "26-1", [f"{url}/docs/costly.pdf", f"{url}/docs/RC.pdf"])
    cpu, wall = children_cpu(), time.monotonic()
    report = sync(runtime, extract_seconds=2)
    cpu, wall = children_cpu() - cpu, time.monotonic() - wall
    assert wall < 2 * 2 + 10, f"the sync took {wall:.0f} s"
    assert cpu < 2 + 2.5, f"the extraction took {cpu:.1f} s of CPU"
    assert report.fetched == 2 and report.new_versions == 2, report.summary()
    docs = documents(runtime)
    assert docs["costly.pdf"].last_error is not None
    assert docs["costly.pdf"].last_error.startswith("refused: reading its text took more than 2 s")
    by_doc = {v.document_id: v for v in versions(runtime)}
    refused = by_doc[docs["costly.pdf"].id]
    assert refused.text is None and refused.size == len(COSTLY)  # kept, without text
    assert refused.extract_error and refused.extract_error.startswith("refused:")
    assert "Règlement de la consultation" in (by_doc[docs["RC.pdf"].id].text or "")

    # Not read again while its bytes stay the same.
    cpu = children_cpu()
    again = sync(runtime, days=1, extract_seconds=2)
    assert again.unchanged == 2 and children_cpu() - cpu < 1.0, again.summary()


def test_a_sync_stops_when_its_time_is_up_and_the_rest_comes_next(
    costly: tuple[DocsPortal, str], runtime: Runtime
) -> None:
    _, url = costly
    set_notice(runtime, "26-1", [f"{url}/docs/costly.pdf"])
    set_notice(runtime, "26-2", [f"{url}/docs/RC.pdf"])
    first = sync(runtime, extract_seconds=1, sync_seconds=0.5)
    assert first.notices == 1 and first.left == 1, first.summary()
    assert "out of time, 1 notices left for the next sync" in first.summary()
    second = sync(runtime, days=1, extract_seconds=1, sync_seconds=0.5)
    assert second.notices >= 1 and set(documents(runtime)) == {"costly.pdf", "RC.pdf"}
    assert all(d.status == "ok" for d in documents(runtime).values())


def test_a_disguised_file_name_is_stored_plain(
    costly: tuple[DocsPortal, str], runtime: Runtime
) -> None:
    """Issue 18, row 12, through a real download: `facture\u202egpj.exe` reads as what it is."""
    handler, url = costly
    disposition = "attachment; filename*=UTF-8''facture%E2%80%AEgpj.exe%E2%80%8B"
    handler.files["/docs/f"] = (fixture("RC_v1.pdf"), {**PDF, "Content-Disposition": disposition})
    set_notice(runtime, "26-1", [f"{url}/docs/f"])
    assert sync(runtime).new_versions == 1
    [doc] = documents(runtime).values()
    assert doc.filename == "facturegpj.exe"
    assert [v.filename for v in versions(runtime)] == ["facturegpj.exe"]


@pytest.mark.parametrize("name", ["RC_v1.pdf", "avis.pdf", "DCE.zip"])
def test_the_child_reads_what_the_process_reads(name: str) -> None:
    data = fixture(name)
    kind = "zip" if name.endswith(".zip") else "pdf"
    assert extract_within(data, kind, seconds=30) == extract(data, kind)


def test_no_process_for_files_without_text() -> None:
    cpu = children_cpu()
    assert extract_within(b"<html></html>", "html").text is None
    assert extract_within(b"\xd0\xcf\x11\xe0", "other").text is None
    assert children_cpu() == cpu
