"""The public subscription pages: `/subscribe` (double opt-in), its confirmation, `/unsubscribe`.

- `GET /subscribe[?lang=en]` shows a form (no JavaScript needed): address, sites, event types,
  immediate or daily. `POST /subscribe` stores an *unconfirmed* subscription and e-mails a link to
  `/subscribe/confirm?token=…`; nothing is sent to the address until it is opened. The answer page
  is the same whether the address was new, pending or already subscribed: the form never reveals
  who is subscribed.
- `GET /unsubscribe?token=…` asks for a click (link scanners must not unsubscribe anyone);
  `POST /unsubscribe?token=…` unsubscribes and deletes the address. Mail clients use the same POST
  for RFC 8058 one-click unsubscribe (`List-Unsubscribe-Post: List-Unsubscribe=One-Click`).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from watcher.db.models import Subscriber
from watcher.db.session import session_scope
from watcher.errors import ConfigError, DeliveryError, WatcherError
from watcher.notify import make_mailer, utcnow
from watcher.notify import subscribers as subs
from watcher.notify.render import render_confirm, render_page, site_label
from watcher.notify.settings import load_notify_settings
from watcher.pipeline.runtime import Runtime
from watcher.publish.entries import TITLE_PREFIX

log = logging.getLogger("watcher.web.subscribe")
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Recevoir les alertes par e-mail",
        "home": "Accueil",
        "switch": "English",
        "intro": "Un e-mail à chaque nouvel avis ou changement (date limite, attribution, "
        "rectificatif…) concernant les lieux d'enfermement des personnes étrangères.",
        "email": "Votre adresse e-mail",
        "sites": "Sites",
        "sites_help": "Cochez les sites qui vous intéressent, ou aucun pour tout recevoir.",
        "events": "Événements",
        "events_help": "Cochez ceux qui vous intéressent, ou aucun pour tout recevoir.",
        "rhythm": "Rythme",
        "immediate": "Un e-mail par alerte, dès qu'elle arrive",
        "daily": "Un résumé par jour",
        "submit": "S'abonner",
        "privacy": "Votre adresse ne sert qu'à vous envoyer ces alertes ; elle n'est jamais "
        "publiée ni transmise. Chaque e-mail contient un lien de désabonnement.",
        "bad_email": "Cette adresse e-mail ne semble pas valide.",
        "bad_choice": "Un des choix envoyés n'existe pas ; rechargez la page.",
        "sent_title": "Vérifiez votre boîte mail",
        "sent_text": "Si cette adresse n'est pas encore abonnée, un e-mail de confirmation vient "
        "de lui être envoyé. Ouvrez le lien qu'il contient pour recevoir les alertes.",
        "down_title": "Envoi impossible pour l'instant",
        "down_text": "L'e-mail de confirmation n'a pas pu partir. Réessayez dans quelques minutes.",
        "off_text": "Les alertes par e-mail ne sont pas encore disponibles sur ce site.",
        "confirmed_title": "Abonnement confirmé",
        "confirmed_text": "Vous recevrez les prochaines alertes à cette adresse. Chaque e-mail "
        "contient un lien de désabonnement.",
        "invalid_title": "Lien non valide",
        "invalid_text": "Ce lien n'est pas ou plus valide (peut-être vous êtes-vous déjà "
        "désabonné·e).",
        "unsub_title": "Se désabonner",
        "unsub_text": "Vous ne recevrez plus aucune alerte, et votre adresse sera effacée.",
        "unsub_button": "Me désabonner",
        "unsubbed_title": "Vous êtes désabonné·e",
        "unsubbed_text": "Votre adresse a été effacée. Vous pouvez vous réabonner à tout moment.",
    },
    "en": {
        "title": "Get the alerts by e-mail",
        "home": "Home",
        "switch": "Français",
        "intro": "An e-mail for every new notice or change (deadline, award, corrigendum…) "
        "about places where foreigners are detained.",
        "email": "Your e-mail address",
        "sites": "Sites",
        "sites_help": "Tick the sites you care about, or none to receive everything.",
        "events": "Events",
        "events_help": "Tick the ones you care about, or none to receive everything.",
        "rhythm": "Rhythm",
        "immediate": "One e-mail per alert, as soon as it comes",
        "daily": "One digest a day",
        "submit": "Subscribe",
        "privacy": "Your address is only used to send you these alerts; it is never published "
        "or shared. Every e-mail has an unsubscribe link.",
        "bad_email": "This e-mail address does not look valid.",
        "bad_choice": "One of the choices sent does not exist; reload the page.",
        "sent_title": "Check your mailbox",
        "sent_text": "If this address is not subscribed yet, a confirmation e-mail has just been "
        "sent to it. Open its link to start receiving alerts.",
        "down_title": "Cannot send right now",
        "down_text": "The confirmation e-mail could not be sent. Please try again in a few minutes.",
        "off_text": "E-mail alerts are not available on this site yet.",
        "confirmed_title": "Subscription confirmed",
        "confirmed_text": "You will receive the next alerts at this address. Every e-mail has an "
        "unsubscribe link.",
        "invalid_title": "Invalid link",
        "invalid_text": "This link is not valid (any more); perhaps you already unsubscribed.",
        "unsub_title": "Unsubscribe",
        "unsub_text": "You will receive no more alerts, and your address will be erased.",
        "unsub_button": "Unsubscribe me",
        "unsubbed_title": "You are unsubscribed",
        "unsubbed_text": "Your address has been erased. You can subscribe again at any time.",
    },
}


def _lang(request: Request, form: Any = None) -> str:
    """`lang` from the form or the query, else the browser's preference, else French."""
    chosen = (form.get("lang") if form is not None else None) or request.query_params.get("lang")
    if chosen in TEXTS:
        return str(chosen)
    accept = request.headers.get("accept-language", "").lower()
    return "en" if accept.startswith("en") else "fr"


