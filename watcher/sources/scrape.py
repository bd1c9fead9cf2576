"""HTML helpers and list-then-detail crawling shared by the scraping kinds (`place`, `html`).

Pages are parsed with lxml and read with compiled CSS selectors (cssselect): about twenty times
faster than BeautifulSoup on a portal's result page, which matters when a poll reads hundreds of
them. A selector may end with `@attr` to take an attribute instead of the text (`a.next@href`).
Dates written the French way ("16/09/2020 12:00", "18 Nov. 2025", "le 18 décembre 2025 à 17h30")
or in ISO 8601 become aware UTC datetimes; a time without an offset is Paris time.

`crawl()` walks a paginated list (plain links or form postbacks), fetching each item's detail page
when asked, so that every scraping kind pages the same way and only says how to find the next page.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

from watcher.core import doubts
from watcher.errors import FetchError, ParseError, RefusedURLError, RetryableFetchError
from watcher.records import RawPage
from watcher.sources.validators import conditional_get, context_of

if TYPE_CHECKING:
    import httpx
    import lxml.html
    from lxml import etree

    from watcher.sources.http import Fetcher

PARIS = ZoneInfo("Europe/Paris")

_ATTR = re.compile(r"^(?P<css>.*?)\s*@(?P<attr>[A-Za-z_:][-\w:.]*)$", re.DOTALL)
_NOT_LINKS = ("javascript:", "mailto:", "tel:", "data:", "#")

_MONTHS = {
    "jan": 1, "fev": 2, "feb": 2, "mar": 3, "avr": 4, "apr": 4, "mai": 5, "may": 5,
    "juin": 6, "jun": 6, "juil": 7, "jul": 7, "aou": 8, "aug": 8, "sep": 9, "oct": 10,
    "nov": 11, "dec": 12,
}  # fmt: skip
_TIME = r"(?:\D{0,6}?(?P<hour>\d{1,2})\s*[:hH]\s*(?P<minute>\d{2})?)?"
_NUMERIC = re.compile(r"\b(?P<day>\d{1,2})[/.-](?P<month>\d{1,2})[/.-](?P<year>\d{4})" + _TIME)
_WORDS = re.compile(
    r"\b(?P<day>\d{1,2})(?:er)?\s+(?P<month>[^\W\d_]{3,9})\.?\s+(?P<year>\d{4})" + _TIME
)
_ISO = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)
_CHARSET = re.compile(r"charset=[\"']?([\w.:-]+)", re.I)
_DEPARTMENT = re.compile(r"\(\s*(\d{2,3}|2[AB])\s*\)")


@lru_cache(maxsize=16)
def _parser(encoding: str | None) -> lxml.html.HTMLParser:
    import lxml.html  # noqa: PLC0415 - lxml is imported by the kinds that read HTML only (issue 29)

    return lxml.html.HTMLParser(encoding=encoding)


def _encoding(content: bytes, content_type: str | None) -> str | None:
    match = _CHARSET.search(content_type or "")
    if match:
        return match.group(1).lower()
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return None  # lxml looks for a <meta charset>, else reads Windows-1252
    return "utf-8"


def parse_html(content: bytes, url: str, content_type: str | None = None) -> lxml.html.HtmlElement:
    """The document of a page; a `ParseError` when the portal sent nothing readable.

    The charset comes from `content_type`, else UTF-8 when the bytes are valid UTF-8 (Atexo pages
    declare no charset in the page itself), else from the page's own declaration."""
    import lxml.html  # noqa: PLC0415
    from lxml import etree  # noqa: PLC0415

    if not content.strip():
        raise ParseError(f"{url}: empty page")
    try:
        parser = _parser(_encoding(content, content_type))
    except LookupError:
        parser = _parser(None)
    try:
        root = lxml.html.document_fromstring(content, parser=parser, base_url=url)
    except (etree.ParserError, ValueError) as exc:
        raise ParseError(f"{url}: not an HTML page: {exc}") from None
    # Scripts and styles are never text a reader should see (and hostile pages hide in them).
    etree.strip_elements(root, "script", "style", "noscript", "template", with_tail=False)
    return root


