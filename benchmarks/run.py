"""Run the benchmarks and print their tables: `.venv/bin/python benchmarks/run.py`.

Eight parts, each compared in the same run with a floor or a peer (README.md, "Benchmarks"):
`ingest` (BOAMP API pages into SQLite and PostgreSQL, beside the storage and hash floors), `html`
(the `html` kind against urlwatch and a stdlib keep-alive client, conditional requests), `feed`
(the `feed` kind against urlwatch), `growth` (a database grown to 100,000 notices by the real
pipeline: rounds, export, rematch, pages under 20 clients, fixed costs, imports), `scale` (feeds
and pages over 100,000 bulk-inserted notices), `cli` (`watcher --help`, `watcher check-config`),
`serve` (`/feeds/all.atom` under load), `search` (full-text search over 100,000 notices and
10,000 documents).
Each part prints its table with the machine's load as soon as it ends; then every row again, and
issue 29's targets with their verdicts. Series are medians of five interleaved runs (min–max).
`--only PART` runs one part (repeatable), `--quick` runs every part on smaller inputs (a smoke
test: its ratios are not the targets'), `--scale N` sets the size of `growth` (100,000).
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

from benchmarks.common import Row, load_line, table

PARTS = ("ingest", "html", "feed", "growth", "scale", "cli", "serve", "search")
# Issue 29's targets, and the rows (by part and words of their measurement) that carry them.
TARGETS = (
    ("first poll, whole command ≤ 2× the storage floor", "ingest", "first poll ("),
    ("unchanged re-poll, whole command ≤ 1.3× the hash floor", "ingest", "unchanged re-poll"),
    ("ingest peak memory < 120 MiB", "ingest", "whole command peak memory"),
    ("html kind ≤ urlwatch's time, ≤ 1.2× its memory", "html", "whole `watcher run --once`"),
    ("feed kind ≤ urlwatch's time, ≤ 1.2× its memory", "feed", "whole `watcher run --once`"),
    ("a round with the same news flat from small to full size", "growth", "round,"),
    ("export --ocds streams (flat memory and time per notice)", "growth", "export --ocds at"),
    ("rematch in batches (flat memory)", "growth", "rematch at"),
    ("pages p99 < 100 ms under 20 clients", "growth", "page /"),
    ("a command with nothing to do < 0.3 s, < 50 MiB", "growth", "(fixed cost)"),
)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts, print the table; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=PARTS, action="append", help="run one part")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, a smoke test")
    parser.add_argument("--scale", type=int, help="notices of the growth part (100,000)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows: list[Row] = []
    for part in PARTS:
        if args.only and part not in args.only:
            continue
        print(f"running {part}… ({load_line()})", file=sys.stderr, flush=True)
        try:
            kwargs = {"scale": args.scale} if part == "growth" else {}
            found = _part(part).run(quick=args.quick, **kwargs)
        except Exception as exc:  # noqa: BLE001 - one broken part still leaves the others' rows
            traceback.print_exc()
            found = [Row(part, f"FAILED: {type(exc).__name__}: {str(exc)[:80]}", "—", met=False)]
        print(f"\n{part}, ended with the {load_line()}\n{table(found)}\n", flush=True)
        rows += found
    load = os.getloadavg()
    print(
        f"\n{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, "
        f"{time.perf_counter() - started:.0f} s"
        + (" (--quick: not the targets' sizes)" if args.quick else "")
    )
    print(table(rows))
    print("\nIssue 29's targets:")
    for goal, part, words in TARGETS:
        carried = [r for r in rows if r.part == part and words in r.what and r.met is not None]
        if not carried:
            verdict = "not measured in this run"
        elif all(r.met for r in carried):
            verdict = "met"
        else:
            verdict = f"NOT met ({sum(not r.met for r in carried)} of {len(carried)} rows missed)"
        print(f"  {goal}: {verdict}")
    missed = [r for r in rows if r.met is False]
    print(f"\n{len([r for r in rows if r.met])} targets met, {len(missed)} missed")
    return 1 if missed else 0


def _part(name: str):  # type: ignore[no-untyped-def]
    from importlib import import_module  # noqa: PLC0415

    module = {"html": "pages", "feed": "feeds", "serve": "serving"}.get(name, name)
    return import_module(f"benchmarks.{module}")


if __name__ == "__main__":
    sys.exit(main())
