"""Small helpers shared by tests that drive the real command line."""

from __future__ import annotations

import os

from watcher.runtime import Runtime


def runtime_env(runtime: Runtime, *, inherit: bool = False, **extra: str) -> dict[str, str]:
    """The `WATCHER_*` variables that point a `watcher` command at `runtime`'s files and database
    (polite waits off), plus `extra`; with `inherit`, on top of this process's environment."""
    settings = runtime.settings
    env = {
        "WATCHER_SOURCES": str(settings.sources),
        "WATCHER_DATA_DIR": str(settings.data_dir),
        "WATCHER_DATABASE_URL": settings.db_url,
        "WATCHER_BASE_URL": settings.base_url,
        "WATCHER_HTTP_BACKOFF": "0",
        **extra,
    }
    return {**os.environ, **env} if inherit else env
