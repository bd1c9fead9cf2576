"""The relevance matcher: is a notice about immigration detention or removal, which site, and why.

Pure and thread-safe: `Matcher.load()` reads and compiles the rules once; `Matcher.match()` only
reads that compiled state. The rules are data that maintainers edit without Python:
`watcher/match/rules/relevance.yaml` (evidence, counter-evidence, traps, contexts, buyer and CPV hints)
and `watcher/match/rules/sites.yaml` (the gazetteer of detention sites). Extra files with the same layout
(`rules:` and `sites:` in `sources.yaml`) are merged over the shipped ones.

How a verdict is made (phrases are matched by `watcher.match.textnorm`: case, accents, elision, plurals):

1. Traps (`bassin de rétention`, `retenue de garantie`, …) mark spans of text. A phrase or context
   word overlapping a trap is defused; the rest of the notice still counts, so the stormwater-basin
   lot of a CRA construction stays relevant.
2. A signal counts when it is found in one of its fields, none of its `unless` phrases is in the
   notice (`CRA` next to `Centre Ressources Autisme`), and, if it `needs` a context, a word of that
   context is elsewhere in the notice, or the signal is followed by a site name or a département
   number (`CRA de Lesquin`, `CRA 59`) when `or_followed_by` allows it.
3. Each signal counts once, `weight × field weight` of its best field. Distinctive site names, buyer
   hints and CPV hints (capped) add weak evidence; `against` phrases (prisons, CEF, asylum
   reception, voluntary return…) subtract. Relevant when the total reaches `threshold`.
4. The site: gazetteer aliases in title, description, place and buyer are scored (names 3, places
   2, hints 1; +3, or +1 for a hint, when right after a strong signal such as `centre de rétention
   de …`; half points in the buyer field). The best site
   wins if it has at least 2 points and twice the runner-up; otherwise the notice is multi-site or
   unclear and the site is None. A notice whose only evidence is marked `no_site` (an LRA in a
   police station, a national removal contract) gets no site either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watcher.errors import ConfigError
from watcher.match.ruleset import CompiledRules, Signal, Term, load_rules, site_slugs
from watcher.match.textnorm import Hit, Tokens, keep_longest, tokenize

if TYPE_CHECKING:
    from watcher.records import NoticeRecord

_DEPARTMENT = re.compile(r"^(0[1-9]|[1-8][0-9]|9[0-5]|2a|2b|97[1-6])$")
_TEXT_FIELDS = ("title", "description", "buyer", "place")
_FOLLOW_GAP = 3  # words allowed between `CRA` and the site name: "CRA de la ville de Nice"
_SITE_AFTER = 6  # a site name this close after a strong signal is what the notice is about
_SITE_BEFORE = 2  # "Heathrow IRC", "Yarl's Wood Immigration Removal Centre"
_FIND_CACHE = 512  # texts whose words and hits are kept (a few MB even for long descriptions)

__all__ = ["ConfigError", "MatchInput", "Matcher", "Verdict", "input_from_dict", "match_jsonl_line"]


@dataclass(frozen=True, slots=True)
class MatchInput:
    """What the matcher reads from a notice."""

    title: str
    buyer: str | None = None
    description: str | None = None
    cpv: tuple[str, ...] = ()
    place: str | None = None
    department: str | None = None
    lang: str | None = None
    notice_type: str | None = None
    # Every département of the notice (its place list); `department` is the first.
    departments: tuple[str, ...] = ()

    @classmethod
    def from_notice(cls, notice: NoticeRecord) -> MatchInput:
        """The matcher's view of a parsed notice; lot titles and descriptions join the text."""
        parts = [notice.description or ""]
        for lot in notice.lots:
            parts.extend(p for p in (lot.title, lot.description) if p)
        cpv = list(notice.cpv) + [c for lot in notice.lots for c in lot.cpv]
        return cls(
            title=notice.title,
            buyer=notice.buyer,
            description="\n".join(p for p in parts if p) or None,
            cpv=tuple(dict.fromkeys(cpv)),
            place=notice.place,
            department=notice.department,
            lang=notice.language,
            notice_type=notice.notice_type,
            departments=notice.departments,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The matcher's answer: relevance, the one site (or None), the score and the reasons."""

    relevant: bool
    site: str | None
    score: float
    reasons: tuple[str, ...]


@dataclass(slots=True)
class _Found:
    """One field of one notice: its words and every phrase hit, by role."""

    name: str
    tokens: Tokens
    traps: list[Hit[Term]] = field(default_factory=list)
    signals: list[Hit[Term]] = field(default_factory=list)
    contexts: list[Hit[Term]] = field(default_factory=list)
    sites: list[Hit[Term]] = field(default_factory=list)

    def defused(self, hit: Hit[Term]) -> bool:
        return any(t.start < hit.end and hit.start < t.end for t in self.traps)


@dataclass(slots=True)
class _Score:
    """Running total of one notice: best value and reason per rule."""

    best: dict[str, tuple[float, str, Signal]] = field(default_factory=dict)

    def add(self, key: str, value: float, reason: str, signal: Signal) -> None:
        if key not in self.best or abs(value) > abs(self.best[key][0]):
            self.best[key] = (value, reason, signal)


class Matcher:
    """Compiled relevance rules and site gazetteer; `match()` is pure and safe across threads."""

    def __init__(self, rules: CompiledRules) -> None:
        self._rules = rules
        # Buyers, places and the texts of re-published notices (corrigenda, awards) come back
        # again and again: a text's words and phrase hits are found once. `_Found` is never
        # changed after `_scan`, so a cached one is safe to share between threads.
        self._find = lru_cache(maxsize=_FIND_CACHE)(self._scan)

    @classmethod
    def load(cls, extra_rules: Sequence[Path] = (), extra_sites: Sequence[Path] = ()) -> Matcher:
        """The shipped rules and gazetteer, with maintainers' extra files merged over them.

        Raises `ConfigError` with a one-line message naming the file and key of a bad rule file.
        """
        shipped = resources.files("watcher.match") / "rules"
        with (
            resources.as_file(shipped / "relevance.yaml") as rel,
            resources.as_file(shipped / "sites.yaml") as sites,
        ):
            rules = load_rules([rel, *extra_rules], [sites, *extra_sites])
        return cls(rules)

    @staticmethod
    def slugs(extra_sites: Sequence[Path] = ()) -> tuple[str, ...]:
        """`Matcher.load(extra_sites=…).site_slugs`, without compiling the rules."""
        with resources.as_file(resources.files("watcher.match") / "rules" / "sites.yaml") as sites:
            return site_slugs([sites, *extra_sites])

    @property
    def site_slugs(self) -> tuple[str, ...]:
        """Every slug of the gazetteer."""
        return self._rules.slugs

    def match(self, item: MatchInput) -> Verdict:
        """Decide relevance, site and reasons for one notice."""
        rules = self._rules
        texts = (item.title, item.description, item.buyer, item.place)
        found = [self._find(name, text) for name, text in zip(_TEXT_FIELDS, texts, strict=True)]
        fields = [f for f in found if f is not None]
        reasons: list[str] = []
        contexts = self._contexts(fields)
        score = _Score()
        strong: dict[str, list[Hit[Term]]] = {}
        lang = (item.lang or "")[:2].lower() or None  # "fr", "FR", "fra" all mean French
        for f in fields:
            valid = [h for h in f.signals if self._counts(h, f, lang, contexts, reasons)]
            # Overlapping phrases of one kind count once (the longest); kinds do not shadow each
            # other: "Frontex" in the buyer field is both a phrase and a buyer hint.
            kept = [
                hit
                for kind in ("signal", "buyer", "against")
                if valid  # most fields of most notices have no evidence at all
                for hit in keep_longest(h for h in valid if _kind(h) == kind)
            ]
            for hit in kept:
                sig = hit.payload.signal
                assert sig is not None
                factor = 1.0 if sig.kind == "buyer" else rules.field_weights[f.name]
                how = {"signal": "phrase", "against": "against:", "buyer": "buyer hint"}[sig.kind]
                value = sig.weight * factor * (-1 if sig.kind == "against" else 1)
                score.add(
                    f"{sig.kind}:{sig.id}", value, f"{how} '{hit.payload.text}' in {f.name}", sig
                )
                if sig.kind == "signal" and sig.weight >= 1.0:
                    strong.setdefault(f.name, []).append(hit)
            if f.name != "buyer":
                for hit in f.sites:
                    term = hit.payload
                    if term.tier == 3 and rules.site_name_weight:
                        reason = f"site name '{term.text}' in {f.name}"
                        score.add(
                            f"name:{term.site}", rules.site_name_weight, reason, rules.name_rule
                        )
        self._cpv(item.cpv, score)
        total = sum(v for v, _, _ in score.best.values())
        relevant = total >= rules.threshold
        ordered = sorted(score.best.values(), key=lambda v: -v[0])
        reasons[:0] = [r for v, r, _ in ordered if v > 0]
        reasons.extend(r for v, r, _ in ordered if v < 0)
        site = None
        if relevant:
            places = item.departments or ((item.department,) if item.department else ())
            site = self._site(fields, strong, score, reasons, places)
        return Verdict(relevant, site, round(total, 3), tuple(dict.fromkeys(reasons)))

    def _scan(self, name: str, text: str | None) -> _Found | None:
        if not text:
            return None
        tokens = tokenize(text)
        found = _Found(name, tokens)
        roles = {"trap": found.traps, "signal": found.signals, "context": found.contexts}
        site_hits: list[Hit[Term]] = []
        for hit in self._rules.index.find(tokens):
            role = hit.payload.role
            if role in ("site", "ignore"):
                site_hits.append(hit)
            else:
                roles[role].append(hit)
        found.sites = [h for h in keep_longest(site_hits) if h.payload.role == "site"]
        found.contexts = [h for h in found.contexts if not found.defused(h)]
        return found

    @staticmethod
    def _contexts(fields: list[_Found]) -> dict[str, list[tuple[str, Hit[Term]]]]:
        present: dict[str, list[tuple[str, Hit[Term]]]] = {}
        for f in fields:
            for hit in f.contexts:
                assert hit.payload.context is not None
                present.setdefault(hit.payload.context, []).append((f.name, hit))
        return present

    def _counts(
        self,
        hit: Hit[Term],
        f: _Found,
        lang: str | None,
        contexts: Mapping[str, list[tuple[str, Hit[Term]]]],
        reasons: list[str],
    ) -> bool:
        """Whether a signal hit counts: right field and language, not defused or vetoed, context."""
        sig = hit.payload.signal
        assert sig is not None
        if f.name not in sig.fields or (lang and sig.langs and lang not in sig.langs):
            return False
        if f.defused(hit):
            trap = next(t for t in f.traps if t.start < hit.end and hit.start < t.end)
            reasons.append(f"trap '{trap.payload.text}' in {f.name} defuses '{hit.payload.text}'")
            return False
        veto = contexts.get(f"unless:{sig.kind}:{sig.id}")
        if veto:
            reasons.append(
                f"'{hit.payload.text}' ignored: the notice says '{veto[0][1].payload.text}'"
            )
            return False
        if not sig.needs:
            return True
        for name in sig.needs:
            for where, other in contexts.get(name, ()):
                if where != f.name or other.end <= hit.start or other.start >= hit.end:
                    return True
        toks = f.tokens
        after = toks.folds[hit.end] if hit.end < len(toks) else ""
        if "department" in sig.followed_by and _DEPARTMENT.match(after):
            return True
        if "site" in sig.followed_by:
            return any(
                hit.end <= s.start <= hit.end + _FOLLOW_GAP
                or hit.start - _SITE_BEFORE <= s.end <= hit.start
                for s in f.sites
            )
        return False

    def _cpv(self, codes: Sequence[str], score: _Score) -> None:
        rules = self._rules
        total = 0.0
        for raw in codes:
            digits = re.sub(r"\D", "", str(raw))[:8]
            for hint in rules.cpv:
                if digits.startswith(hint.code) and f"cpv:{hint.code}" not in score.best:
                    value = min(hint.weight, max(rules.cpv_cap - total, 0.0))
                    total += value
                    score.add(f"cpv:{hint.code}", value, f"CPV {digits} ({hint.label})", hint.rule)

    def _site(
        self,
        fields: list[_Found],
        strong: Mapping[str, list[Hit[Term]]],
        score: _Score,
        reasons: list[str],
        departments: Sequence[str] = (),
    ) -> str | None:
        strong_rules = [
            sig for v, _, sig in score.best.values() if sig.kind == "signal" and sig.weight >= 1
        ]
        if strong_rules and all(s.no_site for s in strong_rules):
            reasons.append("site: none (the evidence is not about a listed site)")
            return None
        points: dict[str, float] = {}
        alias: dict[str, tuple[float, str]] = {}
        for f in fields:
            best: dict[str, float] = {}
            anchors = strong.get(f.name, [])
            for hit in f.sites:
                term = hit.payload
                assert term.site is not None
                value = float(term.tier)
                if any(
                    a.end <= hit.start <= a.end + _SITE_AFTER
                    or a.start - _SITE_BEFORE <= hit.end <= a.start
                    for a in anchors
                ):
                    # "CRA de Lesquin": the notice is about this site. A mere hint ("CRA de Lille")
                    # gains less, so that "holding room at Heathrow" is no Heathrow IRC.
                    value += 3 if term.tier > 1 else 1
                value *= 0.5 if f.name == "buyer" else 1.0
                best[term.site] = max(best.get(term.site, 0.0), value)
                if value > alias.get(term.site, (0.0, ""))[0]:
                    alias[term.site] = (value, term.text)
            for slug, value in best.items():
                points[slug] = points.get(slug, 0.0) + value
        ranked = sorted(points.items(), key=lambda kv: -kv[1])
        if not ranked:
            return None
        slug, top = ranked[0]
        if top >= 2 and (len(ranked) == 1 or top >= 2 * ranked[1][1]):
            reasons.append(f"site: {alias[slug][1]} → {slug}")
            return slug
        local = self._in_departments(ranked, departments)
        if local is not None:
            slug, code = local
            reasons.append(f"site: {alias[slug][1]} → {slug} (the notice's département {code})")
            return slug
        if top >= 2:
            names = ", ".join(s for s, _ in ranked[:4])
            reasons.append(f"site: several sites named ({names}) → none")
        return None

    def _in_departments(
        self, ranked: Sequence[tuple[str, float]], departments: Sequence[str]
    ) -> tuple[str, str] | None:
        """The one site the text names weakly, when it lies in the notice's own départements.

        The portal's place list is evidence, never the only evidence, and never a tie-breaker:
        portals often give one département for a notice about two sites ("CRA de Lesquin et de
        Coquelles", département 59), so two named sites stay untagged. It only confirms a site the
        text names too weakly on its own ("Gironde" in a notice executed in 33).
        """
        codes = {d.strip().upper() for d in departments if d and d.strip()}
        if len(ranked) != 1 or not codes:
            return None
        slug, value = ranked[0]
        here = self._rules.site_departments.get(slug, frozenset()) & codes
        if value < 1 or not here:
            return None
        return slug, min(here)


def _kind(hit: Hit[Term]) -> str:
    return hit.payload.signal.kind if hit.payload.signal else ""


def _opt_text(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"'{key}' must be a text or null, not {type(value).__name__}")
    if isinstance(value, int):
        return f"{value:02d}" if key == "department" else str(value)
    return value


def input_from_dict(obj: Any) -> MatchInput:
    """A `MatchInput` from a notice in the corpus schema; raise ValueError when it is unusable.

    Tolerant where portals are sloppy: a lone CPV string becomes a list, a numeric département
    becomes its two-digit code, unknown keys are ignored.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    title = obj.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("'title' is missing or empty")
    raw_cpv = obj.get("cpv") or []
    if isinstance(raw_cpv, str | int):
        raw_cpv = [raw_cpv]
    if not isinstance(raw_cpv, list) or not all(isinstance(c, str | int) for c in raw_cpv):
        raise ValueError("'cpv' must be a list of codes")
    return MatchInput(
        title=title,
        buyer=_opt_text(obj, "buyer"),
        description=_opt_text(obj, "description"),
        cpv=tuple(str(c) for c in raw_cpv),
        place=_opt_text(obj, "place"),
        department=_opt_text(obj, "department"),
        lang=_opt_text(obj, "lang"),
        notice_type=_opt_text(obj, "notice_type"),
        departments=tuple(
            f"{d:02d}" if isinstance(d, int) else str(d)
            for d in obj.get("departments") or []
            if isinstance(d, str | int) and not isinstance(d, bool)
        ),
    )


def match_jsonl_line(matcher: Matcher, obj: Any) -> dict[str, Any]:
    """Match one notice in the corpus schema; the answer is what `watcher match` prints."""
    verdict = matcher.match(input_from_dict(obj))
    return {
        "id": obj.get("id"),
        "relevant": verdict.relevant,
        "site": verdict.site,
        "score": round(verdict.score, 2),
        "reasons": list(verdict.reasons),
    }
