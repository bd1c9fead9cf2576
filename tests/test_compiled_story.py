"""Issue 23: the Dunkerque story told from one compiled procedure, in every poll order.

The prior information notice (BOAMP) has a title of its own; the call for tenders is on BOAMP and
TED, a corrigendum moves the deadline, the award to SPIE BATIGNOLLES NORD (36 500 000 €) is on BOAMP
and TED. Each entry and each mail tells the news of the notice that made its event (its type, its
link), under the procedure's current title; the award is one contract of the company everywhere.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from email.message import EmailMessage
from io import StringIO
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from starlette.testclient import TestClient

from tests.helpers import runtime_env
from tests.test_pipeline import feed_entries
from tests.test_story import ATOM, ORDERS, play
from watcher.cli import main
from watcher.db.models import Notice
from watcher.db.session import session_scope
from watcher.notify import deliver_pending
from watcher.notify import subscribers as subs
from watcher.notify.memory import MemoryMailer
from watcher.pipeline.cycle import refresh
from watcher.pipeline.runtime import Runtime
from watcher.web.server import create_app

PIN_TITLE = (
    "Avis de préinformation — construction d'un centre de rétention administrative à Dunkerque"
)
NAME = "Construction du centre de rétention administrative de Dunkerque (Loon-Plage)"
BOAMP = "https://www.boamp.fr/pages/avis/?q=idweb:"
TED = "https://ted.europa.eu/fr/notice/-/detail/"


def _subscribe(runtime: Runtime) -> None:
    with session_scope(runtime.sessions) as session:
        subs.add_confirmed(session, "reader@example.org", subs.Filters(), runtime_now())


def runtime_now() -> Any:
    from watcher.pipeline.poll import utcnow  # noqa: PLC0415

    return utcnow()


def _mails(runtime: Runtime) -> list[EmailMessage]:
    mailer = MemoryMailer()
    deliver_pending(runtime, mailer=mailer)
    return list(mailer.outbox)


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


@pytest.mark.parametrize("order", list(ORDERS))
def test_every_entry_and_mail_tells_its_own_notice_and_the_award_counts_once(
    make_runtime: Callable[..., Runtime], order: str
) -> None:
    story = play(make_runtime, order, pin_title=PIN_TITLE, before=_subscribe)
    runtime: Runtime = story["runtime"]
    entries = list(reversed(feed_entries(runtime)))
    dunkerque = [
        e for e in entries if "rétention administrative" in (e.findtext(f"{ATOM}title") or "")
    ]
    # Issue 28: the award raises a question to ask, told once in its own entry, whatever the order.
    asked = [e for e in dunkerque if (e.findtext(f"{ATOM}title") or "").startswith("Question")]
    assert [e.findtext(f"{ATOM}title") for e in asked] == [f"Question à poser : {NAME}"]
    dunkerque = [e for e in dunkerque if e not in asked]
    titles = [e.findtext(f"{ATOM}title") for e in dunkerque]
    main_links = [
        next(
            link.get("href") for link in e.findall(f"{ATOM}link") if link.get("rel") == "alternate"
        )
        for e in dunkerque
    ]
    assert titles == [
        f"Avis de préinformation : {NAME}",  # the procedure's current title, the call's
        f"Appel d'offres publié : {NAME}",
        f"Date limite modifiée : {NAME}",
        f"Marché attribué : {NAME}",
    ]
    assert all(PIN_TITLE not in (t or "") for t in titles[1:])
    # Each entry's main link is the notice of its event (the award: BOAMP's, whichever portal
    # was polled first; the call: either portal's call).
    assert main_links[0] == f"{BOAMP}26-90001"
    assert main_links[1] in {f"{BOAMP}26-120500", f"{TED}712345-2026"}
    assert main_links[2] == f"{BOAMP}27-00410"
    assert main_links[3] == f"{BOAMP}27-41000"

    mails = {
        str(m["Subject"]).split(" — ", 1)[1].split(" : ")[0]: _text(m) for m in _mails(runtime)
    }
    call, award = mails["Appel d'offres publié"], mails["Marché attribué"]
    assert "Type d'avis : Avis d'attribution" in award and "préinformation" not in award
    assert f"L'avis sur le portail : {BOAMP}27-41000" in award
    assert "Type d'avis : Avis de préinformation" in mails["Avis de préinformation"]
    assert "Date limite : 15/02/2027 12:00" in call
    assert "Montant estimé : 40 000 000 €" in call and "Lots : 1" in call
    assert "Documents : " in call
    assert "Type d'avis : Avis de marché" in call

    # One award on two portals: one contract, 36 500 000 €, on every page and export.
    refresh(runtime)
    with TestClient(create_app(runtime)) as client:
        listing = client.get("/companies").text
        assert re.search(r"SPIE BATIGNOLLES NORD.*?36 500 000 €", listing, re.S)
        assert "73 000 000" not in listing
        page = client.get("/companies/spie-batignolles-nord").text
        assert "36 500 000 €" in page and "73 000 000" not in page
        rows = list(csv.DictReader(StringIO(client.get("/companies.csv").text)))
        [spie] = [r for r in rows if r["name"] == "SPIE BATIGNOLLES NORD"]
        assert spie["contracts"] == "1" and float(spie["total"]) == 36500000.0
        site = client.get("/sites/dunkerque").text
        procedure_page = client.get(f"/notices/{_root_id(runtime)}").text
    result = CliRunner(env=runtime_env(runtime)).invoke(main, ["companies", "list"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "SPIE BATIGNOLLES NORD" in x)
    assert line.split("\t")[1] == "1" and "36" in line and "73" not in line

    # The site page: one row for the procedure, with its status and winner.
    rows_html = site[site.find('id="site-notices"') :]
    assert rows_html.count('<h3 id="notice-') == 1
    assert f'<h3 id="notice-{_root_id(runtime)}">' in rows_html
    assert "Attribué" in rows_html and "SPIE BATIGNOLLES NORD" in rows_html
    assert 'href="/companies/spie-batignolles-nord"' in rows_html
    # The procedure page's first screen: the winner, linked, and the awarded amount.
    head = procedure_page[: procedure_page.find("<h2")]
    assert 'href="/companies/spie-batignolles-nord"' in head
    assert "36 500 000 €" in head and "Attribué" in head
    # Each figure names the notice that stated it (the estimate too).
    assert head.count("(selon ") >= 3, head


def _root_id(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        found = session.scalar(select(Notice.id).where(Notice.native_id == "26-90001"))
    assert found is not None
    return int(found)
