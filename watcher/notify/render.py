"""Rendering alerts: events → e-mails (text + HTML, from Jinja2 templates) and channel messages.

The reader-facing texts of an event come from `watcher.publish.entries.render_entry`, shared with
the feeds, so an alert reads like the feed entry. French by default, English per subscriber. Pure:
no database, no clock (the caller passes `now`), no sending.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from watcher.core.sanitize import plain_line
from watcher.publish.entries import TITLE_PREFIX, Entry, render_entry, site_name

if TYPE_CHECKING:
    from watcher.db.models import Event, Subscriber

_ENV = Environment(
    loader=PackageLoader("watcher.notify", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
PROJECT = "detention-watcher"
_SUBJECT_TITLE_MAX = 160

STRINGS: dict[str, dict[str, str]] = {
    "fr": {
        "colon": " : ",
        "semicolon": " ; ",
        "portal": "L'avis sur le portail",
        "page": "Notre page sur cet avis",
        "why": "Vous recevez ce message parce que vous êtes abonné·e aux alertes de",
        "filters": "vos filtres",
        "all_sites": "tous",
        "all_sources": "toutes",
        "all_events": "tous",
        "sites": "sites",
        "sources": "sources",
        "events": "événements",
        "companies": "entreprises",
        "unsubscribe": "Se désabonner",
        "digest": "Résumé du jour",
        "more_subject": "{n} alertes de plus en une fois",
        "more_intro": "Trop d'alertes sont venues en une fois pour les envoyer une à une : "
        "en voici {n} ensemble ({shown} ci-dessous). La liste complète des avis",
        "alerts": "alertes",
        "alert": "alerte",
        "confirm_subject": "Confirmez votre abonnement aux alertes",
        "confirm_intro": "Quelqu'un (sans doute vous) a demandé à recevoir les alertes de",
        "confirm_action": "Pour confirmer, ouvrez ce lien",
        "confirm_button": "Confirmer mon abonnement",
        "confirm_ignore": "Si vous n'avez rien demandé, ignorez ce message : "
        "sans confirmation, vous ne recevrez rien.",
    },
    "en": {
        "colon": ": ",
        "semicolon": "; ",
        "portal": "The notice on the portal",
        "page": "Our page about this notice",
        "why": "You receive this message because you subscribed to the alerts of",
        "filters": "your filters",
        "all_sites": "all",
        "all_sources": "all",
        "all_events": "all",
        "sites": "sites",
        "sources": "sources",
        "events": "events",
        "companies": "companies",
        "unsubscribe": "Unsubscribe",
        "digest": "Daily digest",
        "more_subject": "{n} more alerts at once",
        "more_intro": "Too many alerts came at once to send them one by one: here are {n} "
        "together ({shown} below). The full list of notices",
        "alerts": "alerts",
        "alert": "alert",
        "confirm_subject": "Confirm your alert subscription",
        "confirm_intro": "Someone (probably you) asked to receive the alerts of",
        "confirm_action": "To confirm, open this link",
        "confirm_button": "Confirm my subscription",
        "confirm_ignore": "If you did not ask for anything, ignore this message: "
        "without confirmation you will receive nothing.",
    },
}


def site_label(slug: str | None) -> str | None:
    """A readable name for a site slug, the slug itself when the gazetteer has no label."""
    return site_name(slug)


@dataclass(frozen=True)
class AlertItem:
    """One event as an alert shows it."""

    key: str
    entry: Entry
    site: str | None
    source: str
    body_text: str
    body_html: Markup
    portal_url: str | None
    page_url: str


def alert_item(
    event: Event, lang: str, base_url: str, procedure: dict[str, Any] | None = None
) -> AlertItem:
    """The alert view of a stored event (its notice and source must be loaded): the news of the
    notice that made it (`Event.detail`), with its procedure's current title (`procedure`, the
    compiled record), as its feed entry tells it."""
    entry = render_entry(
        key=event.key,
        kind=event.type,
        created_at=event.created_at,
        changes=event.changes,
        snapshot=event.notice.snapshot,
        site=event.site,
        source=event.notice.source.name,
        lang=lang,
        detail=event.detail,
        also=event.notice.also,
        site_name=site_label(event.site),
        procedure_title=(procedure or event.notice.compiled or {}).get("title"),
    )
    text = entry.text
    if entry.link:  # the portal link gets its own labelled line below
        text = text.removesuffix(entry.link).rstrip()
    return AlertItem(
        key=event.key,
        entry=entry,
        site=site_label(event.site),
        source=event.notice.source.name,
        body_text=text,
        body_html=Markup(entry.html),  # noqa: S704 - render_entry escapes every value it inserts
        portal_url=entry.link,
        page_url=f"{base_url}/notices/{event.notice.id}",
    )


def alert_subject(item: AlertItem) -> str:
    """ "CRA de Dunkerque — Date limite modifiée : Construction du …": the site, what happened."""
    title = plain_line(item.entry.title)  # no bidi override may disguise it (issue 18)
    if len(title) > _SUBJECT_TITLE_MAX:
        title = title[: _SUBJECT_TITLE_MAX - 1].rstrip() + "…"
    return f"{plain_line(item.site or item.source)} — {title}"


def digest_subject(items: Sequence[AlertItem], lang: str) -> str:
    """ "Résumé du jour : 3 alertes (CRA de Dunkerque, CRA de Lille-Lesquin)"."""
    t = STRINGS[lang]
    names = list(dict.fromkeys(i.site or i.source for i in items))
    shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
    noun = t["alert"] if len(items) == 1 else t["alerts"]
    return f"{t['digest']}{t['colon']}{len(items)} {noun} ({shown})"


def filters_text(sub: Subscriber) -> str:
    """The subscriber's filters in their language, for the footer."""
    t = STRINGS[sub.lang]
    kinds = [TITLE_PREFIX[sub.lang].get(e, e) for e in sub.events]
    c = t["colon"]
    parts = [
        f"{t['sites']}{c}{', '.join(site_label(s) or s for s in sub.sites) or t['all_sites']}",
        f"{t['sources']}{c}{', '.join(sub.sources) or t['all_sources']}",
        f"{t['events']}{c}{', '.join(kinds) or t['all_events']}",
    ]
    if sub.companies:  # only the procedures these companies (or groups) won
        parts.append(f"{t['companies']}{c}{', '.join(sub.companies)}")
    return t["semicolon"].join(parts)


