"""Companies (pure): winners' names normalised, identifiers validated, mentions resolved.

A *mention* is one winner as one notice names it: a name and the identifiers the portal gave
(`watcher.companies.extract` reads them from the stored payload). `resolve()` groups the mentions of
the same company:

1. the maintainers' `companies.yaml` first (`match:` names or identifiers put a mention in a given
   company, whatever the rest says);
2. then identifiers: the same SIREN (from a SIRET, a SIREN or a French VAT number, each checked with
   `python-stdnum`) or the same UK Companies House number is one company (confidence 1.0);
3. then names: the same normalised name ("SPIE Batignolles Nord SAS" = "SPIE BATIGNOLLES NORD"),
   or names near enough (`rapidfuzz` ratio ≥ `NAME_THRESHOLD`, and only a long word spelt
   differently: `words_agree`) — never two companies whose identifiers differ, nor a pair the
   override file lists under `distinct:`.

Each company keeps the evidence of every merge (which mentions, how, how sure), so a reader can
check it. Identifiers that fail their checksum are kept and shown, but never used to merge.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rapidfuzz import fuzz, process

from watcher.companies.ids import Identifier, identifier
from watcher.core.yamlio import load_yaml, problem
from watcher.errors import ConfigError

__all__ = ["Identifier", "Mention", "identifier", "load_overrides", "normalise_name", "resolve"]

# Two normalised names at least this similar (rapidfuzz ratio, 0-100) name one company.
# "spie batignolles nord" / "spie batignoles nord" scores 97.6; ".. nord" / ".. sud" 87.8.
NAME_THRESHOLD = 92.0

# Legal forms and filler words dropped before comparing names (after accents and case).
LEGAL_FORMS = frozenset(
    [
        "sa",
        "sas",
        "sasu",
        "sarl",
        "eurl",
        "snc",
        "sca",
        "scs",
        "sci",
        "scop",
        "scp",
        "sem",
        "spl",
        "gie",
        "selarl",
        "selas",
        "ei",
        "eirl",
        "ltd",
        "limited",
        "plc",
        "llp",
        "lp",
        "llc",
        "inc",
        "corp",
        "gmbh",
        "ag",
        "bv",
        "nv",
        "srl",
        "spa",
        "sl",
        "societe",
        "ste",
        "cie",
        "compagnie",
        "et",
        "co",
        "the",
    ]
)


def strip_accents(text: str) -> str:
    """`text` decomposed (NFKD) without its combining marks. Character by character in C: the
    distinct marks are few, each removed in one pass (issue 29: a generator over every character
    ran 8.8 million times for 800 winners). ASCII text is returned as it is."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    for mark in {c for c in set(decomposed) if unicodedata.combining(c)}:
        decomposed = decomposed.replace(mark, "")
    return decomposed


def fold(text: str) -> str:
    """Lower case, no accents, words of letters and digits only: `SPIE-Batignolles Nord` →
    `spie batignolles nord`."""
    bare = strip_accents(text).casefold()
    bare = bare.replace("&", " et ").replace("'", " ").replace(".", "")
    return " ".join(re.findall(r"[a-z0-9]+", bare))


def normalise_name(name: str) -> str:
    """The name used for matching: folded, legal forms and filler words removed ("Ltd", "SAS",
    "Société"); the folded name itself when nothing else is left."""
    words = fold(name).split()
    kept = [w for w in words if w not in LEGAL_FORMS]
    return " ".join(kept or words)


def slugify(name: str) -> str:
    """`spie-batignolles-nord`: a stable address from a display name."""
    return "-".join(fold(name).split())[:80] or "company"


@dataclass(frozen=True, slots=True)
class Mention:
    """One winner as one notice names it. `ref` says where (`notice id/lot`), for the evidence."""

    name: str
    identifiers: tuple[Identifier, ...] = ()
    ref: str = ""

    @property
    def norm(self) -> str:
        """The normalised name."""
        return normalise_name(self.name)

    @property
    def keys(self) -> frozenset[str]:
        """Identifier keys shared by every mention of this company."""
        return frozenset(k for i in self.identifiers if (k := i.key))


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why two mentions are one company: `method` is `override`, `identifier`, `same_name` or
    `similar_name`; `confidence` from 0 to 1."""

    a: str
    b: str
    method: str
    confidence: float

    def as_dict(self) -> dict[str, Any]:
        """For storage (JSON)."""
        return {"a": self.a, "b": self.b, "method": self.method, "confidence": self.confidence}


@dataclass(slots=True)
class Cluster:
    """One company: its slug, display name, parent group, mentions and evidence."""

    slug: str
    name: str
    mentions: list[Mention] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    parent: str | None = None

    @property
    def identifiers(self) -> list[Identifier]:
        """Every distinct identifier seen, valid first."""
        found = {i for m in self.mentions for i in m.identifiers}
        return sorted(found, key=lambda i: (not i.valid, i.scheme, i.value))

    @property
    def names(self) -> list[str]:
        """Every spelling seen."""
        return sorted({m.name for m in self.mentions})

    @property
    def confidence(self) -> float:
        """The weakest link that holds the company together (1.0 for a single mention)."""
        return min((e.confidence for e in self.evidence), default=1.0)


class CompanyOverride(BaseModel):
    """One entry of `companies.yaml`, keyed by the company's slug."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    parent: str | None = None
    match: list[str] = Field(default_factory=list)


