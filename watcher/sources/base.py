"""The `Source` contract and the helpers every source kind shares.

A source kind is one module in `watcher/sources/` with a docstring (Portal, URL, Caveats, Config
keys), a pydantic `Config`, an I/O-only `fetch()` that yields `RawPage`s and a pure `parse()` that
turns one page into `NoticeRecord`s. The pipeline does everything else.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from watcher.core import doubts, fastjson
from watcher.records import NoticeRecord, PollWindow, RawPage, RawRecord, Unreadable
from watcher.sources.http import Fetcher

_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> int | None:
    """Seconds of an interval such as `30m`, `2h`, `1d`; None when `text` is not an interval."""
    match = _INTERVAL.match(text)
    if not match:
        return None
    return int(match.group(1)) * _UNITS[match.group(2)]


def check_schedule(text: str) -> str:
    """Accept an interval (`30m`, `6h`) or a five-field cron expression; raise ValueError otherwise."""
    seconds = parse_interval(text)
    if seconds is not None:
        if seconds < 60:
            raise ValueError(
                f"interval {text!r} is shorter than one minute; portals deserve better"
            )
        return text.strip()
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"{text!r} is neither an interval (like '30m', '6h', '1d') "
            "nor a cron expression with five fields (like '0 7 * * *')"
        )
    from apscheduler.triggers.cron import CronTrigger  # noqa: PLC0415 - heavy import, only here

    try:
        CronTrigger.from_crontab(text, timezone="Europe/Paris")
    except ValueError as exc:
        raise ValueError(f"cron expression {text!r}: {exc}") from None
    return " ".join(fields)


class SourceConfig(BaseModel):
    """Keys every source has. Each kind's `Config` subclasses this and adds its own keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)
    kind: str
    schedule: str = "2h"
    enabled: bool = True
    proxy: str | None = None
    min_interval: float | None = Field(default=None, ge=0, le=120)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return check_schedule(value)

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {
            "http",
            "https",
            "socks5",
            "socks5h",
        }:
            raise ValueError("must be an http://, https://, socks5:// or socks5h:// URL")
        return value


class ApiSourceConfig(SourceConfig):
    """An API kind: `base_url` is scheme and host only; the source appends the portal's path."""

    base_url: str

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"{value!r} is not a URL like 'https://portal.example'")
        if parts.path not in {"", "/"} or parts.query:
            raise ValueError(
                f"{value!r}: give scheme and host only (like 'https://{parts.netloc}'); "
                "the source adds the portal's path itself"
            )
        return f"{parts.scheme}://{parts.netloc}"


class Source(ABC):
    """One source kind. Subclasses set `kind`, `Config`, and implement `fetch` and `parse`."""

    kind: ClassVar[str]
    Config: ClassVar[type[SourceConfig]] = SourceConfig
    # Seconds between two requests to the portal, unless the source's `min_interval` says otherwise.
    min_interval: ClassVar[float] = 0.0
    # How far back a poll reaches before the last success, so that late publications are not missed.
    overlap: ClassVar[dt.timedelta] = dt.timedelta(days=3)
    # Where a first poll starts when nothing was ever fetched.
    first_window: ClassVar[dt.timedelta] = dt.timedelta(days=30)
    # HTTP statuses worth a retry with backoff for this portal; None keeps the Fetcher's default
    # (e.g. TED's firewall answers 403 when it means "slow down").
    retry_statuses: ClassVar[frozenset[int] | None] = None

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        """The source's unique name from sources.yaml."""
        return self.config.name

    def interval(self) -> float:
        """Seconds to wait between two requests to this portal."""
        if self.config.min_interval is not None:
            return self.config.min_interval
        return self.min_interval

    def window_start(self, window: PollWindow) -> dt.datetime:
        """Where this poll starts: the last success minus an overlap, or the first window."""
        if window.since is None:
            return window.now - self.first_window
        return window.since - self.overlap

    @abstractmethod
    def fetch(self, fetcher: Fetcher, window: PollWindow) -> Iterator[RawPage]:
        """Ask the portal for what was published in `window`; I/O only, no parsing beyond paging."""

    @abstractmethod
    def parse(self, page: RawPage) -> Iterator[NoticeRecord | Unreadable]:
        """Turn one page into notices; pure (no I/O, no clock), so it is tested on saved pages.
        Each record is read through `read_each`: one that cannot be read is an `Unreadable`."""