@lru_cache(maxsize=1024)
def compile_selector(selector: str) -> tuple[etree.XPath, str | None]:
    """A compiled CSS selector and the attribute named after `@`, if any (cached). A bare `@attr`
    reads the attribute of the element itself (of the item, in an item's fields)."""
    from cssselect import SelectorError  # noqa: PLC0415
    from lxml import etree  # noqa: PLC0415
    from lxml.cssselect import CSSSelector  # noqa: PLC0415

    match = _ATTR.match(selector.strip())
    css, attr = (match["css"], match["attr"]) if match else (selector.strip(), None)
    if not css and attr:
        return etree.XPath("self::*"), attr
    try:
        return CSSSelector(css, translator="html"), attr
    except SelectorError as exc:
        raise ValueError(f"invalid CSS selector {selector!r}: {exc}") from None


def check_selector(selector: str) -> str:
    """`selector` if it compiles; a ValueError that a config validator can show otherwise."""
    compile_selector(selector)
    return selector


def clean(text: str | None) -> str | None:
    """Whitespace collapsed to single spaces; None for an empty string."""
    if text is None:
        return None
    # `split()` cuts at the characters `\s` matches (a test holds them equal), four times faster
    # than a regular expression on a long description.
    return " ".join(text.split()) or None


def text_of(element: lxml.html.HtmlElement) -> str | None:
    """The visible text of an element, whitespace collapsed."""
    return clean(element.text_content())


def select_elements(root: lxml.html.HtmlElement, selector: str) -> list[lxml.html.HtmlElement]:
    """The elements matching a CSS selector (its `@attr` part, if any, ignored)."""
    compiled, _ = compile_selector(selector)
    return cast("list[lxml.html.HtmlElement]", compiled(root))


def select_all(
    root: lxml.html.HtmlElement, selector: str, default_attr: str | None = None
) -> list[str]:
    """The non-empty values of every match: the `@attr` attribute, or `default_attr` when the
    element has it (an `href` for links), or the text."""
    _, attr = compile_selector(selector)
    values: list[str] = []
    for element in select_elements(root, selector):
        if attr is not None:
            value = clean(element.get(attr))
        elif default_attr is not None and element.get(default_attr) is not None:
            value = clean(element.get(default_attr))
        else:
            value = text_of(element)
        if value:
            values.append(value)
    return values


def select_first(
    root: lxml.html.HtmlElement, selector: str, default_attr: str | None = None
) -> str | None:
    """The first non-empty value of `select_all`, or None."""
    values = select_all(root, selector, default_attr)
    return values[0] if values else None


def absolute_url(base: str, href: str | None) -> str | None:
    """`href` resolved against `base`; None for scripts, anchors, mail and phone links."""
    if not href:
        return None
    href = href.strip()
    if not href or href.lower().startswith(_NOT_LINKS):
        return None
    url = urljoin(base, href)
    return url if urlsplit(url).scheme in {"http", "https"} else None


def html_to_text(fragment: str | None) -> str | None:
    """The text of an HTML fragment (a feed summary, a description), whitespace collapsed."""
    if fragment is None or not fragment.strip():
        return None
    if "<" not in fragment and "&" not in fragment:
        return clean(fragment)
    import lxml.html  # noqa: PLC0415 - only for text with markup or entities
    from lxml import etree  # noqa: PLC0415

    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return clean(fragment)
    for dropped in root.xpath(".//script|.//style"):
        dropped.drop_tree()
    return text_of(root)


def origin(url: str) -> str | None:
    """`scheme://host` of an http(s) URL, else None."""
    parts = urlsplit(url)
    if parts.scheme in {"http", "https"} and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def department(text: str | None) -> str | None:
    """The first department number written like "(62) Pas-de-Calais" or "(2A) Corse-du-Sud"."""
    if not text:
        return None
    match = _DEPARTMENT.search(text)
    return match.group(1) if match else None


