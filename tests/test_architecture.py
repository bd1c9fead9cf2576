"""The package's imports run one way: cli/web → pipeline → documents, publish, notify → db →
sources, match → core. Walked with `ast`, so a cycle or a wrong-way import fails here, not in a
newcomer's head. Imports under `if TYPE_CHECKING:` are for the type checker only and not counted.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "watcher"

# What each stage may import besides itself. `watcher` (the version), `errors`, `records` and
# `settings` are the cross-cutting modules every stage may use.
CROSS = {"watcher", "errors", "records", "settings"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "records": set(),
    "settings": {"watcher", "errors", "core"},
    "core": CROSS,
    "match": CROSS | {"core"},
    "sources": CROSS | {"core"},
    "db": CROSS | {"core", "match"},
    "companies": CROSS | {"core", "match", "db"},
    "documents": CROSS | {"core", "sources", "db"},
    "publish": CROSS | {"core", "db", "companies"},
    "notify": CROSS | {"core", "db", "publish", "companies"},
    "pipeline": CROSS
    | {"core", "match", "sources", "db", "companies"}
    | {"documents", "publish", "notify"},
    "web": CROSS
    | {"core", "match", "sources", "db", "companies"}
    | {"documents", "publish", "notify", "pipeline"},
    "cli": CROSS
    | {"core", "match", "sources", "db", "companies"}
    | {"documents", "publish", "notify", "pipeline", "web"},
    "__main__": {"cli"},
}
TOP_LEVEL_FILES = {
    "__init__.py",
    "__main__.py",
    "settings.py",
    "errors.py",
    "records.py",
    "py.typed",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(tree: ast.AST, known: set[str]) -> set[str]:
    """The `watcher` modules one module imports at run time (module level or inside functions)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "watcher")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("watcher"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else str(node.module))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(files)
    return {
        name: imports_of(ast.parse(path.read_text(encoding="utf-8")), known) - {name}
        for name, path in files.items()
    }


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "watcher"


def test_no_import_cycle() -> None:
    edges = graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(edges[node]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                walk(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            walk(node)
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_imports_run_one_way() -> None:
    wrong = []
    for module, deps in sorted(graph().items()):
        here = stage(module)
        if here == "watcher":
            continue
        for dep in sorted(deps):
            there = stage(dep)
            if there != here and there not in ALLOWED[here]:
                wrong.append(f"{module} imports {dep} ({here} may not import {there})")
    assert not wrong, "\n".join(wrong)


def test_every_stage_is_known_and_documented() -> None:
    entries = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    packages = {p for p in entries if (PACKAGE / p).is_dir()}
    assert entries - packages <= TOP_LEVEL_FILES
    assert packages <= set(ALLOWED), f"unknown stage(s): {packages - set(ALLOWED)}"
    for name in packages:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc, f"watcher/{name}/__init__.py has no docstring saying what it is"


def test_the_core_is_pure() -> None:
    """normalize, diff, timeline and the matcher import no I/O library."""
    io_libraries = {"httpx", "sqlalchemy", "starlette", "uvicorn", "smtplib", "apprise", "socket"}
    for folder in ("core", "match"):
        for path in (PACKAGE / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {
                alias.name.split(".")[0]
                for n in ast.walk(tree)
                if isinstance(n, ast.Import)
                for alias in n.names
            } | {
                n.module.split(".")[0]
                for n in ast.walk(tree)
                if isinstance(n, ast.ImportFrom) and n.module
            }
            assert not names & io_libraries, f"{path.name} imports {names & io_libraries}"


@pytest.mark.parametrize("argv", [["--help"], ["check-config", "--help"]])
def test_help_loads_no_stage(argv: list[str]) -> None:
    """`watcher --help` imports click, not the database, the web server or the sources."""
    code = (
        "import sys; from watcher.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sqlalchemy', 'httpx', 'starlette', 'apprise', 'pydantic')"
        " if m in sys.modules]\n"
        "print('HEAVY:' + ','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "HEAVY:"


def test_lazy_commands_show_their_own_help() -> None:
    import click  # noqa: PLC0415

    from watcher.cli import main  # noqa: PLC0415
    from watcher.cli.main import COMMANDS  # noqa: PLC0415

    ctx = click.Context(main)
    for name, (_, short) in COMMANDS.items():
        command = main.get_command(ctx, name)
        assert command is not None, name
        assert command.get_short_help_str(200) == short, name


# What a command with nothing to do never needs (issue 29: its fixed cost): the feed and page
# renderers, the mail templates, the parsers, the web server, the matcher, the documents' code.
IDLE_NEVER = (
    "feedgen",
    "icalendar",
    "jinja2",
    "lxml",
    "bs4",
    "starlette",
    "watcher.publish.feeds",
    "watcher.notify.render",
    "watcher.sources.boamp",
    "watcher.match.matcher",
    "watcher.documents.sync",
    "watcher.db.store",
)


def test_a_command_with_nothing_to_do_imports_only_what_it_uses(tmp_path: Path) -> None:
    """`watcher run --once` with no source, once the feeds are built: no renderer, no parser,
    no matcher is imported (each is for work this run does not do)."""
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources: []\n", encoding="utf-8")
    env = {
        **os.environ,
        "WATCHER_SOURCES": str(sources),
        "WATCHER_DATA_DIR": str(tmp_path / "data"),
        "WATCHER_DATABASE_URL": f"sqlite:///{tmp_path / 'watcher.sqlite3'}",
    }
    env.pop("WATCHER_TEST_DATABASE_URL", None)
    code = (
        "import sys; from watcher.cli import main\n"
        "try:\n    main(['run', '--once'])\nexcept SystemExit:\n    pass\n"
        f"print('LOADED:' + ','.join(m for m in {IDLE_NEVER!r} if m in sys.modules))\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        ).stdout
        for _ in range(2)  # the first run builds the feeds
    ]
    assert "feeds:" in runs[0]
    assert runs[1].strip().splitlines()[-1] == "LOADED:", runs[1]
