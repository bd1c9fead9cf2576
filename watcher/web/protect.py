"""What keeps the public subscription form from being turned against anyone (issue 17).

The form sends e-mail from our server to any address typed into it: left open, a script could
mail-bomb a victim, get our mail server blacklisted, or learn who is subscribed. Defaults hold
without any setting; each can be changed by an environment variable:

| variable | default | meaning |
|---|---|---|
| `WATCHER_SUBSCRIBE_PER_CLIENT` | `10` | form submissions per client address per hour (IPv6: per /64); more get a 429 page |
| `WATCHER_SUBSCRIBE_PER_ADDRESS` | `3` | submissions naming one mailbox per 24 h, from anywhere (`a+x@` counts as `a@`); more get a 429 |
| `WATCHER_SUBSCRIBE_MAILS_PER_HOUR` | `100` | confirmation e-mails per hour, whole site; the maintainers are told once when it is reached |
| `WATCHER_SUBSCRIBE_TOKEN_HOURS` | `48` | a confirmation link works this long, and once |
| `WATCHER_TRUSTED_PROXIES` | unset | reverse proxies (`127.0.0.1,10.0.0.0/8`) whose `X-Forwarded-For` is believed |

Always, whatever the settings: at most one confirmation e-mail per address per 24 hours
(`watcher.notify.subscribers.RESEND_CONFIRMATION_AFTER`); a hidden honeypot field that people
never fill (a filled one gets the usual answer and nothing is sent); the same answer, in the same
time, whether an address is new, pending or subscribed (the e-mail is sent after the answer);
tokens compared in constant time; state-changing POSTs from another site refused. All counters
live in the database (`watcher.db.limits`), so limits hold across restarts and across instances.

Telling a form sent from this site from one sent from another (issue 25): every page says
`Referrer-Policy: no-referrer`, so a browser posts this site's own forms with `Origin: null` and
no `Referer`. What a browser really sends is read in this order (`post_verdict`):
`Sec-Fetch-Site` (Chromium, Firefox, Safari; on HTTPS and on localhost) refuses `cross-site` and
`same-site`; a real `Origin` (or `Referer`) must be this site; `Sec-Fetch-Site: same-origin` is
enough; else every form carries a signed token (`form_token`: HMAC-SHA256 under the site's secret
of the client's address and the time the page was shown, valid 24 h), which a page on another site
cannot produce for the visitor's address. `Origin: null` without a valid token is *unsure*: the
form is shown again, filled in, with a fresh token, and nothing is sent. A POST with no browser
signal at all (a mail provider's RFC 8058 one-click unsubscribe, curl) is let through: it cannot
ride on a visitor's browser, and the limits above still hold.

The secret is `WATCHER_SECRET_KEY` when set (several instances must share it), else a random key
written once to `<data dir>/secret.key` (mode 600).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings

from watcher.errors import ConfigError
from watcher.settings import ENV_CONFIG, Settings

if TYPE_CHECKING:
    from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
HONEYPOT = "website"  # a field people never see nor fill (hidden by the stylesheet)
FORM_TOKEN = "form_token"  # noqa: S105 - the name of the hidden field of every form
FORM_TOKEN_TTL = 24 * 3600  # seconds a shown form may wait before it is sent
SECRET_FILE = "secret.key"  # noqa: S105 - a file name
Verdict = Literal["ok", "foreign", "unsure"]
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class SubscribeSettings(BaseSettings):
    """Limits of the public subscription form, from `WATCHER_*` environment variables."""

    model_config = ENV_CONFIG

    subscribe_per_client: int = Field(default=10, ge=1)
    subscribe_per_address: int = Field(default=3, ge=1)
    subscribe_mails_per_hour: int = Field(default=100, ge=1)
    subscribe_token_hours: float = Field(default=48.0, gt=0, le=24 * 365)
    trusted_proxies: str = ""

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    def proxies(self) -> list[Network]:
        """`WATCHER_TRUSTED_PROXIES` as networks."""
        return parse_networks(self.trusted_proxies)


def parse_networks(text: str) -> list[Network]:
    """Comma-separated addresses or networks; `ValueError` naming the bad one."""
    networks: list[Network] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network") from None
    return networks


def load_subscribe_settings() -> SubscribeSettings:
    """Read the form's limits; a bad variable becomes one `ConfigError` line."""
    from watcher.core.plain import env_problem  # noqa: PLC0415

    try:
        return SubscribeSettings()
    except ValidationError as exc:
        problems = [env_problem(dict(err)) for err in exc.errors()]
        raise ConfigError(problems[0], problems) from None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def client_address(request: Request, proxies: list[Network]) -> str:
    """The address of the person at the other end.

    The peer of the connection, unless it is a trusted proxy: then the right-most address of
    `X-Forwarded-For` that is not itself a trusted proxy (the left part is written by the client
    and proves nothing). IPv6 addresses are reduced to their /64, what one machine usually holds.
    """
    peer = _address(request.client.host) if request.client else None
    if peer is not None and any(peer in net for net in proxies):
        hops = [h for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
        for hop in reversed(hops):
            found = _address(hop)
            if found is None:
                break
            peer = found
            if not any(found in net for net in proxies):
                break
    if peer is None:
        return "unknown"
    if peer.version == 6:
        if peer.ipv4_mapped is not None:
            return str(peer.ipv4_mapped)
        return str(ipaddress.ip_network(f"{peer}/64", strict=False))
    return str(peer)


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def site_secret(settings: Settings) -> bytes:
    """The key of the site's signatures: `WATCHER_SECRET_KEY`, else `<data dir>/secret.key`
    (made at first use, readable by its owner only)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode("utf-8")
    return _secret_file(str(settings.data_dir.resolve() / SECRET_FILE))


@lru_cache(maxsize=8)
def _secret_file(name: str) -> bytes:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes().strip()
        if len(key) >= 32:
            return key
        raise ConfigError(f"{path}: the site's secret key is too short; delete the file") from None
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
    return path.read_bytes().strip()


def sign(secret: bytes, *parts: str) -> str:
    """A URL-safe HMAC-SHA256 signature (32 characters) of `parts`."""
    digest = hmac.new(secret, "\x1f".join(parts).encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode("ascii")


def form_token(secret: bytes, client: str, now: float | None = None) -> str:
    """The hidden token of a form shown to `client` (its address, as `client_address` says)."""
    issued = str(int(time.time() if now is None else now))
    return f"{issued}.{sign(secret, 'form', client, issued)}"


def page_form_token(request: Request, settings: Settings) -> str:
    """The token for a form on a page shown by `request` (the company page's form)."""
    client = client_address(request, load_subscribe_settings().proxies())
    return form_token(site_secret(settings), client)


def valid_form_token(secret: bytes, client: str, token: str, now: float | None = None) -> bool:
    """Whether `token` was made by `form_token` for this client less than 24 hours ago."""
    issued, _, signature = token.partition(".")
    if not issued.isdigit() or len(issued) > 12:
        return False
    age = (time.time() if now is None else now) - int(issued)
    if not -300 <= age <= FORM_TOKEN_TTL:
        return False
    return hmac.compare_digest(signature.encode(), sign(secret, "form", client, issued).encode())


def post_verdict(request: Request, base_url: str, *, token_ok: bool) -> Verdict:
    """Whether a POST comes from a page of this site (`ok`), from another site (`foreign`), or
    from a browser that says too little to tell (`unsure`: `Origin: null`, no valid token).

    `token_ok` says whether the form's signed token (`valid_form_token`) checked out.
    """
    fetch_site = request.headers.get("sec-fetch-site", "").strip().lower()
    if fetch_site in {"cross-site", "same-site"}:
        return "foreign"
    claimed = request.headers.get("origin")
    if claimed not in (None, "null") or request.headers.get("referer"):
        return "ok" if same_site(request, base_url) else "foreign"
    if fetch_site in {"same-origin", "none"} or token_ok:
        return "ok"
    return "unsure" if claimed == "null" else "ok"


def same_site(request: Request, base_url: str) -> bool:
    """False for a POST that a browser says comes from another site.

    The browser's `Origin` (else its `Referer`) must be the public site (`WATCHER_BASE_URL`);
    the `Host` a request names is the client's word, never trusted on its own (issue 26). A
    request without either (a mail provider's RFC 8058 one-click unsubscribe, curl) is let
    through: the unsubscribe token is the secret there.
    """
    claimed = request.headers.get("origin")
    if claimed is None or claimed == "null":
        referer = request.headers.get("referer")
        if not referer:
            return claimed is None
        claimed = referer
    origin = _origin(claimed)
    return origin is not None and origin == _origin(base_url)