def _month(name: str) -> int | None:
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", name.lower()) if not unicodedata.combining(c)
    )
    return _MONTHS.get(plain[:4] if plain.startswith("jui") else plain[:3])


def _local(
    year: int, month: int, day: int, hour: str | None, minute: str | None, end_of_day: bool
) -> dt.datetime | None:
    try:
        clock = (
            dt.time(int(hour), int(minute or 0))
            if hour is not None
            else dt.time(23, 59)
            if end_of_day
            else dt.time(0, 0)
        )
        return dt.datetime.combine(dt.date(year, month, day), clock, tzinfo=PARIS).astimezone(
            dt.UTC
        )
    except ValueError:
        return None


def _from_iso(text: str, end_of_day: bool) -> dt.datetime | None:
    match = _ISO.search(text)
    if not match:
        return None
    try:
        value = dt.datetime.fromisoformat(match.group(0).replace(" ", "T"))
    except ValueError:
        return None
    if value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    if len(match.group(0)) == 10 and end_of_day:
        value = value.replace(hour=23, minute=59)
    return value.replace(tzinfo=PARIS).astimezone(dt.UTC)


@doubts.in_range
def parse_datetime(
    text: str | None, fmt: str | None = None, *, end_of_day: bool = False
) -> dt.datetime | None:
    """An aware UTC datetime from a French, ISO 8601 or `fmt` (strptime) date; None if none found.

    A time without an offset is Paris time. A date without a time is midnight, or 23:59 with
    `end_of_day` (a deadline given as a bare date runs until the end of that day)."""
    text = clean(text)
    if text is None:
        return None
    if fmt:
        try:
            value = dt.datetime.strptime(text, fmt)
        except ValueError:
            pass
        else:
            if value.tzinfo is None:
                if end_of_day and "%H" not in fmt and "%I" not in fmt:
                    value = value.replace(hour=23, minute=59)
                value = value.replace(tzinfo=PARIS)
            return value.astimezone(dt.UTC)
    iso = _from_iso(text, end_of_day)
    if iso is not None:
        return iso
    match = _NUMERIC.search(text)
    if match:
        return _local(
            int(match["year"]), int(match["month"]), int(match["day"]),
            match["hour"], match["minute"], end_of_day,
        )  # fmt: skip
    match = _WORDS.search(text)
    if match:
        month = _month(match["month"])
        if month is not None:
            return _local(
                int(match["year"]), month, int(match["day"]),
                match["hour"], match["minute"], end_of_day,
            )  # fmt: skip
    return None


@doubts.in_range
def parse_date(text: str | None, fmt: str | None = None) -> dt.date | None:
    """The calendar date (as written, in Paris) of a French, ISO 8601 or `fmt` date."""
    value = parse_datetime(text, fmt)
    return value.astimezone(PARIS).date() if value is not None else None


@dataclass(frozen=True, slots=True)
class Request:
    """One request of a crawl: a GET of a list page, or a form posted back (PRADO paging)."""

    url: str
    method: str = "GET"
    data: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Follow:
    """What a list page leads to: the next list page, and the detail pages of its items
    (URL and the item's list fields, handed to `parse()` with the detail page)."""

    next: Request | None = None
    details: tuple[tuple[str, dict[str, Any]], ...] = ()


