"""PLACE and the other Atexo MPE platforms: current consultations, by keyword or by buyer.

Portal
    PLACE (marches-publics.gouv.fr), the State's platform, where the Ministry of the Interior puts
    its consultations and their documents, CRA construction and services included. Other
    platforms run the same Atexo MPE / PRADO software (Maximilien in Île-de-France and others)
    and work through `base_url`.

URL
    Results: `{base_url}/?page=Entreprise.EntrepriseAdvancedSearch&AllCons`, with
    `&keyWord={keyword}` or `&orgAcronyme={acronym}`. Next page: the results form posted back
    with its `PRADO_PAGESTATE` and
    `PRADO_POSTBACK_TARGET=ctl0$CONTENU_PAGE$resultSearch$PagerTop$ctl2`. Consultation:
    `{base_url}/?page=Entreprise.EntrepriseDetailsConsultation&refConsultation={id}&orgAcronyme={acr}`.

Caveats
    - No API: HTML only. A results page without the Atexo result markup is an error, never "no
      results", so a redesign is noticed.
    - The site ORs the words of a keyword: the matcher filters afterwards.
    - Lists hold current consultations only: there is no date window.
    - Polite: two seconds between requests unless `min_interval` says otherwise.
    - The buyer-scoped search (`&AllCons&orgAcronyme=`) is INFERRED; BOAMP data shows
      `&id=1&orgAcronyme=`.
    - The buyer is the entité publique and the entité d'achat together; the départements are every
      one of the place list, read whole from the `lieuxExecutionSuite` the page keeps in a comment.
    - The consultation page is read in its legacy layout (summary block `…_reference`,
      `…_intitule`, …); a field not found there keeps the value of the results row, and a
      consultation page that is gone (404) leaves the notice as the results row gave it.

Config keys
    - `base_url`: scheme and host of the platform (default `https://www.marches-publics.gouv.fr`;
      `https://marches.maximilien.fr` and other Atexo platforms work too).
    - `keywords`: one search each.
    - `organisations`: buyer acronyms such as `x7c`, one search each. With neither key, all
      current consultations.
    - `detail`: also read each consultation page for CPV, lots, documents and the full buyer
      name (default false).
    - `max_pages`: pages per search (default 20).

Phases (`watcher.core.phases`)
    a consultation is a tender (its reference is the procedure id), unless its notice
    type says prior information, corrigendum, award or cancellation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, quote, urlsplit

from pydantic import Field

from watcher.core import deadlines, places
from watcher.errors import ParseError
from watcher.records import NoticeRecord, PollWindow, RawPage, Unreadable
from watcher.sources.base import ApiSourceConfig, Source, read_each
from watcher.sources.http import Fetcher
from watcher.sources.scrape import (
    Follow,
    Request,
    absolute_url,
    clean,
    crawl,
    origin,
    parse_date,
    parse_datetime,
    parse_html,
    select_all,
    select_elements,
    select_first,
)

if TYPE_CHECKING:
    import lxml.html

SEARCH = "/?page=Entreprise.EntrepriseAdvancedSearch&AllCons"
DETAIL = "/?page=Entreprise.EntrepriseDetailsConsultation&refConsultation={ref}&orgAcronyme={org}"
DCE = (
    "/index.php?page=Entreprise.EntrepriseDemandeTelechargementDce"
    "&refConsultation={ref}&orgAcronyme={org}"
)
PAGER_NEXT = "ctl0$CONTENU_PAGE$resultSearch$PagerTop$ctl2"

ROW = "div.item_consultation.list-group-item"
# Result-row selectors (SEEN in public scrapers and in the recorded Maximilien pages).
ROW_FIELDS = {
    "ref": 'input[name$="$refCons"]@value',
    "org": 'input[name$="$orgCons"]@value',
    "procedure": ".cons_procedure abbr",
    "category": ".cons_categorie span",
    "reference": ".objet-line .small.pull-left:not(.truncate)",
    "title": ".objet-line .truncate span",
    "objet": '[id$="panelBlocObjet"] .small',
    "buyer": '[id$="panelBlocDenomination"] .small',
}
# The consultation summary block, by the end of its element ids (`ctl0_CONTENU_PAGE_ctl7_…` on
# the DCE page, `…_idEntrepriseConsultationSummary_…` on the legacy detail page).
SUMMARY_FIELDS = {
    "deadline": '[id$="_dateHeureLimiteRemisePlis"]',
    "reference": 'span[id$="_reference"]',
    "title": '[id$="_intitule"]',
    "objet": '[id$="_objet"]',
    "buyer": '[id$="_entiteAchat"]',
    "organisme": '[id$="_entitePublique"]',
    "procedure_label": '[id$="_typeProcedure"]',
    "category": '[id$="_categoriePrincipale"]',
    "cpv": '[id$="_idAtexoRef_scriptRef"]',
    "place": '[id$="_lieuxExecutions"]',
    "lots": '[id$="_nbrLots"]',
}
_DOCUMENT = re.compile(r"EntrepriseDownload|DemandeTelechargementDce|DownloadCompleteDce", re.I)
_CONSULTATION = re.compile(r"/entreprise/consultation/(\d+)\?(?:.*&)?orgAcronyme=(\w+)")
_CPV = re.compile(r"\b\d{8}\b")
# The whole place list, which the page shows cut short and keeps whole in an HTML comment
# (`<!--<div id="infosLeiExecution">…lieuxExecutionSuite">(67) Bas-Rhin, …</span>-->`, SEEN in
# samples/real: the CRA tender of Geispolsheim and Metz lists 57 only there).
_PLACE_SUITE = re.compile(r'lieuxExecutionSuite"[^>]*>([^<]+)<')


class PlaceConfig(ApiSourceConfig):
    """Keys of a `place` source."""

    base_url: str = "https://www.marches-publics.gouv.fr"
    keywords: list[str] = Field(default_factory=list)
    organisations: list[str] = Field(default_factory=list)
    detail: bool = False
    max_pages: int = Field(default=20, ge=1, le=500)


class PlaceSource(Source):
    """Consultations of an Atexo MPE platform, from its result pages (and consultation pages)."""

    kind = "place"
    Config = PlaceConfig
    min_interval: ClassVar[float] = 2.0

    config: PlaceConfig

    def search_urls(self) -> list[str]:
        """One results URL per keyword and per organisation; all consultations when none."""
        base = self.config.base_url + SEARCH
        urls = [f"{base}&keyWord={quote(k, safe='')}" for k in self.config.keywords]
        # INFERRED (SOURCES.md §3): BOAMP data links buyer lists as `&id=1&orgAcronyme=`; the
        # `&AllCons` form keeps the results markup this parser reads.
        urls += [f"{base}&orgAcronyme={quote(o, safe='')}" for o in self.config.organisations]
        return urls or [base]

    def fetch(self, fetcher: Fetcher, window: PollWindow) -> Iterator[RawPage]:
        seen: set[str] = set()
        for url in self.search_urls():
            yield from crawl(
                fetcher,
                Request(url),
                follow=self._follow,
                max_pages=self.config.max_pages,
                detail=self.config.detail,
                seen=seen,
            )

    def _follow(self, page: RawPage, number: int) -> Follow:
        root = parse_html(page.content, page.url, page.content_type)
        details: tuple[tuple[str, dict[str, Any]], ...] = ()
        if self.config.detail:
            base = origin(page.url) or self.config.base_url
            items = [_row(row, page.url) for row in select_elements(root, ROW)]
            details = tuple(
                (base + DETAIL.format(ref=i["ref"], org=i["org"]), i)
                for i in items
                if i.get("ref") and i.get("org")
            )
        total = select_first(root, '[id$="_nombrePageTop"]') or "1"
        state = select_first(root, 'input[name="PRADO_PAGESTATE"]@value')
        if not state or not total.isdigit() or number >= int(total):
            return Follow(details=details)
        action = select_first(root, 'form[name="main_form"]@action')
        data = {
            "PRADO_PAGESTATE": state,
            "PRADO_POSTBACK_TARGET": PAGER_NEXT,
            "PRADO_POSTBACK_PARAMETER": "",
        }
        return Follow(Request(absolute_url(page.url, action) or page.url, "POST", data), details)

    def parse(self, page: RawPage) -> Iterator[NoticeRecord | Unreadable]:
        base = origin(page.url) or self.config.base_url
        if page.meta.get("role") == "detail":
            item = dict(page.meta.get("item") or {})
            if page.content.strip():
                item = _merge(
                    item, _summary(parse_html(page.content, page.url, page.content_type), page.url)
                )
            yield from _records([item], base)
            return
        root = parse_html(page.content, page.url, page.content_type)
        rows = select_elements(root, ROW)
        if not rows:
            if select_first(root, SUMMARY_FIELDS["reference"]):  # a consultation page on its own
                yield from _records([_summary(root, page.url)], base)
                return
            if select_first(root, '[id$="_nombreElement"]') is None:
                raise ParseError(
                    f"{page.url}: no Atexo results list on this page (layout changed?)"
                )
            return
        if not page.meta.get("details_follow"):
            yield from _records([_row(row, page.url) for row in rows], base)


def _day(root: lxml.html.HtmlElement, block: str) -> str:
    parts = [select_first(root, f"{block} .{part} span") for part in ("day", "month", "year")]
    return " ".join(p for p in parts if p)


def _row(row: lxml.html.HtmlElement, url: str) -> dict[str, Any]:
    item: dict[str, Any] = {k: select_first(row, s) for k, s in ROW_FIELDS.items()}
    item["procedure_label"] = select_first(
        row, ".cons_procedure abbr@data-original-title"
    ) or select_first(row, ".cons_procedure abbr@title")
    item["place"] = select_first(row, ".lieux-exe [data-content]@data-content") or select_first(
        row, ".lieux-exe span span"
    )
    published = parse_date(_day(row, ".date-min"))
    item["published"] = published.isoformat() if published else None
    clock = select_first(row, ".cloture-line .time label") or ""
    deadline = parse_datetime(f"{_day(row, '.cloture-line')} {clock}".strip())
    item["deadline"] = deadline.isoformat() if deadline else None
    link = select_first(row, 'a[href*="/entreprise/consultation/"]@href')
    match = _CONSULTATION.search(link or "")
    if match:  # rows without the hidden inputs still name the consultation in their link
        item["ref"] = item["ref"] or match.group(1)
        item["org"] = item["org"] or match.group(2)
    item["documents"] = _documents(row, url)
    return item


def _summary(root: lxml.html.HtmlElement, url: str) -> dict[str, Any]:
    item: dict[str, Any] = {k: select_first(root, s) for k, s in SUMMARY_FIELDS.items()}
    # The buyer is the public entity and its purchasing entity ("Ministère de l'Intérieur —
    # MINT / SGAR / SGARE PFRA - Grand Est"): the second alone names no ministry (issue 13).
    entity, purchaser = clean(item.pop("organisme")), clean(item["buyer"])
    item["buyer"] = " — ".join(dict.fromkeys(p for p in (entity, purchaser) if p)) or None
    for comment in root.xpath("//comment()"):
        suite = _PLACE_SUITE.search(str(comment.text or ""))
        if suite and clean(suite.group(1)):
            item["place"] = clean(suite.group(1))
            break
    deadline = parse_datetime(item["deadline"])
    item["deadline"] = deadline.isoformat() if deadline else None
    item["cpv"] = _CPV.findall(item["cpv"] or "")
    action = select_first(root, 'form[name="main_form"]@action') or ""
    query = {**parse_qs(urlsplit(action).query), **parse_qs(urlsplit(url).query)}
    item["ref"] = next(iter(query.get("refConsultation", [])), None)
    item["org"] = next(iter(query.get("orgAcronyme", [])), None)
    documents = _documents(root, url)
    if item["ref"] and item["org"]:
        documents.append((origin(url) or "") + DCE.format(ref=item["ref"], org=item["org"]))
    item["documents"] = list(dict.fromkeys(documents))
    return item


def _documents(root: lxml.html.HtmlElement, url: str) -> list[str]:
    links = (absolute_url(url, href) for href in select_all(root, "a@href"))
    return list(dict.fromkeys(link for link in links if link and _DOCUMENT.search(link)))


def _merge(item: dict[str, Any], detail: dict[str, Any]) -> dict[str, Any]:
    merged = {**item, **{k: v for k, v in detail.items() if v not in (None, "", [])}}
    merged["ref"], merged["org"] = (
        item.get("ref") or detail["ref"],
        item.get("org") or detail["org"],
    )
    merged["documents"] = list(dict.fromkeys([*item.get("documents", []), *detail["documents"]]))
    return merged


def _local(deadline: str | None) -> str | None:
    """The deadline as the page prints it ("16/09/2020 12:00", Paris time), from its UTC form."""
    when = parse_datetime(deadline) if deadline else None
    return deadlines.from_instant(when).local if when else None


def _records(items: list[dict[str, Any]], base: str) -> Iterator[NoticeRecord | Unreadable]:
    return read_each(items, lambda item: _record(item, base))


def _record(item: dict[str, Any], base: str) -> NoticeRecord | None:
    ref, org = item.get("ref"), item.get("org")
    key = ref or item.get("reference")
    title = item.get("title") or item.get("objet") or item.get("reference")
    if not key or not title:
        return None
    procedure = item.get("procedure_label") or item.get("procedure")
    if item.get("procedure_label") and item.get("procedure"):
        procedure = f"{item['procedure_label']} ({item['procedure']})"
    lines = [
        item.get("objet") if item.get("objet") != title else None,
        f"Procédure : {procedure}" if procedure else None,
        f"Catégorie : {item['category']}" if item.get("category") else None,
        f"Lots : {item['lots']}" if item.get("lots") else None,
    ]
    published, deadline = item.get("published"), item.get("deadline")
    return NoticeRecord(
        native_id=f"{org}:{key}" if org else key,
        title=title,
        url=base + DETAIL.format(ref=ref, org=org) if ref and org else None,
        buyer=clean(item.get("buyer")),
        published=parse_date(published) if published else None,
        deadline=parse_datetime(deadline) if deadline else None,
        deadline_local=_local(deadline),
        deadline_zone="Europe/Paris" if deadline else None,
        cpv=tuple(item.get("cpv") or ()),
        place=clean(item.get("place")),
        departments=tuple(places.in_text(item.get("place"))),
        description="\n".join(line for line in lines if line) or None,
        documents=tuple(item.get("documents") or ()),
        procedure_id=item.get("reference"),
        language="fr",
        raw=json.dumps(item, ensure_ascii=False, sort_keys=True),
    )
