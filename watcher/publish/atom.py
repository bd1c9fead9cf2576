"""Atom 1.0 (RFC 4287) feeds with RFC 5005 archive links; the only module that imports feedgen.

feedgen writes each document's feed-level part (id, title, links, `<fh:archive/>`). Entries are
serialised once per event and language by `entry_xml()` and spliced into every document that
carries them (an event sits in up to four feeds, in two formats and two languages): feedgen needs
about 45 µs per entry, which for 20,000 events would alone exceed the whole build's budget.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from watcher import __version__
from watcher.publish.entries import Entry

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
HISTORY_NS = "http://purl.org/syndication/history/1.0"
_CLOSE = b"</feed>"
# A feed opened in a browser is styled by this sheet (a CSS processing instruction: no script, and
# the document stays plain, valid Atom): a title, a word on what a feed is, and the entries.
STYLESHEET = "/static/feed.css"
# Browsers that run XSLT show the feed as a page instead (issue 25): each entry a link, its date
# in words, in the feed's language; the CSS above stays for those that do not.
TRANSFORM = "/static/feed.xsl"
_DECLARATION_END = b"?>\n"
# Characters XML 1.0 forbids; portal text is cleaned on the way in, this is the last guard.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class FeedMeta:
    """What a feed document says about itself, including its RFC 5005 links."""

    feed_id: str
    title: str
    self_url: str
    site_url: str
    subtitle: str = ""
    lang: str = "fr"
    archive: bool = False
    current_url: str | None = None
    prev_archive: str | None = None
    next_archive: str | None = None


@lru_cache(maxsize=16)
def _host(base_url: str) -> str:
    return urlsplit(base_url).hostname or "localhost"


def tag_uri(base_url: str, key: str) -> str:
    """A stable `tag:` URI (RFC 4151) for an event key, under the site's host name."""
    return f"tag:{_host(base_url)},2026:{key}"


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    return (
        _text(value)
        .replace('"', "&quot;")
        .replace("\t", "&#9;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
    )


def entry_xml(item: Entry, base_url: str) -> bytes:
    """One `<entry>` element, indented for a feed document (every portal text escaped)."""
    when = item.updated.astimezone(dt.UTC).isoformat()
    lines = [
        "  <entry>",
        f"    <id>{_text(tag_uri(base_url, item.key))}</id>",
        f"    <title>{_text(item.title)}</title>",
        f"    <updated>{when}</updated>",
    ]
    if item.link:
        lines.append(f'    <link href="{_attr(item.link)}" rel="alternate" type="text/html"/>')
    if item.page:
        # This site's page of the notice: its whole history and the evidence.
        lines.append(f'    <link href="{_attr(item.page)}" rel="related" type="text/html"/>')
    lines += [f'    <category term="{_attr(term)}"/>' for term in item.categories]
    lines += [
        f'    <content type="html">{_text(item.html)}</content>',
        f"    <published>{when}</published>",
        "  </entry>",
        "",
    ]
    fragment = "\n".join(lines)
    if _XML_ILLEGAL.search(fragment):  # never in markup we write: safe to drop anywhere
        fragment = _XML_ILLEGAL.sub("", fragment)
    return fragment.encode("utf-8")


class _History(BaseExtension):  # type: ignore[misc]
    """feedgen extension for RFC 5005's `<fh:archive/>` marker."""

    def __init__(self) -> None:
        self.archive = False

    def extend_ns(self) -> dict[str, str]:
        return {"fh": HISTORY_NS}

    def extend_atom(self, feed: Any) -> Any:
        if self.archive:
            etree.SubElement(feed, f"{{{HISTORY_NS}}}archive")
        return feed


def feed_head(meta: FeedMeta, updated: dt.datetime) -> tuple[bytes, bytes]:
    """The document around the entries: (everything before them, the closing tag)."""
    fg = FeedGenerator()
    fg.id(meta.feed_id)
    fg.title(meta.title)
    fg.subtitle(meta.subtitle or meta.title)
    fg.author({"name": "detention-watcher"})
    fg.link(href=meta.self_url, rel="self", type="application/atom+xml")
    fg.link(href=meta.site_url, rel="alternate", type="text/html")
    links = (
        ("current", meta.current_url),
        ("prev-archive", meta.prev_archive),
        ("next-archive", meta.next_archive),
    )
    for rel, href in links:
        if href:
            fg.link(href=href, rel=rel, type="application/atom+xml")
    fg.language(meta.lang)
    fg.generator("detention-watcher", version=__version__)
    fg.updated(updated)
    if meta.archive:
        fg.register_extension("history", _History, atom=True, rss=False)
        fg.history.archive = True
    document: bytes = fg.atom_str(pretty=True)
    end = document.index(_DECLARATION_END) + len(_DECLARATION_END)
    sheet = (
        f'<?xml-stylesheet type="text/xsl" href="{TRANSFORM}"?>\n'
        f'<?xml-stylesheet type="text/css" href="{STYLESHEET}"?>\n'
    ).encode()
    document = document[:end] + sheet + document[end:]
    at = document.rindex(_CLOSE)
    return document[:at], document[at:]


def assemble(meta: FeedMeta, updated: dt.datetime | None, fragments: Iterable[bytes]) -> bytes:
    """A whole Atom document from `entry_xml()` fragments (newest first)."""
    head, tail = feed_head(meta, updated or EPOCH)
    return b"".join([head, *fragments, tail])


def build_atom(entries: Sequence[Entry], meta: FeedMeta, base_url: str) -> bytes:
    """Atom XML for `entries` (newest first); `updated` is the newest entry's time."""
    newest = max((e.updated for e in entries), default=None)
    return assemble(meta, newest, (entry_xml(e, base_url) for e in entries))
