"""Any RSS or Atom feed as a source, parsed safely.

Portal
    Feeds that buyers, prefectures, newsrooms or other watchers publish. PLACE once offered
    `https://www.marches-publics.gouv.fr/rssTr.xml` (SEEN in old scrapers; current status unknown).

URL
    `url`, read whole at each poll.

Caveats
    - Parsed with defusedxml: a feed that declares entities (billion laughs) or points to
      external ones (XXE) is refused with a parse error, never expanded.
    - Characters that XML forbids (control characters some publishing tools leak) are removed
      before parsing.
    - RSS 0.9x, 1.0 and 2.0 `item`s and Atom `entry`s are read by local name, whatever their
      namespace. Markup in a description or summary becomes plain text.
    - A feed says nothing standard about buyers or deadlines: the matcher reads titles and
      descriptions. The date of publication is the one the feed writes, in its own time zone.

Config keys
    - `url`: absolute http(s) URL of the feed.

Phases (`watcher.core.phases`)
    an entry is a tender, unless its notice type says otherwise. Never linked to
    another portal's notice by similarity.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET  # types, ParseError and tostring; parsing is defusedxml's
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException
from pydantic import field_validator

from watcher.errors import ParseError
from watcher.records import NoticeRecord, PollWindow, RawPage, Unreadable
from watcher.sources.base import Source, SourceConfig, read_each
from watcher.sources.http import Fetcher
from watcher.sources.scrape import absolute_url, clean, html_to_text
from watcher.sources.validators import conditional_get

# XML 1.0 forbids C0 controls other than tab, newline and carriage return.
_ILLEGAL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
FEED_ROOTS = frozenset({"rss", "RDF", "feed"})


class FeedConfig(SourceConfig):
    """Keys of a `feed` source."""

    url: str

    @field_validator("url")
    @classmethod
    def _absolute(cls, url: str) -> str:
        if absolute_url(url, url) != url:
            raise ValueError(f"{url!r} is not an absolute http(s) URL")
        return url


class FeedSource(Source):
    """The items of one RSS or Atom feed."""

    kind = "feed"
    Config = FeedConfig

    config: FeedConfig

    def fetch(self, fetcher: Fetcher, window: PollWindow) -> Iterator[RawPage]:
        response = conditional_get(fetcher, self.config.url)
        if response is None:  # 304: the feed is as it was
            yield RawPage(self.config.url, b"", meta={"not_modified": True})
            return
        yield RawPage(
            url=str(response.url),
            content=response.content,
            content_type=response.headers.get("content-type", "application/xml"),
        )

    def parse(self, page: RawPage) -> Iterator[NoticeRecord | Unreadable]:
        root = parse_feed(page.content, page.url)
        items = (e for e in root.iter() if _local(e.tag) in {"item", "entry"})
        yield from read_each(items, lambda element: _record(element, page.url))


def parse_feed(content: bytes, url: str) -> ET.Element:
    """The root of a feed; a `ParseError` for anything that is not a safe RSS or Atom document."""
    try:
        root: ET.Element = SafeET.fromstring(
            _ILLEGAL.sub(b"", content), forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise ParseError(
            f"{url}: feed refused ({type(exc).__name__}): it declares XML entities, "
            "which are never expanded"
        ) from None
    except ET.ParseError as exc:
        raise ParseError(f"{url}: not a well-formed feed: {exc}") from None
    if _local(root.tag) not in FEED_ROOTS:
        raise ParseError(f"{url}: not an RSS or Atom feed (root element <{_local(root.tag)}>)")
    return root


def _local(tag: object) -> str:
    return str(tag).rpartition("}")[2]


def _children(element: ET.Element) -> dict[str, ET.Element]:
    found: dict[str, ET.Element] = {}
    for child in element:
        found.setdefault(_local(child.tag), child)
    return found


def _text(children: dict[str, ET.Element], *names: str) -> str | None:
    for name in names:
        child = children.get(name)
        if child is not None and _some(child.text):
            return child.text
    return None


def _some(text: str | None) -> bool:
    """Whether `clean(text)` is not None (the text is not only whitespace), without building it."""
    return bool(text) and not text.isspace()  # type: ignore[union-attr]


def _link(element: ET.Element) -> str | None:
    for child in element:
        if _local(child.tag) != "link":
            continue
        if child.get("href") is not None:  # Atom
            if child.get("rel", "alternate") == "alternate":
                return child.get("href")
        elif _some(child.text):  # RSS
            return child.text
    return None


def _published(text: str | None) -> dt.date | None:
    text = clean(text)
    if text is None:
        return None
    try:
        return parsedate_to_datetime(text).date()  # RSS: RFC 822
    except (TypeError, ValueError):
        pass
    try:
        return dt.datetime.fromisoformat(text).date()  # Atom, Dublin Core: ISO 8601
    except ValueError:
        return None


def _record(element: ET.Element, url: str) -> NoticeRecord | None:
    children = _children(element)
    link = absolute_url(url, clean(_link(element)))
    description = html_to_text(_text(children, "description", "summary", "encoded", "content"))
    title = html_to_text(_text(children, "title"))
    native_id = clean(_text(children, "guid", "id")) or link or title
    if native_id is None or not (title or description):
        return None
    return NoticeRecord(
        native_id=native_id,
        title=title or (description or "")[:120],
        url=link,
        published=_published(_text(children, "pubDate", "published", "updated", "date")),
        description=description,
        raw=_raw(element),
    )


def _raw(element: ET.Element) -> str:
    """The item's own XML as evidence, without its tail: the whitespace after `</item>` belongs
    to the feed's layout, and a change of it alone is no new version (issue 19)."""
    tail, element.tail = element.tail, None
    try:
        return ET.tostring(element, encoding="unicode")
    finally:
        element.tail = tail
