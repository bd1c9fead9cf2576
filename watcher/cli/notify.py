"""`watcher subscribers …` and `watcher notify`: the maintainers' side of alerts.

Addresses are printed masked (`a***@example.org`) unless `--show-addresses` is given.
"""

from __future__ import annotations

import click

from watcher.cli.common import friendly
from watcher.errors import ConfigError
from watcher.notify import subscribers as subs
from watcher.pipeline.runtime import Runtime


@click.group("subscribers")
def subscribers() -> None:
    """Who receives alerts: e-mail addresses and Apprise channel URLs, with their filters."""


@subscribers.command("add")
@click.argument("address")
@click.option("--site", "sites", multiple=True, help="Only this site (slug); repeatable.")
@click.option("--source", "sources", multiple=True, help="Only this source (name); repeatable.")
@click.option(
    "--company",
    "companies",
    multiple=True,
    help="Only the procedures this company won (slug, see /companies); repeatable.",
)
@click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice(subs.EVENT_TYPES),
    help="Only this event type; repeatable.",
)
@click.option("--lang", type=click.Choice(subs.LANGS), default="fr", show_default=True)
@click.option("--digest", type=click.Choice(["daily"]), default=None, help="One e-mail a day.")
@click.option(
    "--query",
    default=None,
    help="Only the procedures this search finds, e.g. '\"restauration\" dep:59' (see /search).",
)
@friendly
def add(
    address: str,
    sites: tuple[str, ...],
    sources: tuple[str, ...],
    companies: tuple[str, ...],
    events: tuple[str, ...],
    lang: str,
    digest: str | None,
    query: str | None,
) -> None:
    """Add (or update) a confirmed subscription for ADDRESS: an e-mail or an Apprise URL.

    Without filters it receives every alert. It receives alerts about what happens from now on.
    """
    from watcher.db.session import session_scope  # noqa: PLC0415
    from watcher.notify import utcnow  # noqa: PLC0415

    runtime = Runtime.from_env()
    _check_known(runtime, sites, sources)
    filters = subs.Filters(
        sites=sites,
        sources=sources,
        events=events,
        lang=lang,
        digest=digest,
        companies=companies,
        query=query,
    )
    with session_scope(runtime.sessions) as session:
        sub, created = subs.add_confirmed(session, address, filters, utcnow())
        line = subs.describe(sub)
    click.echo(f"{'added' if created else 'updated'}: {line}")


def _check_known(runtime: Runtime, sites: tuple[str, ...], sources: tuple[str, ...]) -> None:
    """`ConfigError` for a site or source that does not exist (a typo would silence alerts)."""
    if sites:
        known = set(runtime.matcher.site_slugs)
        for site in sites:
            if site not in known:
                raise ConfigError(f"unknown site {site!r}; `watcher subscribers sites` lists them")
    if sources:
        names = {s.name for s in runtime.config.sources}
        for source in sources:
            if source not in names:
                raise ConfigError(
                    f"unknown source {source!r}; sources: {', '.join(sorted(names)) or 'none'}"
                )


@subscribers.command("list")
@click.option("--show-addresses", is_flag=True, help="Print full addresses (sensitive).")
@friendly
def list_cmd(show_addresses: bool) -> None:
    """List the subscribers, addresses masked, with their filters."""
    from sqlalchemy import select  # noqa: PLC0415

    from watcher.db.models import Subscriber  # noqa: PLC0415

    runtime = Runtime.from_env()
    with runtime.sessions() as session:
        rows = session.scalars(select(Subscriber).order_by(Subscriber.id)).all()
        for sub in rows:
            line = subs.describe(sub)
            if show_addresses:
                line = line.replace(subs.mask(sub.address), sub.address, 1)
            click.echo(line)
    click.echo(f"{len(rows)} subscriber(s)", err=True)


@subscribers.command("remove")
@click.argument("address")
@friendly
def remove(address: str) -> None:
    """Remove ADDRESS (or `#ID` from `list`) and everything stored about it."""
    from watcher.db.session import session_scope  # noqa: PLC0415

    runtime = Runtime.from_env()
    with session_scope(runtime.sessions) as session:
        sub = subs.find(session, address)
        if sub is None:
            raise ConfigError("no such subscriber")
        ident = f"#{sub.id} {subs.mask(sub.address)}"
        subs.remove(session, sub)
    click.echo(f"removed: {ident}")


@subscribers.command("sites")
@friendly
def sites_cmd() -> None:
    """List the site slugs that `--site` accepts."""
    runtime = Runtime.from_env()
    for slug in runtime.matcher.site_slugs:
        click.echo(slug)


@click.command("notify")
@click.option(
    "--interrupted",
    "list_interrupted",
    is_flag=True,
    help="Only list the alerts a crash interrupted while sending (never re-sent).",
)
@friendly
def notify(list_interrupted: bool) -> None:
    """Deliver the pending alerts now, ignoring the retry backoff; exit 0 even if mail is down.

    Prints what was sent and how many alerts still wait (they are retried by the next round).
    Alerts are sent at most once: one a crash (`kill -9`) interrupted while sending is never sent
    again, because it may have arrived; `--interrupted` lists them, to check by hand.
    """
    from watcher.notify import deliver_pending, ledger  # noqa: PLC0415

    runtime = Runtime.from_env()
    if list_interrupted:
        with runtime.sessions() as session:
            rows = ledger.interrupted(session)
        for row in rows:
            when = f"{row.claimed_at:%Y-%m-%d %H:%M} UTC" if row.claimed_at else "?"
            click.echo(
                f"#{row.delivery_id} {when} subscriber #{row.subscriber_id} "
                f"{subs.mask(row.address)}: {row.event_key} — {row.notice_title}"
            )
        click.echo(f"{len(rows)} interrupted alert(s), not re-sent (at most once)", err=True)
        return
    report = deliver_pending(runtime, force=True)
    click.echo(report.summary())
