"""`watcher match`: run the relevance matcher over notices given as JSON lines.

Each input line is a notice in the corpus schema (`id`, `title`, `buyer`, `description`, `cpv`,
`place`, `department`, …); each output line is
`{"id": …, "relevant": …, "site": …, "score": …, "reasons": […]}`. A line that cannot be read is
reported on stderr with its number, the other lines are still matched, and the command exits 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import click

from watcher.errors import ConfigError
from watcher.match.matcher import Matcher, match_jsonl_line
from watcher.pipeline.config import load_config


@click.command("match")
@click.option(
    "--jsonl",
    "jsonl",
    required=True,
    type=click.File("r", encoding="utf-8"),
    help="Notices as JSON lines (corpus schema); '-' reads standard input.",
)
@click.option(
    "--sources",
    "sources",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A sources.yaml whose 'rules:' and 'sites:' files are merged over the shipped rules.",
)
def match_command(jsonl: IO[str], sources: Path | None) -> None:
    """Decide relevance and site for each notice and print one JSON line per notice."""
    try:
        if sources is None:
            matcher = Matcher.load()
        else:
            config = load_config(sources)
            matcher = Matcher.load(extra_rules=config.rules, extra_sites=config.sites)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    failed = 0
    for number, line in enumerate(jsonl, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            click.echo(f"line {number}: not valid JSON: {exc.msg} (column {exc.colno})", err=True)
            failed += 1
            continue
        try:
            out = match_jsonl_line(matcher, obj)
        except ValueError as exc:
            click.echo(f"line {number}: {exc}", err=True)
            failed += 1
            continue
        click.echo(json.dumps(out, ensure_ascii=False))
    if failed:
        click.echo(f"{failed} line(s) could not be matched", err=True)
        raise SystemExit(1)
