"""Rule files of the relevance matcher: schema, validation, merging and compilation.

`relevance.yaml` and `sites.yaml` (shipped in `watcher/match/rules/`) and any extra files a maintainer
adds are validated with pydantic (`extra="forbid"`), merged in order (a later entry with the same
`id` replaces an earlier one; a later site with the same slug adds aliases), checked across files
(`needs` must name a known context, `exact_case` must name an alias of its site) and compiled into
one `TermIndex`. Every problem becomes a `ConfigError` whose first line names the file and the key,
e.g. `extra.yaml: signals[2] (id 'cra'): weight: Input should be greater than 0`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from watcher.core.yamlio import load_yaml
from watcher.errors import ConfigError
from watcher.match.textnorm import TermIndex, compile_phrase

FieldName = Literal["title", "description", "buyer"]
Id = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
Weight = Annotated[float, Field(gt=0, le=10)]
Terms = Annotated[list[str], Field(min_length=1)]
_TEXT: tuple[FieldName, ...] = ("title", "description", "buyer")
_TIERS = {"names": 3, "places": 2, "hints": 1}
M = TypeVar("M", bound="_Model")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SignalRule(_Model):
    """Evidence for relevance (section `signals`)."""

    id: Id
    weight: Weight
    terms: Terms
    needs: list[str] = []
    or_followed_by: list[Literal["site", "department"]] = []
    unless: list[str] = []
    no_site: bool = False
    fields: list[FieldName] = list(_TEXT)
    langs: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]] = []


class AgainstRule(_Model):
    """Counter-evidence (section `against`): its weight is subtracted."""

    id: Id
    weight: Weight
    terms: Terms
    fields: list[FieldName] = list(_TEXT)


class TrapRule(_Model):
    """Phrases that defuse the evidence they overlap (section `traps`)."""

    id: Id
    terms: Terms
    note: str = ""


class BuyerRule(_Model):
    """Weak evidence read in the buyer field only (section `buyers`)."""

    id: Id
    weight: Weight
    terms: Terms


class CpvHint(_Model):
    """Weak evidence from a CPV code prefix (section `cpv`)."""

    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{2,8}$")]
    weight: Weight
    label: str


class RulesFile(_Model):
    """Layout of `relevance.yaml` and of maintainers' extra rule files (every key optional)."""

    threshold: Weight | None = None
    field_weights: dict[FieldName, Annotated[float, Field(ge=0, le=2)]] = {}
    site_name_weight: Annotated[float, Field(ge=0, le=10)] | None = None
    cpv_cap: Annotated[float, Field(ge=0, le=10)] | None = None
    contexts: dict[Id, Terms] = {}
    signals: list[SignalRule] = []
    against: list[AgainstRule] = []
    traps: list[TrapRule] = []
    buyers: list[BuyerRule] = []
    cpv: list[CpvHint] = []


class SiteEntry(_Model):
    """One site of the gazetteer; `label` and `kind` are required for a new slug."""

    label: str | None = None
    kind: Literal["cra", "za", "irc", "sthf", "other"] | None = None
    country: str | None = None
    department: str | list[str] | None = None
    # For the map of `/sites` (watcher.web.svgmap); the matcher ignores them.
    status: Literal["existing", "planned", "under_construction", "closed"] | None = None
    lat: float | None = None
    lon: float | None = None
    names: list[str] = []
    places: list[str] = []
    hints: list[str] = []
    exact_case: list[str] = []


class SitesFile(_Model):
    """Layout of `sites.yaml` and of maintainers' extra gazetteer files."""

    sites: dict[Slug, SiteEntry] = {}
    ignore: list[str] = []


@dataclass(frozen=True, slots=True)
class Signal:
    """A compiled rule: what a hit is worth and when it counts."""

    id: str
    kind: Literal["signal", "against", "buyer", "name", "cpv"]
    weight: float
    fields: frozenset[str] = frozenset(_TEXT)
    needs: tuple[str, ...] = ()
    followed_by: frozenset[str] = frozenset()
    no_site: bool = False
    langs: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Term:
    """What one phrase of the index means: its role, its text as written, and its rule or site."""

    role: Literal["signal", "trap", "context", "site", "ignore"]
    text: str
    signal: Signal | None = None
    context: str | None = None
    site: str | None = None
    tier: int = 0


@dataclass(frozen=True, slots=True)
class CpvRule:
    """A compiled CPV hint."""

    code: str
    weight: float
    label: str
    rule: Signal


