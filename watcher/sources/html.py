"""Any web page that lists tenders: a list-then-detail scraper described in `sources.yaml`.

Portal
    Pages with no API and no feed: a prefecture's "avis d'appel public à la concurrence", a port
    authority's tender page, a small buyer profile.

URL
    The `list_urls` given, their next pages (`next_page`) and, with `detail`, each item's own page
    reached through its `link`.

Caveats
    - Selectors follow the site's markup, so a redesign breaks them: a list page where `item`
      matches nothing is an error (`allow_empty: true` for a list that is sometimes empty).
    - An item without a title, or without an id and a link, is skipped.
    - Dates are read the French way ("16/09/2020 12:00", "18 décembre 2025") or as ISO 8601, in
      Paris time, unless `date_format` (strptime) says otherwise; a deadline without a time runs
      to 23:59.
    - One second between requests by default. A detail page that is gone (404) leaves the item
      as its list page gave it.

Config keys
    - `list_urls`: absolute URLs of the list pages.
    - `item`: CSS selector of one item on a list page.
    - `fields`: CSS selectors inside an item: `title` (required), `id`, `link`, `deadline`,
      `buyer`, `description`, `published`, `place`, `documents`. End one with `@attr` to read an
      attribute (`a@href`; a bare `@data-id` reads the item's own). `link` and `documents` read
      `href` by default. Without `id`, the id is the absolute link.
    - `next_page`: CSS selector of the next-page link (reads `href`).
    - `max_pages`: pages per list URL (default 10).
    - `detail`: field → CSS selector on the page `link` leads to; its values win.
    - `date_format`: a strptime format, tried before the tolerant reading.
    - `allow_empty`: a list page with no item is not an error (default false).
    - `concurrency`: detail pages fetched at once (default 1, at most 16). Raise it only for a
      site that welcomes it: requests still start at most one per `min_interval`, so with the
      default interval it changes little; with `min_interval: 0` (your own server, a loopback
      mirror) it is what makes hundreds of detail pages quick.

Phases (`watcher.core.phases`)
    an item is a tender, unless its notice type says otherwise. Never linked to
    another portal's notice by similarity (nothing says it is the same tender).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from watcher.core import deadlines, places
from watcher.errors import ParseError
from watcher.records import NoticeRecord, PollWindow, RawPage, Unreadable
from watcher.sources.base import Source, SourceConfig, read_each
from watcher.sources.http import Fetcher
from watcher.sources.scrape import (
    Follow,
    Request,
    absolute_url,
    check_selector,
    crawl,
    parse_date,
    parse_datetime,
    parse_html,
    select_all,
    select_elements,
    select_first,
)

if TYPE_CHECKING:
    import lxml.html

DetailField = Literal[
    "title", "deadline", "buyer", "description", "published", "place", "documents"
]


class HtmlFields(BaseModel):
    """CSS selectors of one item's fields, relative to the item."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    id: str | None = None
    link: str | None = None
    deadline: str | None = None
    buyer: str | None = None
    description: str | None = None
    published: str | None = None
    place: str | None = None
    documents: str | None = None

    @field_validator("*")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        return None if value is None else check_selector(value)

    @model_validator(mode="after")
    def _identified(self) -> HtmlFields:
        if self.id is None and self.link is None:
            raise ValueError("give `id` or `link`: an item needs something stable to be known by")
        return self


