"""The registry of source kinds: an explicit dict, loud on duplicates.

A new kind is a module in this package, named like its `kind`, registered here.
"""

from __future__ import annotations

from watcher.errors import ConfigError
from watcher.sources.base import Source
from watcher.sources.boamp import BoampSource
from watcher.sources.contracts_finder import ContractsFinderSource
from watcher.sources.decp import DecpSource
from watcher.sources.feed import FeedSource
from watcher.sources.find_a_tender import FindATenderSource
from watcher.sources.html import HtmlSource
from watcher.sources.place import PlaceSource
from watcher.sources.ted import TedSource

_KINDS: list[type[Source]] = [
    BoampSource,
    TedSource,
    FindATenderSource,
    ContractsFinderSource,
    PlaceSource,
    DecpSource,
    HtmlSource,
    FeedSource,
]

SOURCES: dict[str, type[Source]] = {}
for _cls in _KINDS:
    if _cls.kind in SOURCES:
        raise RuntimeError(f"source kind {_cls.kind!r} is registered twice")
    SOURCES[_cls.kind] = _cls


def get_source(kind: str) -> type[Source]:
    """The class of a kind, or a `ConfigError` that lists the known kinds."""
    try:
        return SOURCES[kind]
    except KeyError:
        known = ", ".join(sorted(SOURCES))
        raise ConfigError(f"unknown kind {kind!r}; known kinds: {known}") from None
