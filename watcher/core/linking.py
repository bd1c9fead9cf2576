"""Pure rules for linking notices into procedures: which identifiers, and when similarity may.

Identifiers come first, and a link by identifier is sure (confidence 1.0):

- a reference to an earlier notice of the same portal (BOAMP `annonce_lie` / `annonces_anterieures`,
  the `avisInitial` of a national award or corrigendum). An eForms change notice keeps the
  `ContractFolderID` of the notice it changes, so it links by procedure identifier (below); its
  `efbc:ChangedNoticeIdentifier` (the changed notice's own UUID and version) is not read;
- the procedure's own identifier, shared across portals: BOAMP `contractfolderid` = eForms
  `ContractFolderID` = TED `procedure-identifier`; an OCDS `ocid` (Find a Tender, Contracts Finder)
  and the ocids of its `relatedProcesses`; a PLACE reference; a DECP contract id.

Only a contract notice that no identifier links may be linked by similarity, and only:

- between portals that can carry the same tender (`can_share`): BOAMP, TED and PLACE for France;
  Find a Tender, Contracts Finder and TED for the UK. A generic `html` or `feed` page, or DECP, is
  never linked by similarity: nothing says it is the same tender as another portal's;
- when the buyers match (`buyer_matches`), the deadline is the same day, the title is close
  (`timeline.similarity` ≥ `SIMILARITY_THRESHOLD`), and no identifier says otherwise (two notices
  with different procedure identifiers are two procedures);
- comparing at most `MAX_TEXT` characters of a title or buyer, so that a hostile 1 MB title costs
  no more than a normal one (and a poll spends at most `SIMILARITY_BUDGET` seconds on it).

A notice linked by similarity is never swallowed silently: its link, method and confidence are
stored (`link_method`, `link_confidence`), shown on the procedure page and in the feed entry's
"also published on" links, and logged.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from typing import Any

# Below this, two notices of different portals are not linked (never merged silently).
SIMILARITY_THRESHOLD = 0.85
# Buyers must be at least this close (after folding case, accents and legal boilerplate).
BUYER_THRESHOLD = 0.8
# Characters of a title or a buyer compared, at most.
MAX_TEXT = 300
# Seconds one poll may spend comparing notices by similarity; past that, notices stand alone.
SIMILARITY_BUDGET = 5.0

# Portals that can publish the same tender (a kind with no group is never linked by similarity).
GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"boamp", "ted", "place"}),
    frozenset({"find_a_tender", "contracts_finder", "ted"}),
)


def can_share(kind_a: str, kind_b: str) -> bool:
    """Whether notices of these two source kinds can be the same tender (and are different
    portals: two notices of one portal are linked only by identifier)."""
    if kind_a == kind_b:
        return False
    return any(kind_a in group and kind_b in group for group in GROUPS)


def similar_kinds(kind: str) -> frozenset[str]:
    """The kinds a notice of `kind` may be linked to by similarity."""
    found: set[str] = set()
    for group in GROUPS:
        if kind in group:
            found |= group
    found.discard(kind)
    return frozenset(found)


def capped(text: str | None) -> str:
    """At most `MAX_TEXT` characters of a text, for comparison."""
    return (text or "")[:MAX_TEXT]


_BOILERPLATE = re.compile(
    r"\b(ministere|ministry|de|du|des|la|le|les|l|d|et|of|the|and|interieur|interior|"
    r"direction)\b"
)


def _fold(text: str | None) -> str:
    folded = unicodedata.normalize("NFKD", capped(text).lower())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


def buyer_matches(a: str | None, b: str | None) -> bool:
    """Whether two buyers' names name the same buyer: close as written, or one's distinctive
    words all in the other's ("MINISTERE DE L'INTERIEUR - SGAMI NORD" and "SGAMI Nord")."""
    fa, fb = _fold(a), _fold(b)
    if not fa or not fb:
        return False
    if SequenceMatcher(None, fa, fb).ratio() >= BUYER_THRESHOLD:
        return True
    wa = set(_BOILERPLATE.sub(" ", fa).split())
    wb = set(_BOILERPLATE.sub(" ", fb).split())
    if not wa or not wb:
        return False
    return wa <= wb or wb <= wa


def twin_key(source: str, ref: str) -> str:
    """How a procedure's link names the event another portal's notice repeats (`twin_of`):
    `boamp:27-41000`, the portal and reference of the notice that told the news."""
    return f"{source}:{ref}"


def identifiers_conflict(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two notices carry different procedure identifiers (then they are not one)."""
    pa, pb = a.get("procedure_id"), b.get("procedure_id")
    return bool(pa and pb and pa != pb)
