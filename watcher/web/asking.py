"""What to do next on a procedure page (issue 28): "Questions à poser", "Délais de recours",
"Demander les documents", computed from the procedure's notices' snapshots alone, so that the
section survives any rewrite of how the page reads a procedure (`_asking.html`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from watcher.core import access_request, legal_clock, questions, radar
from watcher.db.compiled import notice_dicts
from watcher.db.models import Notice

LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "questions": "Questions à poser",
        "no_question": "Aucune question soulevée par ce que disent les avis.",
        "rests_on": "Avis",
        "clock": "Délais de recours",
        "closes": "jusqu'au",
        "extended": "reporté au",
        "unknown": "date non calculable",
        "open": "ouvert",
        "closed": "fermé",
        "end": "Fin du marché",
        "radar": "Radar des renouvellements",
        "documents": "Demander les documents",
        "copy": "Texte à copier",
        "mailto": "Écrire ce courriel",
        "nothing_sent": "Rien n'est envoyé par ce site.",
        "disclaimer": legal_clock.DISCLAIMER_FR,
        "unknown_end": "inconnue",
        "rule": "règle",
    },
    "en": {
        "questions": "Questions to ask",
        "no_question": "No question raised by what the notices say.",
        "rests_on": "Notices",
        "clock": "Remedy deadlines",
        "closes": "until",
        "extended": "moved to",
        "unknown": "cannot be computed",
        "open": "open",
        "closed": "closed",
        "end": "Contract ends",
        "radar": "Renewal radar",
        "documents": "Ask for the documents",
        "copy": "Text to copy",
        "mailto": "Write this e-mail",
        "nothing_sent": "Nothing is sent by this site.",
        "disclaimer": legal_clock.DISCLAIMER_EN,
        "unknown_end": "unknown",
        "rule": "rule",
    },
}


def today() -> dt.date:
    """Today in UTC: the clock the web layer reads and passes to the pure functions."""
    return dt.datetime.now(dt.UTC).date()


def context(members: Sequence[Notice], today: dt.date) -> dict[str, Any]:
    """The section's data: questions, remedy windows (with whether each is still open on
    `today`), the contract's end, and the request letter."""
    notices = notice_dicts(members)
    windows = legal_clock.windows(notices)
    return {
        "questions": questions.ask({"id": notices[0]["id"] if notices else "", "notices": notices}),
        "windows": [(w, w.open_on(today)) for w in windows],
        "end": radar.contract_end(notices),
        "letter": access_request.request_for(notices) if notices else None,
    }
