"""Pure rendering of events into what a reader sees: a title, an HTML summary, links.

Every output format (Atom, JSON Feed, e-mail, web pages) uses these texts, so a change reads the same
everywhere: "Date limite modifiée : Construction du CRA de Dunkerque".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from typing import Any

from watcher.core import values
from watcher.core.deadlines import shown
from watcher.core.diff import FIELD_LABELS, NOTICE_TYPE_LABELS
from watcher.core.diff import label as field_label
from watcher.core.linking import twin_key
from watcher.core.normalize import format_deadline, format_money, parse_datetime
from watcher.core.phases import OUTCOME_LABELS
from watcher.core.questions import SHORT_NAMES
from watcher.core.sanitize import plain_line

TITLE_PREFIX = {
    "fr": {
        "new": "Nouveau marché",
        "planned": "Avis de préinformation",
        "tender_published": "Appel d'offres publié",
        "changed": "Avis modifié",
        "deadline_moved": "Date limite modifiée",
        "corrigendum": "Rectificatif",
        "awarded": "Marché attribué",
        "contract_modified": "Marché modifié",
        "cancelled": "Procédure annulée",
        "documents_changed": "Documents modifiés",
        "deadline_soon": "Date limite proche",
        "question_raised": "Question à poser",
        "remedy_closing": "Délai de recours bientôt clos",
    },
    "en": {
        "new": "New tender",
        "planned": "Prior information",
        "tender_published": "Call for tenders published",
        "changed": "Notice changed",
        "deadline_moved": "Deadline moved",
        "corrigendum": "Corrigendum",
        "awarded": "Contract awarded",
        "contract_modified": "Contract modified",
        "cancelled": "Procedure cancelled",
        "documents_changed": "Documents changed",
        "deadline_soon": "Deadline soon",
        "question_raised": "Question to ask",
        "remedy_closing": "Remedy deadline closing",
    },
}

LABELS = {
    "fr": {
        "buyer": "Acheteur",
        "deadline": "Date limite",
        "type": "Type d'avis",
        "site": "Site",
        "source": "Source",
        "winners": "Titulaires",
        "link": "Voir l'avis sur le portail",
        "changes": "Ce qui a changé",
        "related": "Avis lié",
        "also": "Aussi publié sur",
        "twins": "Publié sur",
        "lots": "Lots",
        "value": "Montant estimé",
        "amounts": "Montants",
        "documents": "Documents",
        "similarity": "similarité",
        "page": "Historique et preuves sur ce site",
    },
    "en": {
        "buyer": "Buyer",
        "deadline": "Deadline",
        "type": "Notice type",
        "site": "Site",
        "source": "Source",
        "winners": "Winners",
        "link": "See the notice on the portal",
        "changes": "What changed",
        "related": "Related notice",
        "also": "Also published on",
        "twins": "Published on",
        "lots": "Lots",
        "value": "Estimated value",
        "amounts": "Amounts",
        "documents": "Documents",
        "similarity": "similarity",
        "page": "History and evidence on this site",
    },
}


# The snapshot keys `render_entry` reads: the feeds extract only these from the database, so a key
# read here must be listed here.
SNAPSHOT_KEYS: tuple[str, ...] = (
    "title",
    "buyer",
    "url",
    "deadline",
    "notice_type",
    "winners",
    "value",
    "currency",
    "deadline_local",
    "deadline_zone",
    "amounts",
    "outcome",
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One event ready for any output format."""

    key: str
    title: str
    link: str | None
    updated: dt.datetime
    html: str
    text: str
    kind: str
    site: str | None
    source: str
    categories: tuple[str, ...]
    # This site's page of the notice (its timeline and evidence), beside the portal's `link`.
    page: str | None = None


# French puts a (non-breaking) space before a colon, English does not: "Nouveau marché : …" but
# "New tender: …".
COLON = {"fr": " : ", "en": ": "}


@lru_cache(maxsize=1)
def _site_names() -> dict[str, str]:
    """Short names of the gazetteer's sites ("CRA de Dunkerque"); empty when it cannot be read."""
    import re  # noqa: PLC0415
    from importlib import resources  # noqa: PLC0415

    from watcher.core.yamlio import load_yaml  # noqa: PLC0415

    try:
        path = resources.files("watcher.match") / "rules" / "sites.yaml"
        data = load_yaml(path.read_text(encoding="utf-8"))
        sites = data.get("sites") or {}
        return {
            str(slug): re.split(r" \(|[;,]", str(entry["label"]), maxsplit=1)[0].strip()
            for slug, entry in sites.items()
            if isinstance(entry, dict) and entry.get("label")
        }
    except (OSError, ValueError, AttributeError):
        return {}


def site_name(slug: str | None) -> str | None:
    """A site's readable name ("CRA de Dunkerque"), the slug when the gazetteer has no label."""
    if not slug:
        return None
    return _site_names().get(slug) or slug


