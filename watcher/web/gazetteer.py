"""The site gazetteer as readers see it: slug, label, kind, country, département, status and
position (for the map).

`watcher.match.matcher` compiles `watcher/match/rules/sites.yaml` (and the extra files `sources.yaml` names) for
matching and exposes only the slugs, so the web site reads the same files here, read-only, for
the descriptive keys. A slug from an extra file adds a site; an existing slug keeps its label
unless the extra file gives one (the matcher's merge rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from watcher.core.yamlio import load_yaml


@dataclass(frozen=True, slots=True)
class Site:
    """One detention site of the gazetteer."""

    slug: str
    label: str
    kind: str | None = None
    country: str | None = None
    department: str | None = None
    status: str | None = None  # existing | planned | under_construction | closed
    lat: float | None = None
    lon: float | None = None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or None
    return str(value)


def _read(text: str) -> dict[str, dict[str, Any]]:
    data = load_yaml(text) or {}
    sites = data.get("sites") if isinstance(data, dict) else None
    if not isinstance(sites, dict):
        return {}
    return {str(k): v for k, v in sites.items() if isinstance(v, dict)}


def load_sites(extra: Sequence[Path] = ()) -> dict[str, Site]:
    """Every site, shipped then extra files merged over them, by slug (ordered by label)."""
    shipped = (resources.files("watcher.match") / "rules" / "sites.yaml").read_text(
        encoding="utf-8"
    )
    texts = [shipped] + [path.read_text(encoding="utf-8") for path in extra]
    merged: dict[str, dict[str, Any]] = {}
    for text in texts:
        for slug, entry in _read(text).items():
            target = merged.setdefault(slug, {})
            for key in ("label", "kind", "country", "department", "status", "lat", "lon"):
                if entry.get(key) is not None:
                    target[key] = entry[key]
    sites = [
        Site(
            slug=slug,
            label=_text(entry.get("label")) or slug,
            kind=_text(entry.get("kind")),
            country=_text(entry.get("country")),
            department=_text(entry.get("department")),
            status=_text(entry.get("status")),
            lat=_number(entry.get("lat")),
            lon=_number(entry.get("lon")),
        )
        for slug, entry in merged.items()
    ]
    sites.sort(key=lambda s: s.label.casefold())
    return {site.slug: site for site in sites}
