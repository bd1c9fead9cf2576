"""Text folding and phrase lookup for the relevance matcher (`watcher.match.matcher`).

A text is cut into words (letters and digits; apostrophes, hyphens and punctuation separate words,
so French elision `l'éloignement`, `d'attente` and `qu'un` yields a word of its own). Each word is
folded (lower case, accents and ligatures removed: `Œuvre` → `oeuvre`) and reduced to a *key* that
drops a plural ending (`centres` → `centre`, `locaux` → `local`, `lieux` → `lieu`, `facilities` →
`facility`). Rule phrases go through the same steps, so `zone d'attente` matches `Zones d’attente`
and `ZONE D'ATTENTE`, and never matches inside another word.

A phrase whose last word ends with `*` matches any word starting with it (`abschiebungshaft*`
matches `Abschiebungshafteinrichtung`); the prefix is folded but keeps its plural ending.

`TermIndex` holds every phrase of the rules, indexed by its first two words, so finding all phrases
in a notice costs a few dictionary look-ups per word rather than one regular expression per phrase.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Generic, TypeVar

_WORD = re.compile(r"[^\W_]+")
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"})
_PREFIX_BUCKET = 3  # a prefix phrase needs at least this many letters in its last word

P = TypeVar("P")


@lru_cache(maxsize=100_000)
def fold(word: str) -> str:
    """One word in lower case, without accents or ligatures (`Rétention` → `retention`)."""
    low = word.translate(_LIGATURES).lower()
    if low.isascii():
        return low
    decomposed = unicodedata.normalize("NFKD", low)
    return decomposed.encode("ascii", "ignore").decode("ascii")


@lru_cache(maxsize=100_000)
def word_key(word: str) -> str:
    """The folded word without a French or English plural ending; both sides of a match use it."""
    w = fold(word)
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith("aux") and not w.endswith("eaux"):
        return w[:-3] + "al"
    if len(w) > 3 and w[-1] in "sx" and not w.endswith("ss"):
        return w[:-1]
    return w


@lru_cache(maxsize=100_000)
def _word_info(word: str) -> tuple[str, str, bool, bool]:
    """(folded, key, is a word of letters, is written in capitals): what `tokenize` needs."""
    alpha = word.isalpha()
    return fold(word), word_key(word), alpha, alpha and word.isupper()


@dataclass(frozen=True, slots=True)
class Tokens:
    """The words of one text: as written, folded, and as plural-free keys (parallel lists)."""

    words: tuple[str, ...]
    folds: tuple[str, ...]
    keys: tuple[str, ...]
    upper: bool  # the text is written in capitals (TED titles often are)

    def __len__(self) -> int:
        return len(self.keys)


def tokenize(text: str) -> Tokens:
    """Cut a text into words; words that fold to nothing (other scripts, symbols) are dropped."""
    words: list[str] = []
    folds: list[str] = []
    keys: list[str] = []
    letters = upper = 0
    for raw in _WORD.findall(text):
        folded, key, alpha, capitals = _word_info(raw)
        if not folded:
            continue
        words.append(raw)
        folds.append(folded)
        keys.append(key)
        if alpha:
            letters += 1
            upper += capitals
    return Tokens(tuple(words), tuple(folds), tuple(keys), letters > 2 and upper * 4 >= letters * 3)


@dataclass(frozen=True, slots=True)
class Phrase:
    """A rule phrase compiled to keys; `prefix` when its last word is a prefix (`…*`)."""

    keys: tuple[str, ...]
    prefix: bool = False
    exact: tuple[str, ...] = ()  # capitalisation the words must have (`Nice`, `Plaisir`), or ()


def compile_phrase(text: str, *, exact_case: bool = False) -> Phrase:
    """Compile a rule phrase; raise ValueError when it has no word or a too-short prefix."""
    stripped = text.strip()
    prefix = stripped.endswith("*")
    words = _WORD.findall(stripped.rstrip("*"))
    if not words:
        raise ValueError(f"phrase {text!r} has no letters or digits")
    keys = [word_key(w) for w in words]
    if prefix:
        keys[-1] = fold(words[-1])
        if len(keys[-1]) < _PREFIX_BUCKET + 1:
            raise ValueError(f"prefix phrase {text!r}: its last word needs at least 4 letters")
    exact = tuple(words) if exact_case else ()
    return Phrase(tuple(keys), prefix, exact)


@dataclass(frozen=True, slots=True)
class Hit(Generic[P]):
    """One phrase found in a text: words `start` to `end` (exclusive) and what the phrase means."""

    start: int
    end: int
    payload: P


@dataclass
class TermIndex(Generic[P]):
    """Phrases indexed by first words; `find` returns every occurrence, overlaps included.

    Phrases of two words or more are indexed by their first two words (`zone`, `d`), so a common
    first word such as `les` or `en` costs nothing; one-word phrases, and two-word phrases ending
    in a prefix, by their first word; one-word prefixes by their first three letters.
    """

    _one: dict[str, list[tuple[Phrase, P]]] = field(default_factory=dict)
    _two: dict[tuple[str, str], list[tuple[Phrase, P]]] = field(default_factory=dict)
    _prefix: dict[str, list[tuple[Phrase, P]]] = field(default_factory=dict)
    # The first words of every phrase but one-word prefixes: most words of a notice start no
    # phrase and are passed over with one set look-up (issue 16).
    _starts: set[str] = field(default_factory=set)

    def add(self, phrase: Phrase, payload: P) -> None:
        """Register a compiled phrase with its payload."""
        keys = phrase.keys
        if not (phrase.prefix and len(keys) == 1):
            self._starts.add(keys[0])
        if phrase.prefix and len(keys) == 1:
            self._prefix.setdefault(keys[0][:_PREFIX_BUCKET], []).append((phrase, payload))
        elif len(keys) == 1 or (phrase.prefix and len(keys) == 2):
            self._one.setdefault(keys[0], []).append((phrase, payload))
        else:
            self._two.setdefault((keys[0], keys[1]), []).append((phrase, payload))

    def find(self, tokens: Tokens) -> list[Hit[P]]:
        """All occurrences of all phrases in `tokens`, in text order."""
        hits: list[Hit[P]] = []
        keys, folds = tokens.keys, tokens.folds
        n = len(keys)
        one, two, prefix, starts = self._one, self._two, self._prefix, self._starts
        for i in [i for i, key in enumerate(keys) if key in starts]:
            key = keys[i]
            single = one.get(key)
            pair = two.get((key, keys[i + 1])) if i + 1 < n else None
            for candidates in (single, pair):
                if not candidates:
                    continue
                for phrase, payload in candidates:
                    end = i + len(phrase.keys)
                    if end <= n and _same(tokens, i, phrase):
                        hits.append(Hit(i, end, payload))
        if prefix:
            for i, folded in enumerate(folds):
                for phrase, payload in prefix.get(folded[:_PREFIX_BUCKET], ()):
                    if folded.startswith(phrase.keys[0]) and _case_ok(tokens, i, phrase):
                        hits.append(Hit(i, i + 1, payload))
            hits.sort(key=lambda hit: hit.start)  # text order, as before
        return hits


def _same(tokens: Tokens, i: int, phrase: Phrase) -> bool:
    keys = phrase.keys
    last = len(keys) - 1
    for j in range(1, last):
        if tokens.keys[i + j] != keys[j]:
            return False
    if last:
        if phrase.prefix:
            if not tokens.folds[i + last].startswith(keys[last]):
                return False
        elif tokens.keys[i + last] != keys[last]:
            return False
    return _case_ok(tokens, i, phrase)


def _case_ok(tokens: Tokens, i: int, phrase: Phrase) -> bool:
    """Exact-case phrases match as written, or in a text written in capitals."""
    if not phrase.exact:
        return True
    for j, wanted in enumerate(phrase.exact):
        got = tokens.words[i + j]
        if got == wanted or fold(got) != fold(wanted):
            continue
        if not (tokens.upper and got.isupper()):
            return False
    return True


def keep_longest(hits: Iterable[Hit[P]]) -> list[Hit[P]]:
    """Drop every hit that lies inside a longer (or earlier equal) kept hit."""
    kept: list[Hit[P]] = []
    reach = -1
    for hit in sorted(hits, key=lambda h: (h.start, h.start - h.end)):
        if hit.end <= reach:
            continue
        kept.append(hit)
        reach = hit.end
    return kept
