"""The web site: server-rendered pages (Jinja2, no JavaScript) over the database, in French and
English. `/` latest events or relevant notices with filters and search; `/notices/<id>` a
procedure's timeline with diffs and the raw evidence; `/sites` (with a map), `/sites/<slug>` (with
a timeline of its procedures); `/sources`. The companies pages live in `company_pages`.

Everything scraped is autoescaped; links taken from portals are kept only when they are http(s).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

import watcher.web.ids  # noqa: F401 - registers the `{name:id}` URL convertor
from watcher.core import values
from watcher.core.compiled import winner_names
from watcher.core.deadlines import shown_for
from watcher.core.normalize import format_value
from watcher.core.phases import ORDER as PHASE_ORDER
from watcher.db.models import Notice, NoticeVersion, SourceState
from watcher.errors import ConfigError
from watcher.pipeline.runtime import Runtime
from watcher.sources.netdiag import in_french
from watcher.web import asking, question_counts
from watcher.web.company_listing import site_counts_by_slug, site_timeline
from watcher.web.feedlinks import feed_links
from watcher.web.gazetteer import Site, load_sites
from watcher.web.humane import human_schedule, local
from watcher.web.i18n import Translator, explicit_lang, negotiate
from watcher.web.listing import (
    EVENT_TYPES,
    BadRequest,
    Filters,
    Paging,
    SiteCount,
    list_events,
    list_notices,
    procedure_notices,
    site_counts,
    source_health,
    timeline,
)
from watcher.web.page_cache import MARK, PageCache, marking
from watcher.web.pictures import site_pictures
from watcher.web.procedures import own_deadline, procedure_view, winner_slugs
from watcher.web.protect import page_form_token
from watcher.web.reasons import reason_text

# The feeds' XSLT sheet must be served as XML for a browser to apply it, whatever the system's
# own MIME table says.
mimetypes.add_type("application/xslt+xml", ".xsl")

# Pages hold no secrets and run no script: nothing but this site's own stylesheet.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
NAV = (
    ("home", "/"),
    ("sites", "/sites"),
    ("companies", "/companies"),
    ("sources", "/sources"),
    ("subscribe", "/subscribe"),
    ("feed", "/feeds"),
)


def http_url(value: str | None) -> str:
    """`value` when it is an http(s) URL, else "" (never a `javascript:` link from a portal)."""
    if not value:
        return ""
    return value if urlsplit(value.strip()).scheme in {"http", "https"} else ""


def iso(moment: Any) -> str:
    """ISO 8601 for `<time datetime=…>`."""
    return str(moment.isoformat())


def procedure_phases(members: list[Notice]) -> list[Notice]:
    """A procedure's notices in the order of their phases (prior information, call for tenders,
    corrigenda, award, contract...), then of when they were first seen."""
    return sorted(
        members,
        key=lambda n: (
            PHASE_ORDER.get(n.phase or "tender", 99),
            n.first_seen_at,
            n.id,
        ),
    )


def deadline_text(notice: Any) -> str:
    """A notice's deadline as its portal shows it: `13/07/2026` for a date alone, `16/02/2026
    12:00` in Paris time, `13/06/2024 12:00 (Europe/London)` (issue 12, point 3)."""
    return (
        shown_for(
            getattr(notice, "deadline", None),
            getattr(notice, "deadline_local", None),
            getattr(notice, "deadline_zone", None),
        )
        or "—"
    )


def value_text(notice: Any, lang: str = "fr") -> str | None:
    """A notice's amounts from its snapshot, each with its kind ("Estimation 439 000 €",
    `core.values.shown`, issue 24); a zero is not stated."""
    snap = getattr(notice, "snapshot", None) or {}
    return values.shown(snap, lang) or format_value(
        None, snap.get("currency"), snap.get("tender_value")
    )


def environment() -> Environment:
    """The templates, autoescaped, failing loudly on a missing variable."""
    env = Environment(
        loader=PackageLoader("watcher.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["http_url"] = http_url
    env.globals.update(iso=iso, local=local, deadline_text=deadline_text, value_text=value_text)
    env.globals.update(own_deadline=own_deadline)
    return env


@dataclass(frozen=True)
class SiteRow:
    """A line of `/sites`."""

    site: Site
    count: SiteCount


class Pages:
    """The page handlers over one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.env = environment()
        self.cache = PageCache(runtime)

    @cached_property
    def sites(self) -> dict[str, Site]:
        """The gazetteer, with the extra site files of `sources.yaml` when it loads."""
        try:
            extra = self.runtime.config.sites
        except ConfigError:
            extra = []
        return load_sites(extra)

    def site_label(self, slug: str | None) -> str:
        """A site's label, or its slug when the gazetteer no longer knows it."""
        if not slug:
            return ""
        site = self.sites.get(slug)
        return site.label if site else slug

    def render(
        self,
        request: Request,
        template: str,
        *,
        status: int = 200,
        lang: str | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """A page in the reader's language (or `lang`: a form's, a subscriber's), with links that
        keep an explicitly chosen language."""
        negotiated = negotiate(request)
        lang = lang or negotiated
        chosen = explicit_lang(request) or (lang if lang != negotiated else None)
        other = "en" if lang == "fr" else "fr"

        def url(path: str, **params: Any) -> str:
            pairs = {k: str(v) for k, v in params.items() if v not in (None, "")}
            if chosen:
                pairs["lang"] = chosen
            return path + ("?" + urlencode(pairs) if pairs else "")

        switch = dict(request.query_params) | {"lang": other}
        html = self.env.get_template(template).render(
            lang=lang,
            other_lang=other,
            explicit_lang=chosen,
            t=Translator(lang),
            url=url,
            switch_url=f"{request.url.path}?{urlencode(switch)}",
            feed_url=context.pop("feed_url", "/feeds/all.atom")
            + ("?lang=en" if lang == "en" else ""),
            nav=[(key, url(path)) for key, path in NAV],
            site_label=self.site_label,
            schedule_words=lambda schedule: human_schedule(schedule, lang),
            reason_words=lambda reason: reason_text(reason, lang),
            error_words=lambda text: in_french(text) if lang == "fr" else text,
            demo=self.runtime.settings.demo,
            form_token=lambda: (
                MARK if marking(request) else page_form_token(request, self.runtime.settings)
            ),
            **context,
        )
        headers = {**SECURITY_HEADERS, "Content-Language": lang, "Vary": "Accept-Language"}
        return HTMLResponse(html, status_code=status, headers=headers)

    def error(self, request: Request, status: int, message: str | None = None) -> HTMLResponse:
        """A 404 (or other) page with the site's navigation."""
        t = Translator(negotiate(request))
        return self.render(
            request,
            "error.html",
            status=status,
            active="",
            heading=t("not_found") if status == 404 else str(status),
            message=message or t("not_found_text"),
        )

    def failure(self, request: Request, status: int, kind: str) -> HTMLResponse:
        """The page for a failure of the service itself (`kind`: `database` or `error`); it
        reads nothing from the database, so it can always be shown."""
        t = Translator(negotiate(request))
        return self.render(
            request,
            "error.html",
            status=status,
            active="",
            heading=t(f"{kind}_down_title"),
            message=t(f"{kind}_down_text"),
        )

    def _health(self, session: Session) -> dict[str, Any]:
        """How the sources are doing, for the notice on top of `/` and `/sources`."""
        try:
            configured = [c.name for c in self.runtime.config.sources if c.enabled]
        except ConfigError:
            configured = []
        states = {s.name: s for s in session.scalars(select(SourceState))}
        names = configured or sorted(states)
        failing = [n for n in names if n in states and states[n].consecutive_failures > 0]
        ever = any(states[n].last_success_at for n in names if n in states)
        polled = any(n in states for n in names)
        return {
            "total": len(names),
            "failing": failing,
            "never_ok": bool(failing) and not ever,
            "never_polled": bool(names) and not polled,
        }

    def home(self, request: Request) -> Response:
        """`/`: the latest events (or relevant notices), filtered and searched."""
        try:
            filters = Filters.from_params(request.query_params)
            paging = Paging.from_params(request.query_params)
        except BadRequest as exc:
            return self.error(request, 400, str(exc))
        show = "notices" if request.query_params.get("show") == "notices" else "events"
        with self.runtime.sessions() as session:
            if show == "notices":
                page: Any = list_notices(session, filters, paging)
            else:
                page = list_events(session, filters, paging)
            names = session.scalars(select(SourceState.name).order_by(SourceState.name)).all()
            links = feed_links(filters)
            return self.render(
                request,
                "home.html",
                active="home",
                health=self._health(session),
                links=links,
                feed_url=links.atom,
                filters=filters,
                show=show,
                page=page,
                sites=list(self.sites.values()),
                source_names=names,
                event_types=EVENT_TYPES,
                page_link=self._page_link(request, "/", filters.params() | {"show": show}),
            )

    def _page_link(
        self, request: Request, path: str, params: dict[str, str]
    ) -> Callable[[int], str]:
        chosen = explicit_lang(request)
        size = request.query_params.get("per_page")

        def link(number: int) -> str:
            pairs = params | ({"per_page": size} if size else {}) | {"page": str(number)}
            pairs |= {"lang": chosen} if chosen else {}
            return f"{path}?{urlencode(pairs)}"

        return link

    def notice(self, request: Request) -> Response:
        """`/notices/<id>`: the notice, its procedure's timeline, diffs and evidence."""
        notice_id = int(request.path_params["notice_id"])
        with self.runtime.sessions() as session:
            notice = session.get(Notice, notice_id, options=[joinedload(Notice.source)])
            if notice is None:
                return self.error(request, 404)
            members = procedure_notices(session, notice)
            items = timeline(session, members)
            root = notice if notice.parent_id is None else session.get(Notice, notice.parent_id)
            root_id = root.id if root is not None else notice.id
            compiled = root.compiled if root is not None else None
            linked = winner_slugs(session, [root_id] if winner_names(compiled) else [])
            procedure = procedure_view(
                compiled, dt.datetime.now(dt.UTC), negotiate(request), linked.get(root_id)
            )
            return self.render(
                request,
                "notice.html",
                active="",
                notice=notice,
                procedure=procedure,
                phases=procedure_phases(members),
                ocds_url=f"/api/procedures/{notice.id}.ocds.json",
                description=(notice.snapshot or {}).get("description"),
                timeline=items,
                asking=asking.context(members, asking.today()),
                asking_labels=asking.LABELS,
            )

    def raw(self, request: Request) -> Response:
        """`/notices/<id>/versions/<n>/raw`: the payload exactly as stored, with its sha256."""
        notice_id = int(request.path_params["notice_id"])
        number = int(request.path_params["version"])
        with self.runtime.sessions() as session:
            version = session.scalar(
                select(NoticeVersion)
                .options(joinedload(NoticeVersion.notice).joinedload(Notice.source))
                .where(NoticeVersion.notice_id == notice_id, NoticeVersion.version == number)
            )
            if version is None:
                return self.error(request, 404)
            body = version.raw.encode("utf-8")
            try:
                json.loads(body or b"!")
                media, ext = "application/json", "json"
            except ValueError:
                # HTML and XML are shown as text: a portal's markup never runs on this site.
                media, ext = "text/plain; charset=utf-8", "txt"
            name = f"{version.notice.source.name}-{version.notice.native_id}-v{number}.{ext}"
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
            headers = {
                "X-Content-SHA256": hashlib.sha256(body).hexdigest(),
                "X-Watcher-Content-Hash": version.content_hash,
                "X-Watcher-Fetched-At": version.fetched_at.isoformat(),
                "Content-Disposition": f'inline; filename="{safe}"',
                "Content-Security-Policy": "sandbox; default-src 'none'",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "public, max-age=86400, immutable",
            }
        return Response(body, media_type=media, headers=headers)

    def site_list(self, request: Request) -> Response:
        """`/sites`: the gazetteer with each site's count of relevant notices."""
        with self.runtime.sessions() as session:
            counts = site_counts(session)
            procedures = site_counts_by_slug(session)
        known = dict(self.sites)
        for slug in counts:
            if slug and slug not in known:
                known[slug] = Site(slug=slug, label=slug)
        rows = [SiteRow(site, counts.get(slug, SiteCount())) for slug, site in known.items()]
        lang = negotiate(request)
        return self.render(
            request,
            "sites.html",
            active="sites",
            rows=rows,
            unattributed=counts.get(None, SiteCount()).notices,
            map_svg=Markup(site_pictures(list(self.sites.values()), procedures, lang)),  # noqa: S704
        )

    def site(self, request: Request) -> Response:
        """`/sites/<slug>`: one site and its relevant notices."""
        slug = str(request.path_params["slug"])
        try:
            paging = Paging.from_params(request.query_params)
            question = Filters.from_params({"question": request.query_params.get("question", "")})
        except BadRequest as exc:
            return self.error(request, 400, str(exc))
        with self.runtime.sessions() as session:
            shown = Filters(site=slug, question=question.question)
            page = list_notices(session, shown, paging, procedures=True)
            site = self.sites.get(slug)
            if site is None and not page.total:
                return self.error(request, 404)
            slugs = winner_slugs(session, [n.id for n in page.items if winner_names(n.compiled)])
            now, lang = dt.datetime.now(dt.UTC), negotiate(request)
            views = {
                n.id: procedure_view(n.compiled, now, lang, slugs.get(n.id)) for n in page.items
            }
            return self.render(
                request,
                "site.html",
                active="sites",
                links=feed_links(Filters(site=slug)),
                feed_url=f"/feeds/sites/{slug}.atom",
                site=site or Site(slug=slug, label=slug),
                page=page,
                views=views,
                timeline_svg=Markup(site_timeline(session, slug, negotiate(request))),  # noqa: S704
                page_link=self._page_link(request, f"/sites/{slug}", question.params()),
                question_counts=question_counts.view(
                    question_counts.site_counts(session, slug),
                    lang,
                    f"/sites/{slug}",
                    question.question,
                ),
            )

    def sources(self, request: Request) -> Response:
        """`/sources`: each source's health and counts."""
        try:
            configs = list(self.runtime.config.sources)
        except ConfigError:
            configs = []
        with self.runtime.sessions() as session:
            rows = source_health(session, configs)
            return self.render(
                request,
                "sources.html",
                active="sources",
                rows=rows,
                health=self._health(session),
            )

    def feeds_help(self, request: Request) -> Response:
        """`/feeds`: what a feed is, and every feed to subscribe to."""
        with self.runtime.sessions() as session:
            names = session.scalars(select(SourceState.name).order_by(SourceState.name)).all()
        with contextlib.suppress(ConfigError):
            names = sorted({*names, *(c.name for c in self.runtime.config.sources)})
        return self.render(
            request,
            "feeds.html",
            active="feed",
            sites=list(self.sites.values()),
            source_names=names,
            event_types=EVENT_TYPES,
        )

    def not_found(self, request: Request, exc: Exception) -> Response:
        """Unknown addresses get the site's 404 page (the API answers JSON)."""
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if request.url.path.startswith("/api/"):
            detail = exc.detail if isinstance(exc, HTTPException) else "error"
            return JSONResponse({"error": detail}, status_code=status)
        return self.error(request, status)

    def routes(self) -> list[BaseRoute]:
        """The pages' routes and the stylesheet."""
        cached = self.cache.wrap
        return [
            Route("/", cached(self.home), name="home"),
            Route("/notices/{notice_id:id}", cached(self.notice), name="notice"),
            Route("/notices/{notice_id:id}/versions/{version:id}/raw", self.raw, name="raw"),
            Route("/sites", cached(self.site_list), name="sites"),
            Route("/sites/{slug}", cached(self.site), name="site"),
            Route("/sources", cached(self.sources), name="sources"),
            Route("/feeds", cached(self.feeds_help), name="feeds"),
            Mount("/static", StaticFiles(packages=[("watcher.web", "static")]), name="static"),
        ]


def routes(runtime: Runtime) -> list[BaseRoute]:
    """The pages' routes, for `create_app`."""
    return Pages(runtime).routes()
