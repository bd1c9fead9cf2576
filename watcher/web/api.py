"""The JSON API: `/api/notices`, `/api/notices/<id>`, `/api/events`,
`/api/procedures/<id>.ocds.json` (the procedure of notice <id> as OCDS), described by the OpenAPI 3.1
document at `/api/openapi.json`. Same filters as the home page, paginated with `page`/`per_page`;
each list answers `{"items": […], "page", "per_page", "total", "next"}`."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import defer, joinedload
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

import watcher.web.ids  # noqa: F401 - registers the `{name:id}` URL convertor
from watcher.core import values
from watcher.core.deadlines import shown_for
from watcher.db.models import Event, Notice, NoticeVersion
from watcher.pipeline.runtime import Runtime
from watcher.web.listing import (
    BadRequest,
    Filters,
    Page,
    Paging,
    list_events,
    list_notices,
)
from watcher.web.openapi import MAX_PER_PAGE, PER_PAGE, openapi_document
from watcher.web.procedures import own_deadline

HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=60"}


def _time(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value else None


def notice_json(notice: Notice) -> dict[str, Any]:
    """The API's view of a notice (its current version): the deadline it stated itself, and on
    a procedure's first notice the compiled procedure (what it is now, issue 23)."""
    said = own_deadline(notice)
    return {
        "id": notice.id,
        "source": notice.source.name,
        "native_id": notice.native_id,
        "title": notice.title,
        "buyer": notice.buyer,
        "url": notice.url,
        "published": _time(notice.published),
        "deadline": _time(said.deadline),
        "deadline_shown": shown_for(said.deadline, said.deadline_local, said.deadline_zone),
        "deadline_date_only": "T" not in (said.deadline_local or "T"),
        "notice_type": notice.notice_type,
        "department": notice.department,
        "departments": list(
            notice.departments or ([notice.department] if notice.department else [])
        ),
        "procedure_id": notice.procedure_id,
        "relevant": notice.relevant,
        "site": notice.site,
        "score": notice.score,
        "reasons": list(notice.reasons or []),
        "version": notice.version,
        "first_seen_at": _time(notice.first_seen_at),
        "last_seen_at": _time(notice.last_seen_at),
        "html": f"/notices/{notice.id}",
        "amounts": values.described((notice.snapshot or {}).get("amounts")),
        "outcome": (notice.snapshot or {}).get("outcome"),
        "procedure_notice_id": notice.parent_id or notice.id,
        "procedure": notice.compiled if notice.parent_id is None else None,
    }


def event_json(event: Event) -> dict[str, Any]:
    """The API's view of an event, with a summary of its notice."""
    notice = event.notice
    return {
        "id": event.id,
        "key": event.key,
        "type": event.type,
        "created_at": _time(event.created_at),
        "version": event.version,
        "site": event.site,
        "changes": list(event.changes or []),
        "notice": {
            "id": notice.id,
            "title": (notice.compiled or {}).get("title") or notice.title,
            "source": notice.source.name,
            "buyer": notice.buyer,
            "url": notice.url,
            "deadline": _time(notice.deadline),
            "html": f"/notices/{notice.id}",
        },
    }


def _listing(request: Request, page: Page[Any], items: list[dict[str, Any]]) -> Response:
    params = {k: v for k, v in request.query_params.items() if k not in {"page", "after"}}
    following = None
    full = len(page.items) == page.paging.per_page
    if page.items and full and (page.paging.after is not None or page.has_next):
        # Keyset paging (issue 26): the next page starts after this one's last item.
        following = f"{request.url.path}?{urlencode(params | {'after': page.items[-1].id})}"
    body = {
        "items": items,
        "page": page.paging.page,
        "per_page": page.paging.per_page,
        "total": page.total,
        "next": following,
    }
    return JSONResponse(body, headers=HEADERS)


def _bad(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=400, headers=HEADERS)


def _relevant(value: str | None) -> bool | None:
    if value in (None, "", "true"):
        return True
    if value == "false":
        return False
    if value == "any":
        return None
    raise BadRequest("relevant must be true, false or any")


def routes(runtime: Runtime) -> list[BaseRoute]:
    """The API's routes, for `create_app`."""

    def notices(request: Request) -> Response:
        try:
            filters = Filters.from_params(request.query_params)
            paging = Paging.from_params(request.query_params, default=PER_PAGE, most=MAX_PER_PAGE)
            relevant = _relevant(request.query_params.get("relevant"))
        except BadRequest as exc:
            return _bad(str(exc))
        with runtime.sessions() as session:
            page = list_notices(session, filters, paging, relevant=relevant)
            return _listing(request, page, [notice_json(n) for n in page.items])

    def notice(request: Request) -> Response:
        notice_id = int(request.path_params["notice_id"])
        with runtime.sessions() as session:
            found = session.get(Notice, notice_id, options=[joinedload(Notice.source)])
            if found is None:
                return JSONResponse({"error": "no such notice"}, status_code=404, headers=HEADERS)
            versions = session.scalars(
                select(NoticeVersion)
                .options(defer(NoticeVersion.raw))
                .where(NoticeVersion.notice_id == notice_id)
                .order_by(NoticeVersion.version)
            ).all()
            root = session.get(Notice, found.parent_id) if found.parent_id else found
            body = notice_json(found) | {
                "procedure": root.compiled if root is not None else None,
                "snapshot": found.snapshot,
                "versions": [
                    {
                        "version": v.version,
                        "fetched_at": _time(v.fetched_at),
                        "fetch_url": v.fetch_url,
                        "sha256": v.content_hash,
                        "raw": f"/notices/{notice_id}/versions/{v.version}/raw",
                    }
                    for v in versions
                ],
            }
        return JSONResponse(body, headers=HEADERS)

    def events(request: Request) -> Response:
        try:
            filters = Filters.from_params(request.query_params)
            paging = Paging.from_params(request.query_params, default=PER_PAGE, most=MAX_PER_PAGE)
        except BadRequest as exc:
            return _bad(str(exc))
        with runtime.sessions() as session:
            page = list_events(session, filters, paging)
            return _listing(request, page, [event_json(e) for e in page.items])

    def procedure_ocds(request: Request) -> Response:
        """`/api/procedures/<id>.ocds.json`: the procedure of notice <id> as an OCDS record
        package (its releases, compiled and versioned releases; `watcher.pipeline.ocds`)."""
        from watcher.pipeline.ocds import package  # noqa: PLC0415

        notice_id = int(request.path_params["notice_id"])
        settings = runtime.settings
        with runtime.sessions() as session:
            in_range = 0 < notice_id < 1 << 31
            found = session.get(Notice, notice_id) if in_range else None
            if found is None:
                return JSONResponse({"error": "no such notice"}, status_code=404, headers=HEADERS)
            root = session.get(Notice, found.parent_id) if found.parent_id else found
            assert root is not None
            body = package(
                session,
                [root],
                dt.datetime.now(dt.UTC),
                prefix=settings.ocid_prefix,
                uri=f"{settings.base_url}/api/procedures/{notice_id}.ocds.json",
            )
        return JSONResponse(body, headers=HEADERS)

    def openapi(_request: Request) -> Response:
        return JSONResponse(openapi_document(runtime.settings.base_url), headers=HEADERS)

    return [
        Route("/api/notices", notices, name="api_notices"),
        Route("/api/notices/{notice_id:id}", notice, name="api_notice"),
        Route("/api/events", events, name="api_events"),
        Route(
            "/api/procedures/{notice_id:id}.ocds.json", procedure_ocds, name="api_procedure_ocds"
        ),
        Route("/api/openapi.json", openapi, name="api_openapi"),
    ]
