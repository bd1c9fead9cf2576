"""Which feed matches what a reader is looking at, so that every page links the right one.

A page filtered to one site links `sites/<slug>.atom`, to one source `sources/<name>.atom`, to one
kind of event `events/<type>.atom`; with no filter, `all.atom`. No single feed matches a text
search or two filters at once: the page then says so and links the closest feed (the most
specific filter: site, then source, then event type). Every set of links also carries the JSON
Feed twin and the deadline calendar (issue 19).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from watcher.web.listing import Filters

CALENDAR = "/feeds/deadlines.ics"


@dataclass(frozen=True, slots=True)
class FeedLinks:
    """The feed of a page: Atom, JSON Feed, what it covers, and whether it matches exactly."""

    atom: str
    json: str
    scope: str  # all, site, source, type
    value: str | None
    exact: bool
    calendar: str = CALENDAR


def feed_links(filters: Filters) -> FeedLinks:
    """The feed closest to `filters` (exact when it holds the same events as the page)."""
    chosen = [
        (scope, value, folder)
        for scope, value, folder in (
            ("site", filters.site, "sites"),
            ("source", filters.source, "sources"),
            ("type", filters.type, "events"),
        )
        if value
    ]
    if not chosen:
        return FeedLinks("/feeds/all.atom", "/feeds/all.json", "all", None, exact=not filters.q)
    scope, value, folder = chosen[0]
    path = f"/feeds/{folder}/{quote(value or '', safe='')}"
    exact = len(chosen) == 1 and not filters.q
    return FeedLinks(f"{path}.atom", f"{path}.json", scope, value, exact=exact)
