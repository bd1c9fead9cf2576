"""Hostile input and faults, round 3 (issue 26): every bound holds on loopback, one test per row of
the issue's table (memory, disk, mail, connections, records that cannot be read)."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import Callable

import httpx
import pytest

from tests.loopback import LoopbackServer, Reply
from tests.test_documents import DocsPortal, documents, set_notice, sync
from watcher.errors import TooLargeError
from watcher.pipeline.runtime import Runtime
from watcher.sources.http import Fetcher

MiB = 1024 * 1024


def double_gzip(size: int) -> bytes:
    """`size` zero bytes, gzipped twice: a few kB that declare `size` bytes (`gzip, gzip`)."""
    inner = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(MiB)
    parts = [inner.compress(block) for _ in range(size // MiB)]
    parts.append(inner.flush())
    return gzip.compress(b"".join(parts), 9)


def _peak(call: Callable[[], object]) -> tuple[int, object]:
    tracemalloc.start()
    try:
        try:
            result: object = call()
        except Exception as exc:  # noqa: BLE001 - the test looks at what was raised
            result = exc
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


# Row 1: `Content-Encoding: gzip, gzip`, from a portal page or a document link.


def test_row1_double_gzip_answer_is_cut_at_the_cap_with_little_memory() -> None:
    body = double_gzip(256 * MiB)
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip, gzip"}
    with LoopbackServer(lambda _r: Reply(200, body, headers)) as server, httpx.Client() as client:
        fetcher = Fetcher(client, max_bytes=20 * MiB, retries=0)
        peak, result = _peak(lambda: fetcher.get(server.url + "/page"))
    assert isinstance(result, TooLargeError), result
    assert "once decompressed" in str(result)
    assert peak < 40 * MiB, f"peak {peak / MiB:.0f} MiB"


@pytest.mark.parametrize(
    "coding", ["gzip", "deflate", "gzip, gzip", "deflate, gzip", "gzip,identity, x-gzip"]
)
def test_row1_encoded_answers_still_read_whole(coding: str) -> None:
    payload = b'{"results": [' + b'"x", ' * 50_000 + b'"y"]}'
    body = payload
    for name in (c.strip() for c in coding.split(",")):
        if name in {"gzip", "x-gzip"}:
            body = gzip.compress(body)
        elif name == "deflate":
            body = zlib.compress(body)
    headers = {"Content-Type": "application/json", "Content-Encoding": coding}
    with LoopbackServer(lambda _r: Reply(200, body, headers)) as server, httpx.Client() as client:
        data = Fetcher(client, retries=0).get_json(server.url + "/page")
    assert len(data["results"]) == 50_001


def test_row1_double_gzip_document_is_refused_as_too_large(
    make_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_FETCH_ALLOW", "127.0.0.0/8")
    handler = DocsPortal()
    handler.files["/docs/bomb.pdf"] = (
        double_gzip(64 * MiB),
        {"Content-Type": "application/pdf", "Content-Encoding": "gzip, gzip"},
    )
    with LoopbackServer(handler) as server:
        runtime = make_runtime(
            f"sources:\n  - {{name: boamp, kind: boamp, base_url: '{server.url}'}}\n"
        )
        set_notice(runtime, "26-100", [f"{server.url}/docs/bomb.pdf"])
        peak, _report = _peak(lambda: sync(runtime, max_bytes=5 * MiB))
    assert documents(runtime)["bomb.pdf"].last_error is not None
    assert "larger than" in (documents(runtime)["bomb.pdf"].last_error or "")
    assert peak < 40 * MiB, f"peak {peak / MiB:.0f} MiB"
