"""Run the benchmarks and print one table: `.venv/bin/python benchmarks/run.py`.

Seven parts, each compared in the same run with a floor or a peer (README.md, "Benchmarks"):
`ingest` (BOAMP API pages into SQLite and PostgreSQL), `html` (the `html` kind against urlwatch,
conditional requests), `feed` (the `feed` kind against urlwatch), `scale` (feeds and pages over
100,000 notices), `cli` (`watcher --help`, `watcher check-config`), `serve` (`/feeds/all.atom`
under load), `search` (full-text search over 100,000 notices and 10,000 documents).
`--only PART` runs one part, `--quick` runs every part on smaller inputs (a smoke test: its ratios
are not the targets').
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Row, table

PARTS = ("ingest", "html", "feed", "scale", "cli", "serve", "search")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts, print the table; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=PARTS, help="run one part")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, a smoke test")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows: list[Row] = []
    for part in PARTS:
        if args.only and part != args.only:
            continue
        print(f"running {part}…", file=sys.stderr, flush=True)
        try:
            rows += _part(part).run(quick=args.quick)
        except Exception as exc:  # noqa: BLE001 - one broken part still leaves the others' rows
            traceback.print_exc()
            rows.append(Row(part, f"FAILED: {type(exc).__name__}: {str(exc)[:80]}", "—", met=False))
    load = os.getloadavg()
    print(
        f"\n{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, "
        f"{time.perf_counter() - started:.0f} s"
        + (" (--quick: not the targets' sizes)" if args.quick else "")
    )
    print(table(rows))
    missed = [r for r in rows if r.met is False]
    print(f"\n{len([r for r in rows if r.met])} targets met, {len(missed)} missed")
    return 1 if missed else 0


def _part(name: str):  # type: ignore[no-untyped-def]
    from importlib import import_module  # noqa: PLC0415

    module = {"html": "pages", "feed": "feeds", "serve": "serving"}.get(name, name)
    return import_module(f"benchmarks.{module}")


if __name__ == "__main__":
    sys.exit(main())
