"""The ETag / Last-Modified of each source's pages in the database (table `http_validators`),
read before a poll and written back in its transaction; `watcher.sources.validators` uses them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from watcher.db.models import HttpValidator
from watcher.sources.validators import Validator, Validators


def load_validators(session: Session, source_id: int) -> Validators:
    """The stored validators of a source."""
    rows = session.execute(
        select(
            HttpValidator.url,
            HttpValidator.etag,
            HttpValidator.last_modified,
            HttpValidator.context,
            HttpValidator.content_hash,
        ).where(HttpValidator.source_id == source_id)
    )
    return Validators({url: Validator(*values) for url, *values in rows})


def save_validators(
    validators: Validators, session: Session, source_id: int, now: dt.datetime
) -> None:
    """Write back what this poll's answers brought (in the poll's transaction)."""
    table = HttpValidator.metadata.tables["http_validators"]
    made: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for url, found in validators.fresh.items():
        row = {
            "source_id": source_id,
            "url": url,
            "etag": (found.etag or "")[:200] or None,
            "last_modified": (found.last_modified or "")[:64] or None,
            "context": found.context,
            "content_hash": found.content_hash,
            "checked_at": now,
        }
        (changed if url in validators.known else made).append(row)
    if made:
        session.execute(insert(table), made)
    if changed:
        statement = (
            update(table)
            .where(table.c.source_id == source_id, table.c.url == bindparam("b_url"))
            .values(
                etag=bindparam("b_etag"),
                last_modified=bindparam("b_modified"),
                context=bindparam("b_context"),
                content_hash=bindparam("b_hash"),
                checked_at=now,
            )
        )
        rows = [
            {
                "b_url": r["url"],
                "b_etag": r["etag"],
                "b_modified": r["last_modified"],
                "b_context": r["context"],
                "b_hash": r["content_hash"],
            }
            for r in changed
        ]
        session.connection().execute(statement, rows)
