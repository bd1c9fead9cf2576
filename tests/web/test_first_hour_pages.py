"""What a newcomer sees (issue 19): failing sources said plainly with a link to `/sources`, an empty
home page that does not talk about filters, a feed on every page that matches it, `/feeds` that
explains feeds, a styled 503 when the database is gone (said once in the log), `/healthz` without
the driver's message, subscribe pages that explain when mail is off, French reasons."""

from __future__ import annotations

import datetime as dt
import logging
import socket
from collections.abc import Callable
from pathlib import Path

import lxml.html
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from starlette.testclient import TestClient

from tests.helpers import runtime_env
from tests.web.test_pages import DUNKERQUE, notice_id, page, text
from watcher.cli import main
from watcher.db.models import Notice
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime
from watcher.records import RawPage
from watcher.sources.feed import FeedSource
from watcher.web.humane import human_schedule
from watcher.web.reasons import reason_text
from watcher.web.server import create_app


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_every_source_failing_is_said_on_the_home_page(
    make_runtime: Callable[..., Runtime],
) -> None:
    port = _dead_port()
    runtime = make_runtime(
        f"sources:\n  - name: boamp\n    kind: boamp\n    base_url: http://127.0.0.1:{port}\n",
        http_retries=0,
    )
    run_sources(runtime.config.build(), runtime.context())
    with TestClient(create_app(runtime)) as client:
        doc = page(client, "/")
        english = page(client, "/?lang=en")
        filtered = page(client, "/?site=dunkerque")
    banner = doc.cssselect(".notice-banner")[0]
    assert text(banner) == (
        "Aucune source n'a encore pu être interrogée (1 en échec) : cet ordinateur n'a peut-être "
        "pas accès à internet, ou un proxy bloque les portails. Rien n'est perdu : chaque source "
        "est réessayée à son heure. Voir l'état des sources"
    )
    assert banner.cssselect("a")[0].get("href") == "/sources"
    body = text(doc)
    assert "Rien pour l'instant avec ces filtres" not in body
    assert "Rien pour l'instant : aucun événement n'a encore été enregistré." in body
    assert "No source could be polled yet (1 failing)" in text(english)
    assert "Rien pour l'instant avec ces filtres." in text(filtered)


@pytest.mark.parametrize(
    ("query", "atom", "exact"),
    [
        ("", "/feeds/all.atom", True),
        ("?site=dunkerque", "/feeds/sites/dunkerque.atom", True),
        ("?source=boamp", "/feeds/sources/boamp.atom", True),
        ("?type=deadline_moved", "/feeds/events/deadline_moved.atom", True),
        ("?site=dunkerque&type=new", "/feeds/sites/dunkerque.atom", False),
        ("?q=repas", "/feeds/all.atom", False),
    ],
)
def test_the_home_page_links_the_feed_that_matches_it(
    client: TestClient, query: str, atom: str, exact: bool
) -> None:
    doc = page(client, f"/{query}")
    assert doc.cssselect("a.feed-atom")[0].get("href") == atom
    assert doc.cssselect("a.feed-json")[0].get("href") == atom.replace(".atom", ".json")
    assert doc.cssselect("a.feed-ics")[0].get("href") == "/feeds/deadlines.ics"
    assert doc.cssselect('link[rel="alternate"]')[0].get("href") == atom
    box = text(doc.cssselect(".feeds-box")[0])
    assert ("contient les mêmes événements" in box) is exact
    assert client.get(atom).status_code == 200


def test_a_site_page_links_its_feeds(client: TestClient) -> None:
    doc = page(client, "/sites/dunkerque")
    links = [a.get("href") for a in doc.cssselect(".feeds-box a")]
    assert links[:3] == [
        "/feeds/sites/dunkerque.atom",
        "/feeds/sites/dunkerque.json",
        "/feeds/deadlines.ics",
    ]
    assert "/feeds" in links


