"""Part 5, the command line: `watcher --help` and `watcher check-config sources.yaml` (from its
cache of files found valid, and with `--full`, validating everything), each a
process of its own as a user (or a cron job, or a pre-commit hook) starts it: wall time and
peak resident memory, the median of five runs after one warm-up. Targets: under 0.15 s and
under 40 MiB each. For scale, the same for a bare `python -c pass` in the same run.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from benchmarks.common import PYTHON, ROOT, Measured, Row, mib, seconds, spawn
from benchmarks.pages import WATCHER

SECONDS_MAX, MEMORY_MAX = 0.15, 40.0
RUNS = 5


def _median(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    spawn(argv, env=env).check()  # warm the page cache
    measured: list[Measured] = [spawn(argv, env=env).check() for _ in range(runs)]
    return (
        statistics.median(m.seconds for m in measured),
        statistics.median(m.peak_mib for m in measured),
    )


def run(*, quick: bool = False) -> list[Row]:
    """The two commands and a bare interpreter; one row each for time and memory."""
    runs = 2 if quick else RUNS
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        env = {"HOME": tmp, "WATCHER_DATA_DIR": str(Path(tmp) / "data")}
        bare_s, bare_m = _median([PYTHON, "-I", "-c", "pass"], env, runs)
        rows.append(
            Row("cli", "bare `python -c pass` (for scale)", f"{seconds(bare_s)}, {mib(bare_m)}")
        )
        commands = {
            "watcher --help": [WATCHER, "--help"],
            # Answered from the cache of files found valid (the warm-up run fills it).
            "watcher check-config sources.yaml": [
                WATCHER,
                "check-config",
                str(ROOT / "sources.yaml"),
            ],
            # The whole validation (pydantic, every source kind, the matcher's rules), every time.
            "watcher check-config --full sources.yaml": [
                WATCHER,
                "check-config",
                "--full",
                str(ROOT / "sources.yaml"),
            ],
        }
        for name, argv in commands.items():
            took, peak = _median(argv, env, runs)
            rows.append(
                Row(
                    "cli",
                    f"`{name}`: seconds",
                    seconds(took),
                    f"python -c pass {seconds(bare_s)}",
                    f"{took / bare_s:.1f}×",
                    f"< {SECONDS_MAX:g} s",
                    took < SECONDS_MAX,
                )
            )
            rows.append(
                Row(
                    "cli",
                    f"`{name}`: peak memory",
                    mib(peak),
                    f"python -c pass {mib(bare_m)}",
                    f"{peak / bare_m:.1f}×",
                    f"< {MEMORY_MAX:g} MiB",
                    peak < MEMORY_MAX,
                )
            )
    return rows
