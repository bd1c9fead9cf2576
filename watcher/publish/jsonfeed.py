"""JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/) beside every Atom document.

Items are serialised once per event and language by `item_json()` and spliced into every document
that carries them, like the Atom entries. Paging follows JSON Feed's own `next_url`: the
subscription document points to the newest archive page, each archive page to the one before it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass

from watcher.publish.atom import tag_uri
from watcher.publish.entries import Entry

VERSION = "https://jsonfeed.org/version/1.1"
# `json.dumps(..., ensure_ascii=False)` builds a new encoder on every call; one shared encoder with
# the same options writes the same bytes at a fraction of the cost (an item per event and language).
_ITEM_ENCODER = json.JSONEncoder(ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class JsonFeedMeta:
    """What a JSON Feed document says about itself."""

    title: str
    feed_url: str
    home_page_url: str
    description: str = ""
    lang: str = "fr"
    next_url: str | None = None


def item_json(item: Entry, base_url: str) -> bytes:
    """One item as JSON text (JSON escapes what HTML needs; `content_html` is already escaped)."""
    data: dict[str, object] = {
        "id": tag_uri(base_url, item.key),
        "title": item.title,
        "content_html": item.html,
        "date_published": item.updated.astimezone(dt.UTC).isoformat(),
        "tags": list(item.categories),
        "_watcher": {"type": item.kind, "site": item.site, "source": item.source},
    }
    if item.link:
        data["url"] = item.link
    return _ITEM_ENCODER.encode(data).encode("utf-8")


def assemble_json(meta: JsonFeedMeta, items: Iterable[bytes]) -> bytes:
    """A whole JSON Feed document from `item_json()` fragments (newest first)."""
    head: dict[str, object] = {
        "version": VERSION,
        "title": meta.title,
        "home_page_url": meta.home_page_url,
        "feed_url": meta.feed_url,
        "description": meta.description or meta.title,
        "language": meta.lang,
        "authors": [{"name": "detention-watcher"}],
    }
    if meta.next_url:
        head["next_url"] = meta.next_url
    opening = json.dumps(head, ensure_ascii=False, indent=2)[:-2].encode("utf-8")
    body = b",\n    ".join(items)
    if not body:
        return opening + b',\n  "items": []\n}\n'
    return b"".join([opening, b',\n  "items": [\n    ', body, b"\n  ]\n}\n"])
