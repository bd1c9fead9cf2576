"""The step of a procedure's story a notice shows in the timeline pictures (pure).

A timeline draws five steps: `planning` (prior information), `tender` (the call for tenders and
its corrigenda), `award`, `modification` (a change after the award: a contract modification, a
corrigendum of the award) and `cancelled`. They are read from the notice's OCDS phase
(`watcher.core.phases`) when it has one, else from its notice type.
"""

from __future__ import annotations

STEPS: tuple[str, ...] = ("planning", "tender", "award", "modification", "cancelled")

_BY_PHASE = {
    "planning": "planning",
    "tender": "tender",
    "tenderAmendment": "tender",
    "tenderUpdate": "tender",
    "award": "award",
    "awardUpdate": "award",
    "contract": "award",
    "contractAmendment": "modification",
    "tenderCancellation": "cancelled",
}


def step_of(notice_type: str, *, phase: str | None = None, after_award: bool = False) -> str:
    """The timeline step of a notice of type `notice_type` (and OCDS `phase`, when known)."""
    step = _BY_PHASE.get(phase or "")
    if step is None:
        step = {
            "prior_information": "planning",
            "award": "award",
            "cancellation": "cancelled",
        }.get(notice_type, "tender")
    if step == "tender" and notice_type == "corrigendum" and after_award:
        return "modification"
    return step
