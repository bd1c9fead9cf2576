"""Validate Atom documents against RFC 4287's RELAX NG schema (tests/schemas/atom.rnc)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import rnc2rng
from lxml import etree

SCHEMA = Path(__file__).parent / "schemas" / "atom.rnc"
ATOM = "{http://www.w3.org/2005/Atom}"


@cache
def _schema() -> etree.RelaxNG:
    rng = rnc2rng.dumps(rnc2rng.load(str(SCHEMA))).replace('xmlns:local=""', "")
    return etree.RelaxNG(etree.fromstring(rng.encode()))


def atom_problems(document: bytes) -> list[str]:
    """Schema errors plus the RFC's two Schematron rules; [] for a valid feed."""
    root = etree.fromstring(document)
    schema = _schema()
    problems = [] if schema.validate(root) else [str(e) for e in schema.error_log]
    feed_author = root.find(f"{ATOM}author") is not None
    for entry in root.iter(f"{ATOM}entry"):
        eid = entry.findtext(f"{ATOM}id")
        if not feed_author and entry.find(f"{ATOM}author") is None:
            problems.append(f"entry {eid}: no author and the feed has none")
        alternate = entry.find(f"{ATOM}link[@rel='alternate']") is not None
        if not (alternate or entry.find(f"{ATOM}content") is not None):
            problems.append(f"entry {eid}: neither an alternate link nor content")
    return problems
