"""Characters that must never reach the store or a reader, removed where records enter the store.

Portals send what they send (issue 18): a lone surrogate (`"\\udc80"`, from a badly decoded byte)
cannot be encoded in UTF-8, so one such record used to make the whole poll fail at every poll; a NUL
byte is refused by PostgreSQL (`psycopg.DataError`) and silently cuts a string short on SQLite; a
right-to-left override (U+202E) turns `facture\\u202egpj.exe` into what reads as `factureexe.jpg`
in a title, a mail Subject or a file name.

`PollStore` passes every record through `clean_record()` / `clean_raw_record()` before anything
else, so both databases store the same thing:

- lone surrogates become U+FFFD (the replacement character `�`) everywhere, the raw payload
  included (it stays the portal's answer, with the undecodable character marked);
- NUL bytes are removed everywhere;
- bidirectional controls and zero-width characters (`INVISIBLE`) are removed from every field a
  reader sees (ids, titles, buyers, texts, lots), not from the raw payload, which is evidence.

`clean_text()` in `watcher.core.normalize` applies the same rules to display text; `safe_filename()`
and `plain_line()` are used for file names and mail subjects. Pure functions, no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, TypeVar

from watcher.records import Lot, NoticeRecord, RawRecord

# Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), the implicit
# marks (LRM, RLM, ALM), and zero-width or invisible characters (ZWSP, ZWNJ, ZWJ, word joiner,
# invisible operators, BOM, Mongolian vowel separator, soft hyphen).
INVISIBLE = (
    "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060-\u2064\ufeff\u180e\u00ad"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_INVISIBLE = re.compile(f"[{INVISIBLE}]")
_FIELD_BAD = re.compile(f"[\x00\ud800-\udfff{INVISIBLE}]")
_FILENAME_BAD = re.compile(f'[\x00-\x1f\x7f\ud800-\udfff{INVISIBLE}<>:"|?*\\\\/]')

T = TypeVar("T")


def storable(text: str) -> str:
    """`text` as both databases can store it: lone surrogates → U+FFFD, NUL bytes removed."""
    # A fast test first (issue 29): `in` and `isascii()` are a memchr and a flag, and only lone
    # surrogates make UTF-8 encoding fail; the regex scan of every character cost 8% of a poll.
    if "\x00" not in text:
        if text.isascii():
            return text
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            pass
        else:
            return text
    return _SURROGATE.sub("\ufffd", text.replace("\x00", ""))


def visible(text: str) -> str:
    """`storable(text)` without bidirectional controls and zero-width characters."""
    if (text.isascii() and "\x00" not in text) or _FIELD_BAD.search(text) is None:
        return text
    return _INVISIBLE.sub("", storable(text))


def plain_line(text: str) -> str:
    """One line for a mail Subject or a chat title: `visible()`, control characters as spaces."""
    return " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", visible(text)).split())


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def spreadsheet_cell(value: Any) -> Any:
    """A CSV cell no spreadsheet runs as a formula (OWASP's rule, issue 26): text starting with
    `= + - @`, a tab or a carriage return gets a leading `'`; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_filename(name: str, default: str = "document") -> str:
    """A file name to show or save: no path separators, controls, bidi overrides or invisibles."""
    cleaned = " ".join(_FILENAME_BAD.sub("", storable(name)).split()).strip(" .")
    return (cleaned or default)[:255]


def _clean_value(value: Any) -> Any:
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, tuple):
        cleaned = tuple(_clean_value(v) for v in value)
        return value if all(a is b for a, b in zip(cleaned, value, strict=True)) else cleaned
    if isinstance(value, Lot):
        return _clean_fields(value)
    return value


_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _names(kind: type[Any]) -> tuple[str, ...]:
    names = _NAMES.get(kind)
    if names is None:
        names = _NAMES[kind] = tuple(f.name for f in dataclasses.fields(kind))
    return names


def _clean_fields(item: T, keep: str = "", *, skip: str = "") -> T:
    """A copy of a frozen dataclass with every text field cleaned (`keep` only made storable,
    `skip` left as it is)."""
    changes: dict[str, Any] = {}
    kind: type[Any] = type(item)
    for name in _names(kind):
        if name == skip:
            continue
        value = getattr(item, name)
        new = storable(value) if name == keep and isinstance(value, str) else _clean_value(value)
        if new is not value:
            changes[name] = new
    return dataclasses.replace(item, **changes) if changes else item  # type: ignore[type-var]


def clean_record(record: NoticeRecord, *, raw_storable: bool = False) -> NoticeRecord:
    """A notice as it may be stored: every field `visible()`, its raw payload `storable()`
    (left as it is with `raw_storable`: the caller made it storable already)."""
    return _clean_fields(record, keep="raw", skip="raw" if raw_storable else "")


def clean_raw_record(record: RawRecord) -> RawRecord:
    """A raw record as it may be hashed and stored: id `visible()`, payload `storable()`.

    A payload that comes with its `digest` is storable already (the source hashed its UTF-8:
    no lone surrogate; JSON text escapes NUL), so it is not read again. Its `item` (what the
    source parses) is left alone: the parsed notice goes through `clean_record()`.
    """
    native_id = visible(record.native_id)
    raw = record.raw if record.digest is not None else storable(record.raw)
    if native_id == record.native_id and raw == record.raw:
        return record
    return dataclasses.replace(record, native_id=native_id, raw=raw)


def clean_any(record: NoticeRecord | RawRecord) -> NoticeRecord | RawRecord:
    """`clean_record()` or `clean_raw_record()`, whichever `record` needs."""
    if isinstance(record, RawRecord):
        return clean_raw_record(record)
    return clean_record(record)
