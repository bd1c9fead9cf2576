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
tokens compared in constant time; state-changing POSTs from another site refused (`Origin`, or
else `Referer`, must be this site when the browser sends one). All counters live in the database
(`watcher.db.limits`), so limits hold across restarts and across instances.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.requests import Request

from watcher.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
HONEYPOT = "website"  # a field people never see nor fill (hidden by the stylesheet)
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

    model_config = SettingsConfigDict(env_prefix="WATCHER_", extra="ignore")

    subscribe_per_client: int = 10
    subscribe_per_address: int = 3
    subscribe_mails_per_hour: int = 100
    subscribe_token_hours: float = 48.0
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
    try:
        return SubscribeSettings()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = "_".join(str(p) for p in err["loc"]).upper()
        raise ConfigError(f"environment: WATCHER_{name}: {err['msg']}") from None


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