class Overrides(BaseModel):
    """`companies.yaml`: the maintainers' corrections (see the README)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    companies: dict[str, CompanyOverride] = Field(default_factory=dict)
    distinct: list[list[str]] = Field(default_factory=list)

    def forced(self) -> tuple[dict[str, str], dict[str, str]]:
        """(normalised name → slug, identifier key → slug) from the `match:` lists."""
        names: dict[str, str] = {}
        keys: dict[str, str] = {}
        for slug, entry in self.companies.items():
            for item in entry.match:
                scheme, sep, value = item.partition(":")
                ident = identifier(scheme, value) if sep and scheme.isalpha() else None
                if ident is not None and ident.key:
                    keys[ident.key] = slug
                else:
                    names[normalise_name(item)] = slug
        return names, keys

    def apart(self) -> set[frozenset[str]]:
        """Pairs of normalised names that must never be merged by name."""
        pairs: set[frozenset[str]] = set()
        for group in self.distinct:
            normed = [normalise_name(n) for n in group]
            pairs.update(frozenset((a, b)) for a in normed for b in normed if a != b)
        return pairs


def load_overrides(text: str, where: str = "companies.yaml") -> Overrides:
    """Parse `companies.yaml`; `ConfigError` with the place of the mistake."""
    try:
        data = load_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: {problem(exc)}") from None
    try:
        overrides = Overrides.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{where}: {loc}: {first['msg']}") from None
    for slug, entry in overrides.companies.items():
        if entry.parent and entry.parent == slug:
            raise ConfigError(f"{where}: companies.{slug}.parent: a company is not its own parent")
    return overrides


def words_agree(a: str, b: str) -> bool:
    """Whether two near names differ only by spelling inside long words: same number of words,
    short words (acronyms, "nord"/"sud") identical, long ones near. "ISL INGENIERIE" and
    "ISM INGENIERIE" are two companies; "PEPETERIE LA VICTOIRE" is "PAPETERIES LA VICTOIRE"."""
    wa, wb = a.split(), b.split()
    if len(wa) != len(wb):
        return False
    for x, y in zip(wa, wb, strict=True):
        if x == y:
            continue
        if min(len(x), len(y)) < 5 or fuzz.ratio(x, y) < 75:
            return False
    return True


class _Union:
    def __init__(self, size: int) -> None:
        self.up = list(range(size))

    def find(self, i: int) -> int:
        while self.up[i] != i:
            self.up[i] = self.up[self.up[i]]
            i = self.up[i]
        return i

    def join(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.up[max(ra, rb)] = min(ra, rb)
        return True


def _display_name(mentions: Sequence[Mention]) -> str:
    """The most frequent spelling without a broken character (U+FFFD, from a portal's bad
    encoding); on a tie the plainest (shortest normalised name: no branch or agency), then the
    longest (it keeps the legal form)."""
    counts: dict[str, int] = {}
    for m in mentions:
        counts[m.name] = counts.get(m.name, 0) + 1
    return max(
        counts,
        key=lambda n: ("\ufffd" not in n, counts[n], -len(normalise_name(n)), len(n), n),
    )


def _norms(mentions: Sequence[Mention]) -> list[str]:
    """Each mention's normalised name, each distinct spelling normalised once."""
    cache: dict[str, str] = {}
    out = []
    for m in mentions:
        norm = cache.get(m.name)
        if norm is None:
            norm = cache[m.name] = normalise_name(m.name)
        out.append(norm)
    return out


