"""The public subscription pages: `/subscribe` (double opt-in), its confirmation, `/unsubscribe`.

- `GET /subscribe[?lang=en]` shows a form (no JavaScript needed): address, sites, event types,
  immediate or daily. `POST /subscribe` stores an *unconfirmed* subscription and e-mails a link to
  `/subscribe/confirm?token=…`; nothing is sent to the address until it is opened. The answer page
  is the same whether the address was new, pending or already subscribed: the form never reveals
  who is subscribed.
- Abuse (issue 17, `watcher.web.protect`): per-client and per-address limits answered by a 429
  page, at most one confirmation e-mail per address per 24 h, a site-wide hourly cap on them (the
  maintainers are told once when it is reached), a honeypot field, cross-site POSTs refused. The
  confirmation is stored and sent *after* the answer, so every accepted submission gets the same
  page in the same time: neither its text nor its timing says whether the address is known.
- `GET /subscribe/confirm?token=…` shows a button; only its `POST` confirms (mail filters open
  links). A confirmed link opened again says "already confirmed": the subscriber's new token is a
  signature of the confirmation token, so a used link is still recognised.
- `GET /unsubscribe?token=…` asks for a click (link scanners must not unsubscribe anyone);
  `POST /unsubscribe?token=…` unsubscribes and deletes the address; the same link opened again
  (for a day) says "already unsubscribed". Mail clients use the same POST
  for RFC 8058 one-click unsubscribe (`List-Unsubscribe-Post: List-Unsubscribe=One-Click`).
"""

from __future__ import annotations

import datetime as dt
import logging
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import urlsplit

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from watcher.companies.store import known_companies
from watcher.db import limits
from watcher.db.models import Subscriber
from watcher.db.session import session_scope
from watcher.errors import ConfigError, DeliveryError, WatcherError
from watcher.notify import make_mailer, utcnow
from watcher.notify import subscribers as subs
from watcher.notify.apprise_channel import AppriseChannel
from watcher.notify.render import render_confirm, site_label
from watcher.notify.settings import load_notify_settings
from watcher.pipeline.runtime import Runtime
from watcher.publish.entries import TITLE_PREFIX
from watcher.web.pages import Pages
from watcher.web.protect import (
    FORM_TOKEN,
    HONEYPOT,
    SECURITY_HEADERS,
    SubscribeSettings,
    Verdict,
    client_address,
    load_subscribe_settings,
    post_verdict,
    sign,
    site_secret,
    valid_form_token,
)

log = logging.getLogger("watcher.web.subscribe")
HEADERS = SECURITY_HEADERS
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
MAIL_CAP_KEY = "subscribe:mails"

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
        "honeypot": "Laissez ce champ vide",
        "limited_title": "Trop de demandes",
        "limited_text": "Trop de demandes d'abonnement sont venues d'ici ou pour cette adresse. "
        "Réessayez dans une heure (ou demain pour une même adresse).",
        "confirm_title": "Confirmer l'abonnement",
        "confirm_text": "Appuyez sur le bouton pour recevoir les alertes à cette adresse.",
        "confirm_button": "Confirmer mon abonnement",
        "already_title": "Abonnement déjà confirmé",
        "already_text": "Cet abonnement est déjà confirmé : les prochaines alertes arriveront à "
        "cette adresse. Chaque e-mail contient un lien de désabonnement.",
        "gone_title": "Désabonnement déjà fait",
        "gone_text": "Vous ne recevez plus d'alertes et votre adresse a été effacée. Vous pouvez "
        "vous réabonner quand vous voulez.",
        "again_text": "Votre navigateur n'a pas dit d'où venait ce formulaire : vérifiez les "
        "informations et appuyez encore sur le bouton.",
        "foreign_title": "Demande refusée",
        "foreign_text": "Ce formulaire a été envoyé depuis un autre site. Ouvrez la page "
        "d'abonnement de ce site et réessayez.",
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
        "honeypot": "Leave this field empty",
        "limited_title": "Too many requests",
        "limited_text": "Too many subscription requests came from here or for this address. "
        "Please try again in an hour (or tomorrow for the same address).",
        "confirm_title": "Confirm the subscription",
        "confirm_text": "Press the button to receive the alerts at this address.",
        "confirm_button": "Confirm my subscription",
        "already_title": "Subscription already confirmed",
        "already_text": "This subscription is already confirmed: the next alerts will come to "
        "this address. Every e-mail has an unsubscribe link.",
        "gone_title": "Already unsubscribed",
        "gone_text": "You receive no more alerts and your address has been erased. You can "
        "subscribe again at any time.",
        "again_text": "Your browser did not say where this form came from: check the details "
        "and press the button again.",
        "foreign_title": "Request refused",
        "foreign_text": "This form was sent from another site. Open this site's subscription "
        "page and try again.",
    },
}