def render_entry(
    *,
    key: str,
    kind: str,
    created_at: dt.datetime,
    changes: list[dict[str, Any]],
    snapshot: dict[str, Any],
    site: str | None,
    source: str,
    lang: str = "fr",
    detail: dict[str, Any] | None = None,
    also: Sequence[Any] | None = None,
    page_url: str | None = None,
    site_name: str | None = None,
    procedure_title: str | None = None,
) -> Entry:
    """Render one event of one notice; pure, so it is tested without a database.

    `detail` names the other notice that made the event (a corrigendum, an award): the entry
    tells that notice's news (its type, its link as the main link, its own deadline, value, lots
    and documents), not the first notice's. `also` lists the same tender on other portals
    (`{"source", "url", "ref"}`), each linked. `procedure_title` is the procedure's current title
    (its compiled record, `watcher.core.compiled`), the entry's title when given. Only http(s)
    links are kept: a portal's `javascript:` stays out.
    """
    labels = LABELS[lang]
    facts_of = detail.get("facts") if isinstance(detail, dict) else None
    told_by_other = isinstance(detail, dict) and bool(detail.get("ref"))
    if isinstance(facts_of, dict):
        # The call for tenders: its own deadline, value, lots and documents.
        snapshot = {**snapshot, "deadline": facts_of.get("deadline") or snapshot.get("deadline")}
    elif told_by_other:
        # A corrigendum, an award: the first notice's deadline is not what this notice said
        # (a moved deadline is told by its change line).
        snapshot = {**snapshot, "deadline": None, "deadline_local": None}
    colon = COLON.get(lang, " : ")
    # Stored before bidi controls were removed at the store (issue 18): neutralised here too.
    name = plain_line(str(procedure_title or snapshot.get("title") or "")) or "?"
    prefix = TITLE_PREFIX[lang].get(kind, kind)
    told = detail.get("outcome") if isinstance(detail, dict) else None
    unsuccessful = OUTCOME_LABELS["fr"]["unsuccessful"]
    if kind in {"new", "cancelled", "awarded"} and (
        "unsuccessful" in (snapshot.get("outcome"), told)
        or any(c.get("field") == "outcome" and c.get("new") == unsuccessful for c in changes)
    ):
        prefix = OUTCOME_LABELS[lang]["unsuccessful"]  # never told as an award (issue 24)
    title = f"{prefix}{colon}{name}"
    facts: list[tuple[str, str]] = []
    if snapshot.get("buyer"):
        facts.append((labels["buyer"], snapshot["buyer"]))
    deadline = (
        shown(str(snapshot["deadline_local"]), snapshot.get("deadline_zone"))
        if snapshot.get("deadline_local")
        else _deadline_text(snapshot.get("deadline"))
    )
    # An event made by another notice (a corrigendum) moves the deadline of a version that still
    # holds the old one: the fact shows the new deadline, as the change line does.
    moved = [str(c["new"]) for c in changes if c.get("field") == "deadline" and c.get("new")]
    if moved and moved[-1] not in (deadline or ""):
        deadline = moved[-1]
    if deadline:
        facts.append((labels["deadline"], deadline))
    notice_type = snapshot.get("notice_type")
    if isinstance(detail, dict) and detail.get("notice_type"):
        notice_type = detail["notice_type"]  # the notice that made the event
    if isinstance(facts_of, dict):
        if facts_of.get("value"):  # a zero is not stated (issue 24)
            money = format_money(facts_of["value"], facts_of.get("currency"))
            facts.append((labels["value"], money or str(facts_of["value"])))
        if facts_of.get("lots"):
            facts.append((labels["lots"], str(len(facts_of["lots"]))))
        if facts_of.get("documents"):
            facts.append((labels["documents"], str(len(facts_of["documents"]))))
    if notice_type:
        facts.append((labels["type"], NOTICE_TYPE_LABELS[lang].get(notice_type, notice_type)))
    if not isinstance(facts_of, dict) and (stated := values.shown(snapshot, lang)):
        facts.append((labels["amounts"], stated))  # each amount with its kind (issue 24)
    if snapshot.get("winners"):
        facts.append((labels["winners"], ", ".join(snapshot["winners"])))
    if site:
        facts.append((labels["site"], site_name or site))
    facts.append((labels["source"], source))
    related = _related(detail)
    others_refs = {str(i.get("ref")) for i in also or [] if isinstance(i, dict)}
    twins = _twins(detail, also)
    if related and isinstance(detail, dict) and str(detail.get("ref")) in others_refs:
        related = None  # listed with the other portals below
    if twins:
        # The same award on two portals: both notices, in one order whichever came first.
        facts.append((labels["twins"], ", ".join(f"{n} {u}" for n, u in twins)))
    elif related:
        facts.append((labels["related"], related))
    lines = [
        f"{_label(c, lang)}{colon}{_question(c, lang)}"
        if c.get("code")
        else f"{_label(c, lang)}{colon}{c.get('old') or '—'} → {c.get('new') or '—'}"
        for c in changes
    ]
    fact_lines = [f"{k}{colon}{v}" for k, v in facts]
    html_parts = []
    if lines:
        items = "".join(f"<li>{escape(line)}</li>" for line in lines)
        html_parts.append(f"<p><strong>{escape(labels['changes'])}</strong></p><ul>{items}</ul>")
    html_parts.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in fact_lines) + "</ul>")
    link = _web_link(snapshot.get("url"))
    if told_by_other and isinstance(detail, dict):
        # The notice that made the event; the same news on several portals: the first of them
        # by portal and reference, whichever was polled first.
        link = (twins[0][1] if twins else None) or _web_link(detail.get("url")) or link
    if link:
        html_parts.append(
            f'<p><a href="{escape(link, quote=True)}">{escape(labels["link"])}</a></p>'
        )
    page = _web_link(page_url)
    if page:
        html_parts.append(
            f'<p><a href="{escape(page, quote=True)}">{escape(labels["page"])}</a></p>'
        )
    others = _elsewhere(also, labels["similarity"])
    if others:
        anchors = ", ".join(
            f'<a href="{escape(url, quote=True)}">{escape(name)}</a>' for name, url in others
        )
        html_parts.append(f"<p>{escape(labels['also'])}{colon}{anchors}</p>")
        fact_lines.append(f"{labels['also']}{colon}" + ", ".join(f"{n} {u}" for n, u in others))
    text = "\n".join([*lines, *fact_lines, *([page] if page else []), *([link] if link else [])])
    categories = tuple(x for x in (kind, site, source) if x)
    return Entry(
        # The English entry is another entry, with its own id (a reader that takes both feeds
        # shows both); the French ids stay as they always were.
        key=key if lang == "fr" else f"{key}:{lang}",
        title=title,
        link=link,
        updated=created_at,
        html="".join(html_parts),
        text=text,
        kind=kind,
        site=site,
        source=source,
        categories=categories,
        page=page,
    )