@pytest.mark.parametrize(
    ("lang", "heading", "phrase"),
    [
        ("fr", "Les flux : suivre sans venir voir", "Comment s'abonner"),
        ("en", "Feeds: follow without coming to look", "How to subscribe"),
    ],
)
def test_what_is_a_feed(client: TestClient, lang: str, heading: str, phrase: str) -> None:
    doc = page(client, f"/feeds?lang={lang}")
    assert text(doc.cssselect("h1")[0]) == heading and phrase in text(doc)
    hrefs = {a.get("href") for a in doc.cssselect("main a")}
    suffix = f"?lang={lang}"
    assert f"/feeds/sites/dunkerque.atom{suffix}" in hrefs
    assert f"/feeds/events/awarded.json{suffix}" in hrefs
    assert f"/feeds/sources/boamp.atom{suffix}" in hrefs
    assert "/feeds/deadlines.ics" in hrefs
    nav = [a.get("href") for a in doc.cssselect("nav[aria-label] a")]
    assert f"/feeds{suffix}" in nav


def test_feeds_open_styled_in_a_browser_and_link_our_page(client: TestClient) -> None:
    feed = client.get("/feeds/sites/dunkerque.atom?lang=en")
    body = feed.content
    assert b'<?xml-stylesheet type="text/css" href="/static/feed.css"?>' in body.split(b"\n")[2]
    assert b"<script" not in body
    assert b"Site: CRA de Dunkerque" in body and b"Site : dunkerque" not in body
    assert b"<title>Deadline moved: " in body
    assert b'rel="related" type="text/html"' in body
    assert b"https://watcher.example/notices/" in body
    french = client.get("/feeds/sites/dunkerque.atom").content
    assert b"Site : CRA de Dunkerque" in french
    assert "<title>Date limite modifiée : ".encode() in french
    css = client.get("/static/feed.css")
    assert css.status_code == 200 and "Ceci est un flux" in css.text


def test_matcher_reasons_in_french(client: TestClient, polled: Runtime) -> None:
    dunkerque = notice_id(polled, DUNKERQUE)
    french = text(page(client, f"/notices/{dunkerque}").cssselect("ul.reasons")[0])
    english = text(page(client, f"/notices/{dunkerque}?lang=en").cssselect("ul.reasons")[0])
    assert " in title" in english and " in title" not in french
    assert "dans l'objet" in french


@pytest.mark.parametrize(
    ("reason", "french"),
    [
        (
            "phrase 'centre de rétention' in title",
            "expression « centre de rétention » dans l'objet",
        ),
        (
            "trap 'bassin de rétention' in description defuses 'rétention'",
            "le piège « bassin de rétention » dans la description neutralise « rétention »",
        ),
        ("site: Loon-Plage → dunkerque", "site : Loon-Plage → dunkerque"),
        ("'CRA' ignored: the notice says 'autisme'", "« CRA » écarté : l'avis dit « autisme »"),
        ("something new", "something new"),
        (
            "CPV 45216113 (prison building construction; the closest CPV for a CRA)",
            "code CPV 45216113 (construction d'établissements pénitentiaires ; le code CPV le "
            "plus proche d'un CRA)",
        ),
    ],
)
def test_reasons_table(reason: str, french: str) -> None:
    """Every CPV label of the rules has its French words (no English on French pages)."""
    import yaml  # noqa: PLC0415

    from watcher.web.reasons import CPV_LABELS_FR  # noqa: PLC0415

    rules = Path(__file__).parents[2] / "watcher" / "match" / "rules" / "relevance.yaml"
    labels = {c["label"] for c in yaml.safe_load(rules.read_text("utf-8"))["cpv"]}
    assert labels <= set(CPV_LABELS_FR)
    assert reason_text(reason, "fr") == french
    assert reason_text(reason, "en") == reason


@pytest.mark.parametrize(
    ("schedule", "fr", "en"),
    [
        ("2h", "toutes les 2 heures", "every 2 hours"),
        ("30m", "toutes les 30 minutes", "every 30 minutes"),
        ("1d", "tous les jours", "every day"),
        ("0 7 * * *", "tous les jours à 07:00 (heure de Paris)", "every day at 07:00 (Paris time)"),
        ("0 7 1 * *", "cron : 0 7 1 * *", "cron: 0 7 1 * *"),
        (
            "0 8,14,20 * * *",
            "trois fois par jour, à 8 h, 14 h et 20 h (heure de Paris)",
            "three times a day, at 08:00, 14:00 and 20:00 (Paris time)",
        ),
    ],
)
def test_schedules_in_words(schedule: str, fr: str, en: str) -> None:
    assert (human_schedule(schedule, "fr"), human_schedule(schedule, "en")) == (fr, en)


