"""Who profits: `/companies`, `/companies/<slug>`, their CSV, JSON API and feeds, and `/sites.svg`.

- `/companies` the companies with contracts at detention sites: contracts, totals per currency and
  kind of amount, sites, first and last award; `/companies.csv` the same table.
- `/companies/<slug>` every contract (procedure, site, buyer, date, amount and what it is, phase,
  links to the procedure page and to the stored evidence), a timeline, the company's identifiers and
  why its name variants are one company; a form to be alerted about its procedures.
- `/api/companies`, `/api/companies/<slug>` (OpenAPI in `/api/openapi.json`).
- `/feeds/companies/<slug>.atom` and `.json` (add `?lang=en`): the events of the procedures the
  company (or group) won, newest first.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from markupsafe import Markup
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from watcher.core.sanitize import spreadsheet_cell
from watcher.db.compiled import question_codes
from watcher.db.models import Company, CompanyContract
from watcher.pipeline.runtime import Runtime
from watcher.publish.catalog import LANGS
from watcher.publish.companies import (
    CompanyFeed,
    company_document,
    company_event_ids,
    render_feed,
)
from watcher.publish.pages import MEDIA_TYPES
from watcher.web import question_counts
from watcher.web.company_listing import (
    CompanyRow,
    amount_text,
    company_rows,
    contracts_of,
    find_company,
    procedure_lines,
    site_counts_by_slug,
)
from watcher.web.i18n import negotiate
from watcher.web.pages import Pages
from watcher.web.pictures import site_map, timelines, words
from watcher.web.steps import step_of

HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=60"}
WORDS = {
    "fr": {
        "title": "Entreprises",
        "intro": (
            "Les entreprises titulaires de marchés sur les lieux d'enfermement, d'après les avis "
            "d'attribution et les données essentielles (DECP). Les montants ne sont jamais "
            "additionnés entre devises ni entre natures de montant."
        ),
        "company": "Entreprise",
        "contracts": "Marchés",
        "totals": "Montants",
        "sites": "Sites",
        "first": "Première attribution",
        "last": "Dernière attribution",
        "group": "Groupe",
        "csv": "Télécharger le tableau (CSV)",
        "none": "Aucune entreprise pour l'instant.",
        "procedure": "Procédure",
        "site": "Site",
        "buyer": "Acheteur",
        "date": "Date",
        "amount": "Montant",
        "phase": "Phase",
        "evidence": "Preuve",
        "raw": "avis brut",
        "portal": "sur le portail",
        "identifiers": "Identifiants",
        "names": "Noms publiés",
        "why": "Pourquoi ces noms sont une seule entreprise",
        "subsidiaries": "Filiales",
        "feed": "Flux Atom de cette entreprise",
        "subscribe": "Recevoir un e-mail à chaque nouvel événement de ses procédures",
        "email": "Adresse e-mail",
        "send": "S'abonner",
        "methods": {
            "identifier": "même identifiant",
            "same_name": "même nom normalisé",
            "similar_name": "noms très proches",
            "override": "fichier companies.yaml",
        },
        "confidence": "confiance",
        "lot": "lot",
    },
    "en": {
        "title": "Companies",
        "intro": (
            "Companies holding contracts at detention sites, from award notices and contract data "
            "(DECP). Amounts are never added across currencies or across kinds of amount."
        ),
        "company": "Company",
        "contracts": "Contracts",
        "totals": "Amounts",
        "sites": "Sites",
        "first": "First award",
        "last": "Last award",
        "group": "Group",
        "csv": "Download the table (CSV)",
        "none": "No company yet.",
        "procedure": "Procedure",
        "site": "Site",
        "buyer": "Buyer",
        "date": "Date",
        "amount": "Amount",
        "phase": "Phase",
        "evidence": "Evidence",
        "raw": "raw notice",
        "portal": "on the portal",
        "identifiers": "Identifiers",
        "names": "Published names",
        "why": "Why these names are one company",
        "subsidiaries": "Subsidiaries",
        "feed": "Atom feed of this company",
        "subscribe": "Get an e-mail at each new event of its procedures",
        "email": "E-mail address",
        "send": "Subscribe",
        "methods": {
            "identifier": "same identifier",
            "same_name": "same normalised name",
            "similar_name": "very close names",
            "override": "companies.yaml file",
        },
        "confidence": "confidence",
        "lot": "lot",
    },
}


def _lang(request: Request) -> str:
    wanted = request.query_params.get("lang")
    return wanted if wanted in LANGS else negotiate(request)


def contract_json(contract: CompanyContract, lang: str = "en") -> dict[str, Any]:
    """The API's view of one contract."""
    notice, root = contract.notice, contract.procedure
    return {
        "company": contract.company.slug,
        "name_as_published": contract.name,
        "identifiers": contract.identifiers,
        "procedure": {
            "id": root.id,
            "title": (root.compiled or {}).get("title") or root.title,  # what it is now
            "html": f"/notices/{root.id}",
        },
        "notice": {
            "id": notice.id,
            "source": notice.source.name,
            "native_id": notice.native_id,
            "url": notice.url,
            "raw": f"/notices/{notice.id}/versions/{notice.version}/raw",
        },
        "site": contract.site,
        "buyer": notice.buyer or root.buyer,
        "awarded_on": contract.awarded_on.isoformat() if contract.awarded_on else None,
        "lot": contract.lot,
        "amount": contract.amount,
        "currency": contract.currency,
        "amount_kind": contract.amount_kind,
        "role": contract.role,  # winner | subcontractor (issue 24)
        "shared_by": contract.shared,
        "amount_text": amount_text(
            contract.amount, contract.currency, contract.amount_kind, lang, contract.shared
        ),
        "phase": step_of(notice.notice_type, phase=notice.phase),
    }


