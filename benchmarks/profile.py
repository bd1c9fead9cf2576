"""A sampling profile of the BOAMP first poll: the whole `watcher run --once` (start-up included)
on a fresh SQLite database, fed by part 1's loopback portal, under pyinstrument (the `bench`
extra); with `--py-spy`, py-spy samples the same command from outside too (when ptrace is allowed).

    .venv/bin/python benchmarks/profile.py [--records 9900] [--out profile.txt] [--py-spy]

It prints where the time goes: each sample's time is given to the stage of its innermost frame
that belongs to a known package or module (imports first: any sample under an import), then the
functions with the most time of their own; the whole pyinstrument tree goes to `--out`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.boamp_data import BoampPages, write_pages
from benchmarks.common import PYTHON, LoopbackServer, load_line
from benchmarks.ingest import boamp_sources
from benchmarks.pages import WATCHER

# (stage, path fragment), the first that matches a frame's file wins; the innermost matching frame
# of a sample names its stage.
STAGES = (
    (
        "HTTP (httpx, httpcore, h11, sockets)",
        ("httpx/", "httpcore/", "h11/", "socket.py", "ssl.py"),
    ),
    ("SQLAlchemy and the DB driver", ("sqlalchemy/", "sqlite3", "psycopg/")),
    ("JSON (stdlib json; orjson is C, counted in its caller)", ("json/",)),
    ("reading `donnees` (boamp_donnees)", ("watcher/sources/boamp_donnees",)),
    ("parsing (other source code)", ("watcher/sources/",)),
    ("the pure core (normalise, diff, phases, sanitise)", ("watcher/core/",)),
    ("the matcher", ("watcher/match/",)),
    ("companies", ("watcher/companies/",)),
    ("feeds and pages (publish)", ("watcher/publish/", "feedgen/", "jinja2/", "lxml/")),
    ("the pipeline (poll, store, events, audit)", ("watcher/pipeline/",)),
    ("database models and queries (watcher/db)", ("watcher/db/",)),
    ("alerts (notify)", ("watcher/notify/",)),
    ("pydantic and settings", ("pydantic", "watcher/settings")),
    ("the command line", ("watcher/cli/", "click/")),
)
IMPORTS = ("<frozen importlib._bootstrap", "importlib/__init__")
# The steps of `watcher run --once`, by the outermost function of a sample that names one.
STEPS = (
    ("the poll (fetch, parse, store, match, events)", "run_source ("),
    ("after the poll: companies", "refresh ("),
    ("after the poll: feeds", "publish_feeds ("),
    ("after the poll: audit", "audit_after_polls ("),
    ("after the poll: alerts", "after_poll ("),
    ("after the poll: deadline reminders", "remind_deadlines ("),
    ("start-up: settings, sources, database check", "load_runtime ("),
)


def _step(stack: list[str]) -> str:
    if any(any(mark in frame for mark in IMPORTS) for frame in stack):
        return "imports (start-up)"
    for frame in stack:
        for name, marker in STEPS:
            if frame.startswith(marker):
                return name
    return "the rest (start-up, command line, shutdown)"


def _stage(stack: list[str]) -> str:
    if any(any(mark in path for mark in IMPORTS) for path in stack):
        return "imports (start-up)"
    for path in reversed(stack):
        for name, fragments in STAGES:
            if any(fragment in path for fragment in fragments):
                return name
    return "other (stdlib, other libraries)"


def summarise(root: Any) -> tuple[Counter[str], Counter[str], Counter[str], Counter[str], float]:
    """Seconds by step of the command, by stage (innermost), by stage with all it calls
    (inclusive, overlapping) and by function (own time), and the total, from pyinstrument's tree."""
    stages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    steps: Counter[str] = Counter()

    def walk(frame: Any, stack: list[str], parent: str) -> None:
        synthetic = (frame.function or "").startswith("[")  # pyinstrument's "[self]" frames
        here = stack if synthetic else [*stack, f"{frame.function} ({frame.file_path})"]
        label = parent
        if not synthetic:
            where = (frame.file_path or "").split("site-packages/")[-1]
            where = where.split("/watcher/", 1)[-1] if "/watcher/" in where else where
            label = f"{frame.function} ({where}:{frame.line_no})"
        own = frame.time - sum(child.time for child in frame.children)
        if own > 0:
            stages[_stage(here)] += own
            steps[_step(here)] += own
            functions[label] += own
            for name, fragments in STAGES:
                if any(fragment in path for path in here for fragment in fragments):
                    inclusive[name] += own
        for child in frame.children:
            walk(child, here, label)

    walk(root, [], "")
    return steps, stages, inclusive, functions, root.time


