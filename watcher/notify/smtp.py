"""`SmtpMailer`: sends through the server named by `WATCHER_SMTP_URL`.

URL forms (user and password are percent-decoded; both are optional):

| URL | connection | default port |
|---|---|---|
| `smtp://user:pass@host:port` | plain SMTP (fine on localhost or a trusted relay) | 25 |
| `smtp://user:pass@host:port?starttls=true` | plain, upgraded with STARTTLS before login | 587 |
| `smtp+starttls://user:pass@host:port` | the same, spelled in the scheme | 587 |
| `smtps://user:pass@host:port` | TLS from the first byte (implicit TLS) | 465 |

`?timeout=SECONDS` overrides `WATCHER_SMTP_TIMEOUT`. Certificates are checked. A connection is
opened on the first send, reused for the round (checked with NOOP before reuse) and closed at the end.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from watcher.errors import ConfigError, DeliveryError
from watcher.notify.mailer import MailServerDown, RecipientRejected


def scrub(text: str) -> str:
    """`watcher.notify.subscribers.scrub`, imported when a message is scrubbed: reading the SMTP
    settings (every command at start-up) then needs no database layer."""
    from watcher.notify.subscribers import scrub as scrubbed  # noqa: PLC0415

    return scrubbed(text)


Security = Literal["plain", "starttls", "tls"]
_SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}
# Example values copied from documentation are refused rather than tried against a real server.
PLACEHOLDERS = {"changeme", "change-me", "password", "secret", "xxx", "your-password", "pass"}


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to connect; `describe()` never shows the password."""

    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str, timeout: float = 30.0) -> SmtpConfig:
        """Parse a `WATCHER_SMTP_URL`; `ConfigError` names what is wrong, never the password."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise ConfigError(
                f"environment: WATCHER_SMTP_URL: scheme {scheme!r} is not one of "
                "smtp://, smtp+starttls://, smtps://"
            )
        security, default_port = _SCHEMES[scheme]
        query = parse_qs(parts.query)
        if scheme == "smtp" and query.get("starttls", ["false"])[0].lower() in {"true", "1", "yes"}:
            security, default_port = "starttls", 587
        if "timeout" in query:
            timeout = float(query["timeout"][0])
        try:
            port = parts.port or default_port
        except ValueError:
            raise ConfigError("environment: WATCHER_SMTP_URL: the port is not a number") from None
        if not parts.hostname:
            raise ConfigError("environment: WATCHER_SMTP_URL: no host (smtp://host:port)")
        password = unquote(parts.password) if parts.password is not None else None
        if password is not None and password.lower() in PLACEHOLDERS:
            raise ConfigError(
                "environment: WATCHER_SMTP_URL: the password is a placeholder; set the real one"
            )
        username = unquote(parts.username) if parts.username else None
        return cls(parts.hostname, port, security, username, password, timeout)

    def describe(self) -> str:
        """`smtp+starttls://user@host:587`, for messages and logs."""
        scheme = {"plain": "smtp", "starttls": "smtp+starttls", "tls": "smtps"}[self.security]
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


class SmtpMailer:
    """A `Mailer` over `smtplib`; every failure becomes a `DeliveryError` with a scrubbed message."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._conn: smtplib.SMTP | None = None

    def send(self, message: EmailMessage) -> None:
        """Send one message; see `watcher.notify.mailer` for what each error means."""
        try:
            conn = self._connection()
            conn.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _msg in exc.recipients.values()]
            text = f"recipient refused ({', '.join(str(c) for c in codes)})"
            if codes and all(code >= 500 for code in codes):
                raise RecipientRejected(text) from None
            raise DeliveryError(text) from None
        except smtplib.SMTPDataError as exc:
            text = f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}"
            if exc.smtp_code >= 500:
                raise RecipientRejected(text) from None
            raise DeliveryError(text) from None
        except smtplib.SMTPSenderRefused as exc:
            self.close()
            raise MailServerDown(
                f"sender refused: {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            self.close()
            raise MailServerDown(f"login refused: {exc.smtp_code}") from None
        except (
            smtplib.SMTPServerDisconnected,
            smtplib.SMTPConnectError,
            smtplib.SMTPNotSupportedError,
        ) as exc:
            self.close()
            raise self._down(exc) from None
        except smtplib.SMTPException as exc:  # after its subclasses above; it is an OSError
            self.close()
            raise DeliveryError(f"SMTP error: {scrub(str(exc))}") from None
        except OSError as exc:  # refused, unreachable, timeout, TLS failure
            self.close()
            raise self._down(exc) from None

    def _down(self, exc: BaseException) -> MailServerDown:
        reason = scrub(str(exc)) or type(exc).__name__
        return MailServerDown(f"{self.config.describe()} unavailable: {reason}")

    def close(self) -> None:
        """Say QUIT, or just drop the connection when the server is already gone."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()

    def _connection(self) -> smtplib.SMTP:
        if self._conn is not None:
            try:
                if self._conn.noop()[0] == 250:
                    return self._conn
            except (smtplib.SMTPException, OSError):
                pass
            self.close()
        cfg = self.config
        context = ssl.create_default_context()
        conn: smtplib.SMTP
        if cfg.security == "tls":
            conn = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context)
        else:
            conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        try:
            conn.ehlo()
            if cfg.security == "starttls":
                conn.starttls(context=context)
                conn.ehlo()
            if cfg.username:
                conn.login(cfg.username, cfg.password or "")
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn


def _text(value: bytes | str) -> str:
    raw = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return scrub(raw)[:200]
