"""Content-Encoding undone while streaming, in bounded steps (issue 26, row 1).

httpx inflates each layer of `Content-Encoding: gzip, gzip` whole: 1,827 bytes declaring 1 GiB
became 2.1 GB of memory before any size cap could count a byte. Here every layer (any number of
`gzip`, `x-gzip`, `deflate`, `identity`) hands on at most `STEP` bytes at a time, so the caller
counts the decompressed bytes against its cap as they come and stops at the first one too many;
memory stays at a few `STEP`s per layer whatever the answer declares.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from watcher.errors import FetchError

STEP = 64 * 1024
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


def encodings(header: str | None) -> list[str]:
    """The codings of a `Content-Encoding` header, in the order they were applied;
    an unknown one is a `FetchError` (the answer could not be read)."""
    names = [part.strip().lower() for part in (header or "").split(",")]
    names = [name for name in names if name and name != "identity"]
    unknown = [name for name in names if name not in _WBITS]
    if unknown:
        raise FetchError(f"answer in an unsupported Content-Encoding: {', '.join(unknown)}")
    return names


def inflate(chunks: Iterable[bytes], codings: list[str]) -> Iterator[bytes]:
    """The decoded bytes of `chunks` (raw bytes as sent), in pieces of at most `STEP` bytes."""
    stream: Iterable[bytes] = chunks
    for coding in reversed(codings):  # the last coding applied is the first undone
        stream = _layer(stream, coding)
    for piece in stream:
        if piece:
            yield piece


def _layer(chunks: Iterable[bytes], coding: str) -> Iterator[bytes]:
    wbits = _WBITS[coding]
    decoder = zlib.decompressobj(wbits)
    first = True
    try:
        for chunk in chunks:
            data = chunk
            if first and coding == "deflate" and data:
                # "deflate" is zlib-wrapped by the letter, raw deflate by many servers.
                first = False
                try:
                    yield decoder.decompress(data, STEP)
                except zlib.error:
                    decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                    yield decoder.decompress(data, STEP)
                data = decoder.unconsumed_tail
            while data:
                yield decoder.decompress(data, STEP)
                data = decoder.unconsumed_tail
            first = first and not chunk
        while not decoder.eof:
            piece = decoder.decompress(b"", STEP)
            if not piece:
                break
            yield piece
    except zlib.error as exc:
        raise FetchError(f"answer's {coding} compression is broken: {exc}") from None
