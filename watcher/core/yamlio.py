"""YAML reading for every file the watcher reads (sources, rules, gazetteer, templates' texts).

Uses libyaml's C loader when PyYAML was built with it (about ten times faster on the rule files,
which every command loads), with the same safe semantics as `yaml.safe_load`.
"""

from __future__ import annotations

from typing import Any

import yaml

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def problem(exc: yaml.YAMLError) -> str:
    """A YAML mistake in one line: `line 3, column 5: YAML does not parse: …`."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    found = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    what = "" if "written twice" in str(found) else "YAML does not parse: "
    return f"{where}{what}{found}"


def load_yaml(text: str) -> Any:
    """Parse YAML safely (no arbitrary objects); raises `yaml.YAMLError` like `safe_load`."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader


class _UniqueKeyLoader(_Loader):  # type: ignore[misc]
    """The same safe loader, refusing a key written twice in one mapping (YAML keeps the last
    silently, so `schedule:` twice in one source would quietly drop the first)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the constructor reports it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} is written twice here; keep only one",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml_strict(text: str) -> Any:
    """Like `load_yaml`, but a key written twice in one mapping is a `yaml.YAMLError`."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a safe loader
