"""Numbers in URLs that the database can look up (issue 18).

`/notices/99999999999999999999999` used to be a 500 (`OverflowError`: SQLite integers are 64-bit)
and `/notices/2147483648` one on PostgreSQL (`NumericValueOutOfRange`: ids are 32-bit `integer`),
and a path of thousands of digits made Starlette's `int` convertor raise before any route ran.
The `{name:id}` convertor matches digits as `int` does, but turns a number no row can have into
0, which no row has either: the page answers its ordinary styled 404.

`page=` and `per_page=` are bounded by `watcher.web.listing.Paging` (400 beyond `MAX_PAGE`).
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

# The largest id a row can have on every database: PostgreSQL `integer` (SERIAL) columns.
MAX_ID = 2**31 - 1
_DIGITS = len(str(MAX_ID))


def db_id(value: str) -> int:
    """`value` as an id, or 0 (no row) when it cannot be one."""
    digits = value.lstrip("0")
    if not value.isdigit() or not value.isascii() or len(digits) > _DIGITS:
        return 0
    # Leading zeros stripped first: `int` refuses strings of more than 4,300 digits (issue 26).
    number = int(digits or "0")
    return number if number <= MAX_ID else 0


class IdConvertor(Convertor[int]):
    """`{name:id}`: the digits of a row id; numbers too big for any row become 0."""

    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        """The id, or 0 when no row can have it."""
        return db_id(value)

    def to_string(self, value: int) -> str:
        """The id as it appears in a URL."""
        return str(int(value))


register_url_convertor("id", IdConvertor())
