"""The search language, parsed (pure: no database, no clock).

One language for every database, the search page, the API, the feeds, the CLI and the
subscriptions (issue 27):

    rétention                      a word (accents and case do not matter)
    "centre de rétention"          an exact phrase
    escort*                        a word starting with…
    -bassin                        no notice of the procedure says it
    transfert OR escorte           either (OU too)
    cpv:4521*  cpv:45210000        a CPV code, or its start
    acheteur:lille  buyer:lille    words of the buyer's name
    dep:59  dep:2A                 a département
    site:lesquin                   a detention site (its slug)
    company:gepsa  titulaire:…     words of a winner's name
    phase:award                    the notice's phase (an OCDS tag: tender, award, contract…)
    source:boamp                   a configured source
    after:2025  before:2025-06-30  published from / until (a year, a month or a day)

`parse()` never fails: what it cannot read (an unbalanced quote, an unknown field, a bad date,
operators of SQL or of a search engine) is searched as plain words; everything it returns is made
of word characters only, so that each database can quote it safely.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field

__all__ = ["MAX_CHARS", "MAX_TERMS", "Filters", "Query", "Term", "fold", "parse"]

# A query is cut here: longer ones are hostile or pasted by mistake, and cost the engine.
MAX_CHARS = 500
MAX_TERMS = 24
MAX_FILTER_VALUES = 8

_WORD = re.compile(r"[^\W_]+")
_CPV = re.compile(r"^(\d{1,8})\*?$")
_DEPARTMENT = re.compile(r"^(\d{2,3}|2[ab])$", re.I)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PHASE = re.compile(r"^[a-z]{3,32}$", re.I)
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")

# field name (FR and EN, folded) → the filter it sets.
FIELDS: dict[str, str] = {
    "cpv": "cpv",
    "acheteur": "buyer",
    "buyer": "buyer",
    "dep": "departments",
    "departement": "departments",
    "department": "departments",
    "site": "sites",
    "company": "companies",
    "entreprise": "companies",
    "titulaire": "companies",
    "phase": "phases",
    "source": "sources",
    "after": "after",
    "apres": "after",
    "depuis": "after",
    "since": "after",
    "before": "before",
    "avant": "before",
    "until": "before",
}
_OR = frozenset({"OR", "OU", "|"})


def fold(text: str) -> str:
    """Lower case without accents or ligatures, as the search index compares words."""
    low = text.replace("œ", "oe").replace("Œ", "oe").replace("æ", "ae").replace("Æ", "ae")
    low = unicodedata.normalize("NFKD", low.casefold())
    return "".join(c for c in low if not unicodedata.combining(c))


def words(text: str) -> tuple[str, ...]:
    """The words of `text` (letters and digits), punctuation and operators dropped."""
    return tuple(_WORD.findall(text))


@dataclass(frozen=True, slots=True)
class Term:
    """A word (`prefix`: any word starting with it) or a phrase (several words, in order)."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Filters:
    """Field filters: values of one field are alternatives; fields all apply."""

    cpv: tuple[str, ...] = ()  # code starts (digits)
    buyer: tuple[tuple[str, ...], ...] = ()  # folded words, all in the buyer's name
    departments: tuple[str, ...] = ()  # upper case: 59, 2A, 971
    sites: tuple[str, ...] = ()
    companies: tuple[tuple[str, ...], ...] = ()  # folded words, all in one winner's name
    phases: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    after: dt.date | None = None  # published on or after
    before: dt.date | None = None  # published on or before

    def any(self) -> bool:
        """Whether any filter is set."""
        return any(getattr(self, name) for name in self.__slots__)


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: `groups` all apply (each one: any of its terms), `excluded` none."""

    text: str
    groups: tuple[tuple[Term, ...], ...] = ()
    excluded: tuple[Term, ...] = ()
    filters: Filters = field(default_factory=Filters)

    @property
    def empty(self) -> bool:
        """Nothing to look for: no terms, no exclusion, no filter."""
        return not self.groups and not self.excluded and not self.filters.any()

    @property
    def terms(self) -> tuple[Term, ...]:
        """Every term to find, in order (for highlighting)."""
        return tuple(term for group in self.groups for term in group)


@dataclass
class _Parser:
    groups: list[list[Term]] = field(default_factory=list)
    excluded: list[Term] = field(default_factory=list)
    values: dict[str, list[object]] = field(default_factory=dict)
    pending_or: bool = False
    count: int = 0

    def add(self, term: Term | None, *, negated: bool = False) -> None:
        if term is None or self.count >= MAX_TERMS:
            return
        self.count += 1
        if negated:
            self.excluded.append(term)
        elif self.pending_or and self.groups:
            self.groups[-1].append(term)
        else:
            self.groups.append([term])
        self.pending_or = False

    def add_words(self, raw: str, *, negated: bool = False, phrase: bool = False) -> None:
        """`raw` as a term: one word, a word*, or the phrase its words make."""
        found = words(raw)
        if not found:
            return
        prefix = not phrase and len(found) == 1 and raw.rstrip().endswith("*")
        if phrase or len(found) == 1:
            self.add(Term(found, prefix=prefix), negated=negated)
        else:  # `l'administration`, `2026-01`: the words as written, in order
            self.add(Term(found), negated=negated)

    def filter(self, name: str, value: str) -> bool:
        """Record `name:value`; False when the value is not one the field takes."""
        target = FIELDS[name]
        parsed = _filter_value(target, value)
        if parsed is None:
            return False
        kept = self.values.setdefault(target, [])
        if target in {"after", "before"}:
            kept[:] = [parsed]
        elif len(kept) < MAX_FILTER_VALUES and parsed not in kept:
            kept.append(parsed)
        return True

    def query(self, text: str) -> Query:
        values = self.values

        def many(name: str) -> tuple[object, ...]:
            return tuple(values.get(name, ()))

        after = values.get("after", [None])[0]
        before = values.get("before", [None])[0]
        filters = Filters(
            cpv=many("cpv"),  # type: ignore[arg-type]
            buyer=many("buyer"),  # type: ignore[arg-type]
            departments=many("departments"),  # type: ignore[arg-type]
            sites=many("sites"),  # type: ignore[arg-type]
            companies=many("companies"),  # type: ignore[arg-type]
            phases=many("phases"),  # type: ignore[arg-type]
            sources=many("sources"),  # type: ignore[arg-type]
            after=after[0] if isinstance(after, tuple) else None,
            before=before[1] if isinstance(before, tuple) else None,
        )
        groups = tuple(tuple(group) for group in self.groups)
        return Query(text=text, groups=groups, excluded=tuple(self.excluded), filters=filters)


def _filter_value(target: str, value: str) -> object | None:
    """The value of a field filter in its stored form, or None when it is not one."""
    value = value.strip()
    if target == "cpv":
        found = _CPV.match(value)
        return found.group(1) if found else None
    if target in {"buyer", "companies"}:
        folded = tuple(fold(w) for w in words(value))
        return folded or None
    if target == "departments":
        return value.upper() if _DEPARTMENT.match(value) else None
    if target in {"sites", "sources"}:
        slug = value.lower()
        return slug if _SLUG.match(slug) else None
    if target == "phases":
        return value if _PHASE.match(value) else None
    return _period(value)


def _period(value: str) -> tuple[dt.date, dt.date] | None:
    """A year, a month or a day as its first and last day; None when it is not a date."""
    found = _DATE.match(value)
    if found is None:
        return None
    year = int(found.group(1))
    month, day = (int(x) if x else None for x in found.groups()[1:])
    try:
        if month is None:
            return dt.date(year, 1, 1), dt.date(year, 12, 31)
        if day is None:
            last = calendar.monthrange(year, month)[1]
            return dt.date(year, month, 1), dt.date(year, month, last)
        return dt.date(year, month, day), dt.date(year, month, day)
    except ValueError:
        return None


# One piece of a query: an optional `-`, an optional `field:`, then a "quoted" value or a run
# of anything but spaces and quotes.
_PIECE = re.compile(r'\s*(-?)(?:([^\W\d_][\w]*):)?(?:"([^"]*)"|([^\s"]+)|")', re.UNICODE)


def parse(text: str) -> Query:
    """The query `text` means; never raises (what it cannot read is searched as plain words)."""
    text = str(text)[:MAX_CHARS]
    try:
        return _parse(text)
    except Exception:  # noqa: BLE001 - a query never fails: plain words instead
        parser = _Parser()
        for word in words(text):
            parser.add(Term((word,)))
        return parser.query(text)


def _parse(text: str) -> Query:
    parser = _Parser()
    position = 0
    # An odd number of quotes: the last one is unbalanced and is read as a space.
    if text.count('"') % 2:
        last = text.rfind('"')
        text = text[:last] + " " + text[last + 1 :]
    while position < len(text):
        found = _PIECE.match(text, position)
        if found is None or found.end() == position:
            break
        position = found.end()
        minus, name, quoted, bare = found.groups()
        value = quoted if quoted is not None else bare
        if value is None:
            continue
        key = fold(name) if name else None
        if key in FIELDS and not minus and parser.filter(key, value):
            continue
        if name:  # an unknown field, or a value the field does not take: words
            value = f"{name} {value}"
        if quoted is None and not minus and value in _OR:
            parser.pending_or = bool(parser.groups)
            continue
        parser.add_words(value, negated=bool(minus), phrase=quoted is not None)
    return parser.query(text)
