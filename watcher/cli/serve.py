"""`watcher serve`: the scheduler and the web site."""

from __future__ import annotations

import click

from watcher.cli.common import friendly


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port to listen on (1-65535).",
)
@click.option("--no-scheduler", is_flag=True, help="Serve only; do not poll.")
@friendly
def serve(host: str, port: int, no_scheduler: bool) -> None:
    """Run the scheduler (each source on its schedule) and the web server (feeds, pages)."""
    from watcher.pipeline.runtime import Runtime  # noqa: PLC0415
    from watcher.web.server import serve as run_server  # noqa: PLC0415

    runtime = Runtime.from_env()
    run_server(runtime, host=host, port=port, scheduler=not no_scheduler)
