"""The matcher's reasons in the reader's language.

The matcher writes its reasons in English, and they are stored so (`notices.reasons`), e.g.
`phrase 'centre de rétention' in title` or `site: Loon-Plage → dunkerque`. French pages show them
in French: `expression « centre de rétention » dans l'objet`. The quoted words stay as the notice
wrote them; a reason of a form not known here is shown as it is (issue 19).
"""

from __future__ import annotations

import re

FIELDS_FR = {
    "title": "l'objet",
    "description": "la description",
    "buyer": "l'acheteur",
    "place": "le lieu",
    "lots": "les lots",
}

# The labels of the CPV codes of `watcher/match/rules/relevance.yaml`, in French (issue 25).
CPV_LABELS_FR = {
    "prison building construction; the closest CPV for a CRA": (
        "construction d'établissements pénitentiaires ; le code CPV le plus proche d'un CRA"
    ),
    "construction work for law and order buildings": (
        "travaux de construction de bâtiments pour l'ordre public"
    ),
    "services related to detention": "services liés à la détention",
    "non-scheduled air transport (charters)": "transport aérien non régulier (vols affrétés)",
    "hire of air transport with crew": "location de moyens de transport aérien avec équipage",
    "special-purpose road passenger transport (escorts)": (
        "transport routier spécialisé de passagers (escortes)"
    ),
    "security services": "services de sécurité",
    "guard services": "services de gardiennage",
}

_Q = r"'(.+?)'"
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"^phrase {_Q} in (\w+)$"), "expression « {0} » dans {1}"),
    (re.compile(rf"^against: {_Q} in (\w+)$"), "contre-indice « {0} » dans {1}"),
    (re.compile(rf"^buyer hint {_Q} in (\w+)$"), "acheteur connu « {0} » dans {1}"),
    (re.compile(rf"^site name {_Q} in (\w+)$"), "nom de site « {0} » dans {1}"),
    (
        re.compile(rf"^trap {_Q} in (\w+) defuses {_Q}$"),
        "le piège « {0} » dans {1} neutralise « {2} »",
    ),
    (re.compile(rf"^{_Q} ignored: the notice says {_Q}$"), "« {0} » écarté : l'avis dit « {1} »"),
    (
        re.compile(r"^site: none \(the evidence is not about a listed site\)$"),
        "site : aucun (les indices ne désignent pas un site connu)",
    ),
    (
        re.compile(r"^site: several sites named \((.+)\) → none$"),
        "site : plusieurs sites nommés ({0}) → aucun",
    ),
    (re.compile(r"^site: (.+) → (\S+)$"), "site : {0} → {1}"),
    (re.compile(r"^CPV (\S+) \((.*)\)$"), "code CPV {0} ({1})"),
)


def _field(name: str) -> str:
    return FIELDS_FR.get(name, name)


def reason_text(reason: str, lang: str) -> str:
    """One stored reason, in `lang` (English as stored; French translated)."""
    if lang != "fr":
        return reason
    for pattern, template in _RULES:
        found = pattern.match(reason)
        if found:
            parts = [
                _field(value)
                if value in FIELDS_FR and template.count("dans {1}") and i == 1
                else CPV_LABELS_FR.get(value, value)
                for i, value in enumerate(found.groups())
            ]
            return template.format(*parts)
    return reason