def test_a_dropped_database_gives_styled_pages_and_one_log_line(
    make_runtime: Callable[..., Runtime], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Always SQLite: the test removes the database file under the running application.
    runtime = make_runtime("sources: []\n", database_url=f"sqlite:///{tmp_path / 'gone.sqlite3'}")
    runtime.engine  # noqa: B018 - migrated
    app = create_app(runtime)
    caplog.set_level(logging.INFO)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/").status_code == 200
        runtime.engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{tmp_path / 'gone.sqlite3'}{suffix}").unlink(missing_ok=True)
        answers = [client.get(path) for path in ("/", "/sources", "/?lang=en")]
        health = client.get("/healthz")
        api = client.get("/api/notices")
    assert [a.status_code for a in answers] == [503, 503, 503]
    doc = lxml.html.fromstring(answers[0].text)
    assert text(doc.cssselect("h1")[0]) == "Base de données indisponible"
    assert doc.cssselect("header nav a") and doc.cssselect('link[rel="stylesheet"]')
    assert "The database does not answer right now." in answers[2].text
    assert health.status_code == 503
    assert health.json() == {"status": "error", "database": "unreachable"}
    assert api.status_code == 503 and api.json() == {"error": "database unavailable"}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].getMessage().startswith("the database cannot be used (")
    assert "Traceback" not in caplog.text


def test_subscribe_without_a_mail_server_explains_and_has_the_site_around_it(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WATCHER_SMTP_URL", raising=False)
    doc = page(client, "/subscribe")
    assert not doc.cssselect("form")
    assert text(doc.cssselect(".notice-banner")[0]).startswith(
        "Les alertes par e-mail ne sont pas encore activées sur ce site"
    )
    assert doc.cssselect(".notice-banner a")[0].get("href") == "/feeds?lang=fr"
    assert doc.cssselect("header.site-header nav a")
    assert doc.cssselect('nav a[aria-current="page"]')[0].get("href") == "/subscribe"


def test_subscribe_form_with_a_mail_server_has_the_site_header(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_SMTP_URL", "smtp://127.0.0.1:1")
    doc = page(client, "/subscribe?lang=en")
    assert doc.cssselect('form[action="/subscribe"]')
    # The same menu and footer as every other page (issue 25).
    home = page(client, "/?lang=en")
    assert [a.text_content() for a in doc.cssselect("header nav a")] == [
        a.text_content() for a in home.cssselect("header nav a")
    ]
    assert doc.cssselect("footer")[0].text_content() == home.cssselect("footer")[0].text_content()


FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Préfecture</title>
<item><title>Nettoyage du centre de rétention</title><guid>a</guid></item>{gap}<item><title>Repas des retenus</title><guid>b</guid></item>
</channel></rss>
"""


def test_feed_whitespace_between_items_is_no_new_version() -> None:
    src = FeedSource(FeedSource.Config(name="feed", kind="feed", url="https://pref.example/rss"))
    before = [r.raw for r in src.parse(RawPage("u", FEED.format(gap="\n").encode(), "text/xml"))]
    after = [
        r.raw for r in src.parse(RawPage("u", FEED.format(gap="\n\n    \n").encode(), "text/xml"))
    ]
    assert before == after
    assert before[0].endswith("</item>")


@pytest.mark.parametrize("url", ["tgram://bot/chat", "nosuch://x/y"])
def test_subscribers_add_refuses_what_notify_would_refuse(
    make_runtime: Callable[..., Runtime], url: str
) -> None:
    runtime = make_runtime("sources: []\n")
    result = CliRunner().invoke(main, ["subscribers", "add", url], env=runtime_env(runtime))
    assert result.exit_code == 1
    assert result.stderr == (
        "error: Apprise cannot use this URL (unknown scheme, or a part missing); each service has "
        "its own form, e.g. tgram://BOT_TOKEN/CHAT_ID for Telegram: see "
        "https://github.com/caronc/apprise/wiki\n"
    )
    with runtime.sessions() as session:
        assert session.scalars(select(Notice.id)).all() == []


def test_the_time_zone_is_shown(client: TestClient, polled: Runtime) -> None:
    dunkerque = notice_id(polled, DUNKERQUE)
    body = text(page(client, f"/notices/{dunkerque}"))
    zone = "CET" if dt.datetime.now(dt.UTC).month in (11, 12, 1, 2, 3) else "CEST"
    assert f"{zone}" in body
