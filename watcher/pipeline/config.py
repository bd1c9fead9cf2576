"""Load and validate `sources.yaml`.

Two steps: each entry's envelope (`name`, `kind`) is read first, then the whole entry is validated
against its kind's `Config` (pydantic, `extra="forbid"`). Every problem is collected and reported on
one line that names the file, the source and the key, e.g.
`sources.yaml: source 'boamp' (kind 'boamp'): base_url: 'x' is not a URL like 'https://portal.example'`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from watcher.core.plain import explain
from watcher.core.yamlio import load_yaml_strict, problem
from watcher.errors import ConfigError
from watcher.sources import SOURCES, get_source
from watcher.sources.base import Source, SourceConfig

TOP_LEVEL_KEYS = {"sources", "rules", "sites"}


@dataclass(frozen=True)
class Config:
    """The validated contents of a sources file."""

    path: Path
    sources: list[SourceConfig]
    # Extra matcher rule and gazetteer files, relative paths resolved against the sources file.
    rules: list[Path] = field(default_factory=list)
    sites: list[Path] = field(default_factory=list)

    def build(self, *, only: str | None = None, include_disabled: bool = False) -> list[Source]:
        """Instances of the configured sources (enabled ones unless asked), or only the one named."""
        chosen = [
            s
            for s in self.sources
            if (only is None or s.name == only) and (s.enabled or include_disabled or only)
        ]
        if only is not None and not chosen:
            names = ", ".join(s.name for s in self.sources) or "none"
            raise ConfigError(f"{self.path.name}: no source named {only!r}; sources: {names}")
        return [SOURCES[s.kind](s) for s in chosen]


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(entry)"


def _error_text(err: Any) -> str:
    return explain(dict(err))


def parse_config(data: Any, path: Path) -> Config:
    """Validate parsed YAML; raise one `ConfigError` listing every problem."""
    fname = path.name
    if not isinstance(data, dict):
        raise ConfigError(f"{fname}: expected a mapping with a 'sources:' list at the top")
    problems: list[str] = []
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            known = ", ".join(sorted(TOP_LEVEL_KEYS))
            problems.append(f"{fname}: {key}: unknown top-level key; known keys: {known}")
    entries = data.get("sources")
    if not isinstance(entries, list):
        problems.append(f"{fname}: sources: must be a list of sources")
        entries = []
    sources: list[SourceConfig] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            problems.append(f"{fname}: source #{index}: must be a mapping with 'name' and 'kind'")
            continue
        name = entry.get("name")
        label = f"source {name!r}" if isinstance(name, str) and name else f"source #{index}"
        kind = entry.get("kind")
        if not isinstance(kind, str) or not kind:
            known = ", ".join(sorted(SOURCES))
            problems.append(f"{fname}: {label}: kind: missing; known kinds: {known}")
            continue
        try:
            cls = get_source(kind)
        except ConfigError as exc:
            problems.append(f"{fname}: {label}: kind: {exc}")
            continue
        if isinstance(name, str):
            if name in seen:
                problems.append(
                    f"{fname}: {label}: name: used twice (sources #{seen[name]} and #{index}); "
                    "names must be unique"
                )
            seen.setdefault(name, index)
        try:
            sources.append(cls.Config.model_validate(entry))
        except ValidationError as exc:
            problems.extend(
                f"{fname}: {label} (kind {kind!r}): {_loc(err['loc'])}: {_error_text(err)}"
                for err in exc.errors()
            )
    extra: dict[str, list[Path]] = {"rules": [], "sites": []}
    for key, paths in extra.items():
        value = data.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(f"{fname}: {key}: must be a list of file paths")
            continue
        for item in value:
            target = (path.parent / item).resolve()
            if not target.is_file():
                problems.append(f"{fname}: {key}: {item}: no such file")
            paths.append(target)
    if problems:
        raise ConfigError(problems[0], problems)
    return Config(path=path, sources=sources, rules=extra["rules"], sites=extra["sites"])


def load_config(path: Path) -> Config:
    """Read and validate a sources file; a missing file or bad YAML is one clear `ConfigError`."""
    fname = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: file not found (set WATCHER_SOURCES or run from the folder that has "
            "sources.yaml)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    try:
        data = load_yaml_strict(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{fname}: {problem(exc)}") from None
    return parse_config(data, path)
