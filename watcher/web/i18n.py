"""The site's words in French (the default) and English.

The language is `?lang=fr|en` when given (links then carry it along), else the browser's
`Accept-Language`, else French. Event, notice-type and field names come from the modules that
already name them for the feeds (`publish.entries`, `diff`), so a change reads the same everywhere.
"""

from __future__ import annotations

from starlette.requests import Request

from watcher.core.diff import NOTICE_TYPE_LABELS, label
from watcher.core.phases import label as phase_label
from watcher.publish.entries import TITLE_PREFIX

LANGS = ("fr", "en")
DEFAULT = "fr"

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "site_name": "Veille des marchés de la rétention",
        "tagline": (
            "Marchés publics qui construisent, nourrissent, nettoient, gardent ou desservent les "
            "centres de rétention, les zones d'attente et les expulsions."
        ),
        "skip": "Aller au contenu",
        "nav": "Navigation principale",
        "nav_home": "Accueil",
        "nav_sites": "Sites",
        "nav_companies": "Entreprises",
        "nav_sources": "Sources",
        "nav_subscribe": "S'abonner",
        "nav_feed": "Flux",
        "nothing_yet_events": (
            "Rien pour l'instant : aucun événement n'a encore été enregistré. Les avis "
            "apparaissent ici dès qu'une source a été interrogée avec succès."
        ),
        "nothing_yet_notices": (
            "Rien pour l'instant : aucun avis pertinent n'a encore été enregistré."
        ),
        "health_none_ok": (
            "Aucune source n'a encore pu être interrogée ({n} en échec) : cet ordinateur n'a "
            "peut-être pas accès à internet, ou un proxy bloque les portails. Rien n'est perdu : "
            "chaque source est réessayée à son heure."
        ),
        "health_failing": (
            "{n} source(s) sur {total} en échec ({names}) : des avis récents peuvent manquer."
        ),
        "health_never": (
            "Aucune source n'a encore été interrogée : avec « watcher serve », la première "
            "interrogation commence tout de suite ; sinon, lancez « watcher run --once »."
        ),
        "health_see": "Voir l'état des sources",
        "feeds_box_title": "Suivre dans un lecteur de flux",
        "follow_title": "Suivre",
        "follow_mail": "Recevoir un e-mail pour ceci",
        "follow_feed": "Suivre ce flux",
        "feeds_box_exact": "Le flux de {what} contient les mêmes événements que cette page.",
        "feeds_box_closest": (
            "Aucun flux ne correspond exactement à cette recherche ; le plus proche est celui "
            "de {what}."
        ),
        "feed_scope_all": "tous les événements",
        "feed_scope_site": "ce site ({what})",
        "feed_scope_source": "la source {what}",
        "feed_scope_type": "ce type d'événement ({what})",
        "feed_atom": "Flux Atom",
        "feed_json": "JSON Feed",
        "feed_ics": "Calendrier des dates limites (iCalendar)",
        "feed_short": "flux",
        "feeds_what": "Qu'est-ce qu'un flux ?",
        "feeds_title": "Les flux : suivre sans venir voir",
        "feeds_intro": (
            "Un flux (Atom, parfois appelé RSS) est une adresse qu'un lecteur de flux "
            "interroge pour vous : chaque nouvel avis, date limite modifiée ou attribution y "
            "apparaît tout seul, sans inscription ni e-mail. Ouvert directement dans un "
            "navigateur, un flux ressemble à une page de code : c'est normal, il est fait pour "
            "un lecteur."
        ),
        "feeds_how_title": "Comment s'abonner",
        "feeds_how_1": (
            "Installez un lecteur de flux : Thunderbird, NetNewsWire, Feeder (Android), "
            "Inoreader, Feedly, Nextcloud News…"
        ),
        "feeds_how_2": "Copiez l'adresse d'un des flux ci-dessous (clic droit, « Copier le lien »).",
        "feeds_how_3": "Dans le lecteur, choisissez « Ajouter un flux » et collez l'adresse.",
        "feeds_formats": (
            "Le JSON Feed contient la même chose pour les programmes ; le calendrier iCalendar "
            "s'ajoute à un agenda (Thunderbird, Google Agenda, Apple Calendrier) et suit chaque "
            "date limite."
        ),
        "feeds_everything": "Tout",
        "feeds_by_site": "Par site",
        "feeds_by_source": "Par source",
        "feeds_by_event": "Par type d'événement",
        "feeds_by_company": "Par entreprise",
        "feeds_companies": "Chaque entreprise titulaire de marchés sur les lieux d'enfermement a son "
        "flux (companies/<slug>.atom) : ouvrez sa page depuis la liste des entreprises.",
        "feeds_companies_link": "La liste des entreprises",
        "counts": "Avis reçus",
        "counts_n": "{notices} avis, {relevant} pertinent(s), {events} événement(s)",
        "failures_n": "{n} échec(s) de suite",
        "rests_until": "au repos après ces échecs ; prochain essai à partir du",
        "database_down_title": "Base de données indisponible",
        "database_down_text": (
            "La base de données ne répond pas pour l'instant. Réessayez dans quelques minutes ; "
            "rien de ce qui a été enregistré n'est perdu."
        ),
        "error_down_title": "Erreur du service",
        "error_down_text": "Cette page n'a pas pu être affichée. Réessayez dans quelques minutes.",
        "demo_label": "Démonstration :",
        "demo_text": (
            "ces avis sont un petit échantillon fourni avec le logiciel (données réelles, "
            "figées), pas une veille en direct."
        ),
        "switch_label": "English",
        "switch_title": "Read this page in English",
        "home_title": "Derniers avis et événements",
        "filters": "Filtrer",
        "search": "Rechercher (objet, acheteur, description)",
        "any_site": "Tous les sites",
        "any_source": "Toutes les sources",
        "any_type": "Tous les événements",
        "show": "Afficher",
        "show_events": "Les événements",
        "show_notices": "Les avis pertinents",
        "apply": "Filtrer",
        "reset": "Effacer les filtres",
        "results_events": "{n} événement(s)",
        "results_notices": "{n} avis",
        "nothing": "Rien pour l'instant avec ces filtres.",
        "newer": "← Plus récents",
        "older": "Plus anciens →",
        "page": "Page {page} sur {pages}",
        "pagination": "Pages",
        "buyer": "Acheteur",
        "deadline": "Date limite",
        "published": "Publié le",
        "seen_on": "Vu le",
        "site": "Site",
        "source": "Source",
        "type": "Type d'avis",
        "event": "Événement",
        "when": "Date",
        "colon": "\u00a0: ",
        "api_text": "Données ouvertes : API JSON (OpenAPI)",
        "department": "Département",
        "value": "Montant",
        "procedure": "Procédure",
        "native_id": "Référence sur le portail",
        "relevance": "Pertinence",
        "relevant_yes": "pertinent",
        "relevant_no": "non retenu par le filtre",
        "said_above": "Changements déjà indiqués plus haut.",
        "reasons": "Raisons",
        "first_seen": "Vu pour la première fois",
        "last_seen": "Vu pour la dernière fois",
        "on_portal": "Voir l'avis sur le portail",
        "description": "Description",
        "timeline": "Chronologie de la procédure",
        "version": "Version {n}",
        "first_version": "Première version vue",
        "no_change": "Aucun changement visible pour un lecteur",
        "raw": "Preuve : contenu brut reçu du portail",
        "sha256": "sha256",
        "fetched": "reçu le {when}",
        "fetched_from": "depuis",
        "other_notice": "Avis lié",
        "changes": "Ce qui a changé",
        "phases": "Les étapes de la procédure",
        "phase": "Étape",
        "linked_by": "lié par {method}",
        "link_reference": "référence à un avis antérieur",
        "link_procedure_id": "identifiant de procédure",
        "link_similarity": "similarité ({confidence})",
        "link_merged": "fusion de deux procédures",
        "first_notice": "premier avis de la procédure",
        "ocds": "Données ouvertes OCDS de la procédure (JSON)",
        "sites_title": "Sites de rétention",
        "sites_intro": (
            "Les sites que le filtre sait reconnaître, avec le nombre d'avis pertinents qui les "
            "concernent. Un avis qui concerne plusieurs sites, ou aucun, n'est rattaché à aucun."
        ),
        "kind": "Type",
        "country": "Pays",
        "notices": "Avis pertinents",
        "last_event": "Dernier événement",
        "unattributed": "{n} avis pertinent(s) ne sont rattachés à aucun site.",
        "site_notices": "Procédures de ce site",
        "site_events": "Tous les événements de ce site",
        "sources_title": "État des sources",
        "sources_intro": (
            "Chaque portail surveillé : son dernier succès, sa dernière erreur et ce qu'il a "
            "apporté. Une source en échec ou signalée mérite un coup d'œil."
        ),
        "status": "État",
        "status_ok": "OK",
        "status_failing": "En échec",
        "status_flagged": "À vérifier",
        "status_never": "Jamais interrogée",
        "status_disabled": "Désactivée",
        "schedule": "Fréquence",
        "last_success": "Dernier succès",
        "last_poll": "Dernière interrogation",
        "last_error": "Dernière erreur",
        "failures": "Échecs consécutifs",
        "flagged": "Signalement",
        "count_notices": "Avis",
        "count_relevant": "Pertinents",
        "count_events": "Événements",
        "duration": "Durée de la dernière interrogation",
        "seconds": "{s} s",
        "never": "jamais",
        "not_found": "Page introuvable",
        "not_found_text": "Cette page n'existe pas, ou plus.",
        "footer": (
            "Logiciel libre (AGPL). Les avis viennent des portails publics ; chaque version est "
            "conservée avec sa preuve."
        ),
        "kind_cra": "Centre de rétention administrative",
        "kind_za": "Zone d'attente",
        "kind_irc": "Centre de rétention (Royaume-Uni)",
        "kind_sthf": "Local de rétention de courte durée (Royaume-Uni)",
        "kind_other": "Autre",
    },
    "en": {
        "site_name": "Detention contracts watch",
        "tagline": (
            "Public contracts that build, feed, clean, guard or serve immigration detention "
            "centres, waiting zones and removals."
        ),
        "skip": "Skip to content",
        "nav": "Main navigation",
        "nav_home": "Home",
        "nav_sites": "Sites",
        "nav_companies": "Companies",
        "nav_sources": "Sources",
        "nav_subscribe": "Subscribe",
        "nav_feed": "Feeds",
        "nothing_yet_events": (
            "Nothing yet: no event has been recorded so far. Notices appear here as soon as a "
            "source has been polled successfully."
        ),
        "nothing_yet_notices": "Nothing yet: no relevant notice has been recorded so far.",
        "health_none_ok": (
            "No source could be polled yet ({n} failing): this computer may have no internet "
            "access, or a proxy blocks the portals. Nothing is lost: each source is tried again "
            "on its schedule."
        ),
        "health_failing": (
            "{n} of {total} source(s) failing ({names}): recent notices may be missing."
        ),
        "health_never": (
            "No source has been polled yet: under “watcher serve” the first poll starts at "
            "once; otherwise run “watcher run --once”."
        ),
        "health_see": "See the sources' health",
        "feeds_box_title": "Follow in a feed reader",
        "follow_title": "Follow",
        "follow_mail": "Get e-mails for this",
        "follow_feed": "Follow this feed",
        "feeds_box_exact": "The feed of {what} holds the same events as this page.",
        "feeds_box_closest": (
            "No feed matches this search exactly; the closest is the feed of {what}."
        ),
        "feed_scope_all": "every event",
        "feed_scope_site": "this site ({what})",
        "feed_scope_source": "the source {what}",
        "feed_scope_type": "this kind of event ({what})",
        "feed_atom": "Atom feed",
        "feed_json": "JSON Feed",
        "feed_ics": "Deadlines calendar (iCalendar)",
        "feed_short": "feed",
        "feeds_what": "What is a feed?",
        "feeds_title": "Feeds: follow without coming to look",
        "feeds_intro": (
            "A feed (Atom, sometimes called RSS) is an address that a feed reader checks for "
            "you: every new notice, moved deadline or award shows up by itself, with no sign-up "
            "and no e-mail. Opened directly in a browser, a feed looks like a page of code: "
            "that is normal, it is made for a reader."
        ),
        "feeds_how_title": "How to subscribe",
        "feeds_how_1": (
            "Install a feed reader: Thunderbird, NetNewsWire, Feeder (Android), Inoreader, "
            "Feedly, Nextcloud News…"
        ),
        "feeds_how_2": "Copy the address of one of the feeds below (right click, “Copy link”).",
        "feeds_how_3": "In the reader, choose “Add feed” and paste the address.",
        "feeds_formats": (
            "The JSON Feed holds the same for programs; the iCalendar calendar goes into a "
            "calendar app (Thunderbird, Google Calendar, Apple Calendar) and follows each "
            "deadline."
        ),
        "feeds_everything": "Everything",
        "feeds_by_site": "By site",
        "feeds_by_source": "By source",
        "feeds_by_event": "By kind of event",
        "feeds_by_company": "By company",
        "feeds_companies": "Every company holding contracts at detention sites has its feed "
        "(companies/<slug>.atom): open its page from the list of companies.",
        "feeds_companies_link": "The list of companies",
        "counts": "Notices received",
        "counts_n": "{notices} notice(s), {relevant} relevant, {events} event(s)",
        "failures_n": "{n} failure(s) in a row",
        "rests_until": "resting after these failures; next try from",
        "database_down_title": "Database unavailable",
        "database_down_text": (
            "The database does not answer right now. Try again in a few minutes; nothing that "
            "was recorded is lost."
        ),
        "error_down_title": "Service error",
        "error_down_text": "This page could not be shown. Try again in a few minutes.",
        "demo_label": "Demonstration:",
        "demo_text": (
            "these notices are a small sample shipped with the software (real data, frozen), "
            "not a live watch."
        ),
        "switch_label": "Français",
        "switch_title": "Lire cette page en français",
        "home_title": "Latest notices and events",
        "filters": "Filter",
        "search": "Search (title, buyer, description)",
        "any_site": "All sites",
        "any_source": "All sources",
        "any_type": "All events",
        "show": "Show",
        "show_events": "Events",
        "show_notices": "Relevant notices",
        "apply": "Filter",
        "reset": "Clear filters",
        "results_events": "{n} event(s)",
        "results_notices": "{n} notice(s)",
        "nothing": "Nothing yet with these filters.",
        "newer": "← Newer",
        "older": "Older →",
        "page": "Page {page} of {pages}",
        "pagination": "Pages",
        "buyer": "Buyer",
        "deadline": "Deadline",
        "published": "Published",
        "seen_on": "Seen on",
        "site": "Site",
        "source": "Source",
        "type": "Notice type",
        "event": "Event",
        "when": "Date",
        "colon": ": ",
        "api_text": "Open data: JSON API (OpenAPI)",
        "department": "Département",
        "value": "Value",
        "procedure": "Procedure",
        "native_id": "Reference on the portal",
        "relevance": "Relevance",
        "relevant_yes": "relevant",
        "relevant_no": "not kept by the filter",
        "said_above": "Changes already shown above.",
        "reasons": "Reasons",
        "first_seen": "First seen",
        "last_seen": "Last seen",
        "on_portal": "See the notice on the portal",
        "description": "Description",
        "timeline": "Timeline of the procedure",
        "version": "Version {n}",
        "first_version": "First version seen",
        "no_change": "No change a reader would notice",
        "raw": "Evidence: raw content received from the portal",
        "sha256": "sha256",
        "fetched": "received {when}",
        "fetched_from": "from",
        "other_notice": "Linked notice",
        "changes": "What changed",
        "phases": "The procedure's phases",
        "phase": "Phase",
        "linked_by": "linked by {method}",
        "link_reference": "reference to an earlier notice",
        "link_procedure_id": "procedure identifier",
        "link_similarity": "similarity ({confidence})",
        "link_merged": "merge of two procedures",
        "first_notice": "first notice of the procedure",
        "ocds": "The procedure as OCDS open data (JSON)",
        "sites_title": "Detention sites",
        "sites_intro": (
            "The sites the filter recognises, with the number of relevant notices about each. "
            "A notice about several sites, or none, is attached to none."
        ),
        "kind": "Kind",
        "country": "Country",
        "notices": "Relevant notices",
        "last_event": "Last event",
        "unattributed": "{n} relevant notice(s) are attached to no site.",
        "site_notices": "Procedures at this site",
        "site_events": "All events of this site",
        "sources_title": "Sources health",
        "sources_intro": (
            "Each watched portal: its last success, its last error and what it brought. A failing "
            "or flagged source deserves a look."
        ),
        "status": "Status",
        "status_ok": "OK",
        "status_failing": "Failing",
        "status_flagged": "Check",
        "status_never": "Never polled",
        "status_disabled": "Disabled",
        "schedule": "Schedule",
        "last_success": "Last success",
        "last_poll": "Last poll",
        "last_error": "Last error",
        "failures": "Consecutive failures",
        "flagged": "Flag",
        "count_notices": "Notices",
        "count_relevant": "Relevant",
        "count_events": "Events",
        "duration": "Last poll duration",
        "seconds": "{s} s",
        "never": "never",
        "not_found": "Page not found",
        "not_found_text": "This page does not exist, or no longer does.",
        "footer": (
            "Free software (AGPL). Notices come from public portals; every version is kept with "
            "its evidence."
        ),
        "kind_cra": "Administrative detention centre (CRA)",
        "kind_za": "Waiting zone",
        "kind_irc": "Immigration removal centre",
        "kind_sthf": "Short-term holding facility",
        "kind_other": "Other",
    },
}


