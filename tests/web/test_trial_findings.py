"""Smaller findings of the issue 25 trial that show on the pages."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from starlette.testclient import TestClient

from tests.web.test_pages import page
from watcher.db.models import SourceState
from watcher.db.session import session_scope
from watcher.pipeline.runtime import Runtime


def test_sources_page_says_when_a_resting_source_is_tried_again(
    client: TestClient, polled: Runtime
) -> None:
    failed_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with session_scope(polled.sessions) as session:
        session.execute(
            update(SourceState).values(
                consecutive_failures=3, last_error_at=failed_at, last_error="portal down"
            )
        )
    doc = page(client, "/sources")
    [rest] = doc.cssselect(".rest")
    assert rest.text_content().startswith("au repos après ces échecs ; prochain essai à partir du")
    until = (failed_at + dt.timedelta(minutes=15)).isoformat()
    assert rest.cssselect("time")[0].get("datetime").startswith(until[:16])


def test_british_site_types_are_in_french_on_french_pages(client: TestClient) -> None:
    sites = page(client, "/sites").text_content()
    assert "Centre de rétention (Royaume-Uni)" in sites
    assert "Immigration removal centre" not in sites
    english = page(client, "/sites?lang=en").text_content()
    assert "Immigration removal centre" in english and "Royaume-Uni" not in english


def test_sources_errors_are_in_french_on_the_french_page(
    client: TestClient, polled: Runtime
) -> None:
    from watcher.sources.netdiag import UNREACHABLE  # noqa: PLC0415

    error = f"127.0.0.1: {UNREACHABLE} (the connection was refused) [ConnectError: refused]"
    with session_scope(polled.sessions) as session:
        session.execute(
            update(SourceState).values(
                consecutive_failures=1, last_error_at=dt.datetime.now(dt.UTC), last_error=error
            )
        )
    shown = page(client, "/sources").cssselect("p.error")[0].text_content()
    assert shown == (
        "127.0.0.1: impossible de joindre le portail — vérifiez la connexion internet ou le "
        "proxy (la connexion a été refusée) [ConnectError: refused]"
    )
    assert page(client, "/sources?lang=en").cssselect("p.error")[0].text_content() == error


def test_event_rows_say_when_the_portal_published_and_when_it_was_seen(
    client: TestClient,
) -> None:
    [first, *_] = page(client, "/").cssselect("ol.items li.item")
    terms = [dt_.text_content() for dt_ in first.cssselect("dl.facts dt")]
    assert terms[:2] == ["Publié le :", "Vu le :"] or terms[:2] == ["Publié le", "Vu le"], terms
