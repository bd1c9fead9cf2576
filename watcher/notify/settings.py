"""Alert settings, read from the environment like every deployment secret (never sources.yaml).

| variable | default | meaning |
|---|---|---|
| `WATCHER_SMTP_URL` | unset (e-mail alerts wait) | `smtp://u:p@host:25`, `smtp+starttls://…:587`, `smtps://…:465` |
| `WATCHER_MAIL_FROM` | `Veille des marchés de la rétention <alerts@HOST of WATCHER_BASE_URL>` | the sender of every e-mail |
| `WATCHER_MAINTAINERS` | unset | comma-separated e-mail addresses and/or Apprise URLs told when a source breaks |
| `WATCHER_MAINTAINER_FAILURES` | `3` | failed polls in a row before the maintainers are told |
| `WATCHER_SMTP_TIMEOUT` | `30` | seconds for the mail server to answer |
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings

from watcher.errors import ConfigError
from watcher.settings import ENV_CONFIG

_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")


class NotifySettings(BaseSettings):
    """Settings of the alert channels, from `WATCHER_*` environment variables."""

    model_config = ENV_CONFIG

    smtp_url: SecretStr | None = None
    mail_from: str | None = None
    maintainers: SecretStr | None = None
    maintainer_failures: int = Field(default=3, ge=1)
    smtp_timeout: float = Field(default=30.0, gt=0, le=600)

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        _name, address = parseaddr(value.strip())
        if not _ADDRESS.fullmatch(address):
            raise ValueError(
                "not an e-mail address; write alerts@example.org or "
                '"Veille rétention <alerts@example.org>" (quoted in a shell)'
            )
        return value.strip()

    @field_validator("maintainers")
    @classmethod
    def _maintainers(cls, value: SecretStr | None) -> SecretStr | None:
        for item in (value.get_secret_value() if value else "").split(","):
            item = item.strip()
            if item and "://" not in item and not _ADDRESS.fullmatch(item):
                raise ValueError(
                    "each item must be an e-mail address (you@example.org) or an Apprise URL "
                    "(tgram://…), separated by commas"
                )
        return value

    def sender(self, base_url: str) -> str:
        """The From: address; by default `alerts@` the host of the public site."""
        if self.mail_from:
            return self.mail_from
        host = urlsplit(base_url).hostname or "localhost"
        return f"Veille des marchés de la rétention <alerts@{host}>"

    def maintainer_targets(self) -> list[str]:
        """The maintainers' addresses and Apprise URLs, in order."""
        raw = self.maintainers.get_secret_value() if self.maintainers else ""
        return [item.strip() for item in raw.split(",") if item.strip()]


def check_smtp_url(cfg: NotifySettings) -> NotifySettings:
    """`cfg`, or `ConfigError` when its `WATCHER_SMTP_URL` cannot be used (scheme, host, port)."""
    from watcher.notify.smtp import SmtpConfig  # noqa: PLC0415

    if cfg.smtp_url is not None:
        SmtpConfig.from_url(cfg.smtp_url.get_secret_value(), cfg.smtp_timeout)
    return cfg


def load_notify_settings() -> NotifySettings:
    """Read the alert settings; a bad variable becomes one `ConfigError` line (no value echoed)."""
    try:
        return NotifySettings()
    except ValidationError as exc:
        from watcher.core.plain import env_problem  # noqa: PLC0415

        secret = frozenset({"WATCHER_SMTP_URL", "WATCHER_MAINTAINERS"})
        problems = [env_problem(dict(err), secret=secret) for err in exc.errors()]
        raise ConfigError(problems[0], problems) from None
