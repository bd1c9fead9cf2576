"""Where a query's words are in a text, and the passage that shows them (pure).

A search's page shows, for each procedure found, a few passages of its notices and documents
with the words found marked. The database engines can make them (FTS5's `snippet`, PostgreSQL's
`ts_headline`), but only by reading the index again, one statement per entry (FTS5) or per page
(`ts_headline` parses every text again): most of a search's time on a page of results. Here the
texts of the page's entries are read once and matched as the index matches words — case,
accents and ligatures folded, words of letters and digits, phrases as consecutive words,
`word*` as a word's start — so that both databases show the same passages.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from watcher.core.query import Term, fold

__all__ = ["Matcher", "passage"]

# Words around the first word found that a passage shows (FTS5's snippet showed 24 tokens).
WORDS = 24
_WORD = re.compile(r"[^\W_]+")
# Every character that folds to a letter (its capitals, its accented forms), for the
# character classes of the patterns: the texts are searched as they are, never folded.
_VARIANTS: dict[str, str] = {}


def _variants() -> dict[str, str]:
    if not _VARIANTS:
        found: dict[str, set[str]] = {}
        for code in range(0x20, 0x2000):  # up to Latin Extended Additional and Greek
            char = chr(code)
            folded = fold(char)
            if len(folded) == 1 and folded != char:
                found.setdefault(folded, {folded}).add(char)
        _VARIANTS.update({k: "".join(sorted(v)) for k, v in found.items()})
    return _VARIANTS


def _ligatures(value: str) -> str:
    return value.replace("œ", "oe").replace("Œ", "Oe").replace("æ", "ae").replace("Æ", "Ae")


def _word(word: str) -> str:
    variants = _variants()
    return "".join(
        f"[{re.escape(variants[c])}]" if c in variants else re.escape(c)
        for c in fold(_ligatures(word))
    )


def _pattern(term: Term) -> str:
    body = r"[\W_]+".join(_word(w) for w in term.words)
    tail = r"[^\W_]*" if term.prefix else r"(?![^\W_])"
    return rf"(?<![^\W_]){body}{tail}"


@dataclass(frozen=True)
class Matcher:
    """The query's terms as regular expressions (matching any case and accents of their
    letters): one per group (a text
    matches when every group finds one of its terms), and all of them (what to mark)."""

    groups: tuple[re.Pattern[str], ...]
    any: re.Pattern[str] | None

    @classmethod
    def of(cls, groups: Sequence[Sequence[Term]]) -> Matcher:
        """The matcher of a query's groups of terms."""
        compiled = tuple(re.compile("|".join(_pattern(t) for t in group)) for group in groups)
        every = [_pattern(t) for group in groups for t in group]
        return cls(compiled, re.compile("|".join(every)) if every else None)

    def matches(self, text: str) -> bool:
        """Whether a text says every group."""
        return bool(self.groups) and all(g.search(text) for g in self.groups)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the terms are in a text."""
        return [m.span() for m in self.any.finditer(text)] if self.any else []

    def said(self, text: str, spans: Sequence[tuple[int, int]]) -> list[bool]:
        """Which groups a text says, given where its terms are (`spans`): with one group, any
        term found is that group's (no second reading of the text)."""
        if len(self.groups) == 1:
            return [bool(spans)]
        if not spans:
            return [False] * len(self.groups)
        return [
            any(group.fullmatch(text, b, e) for b, e in spans) or bool(group.search(text))
            for group in self.groups
        ]


def passage(text: str, spans: Sequence[tuple[int, int]], start: str, stop: str) -> str:
    """About `WORDS` words of `text` around the run of matches (`spans`) that says the most
    different words, each match between `start` and `stop`; "…" where the text goes on."""
    if not spans:
        return ""
    # The match that begins the window saying the most different words, then the most words.
    said = [fold(text[b:e]) for b, e in spans]
    inside: Counter[str] = Counter()
    best, score, end = 0, (0, 0), 0
    for i, (begin, _) in enumerate(spans):
        while end < len(spans) and spans[end][0] < begin + WORDS * 6:
            inside[said[end]] += 1
            end += 1
        if (len(inside), end - i) > score:
            best, score = i, (len(inside), end - i)
        inside[said[i]] -= 1
        if not inside[said[i]]:
            del inside[said[i]]
    anchor = spans[best][0]
    before = list(_WORD.finditer(text, max(0, anchor - 60), anchor))[-3:]
    first = before[0].start() if before else anchor
    last = len(text)
    for count, word in enumerate(_WORD.finditer(text, first)):
        if count == WORDS:
            last = word.start()
            break
    shown = [(b, e) for b, e in spans if b >= first and e <= last]
    parts: list[str] = []
    at = first
    for b, e in shown:
        parts += [text[at:b], start, text[b:e], stop]
        at = e
    parts.append(text[at:last])
    found = " ".join("".join(parts).split())
    return ("…" if first > 0 else "") + found + ("…" if last < len(text) else "")
