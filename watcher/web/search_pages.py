"""Search (issue 27): `/search?q=…` (the page, also the home page's search box), `/api/search`
(the same as JSON), `/feeds/search.atom?q=…` and `/feeds/search.json?q=…` (the events of the
procedures found), and the form that subscribes an address to a search (`POST /subscribe` with a
`query` field).

`q` is read by `watcher.core.query.parse`, which never fails: any text answers 200, with results
or none. Relevant notices only unless `all=1`; `after=` is the keyset cursor of the next page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from watcher.core.query import MAX_CHARS, parse
from watcher.db.search import Cursor, Hit, Results, search
from watcher.db.search_cache import ResultCache
from watcher.pipeline.runtime import Runtime
from watcher.publish.pages import MEDIA_TYPES
from watcher.publish.searches import search_document, search_items
from watcher.web.i18n import negotiate
from watcher.web.pages import Pages
from watcher.web.protect import HONEYPOT

PER_PAGE = 20
MAX_PER_PAGE = 100
API_HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=60"}

WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Recherche",
        "label": "Rechercher dans les avis et leurs documents",
        "submit": "Rechercher",
        "all": "Tous les avis enregistrés, pas seulement les pertinents",
        "found": "{n} procédure(s) trouvée(s)",
        "none": "Aucune procédure ne correspond.",
        "start": 'Tapez des mots, une "phrase exacte", ou des filtres (voir l\'aide).',
        "notices": "{n} avis de la procédure correspondent",
        "in_document": "Dans le document {name}",
        "in_notice": "Dans l'avis",
        "next": "Résultats suivants",
        "facets": "Affiner",
        "facet_site": "Site",
        "facet_phase": "Étape",
        "facet_year": "Année",
        "facet_source": "Source",
        "follow": "Suivre cette recherche",
        "feed": "Flux Atom de cette recherche",
        "jsonfeed": "JSON Feed",
        "email": "Recevoir un e-mail pour chaque nouvel événement de cette recherche",
        "email_label": "Adresse e-mail",
        "email_submit": "M'abonner",
        "email_help": "Un lien de confirmation vous sera envoyé ; rien d'autre avant.",
        "help": "Aide à la recherche",
        "help_text": (
            'mots (accents et majuscules indifférents) · "phrase exacte" · escort* (début de '
            "mot) · -bassin (exclure) · transfert OR escorte · cpv:4521* · acheteur:lille · "
            "dep:59 · site:lesquin · titulaire:gepsa · phase:award · source:boamp · "
            "after:2025 before:2026-06"
        ),
    },
    "en": {
        "title": "Search",
        "label": "Search the notices and their documents",
        "submit": "Search",
        "all": "Every stored notice, not only the relevant ones",
        "found": "{n} procedure(s) found",
        "none": "No procedure matches.",
        "start": 'Type words, an "exact phrase", or filters (see the help).',
        "notices": "{n} notices of the procedure match",
        "in_document": "In the document {name}",
        "in_notice": "In the notice",
        "next": "Next results",
        "facets": "Refine",
        "facet_site": "Site",
        "facet_phase": "Stage",
        "facet_year": "Year",
        "facet_source": "Source",
        "follow": "Follow this search",
        "feed": "Atom feed of this search",
        "jsonfeed": "JSON Feed",
        "email": "Get an e-mail for each new event of this search",
        "email_label": "E-mail address",
        "email_submit": "Subscribe",
        "email_help": "A confirmation link will be sent to you; nothing else before that.",
        "help": "Search help",
        "help_text": (
            'words (accents and case do not matter) · "exact phrase" · escort* (word start) · '
            "-bassin (exclude) · transfer OR escort · cpv:4521* · buyer:lille · dep:59 · "
            "site:lesquin · company:gepsa · phase:award · source:boamp · after:2025 "
            "before:2026-06"
        ),
    },
}
# The field each facet adds to the query when clicked.
FACET_FIELDS = {"site": "site", "phase": "phase", "source": "source"}


def _flag(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes", "on"}


def _limit(value: str | None) -> int:
    try:
        return max(1, min(MAX_PER_PAGE, int(value or PER_PAGE)))
    except ValueError:
        return PER_PAGE


def hit_json(hit: Hit) -> dict[str, Any]:
    """The API's view of one procedure found."""
    root = hit.procedure
    return {
        "id": root.id,
        "title": root.title,
        "buyer": root.buyer,
        "source": hit.source,
        "site": root.site,
        "phase": root.phase,
        "published": root.published.isoformat() if root.published else None,
        "url": root.url,
        "html": f"/notices/{root.id}",
        "score": hit.score,
        "notices": hit.notices,
        "snippets": [
            {
                "notice_id": s.notice_id,
                "document": s.document,
                "text": s.plain,
                "html": s.html,
            }
            for s in hit.snippets
        ],
    }


