"""Pure: French départements as the portals write them, read into valid codes (issue 13).

Portals write a place in many ways: `(62) Pas-de-Calais`, `Argonay (74)`, `[35]`, a postal code
(`52270`, `52 270`, `FR75012`), an INSEE commune code (`13055`), a département given with a
leading zero (`078`) or as a postal code (`33000`). Every function here returns codes of the one
form the site uses (`01`…`95`, `2A`, `2B`, `971`…`976`), several when a notice names several, and
says when a reading is a guess (`Reading.ambiguous`), so that nothing malformed is stored and a
doubt is shown, never hidden.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

NAMES: dict[str, str] = {
    "01": "Ain", "02": "Aisne", "03": "Allier", "04": "Alpes-de-Haute-Provence",
    "05": "Hautes-Alpes", "06": "Alpes-Maritimes", "07": "Ardèche", "08": "Ardennes",
    "09": "Ariège", "10": "Aube", "11": "Aude", "12": "Aveyron", "13": "Bouches-du-Rhône",
    "14": "Calvados", "15": "Cantal", "16": "Charente", "17": "Charente-Maritime", "18": "Cher",
    "19": "Corrèze", "2A": "Corse-du-Sud", "2B": "Haute-Corse", "21": "Côte-d'Or",
    "22": "Côtes-d'Armor", "23": "Creuse", "24": "Dordogne", "25": "Doubs", "26": "Drôme",
    "27": "Eure", "28": "Eure-et-Loir", "29": "Finistère", "30": "Gard", "31": "Haute-Garonne",
    "32": "Gers", "33": "Gironde", "34": "Hérault", "35": "Ille-et-Vilaine", "36": "Indre",
    "37": "Indre-et-Loire", "38": "Isère", "39": "Jura", "40": "Landes", "41": "Loir-et-Cher",
    "42": "Loire", "43": "Haute-Loire", "44": "Loire-Atlantique", "45": "Loiret", "46": "Lot",
    "47": "Lot-et-Garonne", "48": "Lozère", "49": "Maine-et-Loire", "50": "Manche", "51": "Marne",
    "52": "Haute-Marne", "53": "Mayenne", "54": "Meurthe-et-Moselle", "55": "Meuse",
    "56": "Morbihan", "57": "Moselle", "58": "Nièvre", "59": "Nord", "60": "Oise", "61": "Orne",
    "62": "Pas-de-Calais", "63": "Puy-de-Dôme", "64": "Pyrénées-Atlantiques",
    "65": "Hautes-Pyrénées", "66": "Pyrénées-Orientales", "67": "Bas-Rhin", "68": "Haut-Rhin",
    "69": "Rhône", "70": "Haute-Saône", "71": "Saône-et-Loire", "72": "Sarthe", "73": "Savoie",
    "74": "Haute-Savoie", "75": "Paris", "76": "Seine-Maritime", "77": "Seine-et-Marne",
    "78": "Yvelines", "79": "Deux-Sèvres", "80": "Somme", "81": "Tarn", "82": "Tarn-et-Garonne",
    "83": "Var", "84": "Vaucluse", "85": "Vendée", "86": "Vienne", "87": "Haute-Vienne",
    "88": "Vosges", "89": "Yonne", "90": "Territoire de Belfort", "91": "Essonne",
    "92": "Hauts-de-Seine", "93": "Seine-Saint-Denis", "94": "Val-de-Marne", "95": "Val-d'Oise",
    "971": "Guadeloupe", "972": "Martinique", "973": "Guyane", "974": "La Réunion",
    "975": "Saint-Pierre-et-Miquelon", "976": "Mayotte",
}  # fmt: skip
VALID = frozenset(NAMES) - {"975"}  # 975 is a collectivity, not a département: kept out
# `(62) Pas-de-Calais`, `Argonay (74)`, `[35]`, `(74 - Argonay)`: a code in brackets.
_BRACKETED = re.compile(r"[(\[]\s*(\d{2,3}|2[AB])\s*(?:[)\]]|[-–,]\s)", re.IGNORECASE)
# A postal code on its own: `52270`, `52 270`, `FR75012` (not part of a longer number).
_DIGIT = re.compile(r"\d")
_POSTAL = re.compile(r"(?<![\d.,])(?:FR)?(\d{2})\s?(\d{3})(?![\d.,])")


@dataclass(frozen=True, slots=True)
class Reading:
    """What a portal's place code says: the département (or None) and whether it is a guess."""

    department: str | None
    ambiguous: bool = False
    note: str | None = None


