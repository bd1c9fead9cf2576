"""YAML reading for every file the watcher reads (sources, rules, gazetteer, templates' texts).

Uses libyaml's C loader when PyYAML was built with it (about ten times faster on the rule files,
which every command loads), with the same safe semantics as `yaml.safe_load`.
"""

from __future__ import annotations

from typing import Any

import yaml

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """Parse YAML safely (no arbitrary objects); raises `yaml.YAMLError` like `safe_load`."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