def profiled(env: dict[str, str], out: Path) -> None:
    """Run `watcher run --once` in this process under pyinstrument; print the summary."""
    import os  # noqa: PLC0415

    from pyinstrument import Profiler  # noqa: PLC0415 - the bench extra

    os.environ.update(env)
    profiler = Profiler(interval=0.001)
    profiler.start()
    from watcher.cli import main  # noqa: PLC0415 - the imports are part of the run

    try:
        main(["run", "--once"], standalone_mode=False)
    finally:
        profiler.stop()
    out.write_text(profiler.output_text(unicode=True, show_all=False))
    session = profiler.last_session
    session.save(str(out.with_suffix(".pyisession")))
    report_session(session)


def report_session(session: Any) -> None:
    """Print the summary of a pyinstrument session."""
    root = session.root_frame()
    steps, stages, inclusive, functions, total = summarise(root)
    print(f"\n{session.sample_count} samples, {total:.2f} s sampled (pyinstrument, 1 ms)")
    print("by step of `watcher run --once`:")
    for name, spent in steps.most_common():
        print(f"  {spent / total:5.1%}  {spent:6.2f} s  {name}")
    print("by stage (own time of the innermost frame of a known stage):")
    for name, spent in stages.most_common():
        print(f"  {spent / total:5.1%}  {spent:6.2f} s  {name}")
    print("by stage with everything it calls (overlapping):")
    for name, spent in inclusive.most_common():
        print(f"  {spent / total:5.1%}  {spent:6.2f} s  {name}")
    print("by function (own time):")
    for name, spent in functions.most_common(15):
        print(f"  {spent / total:5.1%}  {spent:6.2f} s  {name}")


def main(argv: list[str] | None = None) -> int:
    """Serve the pages, profile a first poll, print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=9_900)
    parser.add_argument("--out", type=Path, default=Path("profile.txt"))
    parser.add_argument("--py-spy", action="store_true", help="also sample with py-spy")
    parser.add_argument("--load", type=Path, help="summarise a saved .pyisession instead")
    parser.add_argument("--load-py-spy", type=Path, help="summarise a saved py-spy raw file")
    args = parser.parse_args(argv)
    if args.load:
        from pyinstrument.session import Session  # noqa: PLC0415 - the bench extra

        report_session(Session.load(str(args.load)))
        return 0
    if args.load_py_spy:
        _py_spy_summary(args.load_py_spy)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp_name:
        tmp = Path(tmp_name)
        paths = write_pages(tmp / "pages", args.records, 100, dt.date.today())
        with LoopbackServer(BoampPages(paths, 100)) as server:
            envs = []
            for name in ("pyinstrument", "py-spy"):
                folder = tmp / name
                env = {
                    "WATCHER_SOURCES": str(boamp_sources(folder, server.url)),
                    "WATCHER_DATA_DIR": str(folder / "data"),
                    "WATCHER_DATABASE_URL": f"sqlite:///{folder / 'watcher.sqlite3'}",
                }
                subprocess.run([WATCHER, "db", "upgrade"], env={**_base_env(), **env}, check=True)
                envs.append(env)
            print(f"profiling a first poll of {args.records:,} records ({load_line()})")
            code = (
                "import sys; from pathlib import Path; from benchmarks.profile import profiled; "
                "import json; profiled(json.loads(sys.argv[1]), Path(sys.argv[2]))"
            )
            import json  # noqa: PLC0415

            subprocess.run(
                [PYTHON, "-c", code, json.dumps(envs[0]), str(args.out.resolve())],
                env=_base_env(),
                check=True,
            )
            if args.py_spy:
                _py_spy(envs[1], args.out.with_suffix(".py-spy.txt"))
    return 0


def _base_env() -> dict[str, str]:
    import os  # noqa: PLC0415

    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _py_spy(env: dict[str, str], out: Path) -> None:
    """py-spy's own view (raw, collapsed stacks), when it may trace processes here."""
    binary = shutil.which("py-spy") or str(Path(PYTHON).with_name("py-spy"))
    argv = [binary, "record", "--format", "raw", "--rate", "200", "-o", str(out), "--"]
    done = subprocess.run(
        [*argv, WATCHER, "run", "--once"],
        env={**_base_env(), **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(f"py-spy did not run: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
        return
    _py_spy_summary(out)


def _py_spy_summary(out: Path) -> None:
    stages: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        stages[_stage(frames)] += int(count)
        steps[_step(frames)] += int(count)
        leaves[frames[-1]] += int(count)
    total = sum(stages.values()) or 1
    for title, counted in (("step", steps), ("stage", stages), ("function (own time)", leaves)):
        print(f"\npy-spy, {total} samples at 200 Hz, by {title}:")
        for name, count in counted.most_common(15):
            print(f"  {count / total:5.1%}  {name}")


if __name__ == "__main__":
    sys.exit(main())