def _lang(request: Request, form: Any = None) -> str:
    """`lang` from the form or the query, else the browser's preference, else French."""
    chosen = (form.get("lang") if form is not None else None) or request.query_params.get("lang")
    if chosen in TEXTS:
        return str(chosen)
    accept = request.headers.get("accept-language", "").lower()
    return "en" if accept.startswith("en") else "fr"


def mail_configured() -> bool:
    """Whether confirmation e-mails can be sent (`WATCHER_SMTP_URL` set and valid): when not,
    the page explains and points at the feeds instead of showing a form that ends in a 503."""
    try:
        return load_notify_settings().smtp_url is not None
    except WatcherError:
        return False


GMAIL = frozenset({"gmail.com", "googlemail.com"})


def _mailbox(address: str) -> str:
    """The mailbox an address reaches, for the per-address limit: `victim+1@…` and `victim+2@…`
    land in the same inbox, and so do Gmail's dot spellings (`v.i.c.tim@gmail.com`,
    `victim@googlemail.com`, issue 26), so they share one limit."""
    local, at, domain = address.lower().partition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return local + at + domain


def routes(runtime: Runtime) -> list[BaseRoute]:
    """The subscription routes over `runtime`'s database and mail settings."""

    def known_sites() -> list[str]:
        try:
            return list(runtime.matcher.site_slugs)
        except WatcherError:  # no readable rules: the form offers no site choice
            return []

    pages = Pages(runtime)

    def key() -> bytes:
        return site_secret(runtime.settings)

    def client_of(request: Request) -> str:
        return client_address(request, load_subscribe_settings().proxies())

    def verdict(request: Request, form: Any) -> Verdict:
        """What the browser says about where this POST comes from (`post_verdict`)."""
        sent = str(form.get(FORM_TOKEN) or "")
        token_ok = valid_form_token(key(), client_of(request), sent)
        return post_verdict(request, runtime.settings.base_url, token_ok=token_ok)

    def button(request: Request, action: str, token: str, label: str) -> dict[str, str]:
        return {"action": action, "token": token, "label": label}

    def message(
        request: Request,
        lang: str,
        title: str,
        text: str,
        status: int = 200,
        button: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> Response:
        """A page of the flow, in the site's frame (its menu, its footer)."""
        t = TEXTS[lang]
        page = pages.render(
            request,
            "message.html",
            status=status,
            lang=lang,
            active="subscribe",
            title=t[title],
            paragraphs=[t[text]],
            button=button,
        )
        page.headers.update({**HEADERS, **(headers or {})})
        page.background = background
        return page

    def form_page(
        request: Request, lang: str, *, error: str | None = None, values: Any = None
    ) -> Response:
        t = TEXTS[lang]
        values = values or {}
        sites = sorted(((s, site_label(s) or s) for s in known_sites()), key=lambda x: x[1])
        page = pages.render(
            request,
            "subscribe.html",
            status=400 if error else 200,
            lang=lang,
            active="subscribe",
            s=t,
            error=error,
            email=values.get("email", ""),
            sites=sites,
            chosen_sites=values.get("sites", ()),
            events=list(TITLE_PREFIX[lang].items()),
            chosen_events=values.get("events", ()),
            digest=values.get("digest"),
            mail_on=mail_configured(),
        )
        page.headers.update(HEADERS)
        return page

    def mailer_or_off() -> str | None:
        """None when confirmation e-mails can be sent; else the page text that says why not."""
        try:
            return None if make_mailer(load_notify_settings()) is not None else "off_text"
        except WatcherError as exc:
            log.error("e-mail settings: %s", exc)
            return "off_text"

    def over_limit(client: str, address: str, conf: SubscribeSettings) -> bool:
        """Count this submission for its client and its address; True when either is over."""
        now = utcnow()
        with session_scope(runtime.sessions) as session:
            # Sliding windows: posts straddling the hour count together (issue 26).
            by_client = limits.hit_sliding(
                session, limits.key("subscribe:client", client), HOUR, now
            )
            if by_client > conf.subscribe_per_client:
                return True
            # Keyed by a signature, not a bare hash: the counters do not hold a guessable
            # fingerprint of an address.
            mailbox = sign(key(), "address", _mailbox(address))
            by_address = limits.hit_sliding(
                session, limits.key("subscribe:address", mailbox), DAY, now
            )
            return by_address > conf.subscribe_per_address

    def request_and_send(address: str, filters: subs.Filters, conf: SubscribeSettings) -> str:
        """Store the pending subscription and send its confirmation (after the answer went out);
        what happened, for the log and the tests."""
        try:
            cfg = load_notify_settings()
            mailer = make_mailer(cfg)
        except WatcherError as exc:
            log.error("e-mail settings: %s", exc)
            return "off"
        if mailer is None:
            return "off"
        now = utcnow()
        try:
            with session_scope(runtime.sessions) as session:
                sub = subs.request(session, address, filters, now)
                if sub is None:
                    return "nothing to send"
                sub_id = sub.id
                sent = limits.hit(session, MAIL_CAP_KEY, HOUR, now)
                if sent > conf.subscribe_mails_per_hour:
                    sub.confirm_sent_at = None  # the person may try again later
                    capped = sent == conf.subscribe_mails_per_hour + 1
                else:
                    capped = None
                    base_url = runtime.settings.base_url
                    message = render_confirm(
                        sub, base_url=base_url, sender=cfg.sender(base_url), now=now
                    )
            if capped is not None:
                log.warning("confirmation for subscriber #%d not sent: hourly cap reached", sub_id)
                if capped:
                    tell_cap(conf, cfg, mailer, now)
                return "capped"
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
                return "down"
        finally:
            mailer.close()
        log.info("confirmation sent to subscriber #%d", sub_id)
        return "sent"

    def tell_cap(conf: SubscribeSettings, cfg: Any, mailer: Any, now: dt.datetime) -> None:
        """Tell the maintainers, once per hour whichever instance hits it, that the cap is hit."""
        subject = "[detention-watcher] confirmation e-mails capped"
        body = (
            f"The subscription form asked for more than {conf.subscribe_mails_per_hour} "
            "confirmation e-mails this hour (WATCHER_SUBSCRIBE_MAILS_PER_HOUR); the others are "
            "not sent until the next hour. Someone may be abusing the form: check the web "
            "server's log for the clients that got 429 answers."
        )
        log.error("subscription form: hourly cap of confirmation e-mails reached")
        base_url = runtime.settings.base_url
        for target in cfg.maintainer_targets():
            try:
                if "://" in target:
                    AppriseChannel().send(target, subject, body)
                    continue
                message = EmailMessage()
                message["From"] = cfg.sender(base_url)
                message["To"] = target
                message["Subject"] = subject
                message["Date"] = format_datetime(now)
                message["Message-ID"] = make_msgid(
                    domain=urlsplit(base_url).hostname or "localhost"
                )
                message["Auto-Submitted"] = "auto-generated"
                message.set_content(body)
                mailer.send(message)
            except DeliveryError as exc:
                log.warning("maintainers' alert not delivered to %s: %s", subs.mask(target), exc)

    def sent_in_background(address: str, filters: subs.Filters, conf: SubscribeSettings) -> None:
        try:
            outcome = request_and_send(address, filters, conf)
        except Exception:  # the answer is gone already: log, never raise into the server
            log.exception("subscription request failed")
            return
        log.debug("subscription request: %s", outcome)

    async def subscribe(request: Request) -> Response:
        if request.method == "GET":
            chosen = [s for s in request.query_params.getlist("site") if s in known_sites()]
            return form_page(request, _lang(request), values={"sites": chosen})
        form = await request.form()
        lang = _lang(request, form)
        seen = verdict(request, form)
        if seen == "foreign":
            return message(request, lang, "foreign_title", "foreign_text", status=403)
        conf = load_subscribe_settings()
        email = str(form.get("email") or "").strip()[:320]
        sites = [str(v) for v in form.getlist("site")]
        companies = [str(v) for v in form.getlist("company")]  # from a company's page
        events = [str(v) for v in form.getlist("event")]
        digest = "daily" if form.get("digest") == "daily" else None
        query = str(form.get("query") or "").strip() or None  # from a search page (issue 27)
        values = {"email": email, "sites": sites, "events": events, "digest": digest}
        try:
            address, channel = subs.parse_address(email)
        except ConfigError:
            address, channel = email, None
        client = client_address(request, conf.proxies())
        if await run_in_threadpool(over_limit, client, address.lower(), conf):
            log.warning("subscription form: too many requests (client %s)", client)
            return message(
                request,
                lang,
                "limited_title",
                "limited_text",
                status=429,
                headers={"Retry-After": "3600"},
            )
        if seen == "unsure":  # nothing sent: the same form again, filled in, with a fresh token
            return form_page(request, lang, error=TEXTS[lang]["again_text"], values=values)
        if form.get(HONEYPOT):
            log.info("subscription form: honeypot filled (client %s); nothing sent", client)
            return message(request, lang, "sent_title", "sent_text")
        if channel != "email":
            return form_page(request, lang, error=TEXTS[lang]["bad_email"], values=values)
        if set(sites) - set(known_sites()) or set(events) - set(subs.EVENT_TYPES):
            return form_page(request, lang, error=TEXTS[lang]["bad_choice"], values=values)
        if companies and not await run_in_threadpool(known_companies, runtime, companies):
            return form_page(request, lang, error=TEXTS[lang]["bad_choice"], values=values)
        off = await run_in_threadpool(mailer_or_off)
        if off is not None:
            return message(request, lang, "down_title", off, status=503)
        filters = subs.Filters(
            sites=sites, events=events, lang=lang, digest=digest, companies=companies, query=query
        )
        task = BackgroundTask(run_in_threadpool, sent_in_background, address, filters, conf)
        return message(request, lang, "sent_title", "sent_text", background=task)

    async def confirm(request: Request) -> Response:
        form = await request.form() if request.method == "POST" else None
        token = request.query_params.get("token") or str(
            (form.get("token") if form is not None else None) or ""
        )
        seen = verdict(request, form) if form is not None else None
        if seen == "foreign":
            return message(
                request, _lang(request, form), "foreign_title", "foreign_text", status=403
            )
        used = sign(key(), "confirmed", token)  # the subscriber's token once this one is used

        def run(spend: bool) -> tuple[str, str | None]:
            now = utcnow()
            ttl = dt.timedelta(hours=load_subscribe_settings().subscribe_token_hours)
            with session_scope(runtime.sessions) as session:
                sub = subs.by_token(session, token)
                if sub is not None and subs.confirmable(sub, now, ttl):
                    if not spend:
                        return "ask", sub.lang
                    subs.confirm(session, token, now, ttl, next_token=used)
                    log.info("subscriber #%d confirmed", sub.id)
                    return "confirmed", sub.lang
                done = subs.by_token(session, used) if token else None
                if done is not None and done.confirmed:
                    return "already", done.lang
                return "invalid", None

        state, lang = await run_in_threadpool(run, seen == "ok")
        if lang is None:
            return message(request, _lang(request), "invalid_title", "invalid_text", status=404)
        if state == "ask":
            text = "again_text" if seen == "unsure" else "confirm_text"
            t = TEXTS[lang]
            ask = button(request, "/subscribe/confirm", token, t["confirm_button"])
            return message(request, lang, "confirm_title", text, button=ask)
        if state == "already":
            return message(request, lang, "already_title", "already_text")
        return message(request, lang, "confirmed_title", "confirmed_text")

    async def unsubscribe(request: Request) -> Response:
        form = await request.form() if request.method == "POST" else None
        seen = verdict(request, form) if form is not None else None
        if seen == "foreign":
            return message(
                request, _lang(request, form), "foreign_title", "foreign_text", status=403
            )
        token = request.query_params.get("token") or str(
            (form.get("token") if form is not None else None) or ""
        )
        # A day-long mark that this link was used, to say "already unsubscribed" when it is
        # opened again (a signature of the token: nothing that names the person).
        gone = limits.key("unsubscribed", sign(key(), "unsubscribed", token))

        def run(remove: bool) -> tuple[str, str | None]:
            now = utcnow()
            with session_scope(runtime.sessions) as session:
                sub = subs.by_token(session, token)
                if sub is None:
                    if token and limits.count(session, gone, DAY, now):
                        return "gone", None
                    return "invalid", None
                lang = sub.lang
                if remove:
                    log.info("subscriber #%d unsubscribed", sub.id)
                    subs.remove(session, sub)
                    limits.hit(session, gone, DAY, now)
                    return "removed", lang
                return "ask", lang

        state, lang = await run_in_threadpool(run, seen == "ok")
        if state == "gone":
            return message(request, _lang(request, form), "gone_title", "gone_text")
        if lang is None:
            return message(request, _lang(request), "invalid_title", "invalid_text", status=404)
        if state == "removed":
            return message(request, lang, "unsubbed_title", "unsubbed_text")
        ask = button(request, "/unsubscribe", token, TEXTS[lang]["unsub_button"])
        text = "again_text" if seen == "unsure" else "unsub_text"
        return message(request, lang, "unsub_title", text, button=ask)

    return [
        Route("/subscribe", subscribe, methods=["GET", "POST"]),
        Route("/subscribe/confirm", confirm, methods=["GET", "POST"]),
        Route("/unsubscribe", unsubscribe, methods=["GET", "POST"]),
    ]
