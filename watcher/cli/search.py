"""`watcher search QUERY`: the search of `/search` in the terminal (issue 27)."""

from __future__ import annotations

import json

import click

from watcher.cli.common import friendly


@click.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("--all", "everything", is_flag=True, help="Every stored notice, not only relevant.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document, as /api/search.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@friendly
def search_command(query: tuple[str, ...], everything: bool, as_json: bool, limit: int) -> None:
    """Search the stored notices and their documents' text; best procedures first.

    QUERY: words, "exact phrases", -excluded, OR, and filters cpv:4521* acheteur:/buyer:
    dep:59 site: company:/titulaire: phase: source: after:/before: (see /search).
    """
    from watcher.core.query import parse  # noqa: PLC0415
    from watcher.db.search import search  # noqa: PLC0415
    from watcher.pipeline.runtime import Runtime  # noqa: PLC0415
    from watcher.web.search_pages import hit_json  # noqa: PLC0415

    runtime = Runtime.from_env()
    text = " ".join(query)
    with runtime.sessions() as session:
        results = search(session, parse(text), relevant_only=not everything, limit=limit)
        items = [hit_json(hit) for hit in results.hits]
    if as_json:
        body = {"q": text, "all": everything, "total": results.total, "items": items}
        body["facets"] = {
            name: [{"value": v, "count": c} for v, c in values]
            for name, values in results.facets.items()
        }
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    click.echo(f"{results.total} procedure(s)")
    for item in items:
        click.echo(f"\n#{item['id']} {item['title']}")
        click.echo(f"  {item['source']} · {item['buyer'] or '—'} · {item['published'] or '—'}")
        for snippet in item["snippets"]:
            where = f"[{snippet['document']}] " if snippet["document"] else ""
            click.echo(f"  {where}{' '.join(snippet['text'].split())}")
