"""Alert settings, read from the environment like every deployment secret (never sources.yaml).

| variable | default | meaning |
|---|---|---|
| `WATCHER_SMTP_URL` | unset (e-mail alerts wait) | `smtp://u:p@host:25`, `smtp+starttls://…:587`, `smtps://…:465` |
| `WATCHER_MAIL_FROM` | `detention-watcher <alerts@HOST of WATCHER_BASE_URL>` | the sender of every e-mail |
| `WATCHER_MAINTAINERS` | unset | comma-separated e-mail addresses and/or Apprise URLs told when a source breaks |
| `WATCHER_MAINTAINER_FAILURES` | `3` | failed polls in a row before the maintainers are told |
| `WATCHER_SMTP_TIMEOUT` | `30` | seconds for the mail server to answer |
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from watcher.errors import ConfigError


class NotifySettings(BaseSettings):
    """Settings of the alert channels, from `WATCHER_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="WATCHER_", extra="ignore")

    smtp_url: SecretStr | None = None
    mail_from: str | None = None
    maintainers: SecretStr | None = None
    maintainer_failures: int = 3
    smtp_timeout: float = 30.0

    def sender(self, base_url: str) -> str:
        """The From: address; by default `alerts@` the host of the public site."""
        if self.mail_from:
            return self.mail_from
        host = urlsplit(base_url).hostname or "localhost"
        return f"detention-watcher <alerts@{host}>"

    def maintainer_targets(self) -> list[str]:
        """The maintainers' addresses and Apprise URLs, in order."""
        raw = self.maintainers.get_secret_value() if self.maintainers else ""
        return [item.strip() for item in raw.split(",") if item.strip()]


def load_notify_settings() -> NotifySettings:
    """Read the alert settings; a bad variable becomes one `ConfigError` line (no value echoed)."""
    try:
        return NotifySettings()
    except ValidationError as exc:
        from watcher.core.plain import env_problem  # noqa: PLC0415

        secret = frozenset({"WATCHER_SMTP_URL", "WATCHER_MAINTAINERS"})
        problems = [env_problem(dict(err), secret=secret) for err in exc.errors()]
        raise ConfigError(problems[0], problems) from None