def fold(text: str) -> str:
    """Lower case, no accents, no separators: `Côte-d'Or` → `cotedor` (U+FFFD dropped too)."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in plain if c.isalnum() and not unicodedata.combining(c))


_BY_NAME = {fold(name): code for code, name in NAMES.items() if code in VALID}
_BY_NAME |= {
    "reunion": "974",
    "iledelareunion": "974",
    "guyanefrancaise": "973",
    "territoiredebelfort": "90",
    "corse": "",
}


def by_name(name: str | None) -> str | None:
    """The département a name designates (`Hauts de Seine`, `H�rault`), or None."""
    if not name:
        return None
    key = fold(name)
    if key in _BY_NAME:
        return _BY_NAME[key] or None
    # Broken accents (U+FFFD) drop a letter: compare with the names' letters, accents dropped.
    for folded, code in _BY_NAME.items():
        if code and len(folded) > 4 and folded.replace("e", "") == key.replace("e", ""):
            return code
    return None


def normalise(code: str | None) -> str | None:
    """A valid département code from `6`, `06`, `078`, `2a`, `974`; None for anything else."""
    if code is None:
        return None
    found = str(code).strip().upper()
    if found.isdigit():
        if len(found) == 1:
            found = "0" + found
        elif len(found) == 3 and found.startswith("0"):
            found = found[1:]
    return found if found in VALID else None


def of_postal(code: str) -> str | None:
    """The département of a French postal code (`52270` → `52`, `97139` → `971`, `20200` →
    `2B`); None when it is not one."""
    digits = code.strip().upper().removeprefix("FR").replace(" ", "")
    if not re.fullmatch(r"\d{5}", digits):
        return None
    if digits.startswith("97"):
        return normalise(digits[:3])
    if digits.startswith("20"):
        return "2A" if digits < "20200" else "2B"
    if digits.startswith("00"):
        return None
    return normalise(digits[:2])


def of_commune(code: str) -> str | None:
    """The département of an INSEE commune code (`13055` → `13`, `2A004` → `2A`, `97411`)."""
    found = code.strip().upper()
    if re.fullmatch(r"2[AB]\d{3}", found):
        return found[:2]
    if not re.fullmatch(r"\d{5}", found):
        return None
    return normalise(found[:3] if found.startswith("97") else found[:2])


def in_text(text: str | None) -> list[str]:
    """Every département a place text names, in order: bracketed codes first (`(67) Bas-Rhin,
    (68) Haut-Rhin`), else postal codes (`… Doulaincourt-Saucourt 52270`)."""
    if not text:
        return []
    found = [c for m in _BRACKETED.finditer(text) if (c := normalise(m.group(1)))]
    if found:
        # A list such as "(74) Haute-Savoie, GUADELOUPE, MARTINIQUE": overseas ones by name.
        found += [c for part in text.split(",") if not _DIGIT.search(part) and (c := by_name(part))]
    else:
        found = [c for m in _POSTAL.finditer(text) if (c := of_postal(m.group(1) + m.group(2)))]
    if not found:
        # "GUADELOUPE", "Saint-Denis, La Réunion": an overseas département named alone, without
        # its code (issue 24); metropolitan names alone stay unread (a town is often named so).
        found = [
            c
            for part in re.split(r"[,;/]", text)
            if not _DIGIT.search(part) and (c := by_name(part)) and c.startswith("97")
        ]
    return unique(found)


def unique(codes: Iterable[str | None]) -> list[str]:
    """Valid codes, duplicates dropped, order kept."""
    return list(dict.fromkeys(c for c in codes if c and c in VALID))


def read_code(code: str | None, kind: str | None = None, name: str | None = None) -> Reading:
    """A DECP-style place (`code`, `typeCode`, `nom`) as a département, with the doubt said.

    The code is read as what it looks like whatever `typeCode` claims (a five-digit "Code
    département" is a postal code); the name decides when the code alone cannot, and a name
    that disagrees with the code makes the reading ambiguous (the code wins: it is what the
    buyer's software filled in)."""
    raw = (code or "").strip().upper()
    kind_text = fold(kind or "")
    named = by_name(name)
    guess: str | None = None
    how = ""
    if "pays" in kind_text or "region" in kind_text:
        guess, how = None, "country/region"
    elif "commune" in kind_text and len(raw) == 5:
        guess, how = of_commune(raw), "commune"
    elif re.fullmatch(r"(?:FR)?\d{5}", raw) or re.fullmatch(r"\d{2} \d{3}", raw):
        guess, how = of_postal(raw), "postal"
    else:
        guess, how = normalise(raw), "code"
        if guess is None and re.fullmatch(r"97\d{3,4}", raw):
            guess, how = normalise(raw[:3]), "overseas"
        elif guess is None and re.fullmatch(r"\d{3,7}", raw):
            guess, how = normalise(raw[:2]), "truncated"
    if guess is None:
        if named:
            return Reading(named, False, None)
        return Reading(None, False, None)
    if named and named != guess:
        return Reading(guess, True, f"code {raw} ({how}) is in {guess} but the name says {name}")
    if how in {"truncated"} and named != guess:
        return Reading(guess, True, f"code {raw} is not a département or postal code")
    return Reading(guess, False, None)
