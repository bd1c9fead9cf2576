"""Hostile characters in portal records (issue 18, rows 1, 2 and 12), on SQLite and PostgreSQL.

A lone surrogate or a NUL byte in one record used to make the whole poll fail, at every poll, and
a right-to-left override reached titles, mail subjects and file names. Each input goes through the
loopback BOAMP portal and the real store; the poll holds, the other records are stored, both
databases store the same text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from tests.helpers import BoampPortal
from tests.loopback import LoopbackServer
from tests.test_pipeline import feed_entries, sources_yaml
from watcher.core.sanitize import clean_record, plain_line, safe_filename, storable, visible
from watcher.db.models import Event, Notice, NoticeVersion
from watcher.db.session import session_scope
from watcher.documents.text import filename_for
from watcher.notify import deliver_pending
from watcher.notify.memory import MemoryMailer
from watcher.notify.subscribers import Filters, add_confirmed
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime
from watcher.records import NoticeRecord

ATOM = "{http://www.w3.org/2005/Atom}"
RLO = "\u202e"
INVISIBLES = "\u202e\u202d\u2066\u2069\u200b\u200c\u200d\u2060\ufeff\u200f"


class HostilePortal(BoampPortal):
    """The BOAMP fixture page with `edit(records)` applied to its records."""

    def __init__(self, edit: Callable[[list[dict[str, Any]]], None]) -> None:
        super().__init__()
        edit(self.records)


def poll(
    make_runtime: Callable[..., Runtime], edit: Callable[[list[dict[str, Any]]], None]
) -> tuple[Runtime, list[Any]]:
    """Two polls of a portal serving edited records; the runtime and the two results."""
    with LoopbackServer(HostilePortal(edit)) as server:
        runtime = make_runtime(sources_yaml(server.url))
        results = [run_sources(runtime.config.build(), runtime.context())[0] for _ in range(2)]
    return runtime, results


def notices(runtime: Runtime) -> dict[str, Notice]:
    with runtime.sessions() as session:
        return {n.native_id: n for n in session.scalars(select(Notice))}


def all_text(runtime: Runtime) -> str:
    """Everything stored about every notice, as one string."""
    with runtime.sessions() as session:
        rows = [
            (n.native_id, n.title, n.buyer, n.procedure_id, repr(n.snapshot))
            for n in session.scalars(select(Notice))
        ]
        rows += [(v.raw, repr(v.snapshot)) for v in session.scalars(select(NoticeVersion))]
    return repr(rows) + "".join(str(x) for row in rows for x in row)


def test_a_lone_surrogate_is_replaced_and_the_other_records_are_stored(
    make_runtime: Callable[..., Runtime],
) -> None:
    def edit(records: list[dict[str, Any]]) -> None:
        records[0]["objet"] = "Construction du centre de rétention \udc80 de Dunkerque"
        records[1]["nomacheteur"] = "\ud800SGAMI"

    runtime, (first, second) = poll(make_runtime, edit)
    assert first.ok and second.ok, (first.error, second.error)
    assert first.new == 3 and second.unchanged == 3  # stored once, not changed at every poll
    stored = notices(runtime)
    assert stored["26-118204"].title == "Construction du centre de rétention \ufffd de Dunkerque"
    assert "\ufffdSGAMI" in [n.buyer for n in stored.values()]
    text = all_text(runtime)
    assert "\udc80" not in text and "\ud800" not in text
    text.encode("utf-8")  # everything stored is valid UTF-8
    assert len(feed_entries(runtime)) == first.events > 0


def test_nul_bytes_are_removed_everywhere_the_same_on_both_databases(
    make_runtime: Callable[..., Runtime],
) -> None:
    def edit(records: list[dict[str, Any]]) -> None:
        records[0]["idweb"] = "26-118\x00204"
        records[0]["objet"] = "Construction du centre\x00 de rétention de Dunkerque"
        records[0]["contractfolderid"] = "4c2f6a10\x00-tail"
        records[1]["nomacheteur"] = "\x00\x00"

    runtime, (first, second) = poll(make_runtime, edit)
    assert first.ok and second.ok, (first.error, second.error)
    assert first.new == 3 and second.unchanged == 3
    stored = notices(runtime)
    notice = stored["26-118204"]  # the NUL removed, not the id cut short at it
    assert notice.title == "Construction du centre de rétention de Dunkerque"
    assert notice.procedure_id == "4c2f6a10-tail"
    assert "\x00" not in all_text(runtime)


def test_bidi_controls_never_reach_titles_subjects_or_file_names(
    make_runtime: Callable[..., Runtime],
) -> None:
    def edit(records: list[dict[str, Any]]) -> None:
        records[0]["objet"] = f"Construction du centre de rétention de Dunkerque {RLO}fdp.exe"
        records[1]["objet"] = "".join(f"{c}{INVISIBLES[i % 10]}" for i, c in enumerate("Loon"))

    runtime, (first, _) = poll(make_runtime, edit)
    assert first.ok, first.error
    stored = notices(runtime)
    assert stored["26-118204"].title.endswith("Dunkerque fdp.exe")
    for notice in stored.values():
        assert not set(INVISIBLES) & set(notice.title + repr(notice.snapshot)), notice.title
    titles = [e.findtext(f"{ATOM}title") or "" for e in feed_entries(runtime)]
    assert titles and not any(set(INVISIBLES) & set(t) for t in titles)

    # A title stored before the fix is neutralised in the mail Subject all the same.
    with session_scope(runtime.sessions) as session:
        add_confirmed(
            session, "alice@example.org", Filters(), dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        )
        notice = session.scalars(select(Notice).where(Notice.native_id == "26-118204")).one()
        notice.snapshot = {**notice.snapshot, "title": f"facture{RLO}gpj.exe"}
        # and compiled from it (the mail's title is the procedure's, issue 23)
        notice.compiled = {**(notice.compiled or {}), "title": f"facture{RLO}gpj.exe"}
        session.flush()
        session.add(
            Event(
                key="boamp/26-118204/hostile",
                notice_id=notice.id,
                type="new",
                created_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
                version=notice.version,
                changes=[],
                site=notice.site,
            )
        )
    mailer = MemoryMailer()
    report = deliver_pending(runtime, dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC), mailer=mailer)
    assert report.sent == 1, report.summary()
    [message] = mailer.outbox
    assert str(message["Subject"]).endswith("facturegpj.exe"), message["Subject"]
    assert RLO not in str(message["Subject"])


@pytest.mark.parametrize(
    ("disposition", "name"),
    [
        (f'attachment; filename="facture{RLO}gpj.exe"', "facturegpj.exe"),
        ("attachment; filename*=UTF-8''RC%E2%80%AEfdp.exe", "RCfdp.exe"),
        ('attachment; filename="R\u200bC\u200d.pdf"', "RC.pdf"),
        ('attachment; filename="a\x01b\x7fc.pdf"', "abc.pdf"),
        (f'attachment; filename="{RLO}"', "document"),
    ],
)
def test_file_names_lose_bidi_controls_and_invisibles(disposition: str, name: str) -> None:
    assert filename_for("https://x.fr/get", disposition) == name


SAMPLES = ["ok", "a\x00b", "\udc80", f"x{RLO}y", "z\u200bw", "é\ufeff", "\ud83d", "tab\there"]


@pytest.mark.parametrize("text", SAMPLES)
def test_sanitisers_are_idempotent_and_encodable(text: str) -> None:
    for clean in (storable, visible, plain_line, safe_filename):
        once = clean(text)
        assert clean(once) == once
        once.encode("utf-8")
        assert "\x00" not in once
    assert not set(INVISIBLES) & set(visible(text))


def test_clean_record_keeps_the_raw_payload_as_evidence() -> None:
    record = NoticeRecord(native_id="A\x00B", title=f"x{RLO}y", raw=f'{{"t": "x{RLO}y\udc80"}}')
    cleaned = clean_record(record)
    assert (cleaned.native_id, cleaned.title) == ("AB", "xy")
    assert cleaned.raw == f'{{"t": "x{RLO}y\ufffd"}}'  # bidi kept in the evidence, not surrogates
    assert clean_record(cleaned) == cleaned
    assert dataclasses.replace(cleaned) == cleaned
