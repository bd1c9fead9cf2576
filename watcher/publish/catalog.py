"""Which feeds exist, where each document lives, and what each is called in French and English.

A *feed* is one filter over the events of relevant notices: all of them, one site, one source or one
event type. Each feed is published as documents (RFC 5005 archived feed):

- the subscription document, with the newest 1 to `page_size` events: `all.atom`,
  `sites/<slug>.atom`, `sources/<name>.atom`, `events/<type>.atom`;
- archive pages of `page_size` events, page 1 the oldest, whose entries never change once written:
  `archive/all/<n>.atom`, `archive/sites/<slug>/<n>.atom`, …

Every document also exists as JSON Feed 1.1 (`.json` instead of `.atom`) and in English under `en/`
(`en/all.atom`, `en/archive/all/1.json`, …); the server answers `?lang=en` with the English one.
`deadlines.ics` is the calendar of open deadlines. This module is pure: paths and names only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from watcher.publish.entries import TITLE_PREFIX

EVENT_TYPES: tuple[str, ...] = (
    "new",
    "planned",
    "tender_published",
    "changed",
    "deadline_moved",
    "corrigendum",
    "awarded",
    "contract_modified",
    "cancelled",
    "documents_changed",
    "deadline_soon",
    "question_raised",
    "remedy_closing",
)
LANGS: tuple[str, ...] = ("fr", "en")
FORMATS: tuple[str, ...] = ("atom", "json")
PAGE_SIZE = 100
CALENDAR = "deadlines.ics"

Dimension = Literal["all", "site", "source", "type"]
_FOLDER: dict[Dimension, str] = {"site": "sites", "source": "sources", "type": "events"}
_BY_FOLDER: dict[str, Dimension] = {folder: dim for dim, folder in _FOLDER.items()}
# Slugs, source names and event types are all lower-case snake/kebab case (sources.yaml and the
# gazetteer enforce it); anything else never becomes a path.
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PATH = re.compile(
    r"^(?:(?P<en>en)/)?(?:(?P<archive>archive)/)?"
    r"(?P<feed>all|(?:sites|sources|events)/[^/]+)(?:/(?P<page>[1-9][0-9]{0,8}))?\.(?P<ext>atom|json)$"
)

_TITLES = {
    "fr": {
        "all": "Marchés publics de la rétention et de l'expulsion",
        "site": "Rétention et expulsion — site : {value}",
        "source": "Rétention et expulsion — source : {value}",
        "type": "Rétention et expulsion — {value}",
        "subtitle": "Avis nouveaux et modifiés (CRA, LRA, zones d'attente, éloignement, IRC)",
        "archive": "archives, page {page}",
    },
    "en": {
        "all": "Public contracts for immigration detention and removal",
        "site": "Detention and removal — site: {value}",
        "source": "Detention and removal — source: {value}",
        "type": "Detention and removal — {value}",
        "subtitle": "New and changed notices (French CRAs, LRAs, waiting zones, removals, UK IRCs)",
        "archive": "archive, page {page}",
    },
}


def valid_name(value: str) -> bool:
    """True for a slug, source name or event type that can be part of a feed path."""
    return bool(_NAME.match(value))


@dataclass(frozen=True, slots=True, order=True)
class FeedSpec:
    """One feed: every event (`all`), or those of one site, one source or one event type."""

    dimension: Dimension
    value: str = ""

    @property
    def path(self) -> str:
        """`all`, `sites/beziers`, `sources/boamp`, `events/deadline_moved`."""
        if self.dimension == "all":
            return "all"
        return f"{_FOLDER[self.dimension]}/{self.value}"

    def title(self, lang: str) -> str:
        """The feed's title in `lang` ("fr" or "en")."""
        value = self.value
        if self.dimension == "type":
            value = TITLE_PREFIX[lang].get(value, value)
        elif self.dimension == "site":  # "CRA de Dunkerque", not the slug `dunkerque`
            from watcher.publish.entries import site_name  # noqa: PLC0415

            value = site_name(value) or value
        return _TITLES[lang][self.dimension].format(value=value)


ALL = FeedSpec("all")


def subtitle(lang: str) -> str:
    """What every feed is about, in `lang`."""
    return _TITLES[lang]["subtitle"]


def archive_title(spec: FeedSpec, lang: str, page: int) -> str:
    """`<feed title> (archives, page 3)`."""
    return f"{spec.title(lang)} ({_TITLES[lang]['archive'].format(page=page)})"


@dataclass(frozen=True, slots=True)
class DocRef:
    """One document of one feed: the subscription document (`page` None) or an archive page."""

    spec: FeedSpec
    lang: str = "fr"
    fmt: str = "atom"
    page: int | None = None

    @property
    def path(self) -> str:
        """Path under the feeds folder: `en/archive/sites/beziers/2.json`."""
        prefix = "en/" if self.lang == "en" else ""
        if self.page is None:
            return f"{prefix}{self.spec.path}.{self.fmt}"
        return f"{prefix}archive/{self.spec.path}/{self.page}.{self.fmt}"

    def url(self, base_url: str) -> str:
        """Absolute URL of the document on the site."""
        return f"{base_url}/feeds/{self.path}"

    def sibling(self, page: int | None) -> DocRef:
        """The same feed, language and format, another page (None: the subscription document)."""
        return DocRef(self.spec, self.lang, self.fmt, page)


def parse_path(path: str, lang: str | None = None) -> DocRef | None:
    """The document a `/feeds/` path names (`lang` overrides an `en/` prefix); None if none."""
    match = _PATH.match(path)
    if match is None:
        return None
    feed, page = match["feed"], match["page"]
    if bool(match["archive"]) != (page is not None):
        return None
    if feed == "all":
        spec = ALL
    else:
        folder, value = feed.split("/", 1)
        if not valid_name(value):
            return None
        spec = FeedSpec(_BY_FOLDER[folder], value)
        if spec.dimension == "type" and value not in EVENT_TYPES:
            return None
    chosen = lang or ("en" if match["en"] else "fr")
    return DocRef(spec, chosen, match["ext"], int(page) if page else None)


def archive_pages(count: int, page_size: int) -> int:
    """How many full archive pages a feed of `count` events has.

    The subscription document always keeps between 1 and `page_size` of the newest events, so a page
    becomes an archive only once it is full and a newer event exists.
    """
    return max(0, (count - 1) // page_size)