def crawl(
    fetcher: Fetcher,
    start: Request,
    *,
    follow: Callable[[RawPage, int], Follow],
    max_pages: int,
    detail: bool = False,
    seen: set[str] | None = None,
    concurrency: int = 1,
    conditional_lists: bool = False,
) -> Iterator[RawPage]:
    """Fetch list pages from `start` until `follow` gives no next page, a page comes back twice,
    or `max_pages` are read; with `detail`, fetch each item's detail page right after its list.

    List pages carry `meta["role"] == "list"` and `meta["details_follow"]`; detail pages carry
    `meta["role"] == "detail"` and the item's list fields in `meta["item"]`. `seen` (detail URLs
    already fetched) can be shared between crawls of one poll so an item found twice is read once.
    A detail page that fails for good (404, 410) becomes an empty detail page with
    `meta["error"]`, so the item still comes out from its list fields; a passing fault that
    outlived its retries (429, 5xx) ends the poll, as it should when a portal asks us to slow down.
    With `concurrency` above 1, up to that many detail pages are fetched at once (the fetcher
    still spaces the requests' starts by its `min_interval`) and come out in list order.
    Detail pages are asked for conditionally (`watcher.sources.validators`), and so are list pages with
    `conditional_lists` (a caller that needs nothing else from its list: no next page, no
    details); a page that answers 304 comes out empty with `meta["not_modified"]`.
    """
    seen = set() if seen is None else seen
    visited: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
    request: Request | None = start
    number = 0
    while request is not None and number < max_pages:
        key = (request.method, request.url, tuple(sorted((request.data or {}).items())))
        if key in visited:
            break
        visited.add(key)
        number += 1
        meta = {"role": "list", "page": number, "details_follow": detail}
        try:
            if conditional_lists and request.method == "GET":
                response = conditional_get(fetcher, request.url)
                if response is None:
                    yield RawPage(
                        request.url, b"", "text/html", meta={**meta, "not_modified": True}
                    )
                    return
                page = _as_page(response, meta)
            else:
                page = _page(fetcher, request, meta)
        except RefusedURLError:
            if number == 1:
                raise
            break  # a next link to a private address (logged by netguard): the paging ends here
        plan = follow(page, number)
        yield page
        if detail:
            wanted: list[tuple[str, dict[str, Any]]] = []
            for url, item in plan.details:
                if url not in seen:
                    seen.add(url)
                    wanted.append((url, item))
            if concurrency > 1 and len(wanted) > 1:
                yield from _details_at_once(fetcher, wanted, concurrency)
            else:
                yield from (_detail(fetcher, url, item) for url, item in wanted)
        request = plan.next


def _details_at_once(
    fetcher: Fetcher, wanted: list[tuple[str, dict[str, Any]]], concurrency: int
) -> Iterator[RawPage]:
    """The detail pages of `wanted`, in order, fetched by `concurrency` threads; at most twice
    that many pages wait in memory. A failure ends the crawl once its turn comes."""
    with ThreadPoolExecutor(concurrency, thread_name_prefix="crawl") as pool:
        pending: deque[Future[RawPage]] = deque()
        try:
            for url, item in wanted:
                pending.append(pool.submit(_detail, fetcher, url, item))
                if len(pending) >= 2 * concurrency:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _page(fetcher: Fetcher, request: Request, meta: dict[str, Any]) -> RawPage:
    kwargs: dict[str, Any] = {} if request.data is None else {"data": request.data}
    return _as_page(fetcher.request(request.method, request.url, **kwargs), meta)


def _as_page(response: httpx.Response, meta: dict[str, Any]) -> RawPage:
    return RawPage(
        url=str(response.url),
        content=response.content,
        content_type=response.headers.get("content-type", "text/html"),
        meta=meta,
    )


def _detail(fetcher: Fetcher, url: str, item: dict[str, Any]) -> RawPage:
    meta: dict[str, Any] = {"role": "detail", "item": item}
    try:
        # The notice also takes the item's list fields: a changed item reads the page in full.
        context = context_of(item) if fetcher.validators is not None else ""
        response = conditional_get(fetcher, url, context)
        if response is None:
            return RawPage(url, b"", "text/html", meta={**meta, "not_modified": True})
        return _as_page(response, meta)
    except RetryableFetchError:
        raise
    except FetchError as exc:
        return RawPage(
            url=url, content=b"", content_type="text/html", meta={**meta, "error": str(exc)}
        )
