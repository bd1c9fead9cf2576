"""Deployment settings, read from the environment (never from sources.yaml).

| variable | default | meaning |
|---|---|---|
| `WATCHER_SOURCES` | `./sources.yaml` | the sources file |
| `WATCHER_DATA_DIR` | `./data` | where the default SQLite database and built feeds live |
| `WATCHER_DATABASE_URL` | `sqlite:///<data dir>/watcher.sqlite3` | SQLAlchemy URL; `postgresql://user@host:port/db` works (psycopg 3) |
| `WATCHER_BASE_URL` | `http://localhost:8080` | public URL of the site, used in feed links |
| `WATCHER_HTTP_TIMEOUT` | `30` | seconds for one request to a portal |
| `WATCHER_HTTP_RETRIES` | `3` | extra tries after a passing fault (5xx, 429, timeout) |
| `WATCHER_HTTP_BACKOFF` | `1.0` | first backoff delay in seconds (doubles each try) |
| `WATCHER_DEADLINE_SOON_DAYS` | `7` | a "deadline soon" reminder this many days before a deadline |
| `WATCHER_USER_AGENT` | `detention-watcher/<version>` | sent to every portal |
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from watcher import __version__
from watcher.errors import ConfigError


class Settings(BaseSettings):
    """Settings from `WATCHER_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="WATCHER_", extra="ignore")

    sources: Path = Path("sources.yaml")
    data_dir: Path = Path("data")
    database_url: str | None = None
    base_url: str = "http://localhost:8080"
    http_timeout: float = 30.0
    http_retries: int = 3
    http_backoff: float = 1.0
    deadline_soon_days: int = 7
    user_agent: str = f"detention-watcher/{__version__} (+https://github.com/detention-watcher)"

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL, with a plain `postgresql://` mapped to the psycopg 3 driver."""
        return normalize_url(self.database_url or f"sqlite:///{self.data_dir / 'watcher.sqlite3'}")


def normalize_url(url: str) -> str:
    """A plain `postgresql://` (or `postgres://`) URL uses the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_settings() -> Settings:
    """Read the settings, turning a bad variable into one clear `ConfigError` line."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            f"environment: WATCHER_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError(problems[0], problems) from None