def _deadline_text(value: Any) -> str | None:
    """A snapshot's deadline as a reader sees it (`04/01/2027 12:00`, Paris time)."""
    if isinstance(value, str):
        return _deadline_of(value)  # every event is rendered in each language: parse it once
    return format_deadline(parse_datetime(value), with_time=True)


@lru_cache(maxsize=4096)
def _deadline_of(value: str) -> str | None:
    return format_deadline(parse_datetime(value), with_time=True)


def _label(change: dict[str, Any], lang: str) -> str:
    """A change's field name in `lang` (stored events carry the French one)."""
    field = change.get("field")
    if lang != "fr" and field in FIELD_LABELS:
        return field_label(field, lang)
    return str(change.get("label") or field or "?")


def _question(change: dict[str, Any], lang: str) -> str:
    """A raised question's short name in `lang` (stored events carry the French one)."""
    names = SHORT_NAMES.get(lang, SHORT_NAMES["fr"])
    return names.get(str(change["code"]), str(change.get("new") or change["code"]))


def _web_link(value: Any) -> str | None:
    text = str(value).strip() if value else ""
    return text if text.lower().startswith(("https://", "http://")) else None


def _elsewhere(also: Sequence[Any] | None, similar: str = "similarity") -> list[tuple[str, str]]:
    """(`ted 700001-2026`, link) for each other portal's notice of the same tender; one linked by
    similarity says so, with its confidence (`ted 700001-2026 (similarity 0.93)`)."""
    found = []
    for item in also or []:
        url = _web_link(item.get("url")) if isinstance(item, dict) else None
        if url and not item.get("twin_of"):  # another portal's award: in its event's entry
            name = " ".join(str(item[k]) for k in ("source", "ref") if item.get(k))
            if isinstance(item.get("confidence"), int | float):
                name += f" ({similar} {item['confidence']:.2f})"
            found.append((name or url, url))
    return found


def _twins(detail: dict[str, Any] | None, also: Sequence[Any] | None) -> list[tuple[str, str]]:
    """(`boamp 27-41000`, link) for the notice that made the event and each other portal's
    notice of the same news (`twin_of` in the procedure's links), sorted by portal and
    reference; empty when no other portal published it."""
    if not isinstance(detail, dict) or not detail.get("ref") or not detail.get("source"):
        return []
    key = twin_key(str(detail["source"]), str(detail["ref"]))
    items = [i for i in also or [] if isinstance(i, dict) and i.get("twin_of") == key]
    if not items:
        return []
    found = []
    for item in [detail, *items]:
        url = _web_link(item.get("url"))
        if url:
            found.append((str(item["source"]), str(item["ref"]), url))
    return [(f"{source} {ref}", url) for source, ref, url in sorted(found)]


def _related(detail: dict[str, Any] | None) -> str | None:
    """`26-81230 (boamp) https://…` for the notice named in an event's `detail`."""
    if not isinstance(detail, dict) or not detail.get("ref"):
        return None
    parts = [str(detail["ref"])]
    if detail.get("source"):
        parts.append(f"({detail['source']})")
    link = _web_link(detail.get("url"))
    if link:
        parts.append(link)
    return " ".join(parts)
