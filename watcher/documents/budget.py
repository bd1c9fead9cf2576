"""Reading a document's text within a CPU budget (issue 18): a child process that is stopped.

A PDF of a few kilobytes can make pypdf work for minutes: 40 pages that all reuse one compressed
content stream of 300,000 operators cost 96 s of CPU, and pypdf offers no way to stop it from
inside. So the text of a PDF (or of the PDFs of a ZIP) is read by `python -m
watcher.documents.budget` in a child process, which limits its own CPU time (`RLIMIT_CPU`) to
`WATCHER_DOCUMENTS_EXTRACT_SECONDS` (default 30) and is killed if it outlives that on the wall clock
too (a machine under load). A document over budget is kept (its bytes and sha256, a new version as
usual) with no text and the reason, `refused: …`, as its extraction error; it is not read again
until its bytes change.

The child reads one JSON line (kind and ZIP limits) then the file on stdin, and writes the
`Extracted` as JSON on stdout.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import asdict

from watcher.core.sanitize import storable
from watcher.documents.text import Extracted, ZipLimits, extract

# Seconds of wall clock allowed on top of the CPU budget (the child's start, a loaded machine).
WALL_SLACK = 10.0
_READABLE = ("pdf", "zip")


def refused(seconds: float) -> str:
    """The extraction error of a document whose text took too long to read."""
    return (
        f"refused: reading its text took more than {seconds:g} s of CPU "
        "(WATCHER_DOCUMENTS_EXTRACT_SECONDS); the file is kept, without text"
    )


def extract_within(
    content: bytes, kind: str, limits: ZipLimits | None = None, seconds: float | None = 30.0
) -> Extracted:
    """`document_text.extract()`, in a child process stopped after `seconds` of CPU.

    Files without text to read (`other`, `html`) never start a process; `seconds` None or 0
    reads in this process, without a budget.
    """
    limits = limits or ZipLimits()
    if kind not in _READABLE:
        return extract(content, kind, limits)
    if not seconds:
        return extract(content, kind, limits)
    header = json.dumps({"kind": kind, "limits": asdict(limits), "seconds": seconds}).encode()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "watcher.documents.budget"],
            input=header + b"\n" + content,
            capture_output=True,
            timeout=seconds * 2 + WALL_SLACK,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Extracted(None, error=refused(seconds))
    if done.returncode != 0:
        if done.returncode < 0 or b"MemoryError" in done.stderr:
            return Extracted(None, error=refused(seconds))  # killed: SIGXCPU, SIGKILL
        last = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["?"])[-1]
        return Extracted(None, error=f"unreadable: text extraction failed: {last}"[:500])
    data = json.loads(done.stdout)
    text = storable(data["text"]) if data["text"] is not None else None
    members = tuple(storable(m) for m in data["members"])
    return Extracted(text, members, data["error"])


def _limit_cpu(seconds: float) -> None:
    try:
        import resource  # noqa: PLC0415 - POSIX only

        soft = max(1, math.ceil(seconds))
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
    except (ImportError, ValueError, OSError):  # pragma: no cover - Windows: the wall clock
        pass


def _child() -> None:
    """The child process: read the request on stdin, extract, answer on stdout."""
    stdin = sys.stdin.buffer
    header = json.loads(stdin.readline())
    _limit_cpu(float(header["seconds"]))
    content = stdin.read()
    result = extract(content, header["kind"], ZipLimits(**header["limits"]))
    sys.stdout.write(json.dumps(asdict(result), ensure_ascii=True))
    sys.stdout.flush()
    os._exit(0)  # no interpreter teardown: the answer is written


if __name__ == "__main__":
    _child()
