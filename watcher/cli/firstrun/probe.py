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
        with (
            httpx.Client(
                headers={"User-Agent": user_agent},
                timeout=timeout,
                proxy=probe.proxy,
                follow_redirects=False,
            ) as client,
            client.stream("GET", probe.url),
        ):
            pass  # its status line and headers came: it answers (the body is not read)
    except httpx.HTTPError as exc:
        return netdiag.explain(exc, probe.url, probe.proxy)
    return None


def silent(problem: str | None) -> bool:
    """Whether `check` found a portal that does not answer at all (a timeout, a dead proxy)."""
    return problem is not None and any(
        words in problem for words in ("did not answer in time", "portal through the proxy")
    )


def first_run_check(configs: list[SourceConfig], user_agent: str, timeout: float) -> list[str]:
    """Before a first run: every portal tried at once for `timeout` seconds; when none answers
    at all, the lines that say so (one per portal, then what to do), else nothing.

    Behind a proxy that never answers, polling each source through every retry takes many
    minutes for nothing (issue 25): this takes `timeout` seconds."""
    import threading  # noqa: PLC0415
    import time  # noqa: PLC0415

    todo = probes(configs)
    if not todo:
        return []
    found: dict[int, str | None] = {}

    def work(number: int, probe: Probe) -> None:
        found[number] = check(probe, user_agent, timeout)

    # Daemon threads: a portal that drips its answer byte by byte is not waited for.
    threads = [threading.Thread(target=work, args=(n, p), daemon=True) for n, p in enumerate(todo)]
    for thread in threads:
        thread.start()
    end = time.monotonic() + timeout + 1
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    problems = [
        found[n] if n in found else netdiag.silence(p.url, timeout, p.proxy)
        for n, p in enumerate(todo)
    ]
    if not all(silent(p) for p in problems):
        return []
    lines = [
        f"  FAIL  {', '.join(p.sources)}: {problem}"
        for p, problem in zip(todo, problems, strict=True)
    ]
    through = {netdiag.proxy_in_use(p.url, p.proxy) for p in todo} - {None}
    via = f" through {', '.join(sorted(str(t) for t in through))}" if through else ""
    lines.append(
        f"first run stopped early: none of the {len(todo)} portal(s) answered within "
        f"{timeout:g} s{via}; nothing was polled. Check the internet connection or the proxy, "
        "then run again (`watcher run --once --force` polls anyway). Meanwhile `watcher demo` "
        "shows the site with sample data, without any network"
    )
    return lines
