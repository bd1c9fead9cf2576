"""`/radar`, `/feeds/radar.atom`, `/feeds/radar.ics` (issue 28): contracts at detention sites that
end in the next 6, 12 and 24 months, and the remedy windows still open, soonest first.

Each procedure (a first notice and the notices linked to it) is read from its notices' snapshots by
the pure `core/radar.py` and `core/legal_clock.py`; a contract whose end the notices do not give
is counted as unknown, never guessed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload, load_only
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

import watcher.web.ids  # noqa: F401 - registers the `{name:id}` URL convertor
from watcher.core import legal_clock, radar
from watcher.db.compiled import notice_dicts
from watcher.db.models import Notice
from watcher.pipeline.runtime import Runtime
from watcher.publish.radar import RadarItem, build_feed, build_ics
from watcher.web.asking import LABELS, context, today
from watcher.web.i18n import negotiate
from watcher.web.listing import procedure_notices

if TYPE_CHECKING:
    from watcher.web.pages import Pages

# The most procedures read for one radar (with an award, at a site): a bound, not a page size.
MOST = 20000
CHUNK = 1000  # procedures read in one query
# What the radar reads of a notice (`notice_dicts` and the item's header).
READ = (
    Notice.id,
    Notice.parent_id,
    Notice.source_id,
    Notice.native_id,
    Notice.title,
    Notice.buyer,
    Notice.site,
    Notice.snapshot,
    Notice.published,
    Notice.first_seen_at,
)
PAGE_LABELS = {
    "fr": {
        "title": "Radar des renouvellements",
        "intro": "Marchés des sites de rétention qui se terminent dans les 6, 12 et 24 prochains "
        "mois : le prochain renouvellement est la prochaine fenêtre de campagne. Une date de fin "
        "que les avis ne donnent pas est inconnue, jamais devinée.",
        "within": "Dans les {n} mois",
        "remedies": "Délais de recours encore ouverts",
        "unknown": "Marchés dont la fin est inconnue",
        "nothing": "Rien.",
        "feeds": "S'abonner",
    },
    "en": {
        "title": "Renewal radar",
        "intro": "Contracts at detention sites that end in the next 6, 12 and 24 months: the "
        "next re-tender is the next campaign window. An end the notices do not give is unknown, "
        "never guessed.",
        "within": "Within {n} months",
        "remedies": "Remedy windows still open",
        "unknown": "Contracts whose end is unknown",
        "nothing": "Nothing.",
        "feeds": "Subscribe",
    },
}


def radar_items(runtime: Runtime, day: dt.date) -> tuple[list[RadarItem], int]:
    """The radar's dates from `day` on (contract ends within 24 months, open remedy windows),
    soonest first, and how many procedures have no known end."""
    at_sites = (Notice.relevant.is_(True), Notice.site.is_not(None))
    with runtime.sessions() as session:
        # Only procedures with an award notice have a contract to end: their first notices'
        # ids from an index, then their notices, with the columns the radar reads.
        awarded = sorted(
            set(
                session.scalars(
                    select(func.coalesce(Notice.parent_id, Notice.id)).where(
                        *at_sites, Notice.notice_type == "award"
                    )
                )
            )
        )[:MOST]
        notices: list[Notice] = []
        for start in range(0, len(awarded), CHUNK):
            chunk = awarded[start : start + CHUNK]
            notices += session.scalars(
                select(Notice)
                .options(joinedload(Notice.source), load_only(*READ))
                .where(*at_sites, or_(Notice.id.in_(chunk), Notice.parent_id.in_(chunk)))
            ).all()
        notices.sort(key=lambda n: n.id)
        groups: dict[int, list[Notice]] = defaultdict(list)
        for notice in notices:
            groups[notice.parent_id or notice.id].append(notice)
        items: list[RadarItem] = []
        unknown = 0
        for root, members in groups.items():
            snapshots = notice_dicts(members)
            first = next((m for m in members if m.id == root), members[0])
            winners = tuple(sorted({str(w) for s in snapshots for w in s.get("winners") or ()}))
            common: dict[str, Any] = {
                "notice_id": first.id,
                "native_id": first.native_id,
                "title": first.title,
                "buyer": first.buyer,
                "site": first.site,
                "winners": winners,
            }
            if not any(s.get("notice_type") == "award" for s in snapshots):
                continue  # no contract yet
            end = radar.contract_end(snapshots)
            within = radar.horizon(end.date, day)
            if end.date is None:
                unknown += 1
            elif within is not None:
                items.append(
                    RadarItem(
                        "end",
                        end.date,
                        basis_fr=end.basis_fr,
                        basis_en=end.basis_en,
                        horizon=within,
                        **common,
                    )
                )
            for window in legal_clock.windows(snapshots):
                last = window.extended or window.closes
                if last is not None and last >= day:
                    items.append(
                        RadarItem(
                            "remedy",
                            last,
                            basis_fr=f"{window.rule} — {window.note_fr}",
                            basis_en=f"{window.rule} — {window.note_en}",
                            label_fr=window.name_fr,
                            label_en=window.name_en,
                            **common,
                        )
                    )
    items.sort(key=lambda i: (i.day, i.kind, i.notice_id))
    return items, unknown


def routes(runtime: Runtime, pages: Pages) -> list[BaseRoute]:
    """The radar page and its two feeds (before `/feeds/{path}`)."""

    def page(request: Request) -> Response:
        lang = negotiate(request)
        items, unknown = radar_items(runtime, today())
        ends = [i for i in items if i.kind == "end"]
        bands = [(n, [i for i in ends if i.horizon == n]) for n in radar.HORIZONS]
        return pages.render(
            request,
            "radar.html",
            active="",
            bands=bands,
            remedies=[i for i in items if i.kind == "remedy"],
            unknown=unknown,
            R=PAGE_LABELS[lang],
            asking_labels=LABELS,
            feed_url="/feeds/radar.atom",
        )

    def atom(request: Request) -> Response:
        lang = "en" if request.query_params.get("lang") == "en" else "fr"
        items, _ = radar_items(runtime, today())
        now = dt.datetime.now(dt.UTC)
        body = build_feed(items, runtime.settings.base_url, lang, now)
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    def ics(_request: Request) -> Response:
        items, _ = radar_items(runtime, today())
        body = build_ics(items, runtime.settings.base_url)
        return Response(body, media_type="text/calendar; charset=utf-8")

    def questions_json(request: Request) -> Response:
        notice_id = int(request.path_params["notice_id"])
        with runtime.sessions() as session:
            found = session.get(Notice, notice_id, options=[joinedload(Notice.source)])
            if found is None:
                return JSONResponse({"error": "no such notice"}, status_code=404)
            members = procedure_notices(session, found)
            data = context(members, today())
            body = {
                "procedure": [n["id"] for n in notice_dicts(members)],
                "questions": [q.as_dict() for q in data["questions"]],
                "windows": [w.as_dict() | {"open": is_open} for w, is_open in data["windows"]],
                "end": {
                    "date": data["end"].date.isoformat() if data["end"].date else None,
                    "basis_fr": data["end"].basis_fr,
                    "basis_en": data["end"].basis_en,
                },
                "disclaimer": {"fr": legal_clock.DISCLAIMER_FR, "en": legal_clock.DISCLAIMER_EN},
            }
        return JSONResponse(body, headers={"Access-Control-Allow-Origin": "*"})

    return [
        Route(
            "/api/procedures/{notice_id:id}/questions.json",
            questions_json,
            name="api_procedure_questions",
        ),
        Route("/radar", pages.cache.wrap(page), name="radar"),
        Route("/feeds/radar.atom", atom, name="radar_atom"),
        Route("/feeds/radar.ics", ics, name="radar_ics"),
    ]
