"""The registry of source kinds: an explicit table, loud on mistakes.

A new kind is a module in this package, named like its `kind`, registered here by the name of its
class. A kind's module is imported the first time its class is asked for (`SOURCES[kind]`), so a
run that watches only feeds never imports the BOAMP, TED or DECP readers (issue 29: a cron run
imports only what it uses).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from watcher.errors import ConfigError

if TYPE_CHECKING:
    from watcher.sources.base import Source

# kind -> the class of module `watcher.sources.<kind>` (ruff's F601 refuses a kind given twice).
_KINDS: dict[str, str] = {
    "boamp": "BoampSource",
    "ted": "TedSource",
    "find_a_tender": "FindATenderSource",
    "contracts_finder": "ContractsFinderSource",
    "place": "PlaceSource",
    "decp": "DecpSource",
    "html": "HtmlSource",
    "feed": "FeedSource",
}


class Registry(Mapping[str, "type[Source]"]):
    """kind -> `Source` class, each kind's module imported when its class is first asked for."""

    def __init__(self, kinds: dict[str, str]) -> None:
        self._kinds = kinds
        self._loaded: dict[str, type[Source]] = {}

    def __getitem__(self, kind: str) -> type[Source]:
        found = self._loaded.get(kind)
        if found is None:
            if kind not in self._kinds:
                raise KeyError(kind)  # an unknown kind, as a dict would say
            name = self._kinds[kind]
            found = getattr(importlib.import_module(f"{__name__}.{kind}"), name)
            if found.kind != kind:
                raise RuntimeError(f"{name} says kind {found.kind!r} but is registered as {kind!r}")
            self._loaded[kind] = found
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def __contains__(self, kind: object) -> bool:
        return kind in self._kinds


SOURCES: Mapping[str, type[Source]] = Registry(_KINDS)


def get_source(kind: str) -> type[Source]:
    """The class of a kind, or a `ConfigError` that lists the known kinds."""
    try:
        return SOURCES[kind]
    except KeyError:
        known = ", ".join(sorted(SOURCES))
        raise ConfigError(f"unknown kind {kind!r}; known kinds: {known}") from None