def _message(
    lang: str, title: str, text: str, status: int = 200, button: dict[str, str] | None = None
) -> Response:
    t = TEXTS[lang]
    body = render_page(
        "message",
        lang=lang,
        home=t["home"],
        title=t[title],
        paragraphs=[t[text]],
        button=button,
    )
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def routes(runtime: Runtime) -> list[BaseRoute]:
    """The subscription routes over `runtime`'s database and mail settings."""

    def known_sites() -> list[str]:
        try:
            return list(runtime.matcher.site_slugs)
        except WatcherError:  # no readable rules: the form offers no site choice
            return []

    def form_page(lang: str, *, error: str | None = None, values: Any = None) -> Response:
        t = TEXTS[lang]
        values = values or {}
        sites = sorted(((s, site_label(s) or s) for s in known_sites()), key=lambda x: x[1])
        body = render_page(
            "subscribe",
            lang=lang,
            other="en" if lang == "fr" else "fr",
            t=t,
            error=error,
            email=values.get("email", ""),
            sites=sites,
            chosen_sites=values.get("sites", ()),
            events=list(TITLE_PREFIX[lang].items()),
            chosen_events=values.get("events", ()),
            digest=values.get("digest"),
        )
        return HTMLResponse(body, status_code=400 if error else 200, headers=HEADERS)

    def request_and_send(address: str, filters: subs.Filters) -> str:
        """Store the pending subscription and send its confirmation; the page to show."""
        try:
            cfg = load_notify_settings()
            mailer = make_mailer(cfg)
        except WatcherError as exc:
            log.error("e-mail settings: %s", exc)
            return "off_text"
        if mailer is None:
            return "off_text"
        now = utcnow()
        with session_scope(runtime.sessions) as session:
            sub = subs.request(session, address, filters, now)
            if sub is None:
                return "sent_text"
            sub_id = sub.id
            base_url = runtime.settings.base_url
            message = render_confirm(sub, base_url=base_url, sender=cfg.sender(base_url), now=now)
        try:
            mailer.send(message)
        except DeliveryError as exc:
            log.warning(
                "confirmation for subscriber #%d not sent: %s", sub_id, subs.scrub(str(exc))
            )
            with session_scope(runtime.sessions) as session:
                pending = session.get(Subscriber, sub_id)
                if pending is not None:
                    pending.confirm_sent_at = None  # let the person try again at once
            return "down_text"
        finally:
            mailer.close()
        log.info("confirmation sent to subscriber #%d", sub_id)
        return "sent_text"

    async def subscribe(request: Request) -> Response:
        if request.method == "GET":
            return form_page(_lang(request))
        form = await request.form()
        lang = _lang(request, form)
        email = str(form.get("email") or "").strip()
        sites = [str(v) for v in form.getlist("site")]
        events = [str(v) for v in form.getlist("event")]
        digest = "daily" if form.get("digest") == "daily" else None
        values = {"email": email, "sites": sites, "events": events, "digest": digest}
        try:
            _address, channel = subs.parse_address(email)
        except ConfigError:
            channel = None
        if channel != "email":
            return form_page(lang, error=TEXTS[lang]["bad_email"], values=values)
        if set(sites) - set(known_sites()) or set(events) - set(subs.EVENT_TYPES):
            return form_page(lang, error=TEXTS[lang]["bad_choice"], values=values)
        filters = subs.Filters(sites=sites, events=events, lang=lang, digest=digest)
        outcome = await run_in_threadpool(request_and_send, email, filters)
        if outcome == "sent_text":
            return _message(lang, "sent_title", "sent_text")
        return _message(lang, "down_title", outcome, status=503)

    async def confirm(request: Request) -> Response:
        token = request.query_params.get("token", "")

        def run() -> str | None:
            with session_scope(runtime.sessions) as session:
                sub = subs.confirm(session, token, utcnow())
                if sub is None:
                    return None
                log.info("subscriber #%d confirmed", sub.id)
                return sub.lang

        lang = await run_in_threadpool(run)
        if lang is None:
            return _message(_lang(request), "invalid_title", "invalid_text", status=404)
        return _message(lang, "confirmed_title", "confirmed_text")

    async def unsubscribe(request: Request) -> Response:
        form = await request.form() if request.method == "POST" else None
        token = request.query_params.get("token") or str(
            (form.get("token") if form is not None else None) or ""
        )

        def run(remove: bool) -> str | None:
            with session_scope(runtime.sessions) as session:
                sub = subs.by_token(session, token)
                if sub is None:
                    return None
                lang = sub.lang
                if remove:
                    log.info("subscriber #%d unsubscribed", sub.id)
                    subs.remove(session, sub)
                return lang

        lang = await run_in_threadpool(run, request.method == "POST")
        if lang is None:
            return _message(_lang(request), "invalid_title", "invalid_text", status=404)
        if request.method == "POST":
            return _message(lang, "unsubbed_title", "unsubbed_text")
        button = {"action": "/unsubscribe", "token": token, "label": TEXTS[lang]["unsub_button"]}
        return _message(lang, "unsub_title", "unsub_text", button=button)

    return [
        Route("/subscribe", subscribe, methods=["GET", "POST"]),
        Route("/subscribe/confirm", confirm, methods=["GET"]),
        Route("/unsubscribe", unsubscribe, methods=["GET", "POST"]),
    ]