def resolve(mentions: Sequence[Mention], overrides: Overrides | None = None) -> list[Cluster]:
    """Group `mentions` into companies (see the module docstring); ordered by slug."""
    overrides = overrides or Overrides()
    forced_names, forced_keys = overrides.forced()
    apart = overrides.apart()
    union = _Union(len(mentions))
    evidence: list[tuple[int, int, Evidence]] = []
    forced: dict[int, str] = {}
    norms = _norms(mentions)
    keys_of: list[list[str]] = [sorted(m.keys) for m in mentions]
    for i, keys in enumerate(keys_of):
        slug = forced_names.get(norms[i]) or next(
            (forced_keys[k] for k in keys if k in forced_keys), None
        )
        if slug:
            forced[i] = slug

    def compatible(a: int, b: int) -> bool:
        ra, rb = union.find(a), union.find(b)
        fa, fb = forced_root.get(ra), forced_root.get(rb)
        if fa and fb and fa != fb:
            return False
        ka, kb = root_keys.get(ra, set()), root_keys.get(rb, set())
        schemes_a = {k.split(":")[0]: k for k in ka}
        return all(schemes_a.get(k.split(":")[0], k) == k for k in kb)

    forced_root: dict[int, str] = {}
    root_keys: dict[int, set[str]] = {}

    def join(a: int, b: int, method: str, confidence: float) -> None:
        ra, rb = union.find(a), union.find(b)
        if ra == rb:
            return
        keys = root_keys.pop(ra, set()) | root_keys.pop(rb, set())
        slug = forced_root.pop(ra, None) or forced_root.pop(rb, None)
        union.join(a, b)
        root = union.find(a)
        root_keys[root] = keys
        if slug:
            forced_root[root] = slug
        evidence.append((a, b, Evidence(mentions[a].ref, mentions[b].ref, method, confidence)))

    for i in range(len(mentions)):
        root_keys[i] = set(keys_of[i])
        if i in forced:
            forced_root[i] = forced[i]
    # 1. Overrides.
    by_slug: dict[str, int] = {}
    for i, slug in sorted(forced.items()):
        if slug in by_slug:
            join(by_slug[slug], i, "override", 1.0)
        else:
            by_slug[slug] = i
    # 2. Identifiers.
    by_key: dict[str, int] = {}
    for i, keys in enumerate(keys_of):
        for key in keys:
            if key in by_key and compatible(by_key[key], i):
                join(by_key[key], i, "identifier", 1.0)
            by_key.setdefault(key, i)
    # 3. Names: the same normalised name, then near names (compared within a first letter).
    by_norm: dict[str, list[int]] = {}
    for i, norm in enumerate(norms):
        by_norm.setdefault(norm, []).append(i)
    for indexes in by_norm.values():
        for i in indexes[1:]:
            if compatible(indexes[0], i):
                join(indexes[0], i, "same_name", 0.95)
    for a, b, score in _near_names(sorted(by_norm)):
        if frozenset((a, b)) in apart:
            continue
        if words_agree(a, b) and compatible(by_norm[a][0], by_norm[b][0]):
            join(by_norm[a][0], by_norm[b][0], "similar_name", round(score / 100 * 0.9, 3))
    return _clusters(mentions, union, evidence, forced_root, overrides)


def _near_names(norms: list[str]) -> Iterator[tuple[str, str, float]]:
    """Pairs (a, b, score) of sorted normalised names with the same first letter whose ratio
    reaches `NAME_THRESHOLD`, in the order a, then b. Each name is compared with the rest of its
    letter's names in one call of rapidfuzz's C loop (issue 29: a pair at a time in Python)."""
    start = 0
    while start < len(norms):
        end = start
        while end < len(norms) and norms[end][:1] == norms[start][:1]:
            end += 1
        group = norms[start:end]
        for n, a in enumerate(group[:-1]):
            rest = group[n + 1 :]
            found = process.extract(
                a, rest, scorer=fuzz.ratio, score_cutoff=NAME_THRESHOLD, limit=None
            )
            for b, score, _index in sorted(found, key=lambda hit: hit[2]):
                yield a, b, score
        start = end


def _clusters(
    mentions: Sequence[Mention],
    union: _Union,
    evidence: Iterable[tuple[int, int, Evidence]],
    forced_root: Mapping[int, str],
    overrides: Overrides,
) -> list[Cluster]:
    groups: dict[int, list[int]] = {}
    for i in range(len(mentions)):
        groups.setdefault(union.find(i), []).append(i)
    clusters: dict[int, Cluster] = {}
    used: set[str] = set()
    for root, members in sorted(groups.items()):
        ms = [mentions[i] for i in members]
        slug = forced_root.get(root) or slugify(normalise_name(_display_name(ms)))
        base, n = slug, 2
        while slug in used:
            slug, n = f"{base}-{n}", n + 1
        used.add(slug)
        entry = overrides.companies.get(slug)
        clusters[root] = Cluster(
            slug=slug,
            name=(entry.name if entry and entry.name else _display_name(ms)),
            mentions=ms,
            parent=entry.parent if entry else None,
        )
    for a, _b, item in evidence:
        clusters[union.find(a)].evidence.append(item)
    # Groups named only as parents (`parent: spie`) exist as companies of their own.
    result = {c.slug: c for c in clusters.values()}
    for cluster in list(result.values()):
        parent = cluster.parent
        if parent and parent not in result:
            entry = overrides.companies.get(parent)
            result[parent] = Cluster(
                slug=parent, name=entry.name if entry and entry.name else parent
            )
    return [result[slug] for slug in sorted(result)]