def unsubscribe_url(base_url: str, token: str) -> str:
    """The one-click unsubscribe link of a subscriber."""
    return f"{base_url}/unsubscribe?token={quote(token)}"


def _message(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    base_url: str,
    now: dt.datetime,
    lang: str,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=urlsplit(base_url).hostname or "localhost")
    message["Content-Language"] = lang
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def render_alert(
    items: Sequence[AlertItem],
    sub: Subscriber,
    *,
    base_url: str,
    sender: str,
    now: dt.datetime,
    digest: bool = False,
    more: int = 0,
) -> EmailMessage:
    """One alert (or a digest of several) for one subscriber: multipart text + HTML. With
    `more`, the digest of a round's alerts beyond its cap: `more` alerts in all, the first
    `items` listed, and a link to the list of the latest notices.

    Every alert carries `List-Unsubscribe` and `List-Unsubscribe-Post` (RFC 8058 one-click).
    """
    lang = sub.lang
    name = "digest" if digest else "alert"
    context: dict[str, Any] = {
        "t": STRINGS[lang],
        "lang": lang,
        "items": items,
        "item": items[0],
        "project": PROJECT,
        "base_url": base_url,
        "filters": filters_text(sub),
        "unsubscribe_url": unsubscribe_url(base_url, sub.token),
        "more": more,
        "list_url": f"{base_url}/",
    }
    subject = digest_subject(items, lang) if digest else alert_subject(items[0])
    if more:
        subject = STRINGS[lang]["more_subject"].format(n=more)
    context["subject"] = subject
    message = _message(
        sender=sender,
        to=sub.address,
        subject=subject,
        text=_ENV.get_template(f"{name}.txt").render(context),
        html=_ENV.get_template(f"{name}.html").render(context),
        base_url=base_url,
        now=now,
        lang=lang,
    )
    host = urlsplit(base_url).hostname or "localhost"
    message["List-Id"] = f"{PROJECT} alerts <alerts.{host}>"
    message["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["X-Watcher-Events"] = " ".join(i.key for i in items)
    return message


def render_confirm(
    sub: Subscriber, *, base_url: str, sender: str, now: dt.datetime
) -> EmailMessage:
    """The double opt-in e-mail: a link that confirms the subscription."""
    t = STRINGS[sub.lang]
    context = {
        "t": t,
        "lang": sub.lang,
        "project": PROJECT,
        "base_url": base_url,
        "filters": filters_text(sub),
        "confirm_url": f"{base_url}/subscribe/confirm?token={quote(sub.token)}",
    }
    return _message(
        sender=sender,
        to=sub.address,
        subject=f"{t['confirm_subject']} — {PROJECT}",
        text=_ENV.get_template("confirm.txt").render(context),
        html=_ENV.get_template("confirm.html").render(context),
        base_url=base_url,
        now=now,
        lang=sub.lang,
    )


def render_channel(items: Sequence[AlertItem], lang: str) -> tuple[str, str]:
    """(title, body) of a chat message (Apprise) about one event or a digest."""
    title = digest_subject(items, lang) if len(items) > 1 else alert_subject(items[0])
    body = _ENV.get_template("channel.txt").render(t=STRINGS[lang], items=items)
    return title, body.strip()


def render_maintainer(source: str, kind: str, reason: str) -> tuple[str, str]:
    """(subject, body) of an alert to the maintainers about a source in trouble."""
    what = "is failing" if kind == "failing" else "looks broken"
    subject = f"[{PROJECT}] source {source} {what}"
    body = _ENV.get_template("maintainer.txt").render(source=source, kind=kind, reason=reason)
    return subject, body


def render_maintainer_email(
    source: str, kind: str, reason: str, *, to: str, sender: str, base_url: str, now: dt.datetime
) -> EmailMessage:
    """The maintainers' alert as a plain-text e-mail."""
    subject, body = render_maintainer(source, kind, reason)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=urlsplit(base_url).hostname or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message