Read = TypeVar("Read", NoticeRecord, RawRecord)
_ID_KEYS = ("idweb", "publication-number", "ocid", "id", "uid", "reference", "link", "url")
EVIDENCE_LIMIT = 1_000_000  # characters of one unreadable record kept as evidence


def read_each(
    items: Iterable[Any], read: Callable[[Any], Read | None]
) -> Iterator[Read | Unreadable]:
    """`read(item)` for each item of a page, guarded (issue 26): an item that raises anything
    (a date no calendar holds, nesting deeper than Python recurses, a field of an odd type) is an
    `Unreadable` with its evidence, and the next item is read; doubts noted while reading
    (`watcher.core.doubts`) join the notice's `flags`."""
    for item in items:
        try:
            with doubts.collecting() as noted:
                found = read(item)
        except Exception as exc:  # noqa: BLE001 - whatever it is, one record never fails a poll
            yield unreadable(item, exc)
            continue
        if isinstance(found, NoticeRecord):
            if noted:
                extra = tuple(d for d in noted if d not in found.flags)
                found = dataclasses.replace(found, flags=found.flags + extra)
            found = doubts.plausible_dates(found)
        if found is not None:
            yield found


def unreadable(item: Any, exc: BaseException) -> Unreadable:
    """An item that could not be read, with its id when one shows and its text as evidence."""
    ident = None
    if isinstance(item, dict):
        ident = next((str(item[k])[:200] for k in _ID_KEYS if item.get(k)), None)
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    return Unreadable(ident, reason, evidence(item))


def evidence(item: Any) -> str:
    """The text of a record as the portal sent it, whatever its shape (JSON, an XML or HTML
    element, text), however deep; cut at `EVIDENCE_LIMIT` characters."""
    try:
        if isinstance(item, bytes):
            text = item[:EVIDENCE_LIMIT].decode("utf-8", "replace")
        elif isinstance(item, str):
            text = item
        elif isinstance(item, RawRecord):
            text = item.raw or fastjson.dumps_deep(item.item)
        elif hasattr(item, "tag"):
            text = _element_text(item)
        else:
            text = fastjson.dumps_deep(item)
    except Exception as exc:  # noqa: BLE001 - the evidence of what could not be read
        text = f"(not written: {type(exc).__name__})"
    return text[:EVIDENCE_LIMIT]


def _element_text(element: Any) -> str:
    from xml.etree import ElementTree  # noqa: PLC0415

    if type(element).__module__.startswith("lxml"):  # without importing lxml for a feed's item
        from lxml import etree  # noqa: PLC0415

        return etree.tostring(element, encoding="unicode")
    return ElementTree.tostring(element, encoding="unicode")


def first(value: Any) -> Any:
    """The first element of a list, or the value itself: portals turn one-element lists into objects."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def as_list(value: Any) -> list[Any]:
    """A list, whatever the portal sent: None → [], an object → [object]."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def dig(data: Any, *path: str | int) -> Any:
    """Follow `path` through dicts and lists, taking the first element of a list when a key is asked;
    None as soon as anything is missing. `dig(d, "a", "b", 0)`."""
    current = data
    for key in path:
        if current is None:
            return None
        if isinstance(key, int):
            items = as_list(current)
            current = items[key] if -len(items) <= key < len(items) else None
            continue
        if isinstance(current, list):
            current = current[0] if current else None
        if not isinstance(current, dict):
            return None
        current = current.get(key)
    return current
