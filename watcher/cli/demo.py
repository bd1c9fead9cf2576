"""`watcher demo`: the site, a procedure page and a feed within a minute, with no network.

A bundled sample of BOAMP notices (`watcher.cli.firstrun`, real-shaped and clearly labelled) is served
by a loopback portal inside the process and polled twice through the real pipeline (fetch,
parse, match, diff, store): the second poll moves a deadline, so a procedure page shows a real
timeline. Feeds are written, then the web site is served with a "Demonstration" notice on every
page. Everything lives in its own folder (a new temporary one unless `--data-dir`) with its own
SQLite database: `WATCHER_DATABASE_URL` and the real sources file are never touched, nothing is
fetched from the internet and no alert is sent.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from watcher.cli.common import friendly
from watcher.errors import WatcherError
from watcher.pipeline.runtime import Runtime

if TYPE_CHECKING:
    from watcher.settings import Settings

SOURCE_NAME = "boamp-demo"


def prepare(data_dir: Path, base_url: str) -> tuple[Runtime, list[str]]:
    """Fill a demonstration database in `data_dir`; the runtime and lines for the person."""
    from watcher.cli.firstrun import bundled  # noqa: PLC0415
    from watcher.cli.firstrun.portal import DemoPortal  # noqa: PLC0415
    from watcher.db.search import fill_deferred  # noqa: PLC0415
    from watcher.db.session import session_scope  # noqa: PLC0415
    from watcher.pipeline.cycle import publish_feeds  # noqa: PLC0415
    from watcher.pipeline.poll import run_source  # noqa: PLC0415

    data_dir.mkdir(parents=True, exist_ok=True)
    first = json.loads(bundled("demo_poll_1.json"))["results"]
    second = json.loads(bundled("demo_poll_2.json"))["results"]
    third = json.loads(bundled("demo_poll_3.json"))["results"]
    lines = []
    database = data_dir / "demo.sqlite3"
    if database.exists():
        # Polled again, the sample's first poll would move the deadline back: false events.
        runtime = Runtime(_settings(data_dir, base_url))
        Runtime._opened.append(runtime)
        return runtime, [f"demo: the sample is already in {data_dir}; shown as it is"]
    with DemoPortal(first) as portal:
        sources = data_dir / "sources.yaml"
        sources.write_text(
            "# The demonstration's only source: a BOAMP portal inside `watcher demo`, serving a\n"
            "# bundled sample. Nothing here reaches the internet.\n"
            f"sources:\n  - name: {SOURCE_NAME}\n    kind: boamp\n    base_url: {portal.url}\n",
            encoding="utf-8",
        )
        runtime = Runtime(_settings(data_dir, base_url))
        Runtime._opened.append(runtime)
        ctx = runtime.context()
        [source] = runtime.config.build()
        # The demo says what each poll did itself: the pipeline's log line would repeat it.
        quiet = logging.getLogger("watcher.pipeline.poll")
        level = quiet.level
        quiet.setLevel(logging.WARNING)
        try:
            results = []
            for records in (first, second, third):
                portal.records = records
                results.append(run_source(source, ctx))
        finally:
            quiet.setLevel(level)
        with session_scope(ctx.sessions) as session:  # the polls' words, searchable
            fill_deferred(session)
        for number, result in enumerate(results, start=1):
            if not result.ok:
                raise WatcherError(f"demo: the sample could not be read: {result.error}")
            lines.append(
                f"demo: poll {number} of the sample: {result.fetched} notice(s), {result.new} new, "
                f"{result.changed} changed, {result.events} event(s)"
            )
    from watcher.pipeline.cycle import refresh  # noqa: PLC0415

    resolve = logging.getLogger("watcher.companies.resolve")
    level = resolve.level
    resolve.setLevel(logging.WARNING)  # the line below says it
    try:
        lines.append(f"demo: {refresh(runtime)}")
    finally:
        resolve.setLevel(level)
    lines.append(f"demo: {publish_feeds(runtime)}")
    return runtime, lines


def _settings(data_dir: Path, base_url: str) -> Settings:
    """The demonstration's own settings: its folder, its SQLite file, no retries."""
    from watcher.settings import Settings  # noqa: PLC0415

    return Settings(
        sources=data_dir / "sources.yaml",
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'demo.sqlite3'}",
        base_url=base_url,
        http_backoff=0.0,
        http_retries=0,
        demo=True,
    )


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Port."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the demonstration's database and feeds (default: a new temporary folder).",
)
@click.option(
    "--no-serve", is_flag=True, help="Only fill the demonstration database; do not serve."
)
@friendly
def demo(host: str, port: int, data_dir: Path | None, no_serve: bool) -> None:
    """Serve a bundled sample of notices through the real pipeline, with no network.

    Montre le site avec un échantillon d'avis fourni, sans réseau.
    """
    if not no_serve:
        from watcher.web.server import bind  # noqa: PLC0415

        bind(host, port).close()  # a port in use is said now, not after building everything
    folder = data_dir or Path(tempfile.mkdtemp(prefix="watcher-demo-"))
    try:
        _demo(host, port, folder, temporary=data_dir is None, no_serve=no_serve)
    finally:
        if data_dir is None:  # a temporary folder goes when the demonstration ends
            Runtime.close_all()
            shutil.rmtree(folder, ignore_errors=True)


def _demo(host: str, port: int, folder: Path, *, temporary: bool, no_serve: bool) -> None:
    from sqlalchemy import select  # noqa: PLC0415

    from watcher.db.models import Company, Event, Notice  # noqa: PLC0415

    base = f"http://{host}:{port}"
    click.echo(
        "demo: DEMONSTRATION with a bundled sample of 4 BOAMP notices, an award among them "
        "(real-shaped, frozen; "
        "names and dates rewritten). Nothing is fetched from the internet and no alert is sent."
    )
    runtime, lines = prepare(folder, base)
    for line in lines:
        click.echo(line)
    with runtime.sessions() as session:
        # The notice whose deadline moved: its page shows a timeline with two versions.
        notice = session.scalar(
            select(Event.notice_id).where(Event.type == "deadline_moved").limit(1)
        ) or session.scalar(select(Notice.id).where(Notice.relevant.is_(True)).limit(1))
    click.echo(f"demo: the site:            {base}/")
    click.echo(f"demo: a procedure's page:  {base}/notices/{notice}")
    with runtime.sessions() as session:
        company = session.scalar(select(Company.slug).order_by(Company.id).limit(1))
    if company:
        click.echo(f"demo: a company's page:    {base}/companies/{company}")
    click.echo(f"demo: a feed:              {base}/feeds/all.atom (what a feed is: {base}/feeds)")
    if temporary:
        click.echo(f"demo: its data are in {folder}, deleted when the demonstration stops")
    else:
        click.echo(f"demo: its data are in {folder}")
    if no_serve:
        return
    from watcher.web.server import serve  # noqa: PLC0415

    click.echo("demo: stop with Ctrl-C")
    serve(runtime, host=host, port=port, scheduler=False)