class HtmlConfig(SourceConfig):
    """Keys of an `html` source."""

    list_urls: list[str] = Field(min_length=1)
    item: str
    fields: HtmlFields
    next_page: str | None = None
    max_pages: int = Field(default=10, ge=1, le=200)
    detail: dict[DetailField, str] | None = None
    date_format: str | None = None
    allow_empty: bool = False
    concurrency: int = Field(default=1, ge=1, le=16)

    @field_validator("list_urls")
    @classmethod
    def _absolute(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if absolute_url(url, url) != url:
                raise ValueError(f"{url!r} is not an absolute http(s) URL")
        return urls

    @field_validator("item", "next_page")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        return None if value is None else check_selector(value)

    @field_validator("detail")
    @classmethod
    def _detail(cls, value: dict[DetailField, str] | None) -> dict[DetailField, str] | None:
        for selector in (value or {}).values():
            check_selector(selector)
        return value


class HtmlSource(Source):
    """Items of configured list pages (and their detail pages), read with CSS selectors."""

    kind = "html"
    Config = HtmlConfig
    min_interval: ClassVar[float] = 1.0

    config: HtmlConfig

    def fetch(self, fetcher: Fetcher, window: PollWindow) -> Iterator[RawPage]:
        seen: set[str] = set()
        for url in self.config.list_urls:
            yield from crawl(
                fetcher,
                Request(url),
                follow=self._follow,
                max_pages=self.config.max_pages,
                detail=self.config.detail is not None,
                seen=seen,
                concurrency=self.config.concurrency,
                # A one-page list without detail pages can be asked for conditionally.
                conditional_lists=self.config.detail is None and self.config.next_page is None,
            )

    def _follow(self, page: RawPage, number: int) -> Follow:
        root = parse_html(page.content, page.url, page.content_type)
        details: tuple[tuple[str, dict[str, Any]], ...] = ()
        if self.config.detail is not None:
            items = [self._item(element, page.url) for element in self._elements(root)]
            details = tuple((item["link"], item) for item in items if item.get("link"))
        following = None
        if self.config.next_page:
            href = select_first(root, self.config.next_page, "href")
            following = absolute_url(page.url, href)
        return Follow(Request(following) if following else None, details)

    def parse(self, page: RawPage) -> Iterator[NoticeRecord | Unreadable]:
        if page.meta.get("role") == "detail":
            item = dict(page.meta.get("item") or {})
            if page.content.strip() and self.config.detail:
                root = parse_html(page.content, page.url, page.content_type)
                found = _values(root, self._detail_selectors, page.url)
                item.update({k: v for k, v in found.items() if v})
            yield from read_each([item], lambda found: self._record(found, page.url))
            return
        root = parse_html(page.content, page.url, page.content_type)
        elements = self._elements(root)
        if not elements and not self.config.allow_empty:
            raise ParseError(
                f"{page.url}: no item matches {self.config.item!r} (site changed? "
                "set allow_empty: true if this list is sometimes empty)"
            )
        if page.meta.get("details_follow"):
            return  # each item comes back with its detail page
        yield from read_each(
            elements, lambda element: self._record(self._item(element, page.url), page.url)
        )

    def _elements(self, root: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
        return select_elements(root, self.config.item)

    def _item(self, element: lxml.html.HtmlElement, url: str) -> dict[str, Any]:
        return _values(element, self._field_selectors, url)

    # The config is frozen: its selectors are laid out once, not for each of 500 items.
    @functools.cached_property
    def _field_selectors(self) -> dict[str, str]:
        return self.config.fields.model_dump(exclude_none=True)

    @functools.cached_property
    def _detail_selectors(self) -> dict[str, str]:
        return {str(k): v for k, v in (self.config.detail or {}).items()}

    def _record(self, item: dict[str, Any], url: str) -> NoticeRecord | None:
        native_id = item.get("id") or item.get("link")
        if not native_id or not item.get("title"):
            return None
        fmt = self.config.date_format
        deadline = parse_datetime(item.get("deadline"), fmt, end_of_day=True)
        # A date alone stays a date (shown without a time, issue 12); a time is Paris time.
        date_only = deadline is not None and deadline != parse_datetime(item.get("deadline"), fmt)
        shown = deadlines.from_instant(deadline, date_only=date_only) if deadline else None
        return NoticeRecord(
            native_id=native_id,
            title=item["title"],
            url=item.get("link") or url,
            buyer=item.get("buyer"),
            published=parse_date(item.get("published"), fmt),
            deadline=deadline,
            deadline_local=shown.local if shown else None,
            deadline_zone=shown.zone if shown else None,
            place=item.get("place"),
            departments=tuple(places.in_text(item.get("place"))),
            description=item.get("description"),
            documents=tuple(item.get("documents") or ()),
            raw=json.dumps(item, ensure_ascii=False, sort_keys=True),
        )


def _values(root: lxml.html.HtmlElement, selectors: dict[str, str], url: str) -> dict[str, Any]:
    """The values of `selectors` under `root`: links made absolute, descriptions joined."""
    item: dict[str, Any] = {}
    for name, selector in selectors.items():
        if name == "documents":
            links = (absolute_url(url, v) for v in select_all(root, selector, "href"))
            item[name] = list(dict.fromkeys(link for link in links if link))
        elif name == "link":
            item[name] = absolute_url(url, select_first(root, selector, "href"))
        elif name == "description":
            item[name] = "\n".join(select_all(root, selector)) or None
        else:
            item[name] = select_first(root, selector)
    return item