@dataclass(frozen=True, slots=True)
class CompiledRules:
    """Everything `Matcher.match()` reads; immutable once built."""

    index: TermIndex[Term]
    threshold: float
    field_weights: dict[str, float]
    site_name_weight: float
    name_rule: Signal
    cpv: tuple[CpvRule, ...]
    cpv_cap: float
    slugs: tuple[str, ...]
    # Each site's département codes (upper case, "2A", "974"): a notice's own place list
    # confirms a weakly named site or settles a near tie (Matcher._site); never alone.
    site_departments: Mapping[str, frozenset[str]] = field(default_factory=dict)


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path.name}: {where}YAML does not parse: {problem}") from None
    return {} if data is None else data


def _where(loc: Sequence[Any], data: Any) -> str:
    """`signals[3] (id 'cra').weight` from a pydantic location and the raw data."""
    out = ""
    node = data
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                out += f" (id {node['id']!r})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top)"


def _problem(err: Any) -> str:
    kind, loc = err["type"], err["loc"]
    if kind == "extra_forbidden":
        return "unknown key (not allowed here; check the spelling)"
    if kind == "missing":
        return "missing (this key is required)"
    if kind == "string_pattern_mismatch":
        if "[key]" in loc:
            return "a slug is lower-case words joined by '-' (like 'lille-lesquin')"
        if loc[-1] == "code":
            return "a CPV code here is 2 to 8 leading digits (like '45216113')"
        return "an id is lower-case letters, digits, '-' or '_' (like 'cra-acronym')"
    return str(err["msg"]).removeprefix("Value error, ")


def _fail(problems: list[str]) -> ConfigError:
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return ConfigError(problems[0] + more, problems)


