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


def dumps_sorted(value: Any) -> bytes | None:
    """The UTF-8 of `json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",",
    ":"))`, byte for byte, written by orjson (five times faster); None when orjson cannot
    promise the same text: a float (the two write exponents differently), an integer beyond 64
    bits, a lone surrogate, a key that is not text, a type JSON does not have, nesting deeper
    than orjson goes. Strings are escaped alike (checked over every code point in the tests),
    and keys sorted alike (code point order is UTF-8 byte order)."""
    try:
        found = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError
        return None
    return found if _plain(value) else None


_SCALARS = frozenset({str, int, bool, type(None)})


def _plain(value: Any) -> bool:
    """Whether `value` holds only text, integers, booleans, null, lists and text-keyed dicts
    (orjson wrote it, so it is no deeper than 255 levels). A loop, not calls: it runs on every
    record of a re-poll."""
    scalars = _SCALARS
    todo = [value]
    while todo:
        item = todo.pop()
        kind = type(item)
        if kind is dict:
            for key, inner in item.items():
                if type(key) is not str:
                    return False
                if type(inner) not in scalars:
                    todo.append(inner)
        elif kind is list or kind is tuple:
            todo.extend(inner for inner in item if type(inner) not in scalars)
        elif kind not in scalars:
            return False
    return True


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