def routes(runtime: Runtime, pages: Pages) -> list[BaseRoute]:
    """The companies routes (placed before `/feeds/{path}` and `/sites/{slug}`)."""

    def listing(request: Request) -> Response:
        lang = _lang(request)
        with runtime.sessions() as session:
            rows = company_rows(session)
        return pages.render(
            request,
            "companies.html",
            active="companies",
            w=WORDS[lang],
            rows=rows,
            lang_code=lang,
        )

    def table_csv(request: Request) -> Response:
        lang = _lang(request)
        with runtime.sessions() as session:
            rows = company_rows(session)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [
                "slug",
                "name",
                "group",
                "contracts",
                "currency",
                "amount_kind",
                "total",
                "shared_amounts_not_totalled",
                "without_amount",
                "sites",
                "first_award",
                "last_award",
            ]
        )
        for row in rows:
            totals: list[tuple[tuple[str, str], float | None]] = [*sorted(row.totals.items())] or [
                (("", ""), None)
            ]
            for (currency, kind), value in totals:
                writer.writerow(
                    spreadsheet_cell(cell)
                    for cell in [
                        row.slug,
                        row.name,
                        row.parent or "",
                        row.contracts,
                        currency,
                        kind,
                        "" if value is None else f"{value:.2f}",
                        row.shared,
                        row.unknown,
                        " ".join(sorted(row.sites)),
                        row.first or "",
                        row.last or "",
                    ]
                )
        del lang
        return Response(
            out.getvalue().encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="companies.csv"', **HEADERS},
        )

    def company(request: Request) -> Response:
        lang = _lang(request)
        slug = str(request.path_params["slug"])
        with runtime.sessions() as session:
            found = find_company(session, slug)
            if found is None:
                return pages.error(request, 404)
            contracts = contracts_of(session, found)
            roots = list({c.procedure_notice_id: c.procedure for c in contracts}.values())
            asked = question_codes(session, {c.procedure_notice_id for c in contracts})
            question = question_counts.chosen(request.query_params)
            picture = timelines(procedure_lines(session, roots), lang, "company-timeline")
            row = CompanyRow(found.slug, found.name, found.parent)
            for contract in contracts:
                row.add(contract)
            subsidiaries = session.scalars(
                select(Company).where(Company.parent == found.slug).order_by(Company.name)
            ).all()
            parent = find_company(session, found.parent) if found.parent else None
            return pages.render(
                request,
                "company.html",
                active="companies",
                w=WORDS[lang],
                company=found,
                row=row,
                parent=parent,
                subsidiaries=subsidiaries,
                contracts=[
                    (c, contract_json(c, lang))
                    for c in contracts
                    if question is None or question in asked.get(c.procedure_notice_id, ())
                ],
                question_counts=question_counts.view(
                    question_counts.tally(" ".join(codes) for codes in asked.values()),
                    lang,
                    f"/companies/{found.slug}",
                    question,
                ),
                timeline_svg=Markup(picture),  # noqa: S704 - built from escaped parts
                phase_words=words(lang),
                lang_code=lang,
            )

    def api_list(request: Request) -> Response:
        with runtime.sessions() as session:
            rows = company_rows(session)
        return JSONResponse(
            {"items": [r.as_json() for r in rows], "total": len(rows)}, headers=HEADERS
        )

    def api_company(request: Request) -> Response:
        lang = "fr" if request.query_params.get("lang") == "fr" else "en"
        with runtime.sessions() as session:
            found = find_company(session, str(request.path_params["slug"]))
            if found is None:
                return JSONResponse({"error": "no such company"}, status_code=404, headers=HEADERS)
            contracts = contracts_of(session, found)
            row = CompanyRow(found.slug, found.name, found.parent)
            for contract in contracts:
                row.add(contract)
            body = row.as_json() | {
                "identifiers": found.identifiers,
                "names": found.names,
                "evidence": found.evidence,
                "confidence": found.confidence,
                "items": [contract_json(c, lang) for c in contracts],
            }
        return JSONResponse(body, headers=HEADERS)

    def feed(request: Request) -> Response:
        name = str(request.path_params["name"])
        slug, _, fmt = name.rpartition(".")
        if fmt not in ("atom", "json") or not slug:
            return Response("no such feed\n", status_code=404, media_type="text/plain")
        lang = (
            "en"
            if request.path_params.get("en") or request.query_params.get("lang") == "en"
            else "fr"
        )
        with runtime.sessions() as session:
            found = find_company(session, slug)
            if found is None:
                return Response("no such feed\n", status_code=404, media_type="text/plain")
            base_url = runtime.settings.base_url
            entry = CompanyFeed(found.slug, found.name, company_event_ids(session, found.slug))
            items = render_feed(session, entry, lang, base_url)
            body = company_document(entry, items, fmt, lang, base_url)
        return Response(
            body, media_type=MEDIA_TYPES[fmt], headers={"Cache-Control": "public, max-age=60"}
        )

    def feed_en(request: Request) -> Response:
        request.path_params["en"] = "en"
        return feed(request)

    def sites_svg(request: Request) -> Response:
        lang = _lang(request)
        with runtime.sessions() as session:
            counts = site_counts_by_slug(session)
        body = site_map(list(pages.sites.values()), counts, lang)
        return Response(body, media_type="image/svg+xml", headers=HEADERS)

    return [
        Route("/companies", pages.cache.wrap(listing), name="companies"),
        Route("/companies.csv", table_csv, name="companies_csv"),
        Route("/companies/{slug}", pages.cache.wrap(company), name="company"),
        Route("/api/companies", api_list, name="api_companies"),
        Route("/api/companies/{slug}", api_company, name="api_company"),
        Route("/feeds/companies/{name}", feed, name="company_feed"),
        Route("/feeds/en/companies/{name}", feed_en, name="company_feed_en"),
        Route("/sites.svg", sites_svg, name="sites_svg"),
    ]
