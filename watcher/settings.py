"""Deployment settings, read from the environment (never from sources.yaml).

| variable | default | meaning |
|---|---|---|
| `WATCHER_SOURCES` | `./sources.yaml` | the sources file |
| `WATCHER_DATA_DIR` | `./data` | where the default SQLite database and built feeds live |
| `WATCHER_DATABASE_URL` | `sqlite:///<data dir>/watcher.sqlite3` | SQLAlchemy URL; `postgresql://user@host:port/db` works (psycopg 3) |
| `WATCHER_BASE_URL` | `http://localhost:8080` | public URL of the site, used in feed links |
| `WATCHER_HTTP_TIMEOUT` | `30` | seconds of silence on the socket before a request to a portal fails |
| `WATCHER_HTTP_DEADLINE` | `120` | seconds one request may take in all, headers and body (`0`: no limit) |
| `WATCHER_POLL_DEADLINE` | `1800` | seconds one poll of one source may take in all (`0`: no limit) |
| `WATCHER_HTTP_RETRIES` | `3` | extra tries after a passing fault (5xx, 429, timeout) |
| `WATCHER_HTTP_BACKOFF` | `1.0` | first backoff delay in seconds (doubles each try) |
| `WATCHER_DEADLINE_SOON_DAYS` | `7` | a "deadline soon" reminder this many days before a deadline |
| `WATCHER_USER_AGENT` | `detention-watcher/<version>` | sent to every portal |
| `WATCHER_LOG_FORMAT` | `text` | `json`: one JSON object per log line |
| `WATCHER_SECRET_KEY` | unset (a random key in `<data dir>/secret.key`) | signs the forms' tokens; set the same one on every instance |
| `WATCHER_SERVE_READ_TIMEOUT` | `10` | seconds a client of `watcher serve` has to send a whole request |
| `WATCHER_NOTICE_MAX_WINNERS` | `100` | winners kept of one notice (and of each lot); the cut is a parser's doubt |
| `WATCHER_NOTICE_MAX_LOTS` | `200` | lots kept of one notice |
| `WATCHER_NOTICE_MAX_TEXT` | `20000` | characters kept of a notice's description |
| `WATCHER_ALERTS_PER_ROUND` | `20` | alerts one subscriber gets one by one per round; the rest in one message (`0`: no cap) |
| `WATCHER_POLL_MAX_ITEMS` | `100000` | records one poll takes in all; the rest at the next polls (the same window is asked again) |
| `WATCHER_PAGE_MAX_ITEMS` | `10000` | records taken of one page (a list of 100,000 items is cut) |
| `WATCHER_POLL_MAX_BYTES` | `1000000000` | bytes of pages one poll reads in all |
| `WATCHER_SERVE_MAX_CONNECTIONS` | `1000` | connections `watcher serve` holds at once (lowered to fit the open-file limit) |

Every value is checked when a command starts; a wrong one is one line naming the variable and
what to write instead (`environment: WATCHER_HTTP_RETRIES=-1: must be 0 or more`).

One place for all of them (issue 25): every settings model (this one, alerts
`watcher.notify.settings`, the form's limits `watcher.web.protect`, `WATCHER_FETCH_ALLOW`
`watcher.sources.netguard`, documents `watcher.documents.sync`) reads the process environment and
then a `.env` file in the current folder (`ENV_CONFIG`; the environment wins), and
`watcher.cli.environment.check_environment()` reads them all when a command starts: every wrong value is one line, and a
`WATCHER_*` name that is no setting (`WATCHER_SMTP_ULR`) is one line naming the closest real one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from watcher import __version__
from watcher.errors import ConfigError

ENV_FILE = ".env"
# The configuration every settings model shares: `WATCHER_*` variables, then `.env`.
ENV_CONFIG = SettingsConfigDict(
    env_prefix="WATCHER_", extra="ignore", env_file=ENV_FILE, env_file_encoding="utf-8"
)


class Settings(BaseSettings):
    """Settings from `WATCHER_*` environment variables."""

    model_config = ENV_CONFIG

    sources: Path = Path("sources.yaml")
    data_dir: Path = Path("data")
    database_url: str | None = None
    base_url: str = "http://localhost:8080"
    http_timeout: float = Field(default=30.0, gt=0, le=600)
    http_deadline: float = Field(default=120.0, ge=0)
    poll_deadline: float = Field(default=1800.0, ge=0)
    http_retries: int = Field(default=3, ge=0, le=20)
    http_backoff: float = Field(default=1.0, ge=0, le=600)
    deadline_soon_days: int = Field(default=7, ge=0, le=365)
    log_format: Literal["text", "json"] = "text"
    # `watcher demo` sets it: every page says the data are a bundled sample, not live.
    demo: bool = False
    # The prefix of the ocids of `watcher export --ocds` and `/api/procedures/{id}.ocds.json`.
    ocid_prefix: str = "ocds-watcher"
    # Signs the forms' tokens and the used confirmation links; unset: `<data dir>/secret.key`.
    secret_key: SecretStr | None = None
    user_agent: str = f"detention-watcher/{__version__} (+https://github.com/detention-watcher)"
    # Bounds on hostile input (issue 26); README "Safe on the open internet".
    serve_read_timeout: float = Field(default=10.0, gt=0, le=600)
    serve_max_connections: int = Field(default=1000, ge=16, le=100_000)
    # Rendered pages kept in memory until the data changes (`watcher.web.page_cache`); 0: none.
    page_cache_mb: int = Field(default=32, ge=0, le=4096)
    notice_max_winners: int = Field(default=100, ge=1)
    notice_max_lots: int = Field(default=200, ge=1)
    notice_max_text: int = Field(default=20_000, ge=100)
    alerts_per_round: int = Field(default=20, ge=0)
    poll_max_items: int = Field(default=100_000, ge=1)
    page_max_items: int = Field(default=10_000, ge=1)
    poll_max_bytes: int = Field(default=1_000_000_000, ge=1_000_000)
    # Search answers (and search feeds) kept until the data changes (`watcher.db.search_cache`).
    search_cache: int = Field(default=256, ge=0, le=100_000)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 16:
            raise ValueError("is too short: write at least 16 random characters")
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        return check_database_url(value) if value else None

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL, with a plain `postgresql://` mapped to the psycopg 3 driver."""
        return normalize_url(self.database_url or f"sqlite:///{self.data_dir / 'watcher.sqlite3'}")


