"""`watcher init`: the first command of a newcomer.

Writes a commented `sources.yaml` and `.env.example` into a folder (never over an existing file
unless `--force`, and always saying which), then checks that this computer can reach each portal
of the sources file and says in plain words what works (`watcher.cli.firstrun.probe`). It exits 0 even
when no portal answers: a missing network is news, not a mistake, and `watcher demo` works offline.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from watcher.cli.common import friendly
from watcher.cli.firstrun import bundled

FILES = (("sources.yaml", "sources.example.yaml"), (".env.example", "env.example"))


def write_files(folder: Path, *, force: bool) -> list[str]:
    """Write the starter files into `folder`; a line per file saying what was done."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, bundled_name in FILES:
        target = folder / name
        if target.exists() and not force:
            lines.append(f"{target}: already exists, left as it is (--force replaces it)")
            continue
        existed = target.exists()
        target.write_bytes(bundled(bundled_name))
        lines.append(f"{target}: {'replaced' if existed else 'written'}")
    return lines


def network_lines(sources: Path, user_agent: str, timeout: float) -> Iterator[str]:
    """The portals of `sources`, each reachable or not, in words, then a summary line; each line
    comes as soon as its portal is checked (a silent proxy makes each check last `timeout`)."""
    from watcher.cli.firstrun.probe import check, probes  # noqa: PLC0415
    from watcher.pipeline.config import load_config  # noqa: PLC0415
    from watcher.sources.netdiag import UNREACHABLE  # noqa: PLC0415

    todo = probes(load_config(sources).sources)
    yield f"checking the network to {len(todo)} portal(s) of {sources.name}…"
    reachable = 0
    for probe in todo:
        names = ", ".join(probe.sources)
        problem = check(probe, user_agent, timeout)
        if problem is None:
            reachable += 1
            yield f"  ok    {names}: {probe.url} answers"
        else:
            yield f"  FAIL  {names}: {problem}"
    if todo and reachable == len(todo):
        yield "every portal answers: run `watcher run --once` to poll them now"
    elif reachable:
        yield (
            f"{reachable} of {len(todo)} portal(s) answer; the others are tried at each run "
            "and their failures shown on the /sources page"
        )
    elif todo:
        yield (
            f"no portal answers: {UNREACHABLE}. Meanwhile `watcher demo` shows the site with "
            "sample data, without any network"
        )


@click.command("init")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=True,
    help="Folder to write sources.yaml and .env.example into.",
)
@click.option("--force", is_flag=True, help="Replace sources.yaml and .env.example if they exist.")
@click.option("--no-check", is_flag=True, help="Do not check the network to the portals.")
@click.option(
    "--timeout", default=8.0, show_default=True, type=click.FloatRange(0.1, 120), help="Seconds."
)
@friendly
def init(folder: Path, force: bool, no_check: bool, timeout: float) -> None:
    """Write a commented sources.yaml and .env.example, then check which portals answer.

    Écrit un sources.yaml commenté et un .env.example, puis vérifie quels portails répondent.
    """
    from watcher.settings import load_settings  # noqa: PLC0415

    for line in write_files(folder, force=force):
        click.echo(line)
    if no_check:
        return
    settings = load_settings()
    for line in network_lines(folder / "sources.yaml", settings.user_agent, timeout):
        click.echo(line)
