"""Validator errors in plain words, for people who never heard of pydantic.

`explain(err)` turns one pydantic error (a dict of `ValidationError.errors()`) into a short English
sentence that says what to write instead: "must be a list (write it as ["a", "b"] or as lines
starting with "- ")", not "Input should be a valid tuple". `sources.yaml`, the environment
settings and the alert settings all report their problems through it (issue 19).
"""

from __future__ import annotations

from typing import Any

_SCHEDULE_HINT = (
    'must be text in quotes: an interval like "30m", "6h", "1d" or a cron expression like '
    '"0 7 * * *"'
)


def _names(err: dict[str, Any]) -> str:
    loc = err.get("loc") or ()
    return str(loc[-1]) if loc else ""


def explain(err: dict[str, Any]) -> str:
    """One pydantic error as a sentence a non-engineer can act on."""
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    value = err.get("input")
    key = _names(err)
    if key == "schedule" and kind != "value_error":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f'{_SCHEDULE_HINT} (for {value} minutes write "{value}m")'
        return _SCHEDULE_HINT
    if key == "name" and kind == "string_pattern_mismatch":
        return (
            f"{value!r} is not a usable name: use lower-case letters, digits, '-' or '_', "
            "starting with a letter or a digit (like 'boamp-nord')"
        )
    simple = {
        "extra_forbidden": "unknown key (not allowed here; check the spelling)",
        "missing": "missing (this key is required)",
        "int_parsing": "must be a whole number (like 3)",
        "int_type": "must be a whole number (like 3)",
        "int_from_float": "must be a whole number (like 3), without decimals",
        "float_parsing": "must be a number (like 2.5)",
        "float_type": "must be a number (like 2.5)",
        "bool_parsing": "must be true or false",
        "bool_type": "must be true or false",
        "string_type": "must be text (put it in quotes)",
        "tuple_type": 'must be a list (write it as ["a", "b"] or as lines starting with "- ")',
        "list_type": 'must be a list (write it as ["a", "b"] or as lines starting with "- ")',
        "set_type": 'must be a list (write it as ["a", "b"] or as lines starting with "- ")',
        "dict_type": "must be a group of keys (key: value lines, indented under it)",
        "model_type": "must be a group of keys (key: value lines, indented under it)",
        "url_parsing": "must be a web address like 'https://portal.example'",
        "url_scheme": "must be a web address starting with http:// or https://",
    }
    if kind in simple:
        return simple[kind]
    if kind in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
        words = {
            "greater_than_equal": "{} or more",
            "greater_than": "more than {}",
            "less_than_equal": "{} or less",
            "less_than": "less than {}",
        }
        limit = next(iter(ctx.values()), "?")
        return f"must be {words[kind].format(limit)}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"must be one of: {expected.replace(' or ', ', ')}"
    if kind == "enum":
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"must be one of: {expected.replace(' or ', ', ')}"
    if kind == "string_too_long":
        return f"is too long (at most {ctx.get('max_length')} characters)"
    if kind == "string_too_short":
        return f"is too short (at least {ctx.get('min_length')} characters)"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"has too many items (at most {ctx.get('max_length')})"
    if kind == "string_pattern_mismatch":
        return "is not written in the expected form (see `watcher sources` for this key)"
    return str(err.get("msg", "is not valid")).removeprefix("Value error, ")


def env_problem(err: dict[str, Any], *, secret: frozenset[str] = frozenset()) -> str:
    """`environment: WATCHER_HTTP_RETRIES=-1: must be 0 or more` (a secret's value not echoed)."""
    name = "WATCHER_" + "_".join(str(p) for p in err.get("loc") or ()).upper()
    value = err.get("input")
    shown = (
        "" if name in secret or value is None or isinstance(value, dict) else f"={str(value)[:60]}"
    )
    return f"environment: {name}{shown}: {explain(err)}"