DATABASE_HINT = (
    "write sqlite:///path/to/watcher.sqlite3 (or leave it unset for the default) or "
    "postgresql://user:password@host:5432/watcher"
)


def check_database_url(value: str) -> str:
    """A database URL the watcher can open (SQLite or PostgreSQL), else a ValueError in words."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415
    from sqlalchemy.exc import ArgumentError  # noqa: PLC0415

    try:
        url = make_url(value.strip())
    except ArgumentError:
        raise ValueError(f"this is not a database address; {DATABASE_HINT}") from None
    backend = url.get_backend_name()
    if backend not in {"sqlite", "postgresql", "postgres"}:
        raise ValueError(
            f"{backend} databases are not supported, only SQLite and PostgreSQL; {DATABASE_HINT}"
        )
    return value.strip()


def missing_sqlite_folder(settings: Settings) -> Path | None:
    """The folder of the configured SQLite file when it does not exist and the watcher would not
    make it (it makes only the data dir): SQLite would create an empty database elsewhere than
    meant, or fail later with vaguer words."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    if not settings.database_url:
        return None
    url = make_url(settings.database_url)
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    folder = Path(database).expanduser().resolve().parent
    if folder.is_dir() or folder == settings.data_dir.expanduser().resolve():
        return None
    return folder


def normalize_url(url: str) -> str:
    """A plain `postgresql://` (or `postgres://`) URL uses the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_settings() -> Settings:
    """Read the settings, turning each bad variable into one clear `ConfigError` line."""
    from watcher.core.plain import env_problem  # noqa: PLC0415

    try:
        return Settings()
    except ValidationError as exc:
        secret = frozenset({"WATCHER_DATABASE_URL", "WATCHER_SECRET_KEY"})
        problems = [env_problem(dict(err), secret=secret) for err in exc.errors()]
        raise ConfigError(problems[0], problems) from None
