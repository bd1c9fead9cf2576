"""Log output: readable lines by default, one JSON object per line with `WATCHER_LOG_FORMAT=json`.

Every poll logs one line (`watcher.pipeline.poll`) with its counts and duration; in JSON the same
numbers are also fields of a `poll` object, so a log collector can graph them without parsing:

    {"time": "2026-11-26T15:40:00.123Z", "level": "INFO", "logger": "watcher.pipeline.poll",
     "message": "boamp: 12 notices fetched (2 pages), …", "poll": {"source": "boamp", "fetched": 12,
     "new": 3, "changed": 1, "relevant": 2, "events": 3, "pages": 2, "seconds": 1.8, "ok": true, …}}
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from typing import Any

FORMAT_VARIABLE = "WATCHER_LOG_FORMAT"
# Attributes that records may carry as structured fields (passed with `extra=`).
STRUCTURED = ("poll",)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        data: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in STRUCTURED:
            value = getattr(record, name, None)
            if value is not None:
                data[name] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def apply_format(value: str | None = None) -> None:
    """Switch the root logger's handlers to JSON when `value` (default: the environment) says so."""
    chosen = (value if value is not None else os.environ.get(FORMAT_VARIABLE, "")).strip().lower()
    if chosen != "json":
        return
    formatter = JsonFormatter()
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
