"""JSON at orjson's speed with the standard library's results (issue 16).

`loads` reads with orjson (about twice as fast as `json.loads` on BOAMP pages and their
`donnees`) and falls back to `json.loads` for what orjson refuses but `json` reads (NaN,
Infinity, numbers beyond a double, lone surrogates), so a portal's odd record is read exactly
as before. `dumps` writes the JSON columns (the engine's serializer); hashes of raw payloads
keep using `json.dumps`, whose exact text they were computed on.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def loads(data: bytes | bytearray | str) -> Any:
    """The value of a JSON document; ValueError (or RecursionError) when it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def dumps(value: Any) -> str:
    """Compact JSON text of a column's value (the standard library for what orjson cannot
    write, such as integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False)


class _Text(str):
    """Text already written (a bracket, a key): `dumps_deep` copies it as is."""


def dumps_deep(value: Any) -> str:
    """JSON text of a value nested deeper than any recursive writer goes (`json.dumps` stops near
    1,000 levels, orjson at 255): written with a stack of its own, for evidence (issue 26).
    Keys keep their order; what JSON cannot hold is written as its text."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Text):
            out.append(item)
        elif isinstance(item, dict):
            out.append("{")
            stack.append(_Text("}"))
            for n, (key, inner) in reversed(list(enumerate(item.items()))):
                stack.append(inner)
                stack.append(_Text(("," if n else "") + json.dumps(str(key)) + ":"))
        elif isinstance(item, list | tuple):
            out.append("[")
            stack.append(_Text("]"))
            for n, inner in reversed(list(enumerate(item))):
                stack.append(inner)
                if n:
                    stack.append(_Text(","))
        else:
            out.append(json.dumps(item, ensure_ascii=False, default=str))
    return "".join(out)