def _parse(model: type[M], path: Path) -> M:
    data = _read(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: expected a mapping of sections at the top")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [f"{path.name}: {_where(e['loc'], data)}: {_problem(e)}" for e in exc.errors()]
        raise _fail(problems) from None


@dataclass
class _Builder:
    """Merges files in order, then compiles; collects every problem before raising."""

    problems: list[str]
    index: TermIndex[Term]
    seen: set[tuple[object, ...]] = field(default_factory=set)

    def phrase(self, where: str, text: str, term: Term, *, exact: bool = False) -> None:
        try:
            phrase = compile_phrase(text, exact_case=exact)
        except ValueError as exc:
            self.problems.append(f"{where}: {exc}")
            return
        # "éloignement" and "éloignements" compile alike: index the phrase once per meaning.
        key = (phrase, term.role, term.signal, term.context, term.site)
        if key not in self.seen:
            self.seen.add(key)
            self.index.add(phrase, term)


def site_slugs(site_paths: Sequence[Path]) -> tuple[str, ...]:
    """The gazetteer's slugs, in the order `load_rules` gives them, read without compiling a
    phrase: what the feeds need of the rules (issue 29)."""
    return tuple(dict.fromkeys(slug for p in site_paths for slug in _parse(SitesFile, p).sites))


def load_rules(rule_paths: Sequence[Path], site_paths: Sequence[Path]) -> CompiledRules:
    """Validate, merge and compile rule and gazetteer files (first ones are the shipped ones)."""
    problems: list[str] = []
    rule_files = [(p.name, _parse(RulesFile, p)) for p in rule_paths]
    site_files = [(p.name, _parse(SitesFile, p)) for p in site_paths]
    settings: dict[str, Any] = {"field_weights": {}}
    contexts: dict[str, list[tuple[str, str]]] = {}
    sections: dict[str, dict[str, tuple[str, int, Any]]] = {
        k: {} for k in ("signals", "against", "traps", "buyers")
    }
    cpv: dict[str, CpvHint] = {}
    for fname, rf in rule_files:
        for key in ("threshold", "site_name_weight", "cpv_cap"):
            if getattr(rf, key) is not None:
                settings[key] = getattr(rf, key)
        settings["field_weights"].update(rf.field_weights)
        for name, terms in rf.contexts.items():
            contexts.setdefault(name, []).extend((fname, t) for t in terms)
        for section, merged in sections.items():
            seen: set[str] = set()
            for i, rule in enumerate(getattr(rf, section)):
                if rule.id in seen:
                    problems.append(f"{fname}: {section}[{i}]: id {rule.id!r} is used twice")
                seen.add(rule.id)
                merged[rule.id] = (fname, i, rule)
        cpv.update((h.code, h) for h in rf.cpv)
    for key in ("threshold", "site_name_weight", "cpv_cap"):
        if key not in settings:
            problems.append(f"{rule_paths[0].name}: {key}: missing (this key is required)")
    weights = {"title": 1.0, "description": 1.0, "buyer": 1.0, **settings["field_weights"]}
    b = _Builder(problems, TermIndex())
    for name, entries in contexts.items():
        for fname, text in entries:
            b.phrase(f"{fname}: contexts.{name}", text, Term("context", text, context=name))
    kinds: dict[str, Literal["signal", "against", "buyer"]] = {
        "signals": "signal",
        "against": "against",
        "buyers": "buyer",
    }
    for section, merged in sections.items():
        for rid, (fname, i, rule) in merged.items():
            where = f"{fname}: {section}[{i}] (id {rid!r})"
            if section == "traps":
                for text in rule.terms:
                    b.phrase(f"{where}.terms", text, Term("trap", text))
                continue
            sig = _signal(kinds[section], rule)
            for need in sig.needs:
                if need not in contexts:
                    known = ", ".join(sorted(contexts)) or "none"
                    problems.append(f"{where}.needs: unknown context {need!r}; known: {known}")
            for text in rule.terms:
                b.phrase(f"{where}.terms", text, Term("signal", text, signal=sig))
            veto = f"unless:{sig.kind}:{sig.id}"
            for text in getattr(rule, "unless", ()):
                b.phrase(f"{where}.unless", text, Term("context", text, context=veto))
    slugs, site_departments = _gazetteer(site_files, b)
    if problems:
        raise _fail(problems)
    name_weight = float(settings["site_name_weight"])
    cpv_rules = tuple(
        CpvRule(h.code, h.weight, h.label, Signal(f"cpv-{h.code}", "cpv", h.weight))
        for h in sorted(cpv.values(), key=lambda h: -len(h.code))
    )
    return CompiledRules(
        index=b.index,
        threshold=float(settings["threshold"]),
        field_weights=weights,
        site_name_weight=name_weight,
        name_rule=Signal("site-name", "name", name_weight),
        cpv=cpv_rules,
        cpv_cap=float(settings["cpv_cap"]),
        slugs=slugs,
        site_departments=site_departments,
    )


def _signal(kind: Literal["signal", "against", "buyer"], rule: Any) -> Signal:
    if kind == "buyer":
        return Signal(rule.id, kind, rule.weight, fields=frozenset({"buyer"}))
    if kind == "against":
        return Signal(rule.id, kind, rule.weight, fields=frozenset(rule.fields))
    return Signal(
        rule.id,
        kind,
        rule.weight,
        fields=frozenset(rule.fields),
        needs=tuple(rule.needs),
        followed_by=frozenset(rule.or_followed_by),
        no_site=rule.no_site,
        langs=frozenset(rule.langs),
    )


def _gazetteer(
    files: Sequence[tuple[str, SitesFile]], b: _Builder
) -> tuple[tuple[str, ...], dict[str, frozenset[str]]]:
    """Merge gazetteer files (a known slug gains aliases) and add every alias to the index.

    Returns the slugs and each site's départements (a later file's `department` replaces).
    """
    merged: dict[str, dict[str, Any]] = {}
    departments: dict[str, frozenset[str]] = {}
    origin: dict[str, str] = {}
    ignore: list[tuple[str, str]] = []
    for fname, sf in files:
        ignore.extend((fname, t) for t in sf.ignore)
        for slug, entry in sf.sites.items():
            where = f"{fname}: sites.{slug}"
            if slug not in merged:
                missing = [k for k in ("label", "kind") if getattr(entry, k) is None]
                if missing:
                    b.problems.append(f"{where}.{missing[0]}: missing (a new site needs it)")
                merged[slug] = {"names": [], "places": [], "hints": [], "exact_case": []}
                origin[slug] = fname
            acc = merged[slug]
            if entry.department is not None:
                codes = (
                    [entry.department] if isinstance(entry.department, str) else entry.department
                )
                departments[slug] = frozenset(c.strip().upper() for c in codes if c.strip())
            for tier in (*_TIERS, "exact_case"):
                acc[tier].extend((fname, t) for t in getattr(entry, tier))
    for slug, acc in merged.items():
        aliases = {t for tier in _TIERS for _, t in acc[tier]}
        exact = set()
        for fname, text in acc["exact_case"]:
            if text not in aliases:
                b.problems.append(
                    f"{fname}: sites.{slug}.exact_case: {text!r} is not one of its names, "
                    "places or hints"
                )
            exact.add(text)
        if not aliases:
            b.problems.append(f"{origin[slug]}: sites.{slug}: has no names, places or hints")
        for tier, points in _TIERS.items():
            for fname, text in acc[tier]:
                term = Term("site", text, site=slug, tier=points)
                b.phrase(f"{fname}: sites.{slug}.{tier}", text, term, exact=text in exact)
    for fname, text in ignore:
        b.phrase(f"{fname}: ignore", text, Term("ignore", text))
    return tuple(merged), departments
