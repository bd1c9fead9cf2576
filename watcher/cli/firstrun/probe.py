"""`watcher init`'s network check: can this computer reach each portal of the sources file?

One request per portal host (its home page; any HTTP answer, even an error page, means the portal
can be reached), through the source's proxy, with a short timeout. The answer is a line in words
(`watcher.sources.netdiag`), so that a person knows before the first run what will work.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from watcher.sources import netdiag
from watcher.sources.base import SourceConfig


@dataclass(frozen=True, slots=True)
class Probe:
    """One portal host to try, and the sources that use it."""

    url: str
    proxy: str | None
    sources: tuple[str, ...]


def _urls(value: Any) -> Iterator[str]:
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _urls(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _urls(item)


def probes(configs: list[SourceConfig]) -> list[Probe]:
    """The portal hosts of the enabled sources (with their defaults), in file order."""
    found: dict[tuple[str, str | None], list[str]] = {}
    for config in configs:
        if not config.enabled:
            continue
        values = config.model_dump(exclude={"proxy"})
        for url in _urls(values):
            parts = urlsplit(url)
            root = f"{parts.scheme}://{parts.netloc}/"
            found.setdefault((root, config.proxy), []).append(config.name)
            break
    return [Probe(url, proxy, tuple(dict.fromkeys(names))) for (url, proxy), names in found.items()]


def check(probe: Probe, user_agent: str, timeout: float = 8.0) -> str | None:
    """None when the portal answered, else why not, in words."""
    try:
        with httpx.Client(
            headers={"User-Agent": user_agent},
            timeout=timeout,
            proxy=probe.proxy,
            follow_redirects=False,
        ) as client:
            client.get(probe.url)
    except httpx.HTTPError as exc:
        return netdiag.explain(exc, probe.url)
    return None