def explicit_lang(request: Request) -> str | None:
    """The language asked for in the URL (`?lang=en`), if any."""
    value = request.query_params.get("lang", "").lower()
    return value if value in LANGS else None


def accept_language(header: str) -> str | None:
    """The preferred supported language of an `Accept-Language` header (`en-GB,en;q=0.8,fr;q=0.5`)."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        if lang not in LANGS:
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        candidate = (-quality, position, lang)
        if best is None or candidate < best:
            best = candidate
    return best[2] if best else None


def negotiate(request: Request) -> str:
    """The page's language: `?lang=`, else `Accept-Language`, else French."""
    return (
        explicit_lang(request)
        or accept_language(request.headers.get("accept-language", ""))
        or DEFAULT
    )


class Translator:
    """`t("key", n=3)`: the message in one language, formatted."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else DEFAULT
        self._messages = MESSAGES[self.lang]

    def __call__(self, key: str, **values: object) -> str:
        text = self._messages[key]
        return text.format(**values) if values else text

    def event(self, kind: str) -> str:
        """`deadline_moved` → `Date limite modifiée`."""
        return TITLE_PREFIX[self.lang].get(kind, kind)

    def phase(self, phase: str | None) -> str:
        """`tenderAmendment` → `Rectificatif`."""
        return phase_label(phase, self.lang)

    def link(self, method: str | None, confidence: float | None) -> str:
        """How a notice was linked to its procedure, in words."""
        if not method:
            return self("first_notice")
        key = f"link_{method}"
        if key not in self._messages:
            return method
        words = (
            self(key, confidence=f"{confidence or 0:.2f}") if method == "similarity" else self(key)
        )
        return self("linked_by", method=words)

    def notice_type(self, kind: str | None) -> str:
        """`award` → `Avis d'attribution`."""
        if not kind:
            return ""
        return NOTICE_TYPE_LABELS[self.lang].get(kind, kind)

    def field(self, name: str) -> str:
        """`deadline` → `Date limite de réception des offres`."""
        return label(name, self.lang)

    def site_kind(self, kind: str | None) -> str:
        """`cra` → `Centre de rétention administrative`."""
        if not kind:
            return ""
        return self._messages.get(f"kind_{kind}", kind)
