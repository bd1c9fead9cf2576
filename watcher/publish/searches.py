"""Search feeds: the events of the procedures a search finds (`/feeds/search.atom?q=…`, and
`.json`), built on request by `watcher.web.search_pages` (issue 27). Newest `FEED_SIZE` events."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from watcher.core.normalize import clean_text
from watcher.core.query import Query
from watcher.db.models import Event, Notice
from watcher.db.search import procedures
from watcher.publish.companies import FEED_SIZE
from watcher.publish.pages import Rendered, render, simple_document
from watcher.publish.reading import RELEVANT, event_rows


def search_items(session: Session, query: Query, lang: str, base_url: str) -> list[Rendered]:
    """The feed's entries in `lang`, newest first: events of the procedures `query` finds."""
    found = procedures(session.get_bind().dialect.name, query)
    newest = (
        select(Event.id)
        .join(Notice, Notice.id == Event.notice_id)
        .where(RELEVANT, Event.notice_id.in_(found))
        .order_by(Event.created_at.desc(), Event.id.desc())
        .limit(FEED_SIZE)
    )
    ids = list(session.scalars(newest))
    rows = sorted(event_rows(session, ids), key=lambda r: (r.created_at, r.id))
    return [render(row, lang, base_url) for row in reversed(rows)]


def search_document(
    query: Query, items: Sequence[Rendered], fmt: str, lang: str, base_url: str
) -> bytes:
    """The feed document (Atom or JSON Feed) of a search from its rendered entries."""
    params = urlencode({"q": query.text} | ({"lang": lang} if lang != "fr" else {}))
    self_url = f"{base_url}/feeds/search.{fmt}?{params}"
    page = f"{base_url}/search?{params}"
    title = f"{'Recherche' if lang == 'fr' else 'Search'} « {clean_text(query.text) or ''} »"
    return simple_document(title, self_url, page, items, fmt, lang)
