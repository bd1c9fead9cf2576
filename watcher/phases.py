"""The phase of a procedure a notice belongs to (pure), for the timelines.

Derived from `notice_type` only, by this one function, until notices carry OCDS phases of their own
(issue 12): then `phase_of` reads those instead and nothing else changes.
"""

from __future__ import annotations

PHASES: tuple[str, ...] = ("planning", "tender", "award", "modification", "cancelled")


def phase_of(notice_type: str, *, after_award: bool = False) -> str:
    """`planning` (prior information), `tender` (call for tenders and its corrigenda), `award`,
    `modification` (a change published after the award) or `cancelled`."""
    if notice_type == "prior_information":
        return "planning"
    if notice_type == "award":
        return "award"
    if notice_type == "cancellation":
        return "cancelled"
    if notice_type == "corrigendum" and after_award:
        return "modification"
    return "tender"
