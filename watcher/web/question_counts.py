"""How many of a site's or a company's procedures raise each question (issue 28), read from the
codes kept with each compiled procedure (`question_codes`, `watcher.core.compiled.raised`), each
count linking to the list filtered by `?question=<code>` (`_question_counts.html`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watcher.core.questions import CODES, SHORT_NAMES
from watcher.db.models import Notice

# Short names of the questions, for counts and filters (`watcher.core.questions`).
LABELS = SHORT_NAMES


def tally(code_lists: Iterable[str | None]) -> dict[str, int]:
    """Procedures per question code, in the order of `CODES`, from `question_codes` texts."""
    found = Counter(code for codes in code_lists for code in set((codes or "").split()))
    return {code: found[code] for code in CODES if found[code]}


def site_counts(session: Session, slug: str) -> dict[str, int]:
    """Per question, how many relevant procedures of site `slug` raise it (one column read)."""
    codes = Notice.compiled["question_codes"].as_string()
    query = select(codes).where(
        Notice.parent_id.is_(None), Notice.relevant.is_(True), Notice.site == slug
    )
    return tally(session.scalars(query))


def view(counts: dict[str, int], lang: str, base: str, chosen: str | None) -> dict[str, Any]:
    """What `_question_counts.html` shows: each count with its label and filtered link."""
    words = LABELS.get(lang, LABELS["fr"])
    sep = "&" if "?" in base else "?"
    return {
        "title": words["title"],
        "all": words["all"],
        "all_href": base,
        "chosen": chosen,
        "rows": [
            {
                "code": code,
                "label": words[code],
                "count": n,
                "href": f"{base}{sep}question={code}",
            }
            for code, n in counts.items()
        ],
    }


def chosen(params: Any) -> str | None:
    """The `question` parameter if it names a question (anything else reads as none)."""
    value = str(params.get("question") or "").strip()
    return value if value in CODES else None
