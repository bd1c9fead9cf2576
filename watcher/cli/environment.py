"""Every setting read and checked when a command starts (issue 25).

Each settings model reads the `WATCHER_*` variables of the environment, then `.env`
(`watcher.settings.ENV_CONFIG`). `check_environment()` reads every model, so that a wrong value is
refused before anything is served or polled, each as one line, and a `WATCHER_*` name that is no
setting (`WATCHER_SMTP_ULR`) is one line naming the closest real one (difflib).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

from watcher.documents.settings import DocumentsSettings, load_documents_settings
from watcher.errors import ConfigError
from watcher.notify.settings import NotifySettings, check_smtp_url, load_notify_settings
from watcher.settings import (
    DATABASE_HINT,
    ENV_FILE,
    Settings,
    load_settings,
    missing_sqlite_folder,
)
from watcher.sources.netguard import GuardSettings, load_allowance
from watcher.web.protect import SubscribeSettings, load_subscribe_settings

# Read by the test suite and the benchmarks, not by the program.
OTHER_NAMES = frozenset({"WATCHER_TEST_DATABASE_URL", "WATCHER_BENCH_PG"})


def _models() -> list[tuple[type[BaseSettings], Callable[[], object]]]:
    """Every settings model and the function that reads it (one `ConfigError` for bad values)."""
    return [
        (Settings, load_settings),
        (NotifySettings, lambda: check_smtp_url(load_notify_settings())),
        (SubscribeSettings, load_subscribe_settings),
        (GuardSettings, load_allowance),
        (DocumentsSettings, load_documents_settings),
    ]


def setting_names() -> frozenset[str]:
    """Every `WATCHER_*` variable the program reads."""
    names: set[str] = set()
    for model, _load in _models():
        prefix = str(model.model_config.get("env_prefix", ""))
        for name, field in model.model_fields.items():
            alias = field.validation_alias
            names.add(alias.upper() if isinstance(alias, str) else (prefix + name).upper())
    return frozenset(names)


def unknown_names(environ: Mapping[str, str]) -> list[str]:
    """One line for each `WATCHER_*` name in `environ` that is no setting, naming the closest."""
    known = setting_names()
    lines = []
    for name in sorted(environ):
        if not name.upper().startswith("WATCHER_") or name.upper() in known | OTHER_NAMES:
            continue
        # Compared without the common prefix, which would make every name look alike.
        tails = {k.removeprefix("WATCHER_"): k for k in known}
        close = difflib.get_close_matches(name.upper()[8:], sorted(tails), n=1, cutoff=0.6)
        hint = f"did you mean {tails[close[0]]}?" if close else "see .env.example for the settings"
        lines.append(f"environment: {name} is not a setting of detention-watcher; {hint}")
    return lines


def _env_file_names() -> dict[str, Any]:
    from dotenv import dotenv_values  # noqa: PLC0415

    path = Path(ENV_FILE)
    return dict(dotenv_values(path)) if path.is_file() else {}


# Commands that may make a new database where it is asked to be (its folder included).
MAKE_DATABASE = frozenset({"restore", "db"})


def check_environment(command: str | None = None) -> Settings:
    """Read every setting (the environment, then `.env`); `ConfigError` with one line per wrong
    value or misspelt name. What every command does first."""
    problems: list[str] = []
    settings: Settings | None = None
    for _model, load in _models():
        try:
            loaded = load()
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if isinstance(loaded, Settings):
            settings = loaded
            folder = None if command in MAKE_DATABASE else missing_sqlite_folder(loaded)
            if folder is not None:
                problems.append(
                    f"environment: WATCHER_DATABASE_URL: the folder {folder} does not exist; "
                    f"create it, or fix the path ({DATABASE_HINT})"
                )
    problems.extend(unknown_names({**_env_file_names(), **os.environ}))
    if problems or settings is None:
        raise ConfigError(problems[0], problems)
    return settings
