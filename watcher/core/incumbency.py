"""The same company holding a site's contract across successive procedures (issue 28): a question
to ask, as `core/questions.py` asks the others, but over several procedures of one site.

Sources and threshold: `core/rules/questions.yaml` (`incumbency`: the Open Contracting
Partnership's red flags and opentender.eu's indicators on supplier dominance).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from watcher.core.facts import fold
from watcher.core.questions import (
    Procedure,
    Question,
    as_date,
    award_notices,
    default_rules,
    make_question,
)


def _winners(procedure: Procedure, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """Folded name → name as written, of the winners the procedure's awards name (not the
    words in `skip`, folded, that some files write where a winner goes)."""
    names: dict[str, str] = {}
    for notice in award_notices(list(procedure.get("notices") or ())):
        for name in notice.get("winners") or ():
            key = " ".join(fold(str(name)).split())
            if key not in skip:
                names.setdefault(key, str(name))
    return names


def _awarded_on(procedure: Procedure) -> dt.date | None:
    """When the procedure was awarded: its first award's notification, else its publication."""
    for notice in award_notices(list(procedure.get("notices") or ())):
        day = as_date(notice.get("notified")) or as_date(notice.get("published"))
        if day is not None:
            return day
    return None


def incumbency(
    procedures: Sequence[Procedure], rules: Mapping[str, Any] | None = None
) -> list[Question]:
    """The same company awarded a site's contract across successive procedures: `procedures` are
    one site's; those with an award date are ordered by it (the others cannot be placed in time
    and are left out); a company named in at least `min_procedures` of them in a row, awarded on
    different days (contracts awarded the same day are lots of one procedure, not a succession)."""
    rules = rules or default_rules()
    need = int(rules["incumbency"]["min_procedures"])
    skip = frozenset(fold(str(w)) for w in rules["incumbency"].get("not_companies", ()))
    dated = [(day, p) for p in procedures if (day := _awarded_on(p)) is not None]
    dated.sort(key=lambda pair: pair[0])
    awarded = [(day, p, w) for day, p in dated if (w := _winners(p, skip))]
    out = []
    seen: set[str] = set()
    for i, (_, _, winners) in enumerate(awarded):
        for key, name in winners.items():
            if key in seen:
                continue
            run = [awarded[i]]
            for later in awarded[i + 1 :]:
                if key not in later[2]:
                    break
                run.append(later)
            days = sorted({day for day, _, _ in run})
            if len(run) < need or len(days) < need:
                continue
            seen.add(key)
            ids = tuple(str(p.get("id")) for _, p, _ in run)
            span_fr = f"du {days[0]:%d/%m/%Y} au {days[-1]:%d/%m/%Y}"
            span_en = f"from {days[0]:%d/%m/%Y} to {days[-1]:%d/%m/%Y}"
            out.append(
                make_question(
                    "incumbency",
                    rules,
                    f"Pourquoi {name} remporte-t-il ce marché à chaque procédure ?",
                    f"Why does {name} win this contract at every procedure?",
                    evidence_fr=(
                        f"{name} est attributaire de {len(run)} procédures successives, {span_fr}.",
                    ),
                    evidence_en=(
                        f"{name} was awarded {len(run)} successive procedures, {span_en}.",
                    ),
                    notices=ids,
                    figures={"company": name, "procedures": len(run)},
                )
            )
    return out