def routes(runtime: Runtime, pages: Pages) -> list[BaseRoute]:
    """The search routes (placed before `/feeds/{path}`). Answers and feeds are kept while the
    data does not change (`WATCHER_SEARCH_CACHE` answers, a quarter as many feeds:
    `watcher.db.search_cache`)."""
    answers: ResultCache[Results] = ResultCache(runtime.settings.search_cache)
    # Feeds are larger (up to ~100 KB each): a quarter as many.
    feeds: ResultCache[bytes] = ResultCache(runtime.settings.search_cache // 4)

    def run(request: Request) -> tuple[str, bool, Results]:
        params = request.query_params
        text = (params.get("q") or "")[: MAX_CHARS * 4]
        everything = _flag(params.get("all"))
        cursor = Cursor.decode(params.get("after"))
        with runtime.sessions() as session:
            results = search(
                session,
                parse(text),
                relevant_only=not everything,
                after=cursor,
                limit=_limit(params.get("per_page")),
                cache=answers,
            )
        return text, everything, results

    def page(request: Request) -> Response:
        lang = "en" if negotiate(request) == "en" else "fr"
        text, everything, results = run(request)
        base = {"q": text} | ({"all": "1"} if everything else {})

        def with_q(extra: str) -> dict[str, str]:
            return base | {"q": f"{text.strip()} {extra}".strip()}

        facet_links = {
            name: [
                (value, count, with_q(_facet_filter(name, value))) for value, count in values[:12]
            ]
            for name, values in results.facets.items()
        }
        following = base | {"after": results.next.encode()} if results.next else None
        return pages.render(
            request,
            "search.html",
            active="search",
            w=WORDS[lang],
            q=text,
            everything=everything,
            results=results,
            facet_links=facet_links,
            following=following,
            feed_url="/feeds/search.atom?" + urlencode({"q": text}),
            feed_params=urlencode({"q": text} | ({"lang": "en"} if lang == "en" else {})),
            honeypot=HONEYPOT,
        )

    def api(request: Request) -> Response:
        text, everything, results = run(request)
        following = None
        if results.next is not None:
            params = dict(request.query_params) | {"after": results.next.encode()}
            following = f"{request.url.path}?{urlencode(params)}"
        body = {
            "q": text,
            "all": everything,
            "total": results.total,
            "total_capped": results.capped,
            "items": [hit_json(hit) for hit in results.hits],
            "facets": {
                name: [{"value": v, "count": c} for v, c in values]
                for name, values in results.facets.items()
            },
            "next": following,
        }
        return JSONResponse(body, headers=API_HEADERS)

    async def feed(request: Request) -> Response:
        fmt = request.path_params["fmt"]
        if fmt not in ("atom", "json"):
            return Response("no such feed\n", status_code=404, media_type="text/plain")
        lang = "en" if request.query_params.get("lang") == "en" else "fr"
        query = parse((request.query_params.get("q") or "")[: MAX_CHARS * 4])
        base_url = runtime.settings.base_url

        def build() -> bytes:
            with runtime.sessions() as session:
                # Feed readers poll the same searches again and again (the text is in the feed).
                key = (query.text, fmt, lang)
                return feeds.answer(session, key, lambda: document(session))

        def document(session: Session) -> bytes:
            items = search_items(session, query, lang, base_url)
            return search_document(query, items, fmt, lang, base_url)

        body = await run_in_threadpool(build)
        return Response(
            body, media_type=MEDIA_TYPES[fmt], headers={"Cache-Control": "public, max-age=60"}
        )

    return [
        Route("/search", page, name="search"),
        Route("/api/search", api, name="api_search"),
        Route("/feeds/search.{fmt}", feed, name="search_feed"),
    ]


def _facet_filter(name: str, value: str) -> str:
    """The query words a facet adds: `site:lesquin`, `after:2025 before:2025`."""
    if name == "year":
        return f"after:{value} before:{value}"
    return f"{FACET_FIELDS[name]}:{value}"
