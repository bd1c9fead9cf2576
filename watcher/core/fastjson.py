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
