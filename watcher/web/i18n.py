"""The site's words in French (the default) and English.

The language is `?lang=fr|en` when given (links then carry it along), else the browser's
`Accept-Language`, else French. Event, notice-type and field names come from the modules that
already name them for the feeds (`publish.entries`, `diff`), so a change reads the same everywhere.
"""

from __future__ import annotations

from starlette.requests import Request

from watcher.core.diff import NOTICE_TYPE_LABELS, label
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
        "nav_sources": "Sources",
        "nav_subscribe": "S'abonner",
        "nav_feed": "Flux Atom",
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
        "site": "Site",
        "source": "Source",
        "type": "Type d'avis",
        "event": "Événement",
        "when": "Date",
        "colon": "\u00a0: ",
        "api_text": "Données ouvertes : API JSON (OpenAPI)",
        "department": "Département",
        "procedure": "Procédure",
        "native_id": "Référence sur le portail",
        "relevance": "Pertinence",
        "relevant_yes": "pertinent (score {score})",
        "relevant_no": "non retenu par le filtre (score {score})",
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
        "site_notices": "Avis pertinents pour ce site",
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
        "kind_irc": "Immigration removal centre",
        "kind_sthf": "Short-term holding facility",
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
        "nav_sources": "Sources",
        "nav_subscribe": "Subscribe",
        "nav_feed": "Atom feed",
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
        "site": "Site",
        "source": "Source",
        "type": "Notice type",
        "event": "Event",
        "when": "Date",
        "colon": ": ",
        "api_text": "Open data: JSON API (OpenAPI)",
        "department": "Département",
        "procedure": "Procedure",
        "native_id": "Reference on the portal",
        "relevance": "Relevance",
        "relevant_yes": "relevant (score {score})",
        "relevant_no": "not kept by the filter (score {score})",
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
        "site_notices": "Relevant notices for this site",
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
