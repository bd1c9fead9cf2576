"""The pipeline's only clock, passed in so that tests can set it; a module of its own so that
reading the time loads nothing else."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time, aware UTC."""
    return dt.datetime.now(dt.UTC)
