"""Conditional requests (issue 16): a page that answers 304 to `If-None-Match` /
`If-Modified-Since` is not downloaded, not parsed, and counted; what changed is still read."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from tests.loopback import LoopbackServer, Reply, Request
from watcher.db.models import Event, HttpValidator, Notice, SourceState
from watcher.pipeline.poll import run_sources

LAST_MODIFIED = "Wed, 02 Dec 2026 10:00:00 GMT"


class Site:
    """A buyer's list of three tenders and their detail pages; detail pages carry an ETag, the
    feed a Last-Modified, and both honour conditional requests (unless `validators` is off)."""

    def __init__(self) -> None:
        self.deadlines = {1: "15/04/2026", 2: "20/04/2026", 3: "25/04/2026"}
        self.titles = {
            n: f"Nettoyage du centre de rétention administrative, lot {n}" for n in (1, 2, 3)
        }
        self.validators = True

    def listing(self) -> bytes:
        items = "".join(
            f'<li class="avis" data-ref="REF-{n}"><h2><a href="/avis/{n}.html">{t}</a></h2></li>'
            for n, t in self.titles.items()
        )
        return f"<html><body><ul>{items}</ul></body></html>".encode()

    def detail(self, n: int) -> bytes:
        return (
            f"<html><body><h1>{self.titles[n]}</h1>"
            f'<dd class="limite">{self.deadlines[n]} à 12h00</dd></body></html>'
        ).encode()

    def feed(self) -> bytes:
        items = "".join(
            f"<item><guid>feed-{n}</guid><title>{t}</title><link>https://buyer.example/{n}</link>"
            "</item>"
            for n, t in self.titles.items()
        )
        return f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'.encode()

    def __call__(self, request: Request) -> Reply:
        html = {"Content-Type": "text/html; charset=utf-8"}
        if request.path == "/avis/":
            return Reply(200, self.listing(), html)
        if request.path == "/feed.xml":
            if self.validators and request.headers.get("if-modified-since") == LAST_MODIFIED:
                return Reply(304, b"", {})
            headers = {"Content-Type": "application/rss+xml"}
            if self.validators:
                headers["Last-Modified"] = LAST_MODIFIED
            return Reply(200, self.feed(), headers)
        n = int(request.path.removeprefix("/avis/").removesuffix(".html"))
        body = self.detail(n)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.validators and request.headers.get("if-none-match") == etag:
            return Reply(304, b"", {"ETag": etag})
        return Reply(200, body, {**html, **({"ETag": etag} if self.validators else {})})


@pytest.fixture
def site() -> Iterator[tuple[Site, LoopbackServer]]:
    handler = Site()
    with LoopbackServer(handler) as server:
        yield handler, server


def sources_yaml(url: str) -> str:
    return f"""sources:
  - name: prefecture
    kind: html
    min_interval: 0
    list_urls: ["{url}/avis/"]
    item: li.avis
    fields: {{id: "@data-ref", title: h2 a, link: h2 a}}
    detail: {{title: h1, deadline: dd.limite}}
  - name: buyer-feed
    kind: feed
    min_interval: 0
    url: {url}/feed.xml
"""


def _poll(runtime, server):
    server.requests.clear()
    html, feed = run_sources(runtime.config.build(), runtime.context())
    assert html.ok and feed.ok, (html.error, feed.error)
    return html, feed


def _counts(runtime):
    with runtime.sessions() as session:
        return (
            session.scalar(select(func.count(Notice.id))),
            session.scalar(select(func.count(Event.id))),
        )


def test_pages_answering_304_are_counted_not_read(make_runtime, site):
    handler, server = site
    runtime = make_runtime(sources_yaml(server.url))
    html, feed = _poll(runtime, server)
    assert (html.new, html.not_modified, feed.new, feed.not_modified) == (3, 0, 3, 0)
    assert _counts(runtime) == (6, 6)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(HttpValidator.id))) == 4  # 3 pages + the feed

    # Nothing changed: each detail page and the feed answer 304, no body, nothing parsed.
    html, feed = _poll(runtime, server)
    details = [r for r in server.requests if r.path.endswith(".html")]
    assert all(r.headers.get("if-none-match", "").startswith('"') for r in details)
    assert [r.headers.get("if-modified-since") for r in server.requests if "feed" in r.path] == [
        LAST_MODIFIED
    ]
    assert (html.fetched, html.not_modified, html.new, html.changed) == (0, 3, 0, 0)
    assert (feed.fetched, feed.not_modified) == (0, 1)
    assert html.flagged is None and feed.flagged is None  # unread is not "returned nothing"
    assert "3 pages not modified (304)" in html.summary()
    assert _counts(runtime) == (6, 6)

    # One deadline moves: its page answers 200 and is read; the two others still 304.
    handler.deadlines[2] = "30/04/2026"
    html, _ = _poll(runtime, server)
    assert (html.fetched, html.not_modified, html.changed, html.events) == (1, 2, 1, 1)
    with runtime.sessions() as session:
        moved = session.scalars(select(Event).order_by(Event.id.desc())).first()
        assert moved is not None and moved.type == "deadline_moved"
        state = session.scalar(select(SourceState).where(SourceState.name == "prefecture"))
        assert state is not None and state.last_count == 3  # kept from the full read


def test_changed_list_fields_read_the_detail_page_in_full(make_runtime, site):
    handler, server = site
    runtime = make_runtime(sources_yaml(server.url))
    _poll(runtime, server)
    handler.titles[1] += " (rectificatif)"  # the list item changes, and its page with it
    html, _ = _poll(runtime, server)
    asked = {r.path: r.headers.get("if-none-match") for r in server.requests}
    assert asked["/avis/1.html"] is None  # its item changed: no conditional request
    assert asked["/avis/3.html"] is not None
    assert (html.changed, html.not_modified) == (1, 2)


def test_a_page_served_again_byte_for_byte_is_not_parsed(make_runtime, site):
    handler, server = site
    handler.validators = False  # a server that sends no ETag and no Last-Modified
    runtime = make_runtime(sources_yaml(server.url))
    _poll(runtime, server)
    html, feed = _poll(runtime, server)
    assert not any("if-none-match" in r.headers for r in server.requests)
    assert len(server.requests) == 5  # every page downloaded (list, 3 details, feed)...
    assert (html.fetched, html.not_modified, feed.fetched, feed.not_modified) == (0, 3, 0, 1)
    handler.titles[3] += " (modifié)"  # ...and read again as soon as its bytes change
    html, feed = _poll(runtime, server)
    assert (html.changed, html.not_modified, feed.changed, feed.not_modified) == (1, 2, 1, 0)
    assert _counts(runtime) == (6, 8)  # the retitled notice changed on both sources
