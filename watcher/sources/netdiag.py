"""Network failures in words: what went wrong between this computer and a portal, and what to do.

`explain(exc, url)` turns an httpx transport error into one line a non-engineer can act on, keeping
the technical detail in brackets for whoever debugs it:

    boamp-datadila.opendatasoft.com: cannot reach the portal — check the internet connection or
    the proxy (the name could not be looked up: DNS) [ConnectError: [Errno -2] Name or service…]

`retryable(exc)` says whether another try in a few seconds can help: a timeout or a reset can, a
name that cannot be looked up (no network), a refused proxy or a failed TLS handshake cannot, so an
offline run fails fast instead of waiting through every backoff (issue 19).
"""

from __future__ import annotations

import os
import socket
import ssl
import urllib.request
from urllib.parse import urlsplit

import httpx

UNREACHABLE = "cannot reach the portal — check the internet connection or the proxy"

_DNS = (
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
    "no address associated",
    "name resolution",
    "getaddrinfo failed",
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def cause(exc: BaseException) -> str:
    """`dns`, `refused`, `tls`, `proxy`, `timeout`, `unreachable`, `hangup` or `network`."""
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, httpx.ProxyError) for e in chain) or "proxy" in text:
        return "proxy"
    if any(isinstance(e, httpx.TimeoutException | TimeoutError) for e in chain):
        return "timeout"
    if any(isinstance(e, socket.gaierror) for e in chain) or any(m in text for m in _DNS):
        return "dns"
    if any(isinstance(e, ssl.SSLError) for e in chain) or "ssl" in text or "certificate" in text:
        return "tls"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in text:
        return "refused"
    if "network is unreachable" in text or "no route to host" in text:
        return "unreachable"
    if any(isinstance(e, httpx.RemoteProtocolError | httpx.ReadError) for e in chain):
        return "hangup"
    return "network"


_WORDS = {
    "dns": f"{UNREACHABLE} (the portal's name could not be looked up: DNS)",
    "refused": f"{UNREACHABLE} (the connection was refused)",
    "unreachable": f"{UNREACHABLE} (the network is unreachable)",
    "network": f"{UNREACHABLE} (the connection failed)",
    "timeout": (
        "the portal did not answer in time — check the internet connection or the proxy; "
        "the portal may also be slow or down (WATCHER_HTTP_TIMEOUT sets the patience)"
    ),
    "proxy": (
        "cannot reach the portal through the proxy — check the proxy address (the source's "
        "`proxy:` key, or HTTPS_PROXY) and that the proxy is running"
    ),
    "tls": (
        "cannot open a secure connection (TLS) to the portal — check the computer's date and "
        "time, and any proxy or antivirus that intercepts HTTPS"
    ),
    "hangup": "the portal hung up before answering completely; it is tried again later",
}


# The same words in French, for the French pages (`/sources` shows the stored error).
WORDS_FR = {
    UNREACHABLE: "impossible de joindre le portail — vérifiez la connexion internet ou le proxy",
    "(the portal's name could not be looked up: DNS)": "(le nom du portail est introuvable : DNS)",
    "(the connection was refused)": "(la connexion a été refusée)",
    "(the network is unreachable)": "(le réseau est injoignable)",
    "(the connection failed)": "(la connexion a échoué)",
    _WORDS["timeout"]: (
        "le portail n'a pas répondu à temps — vérifiez la connexion internet ou le proxy ; le "
        "portail est peut-être aussi lent ou en panne (WATCHER_HTTP_TIMEOUT règle la patience)"
    ),
    _WORDS["proxy"]: (
        "impossible de joindre le portail par le proxy — vérifiez l'adresse du proxy (la clé "
        "`proxy:` de la source, ou HTTPS_PROXY) et que le proxy fonctionne"
    ),
    _WORDS["tls"]: (
        "impossible d'ouvrir une connexion sécurisée (TLS) avec le portail — vérifiez la date et "
        "l'heure de l'ordinateur, et tout proxy ou antivirus qui intercepte le HTTPS"
    ),
    _WORDS["hangup"]: (
        "le portail a raccroché avant d'avoir tout envoyé ; il sera réessayé plus tard"
    ),
    "(through the proxy ": "(par le proxy ",
    "(the source's proxy:)": "(la clé proxy: de la source)",
}


def in_french(text: str) -> str:
    """A stored failure line with the words of this module in French (the host, the proxy's
    address and the technical detail in brackets stay as they are)."""
    for english in sorted(WORDS_FR, key=len, reverse=True):
        text = text.replace(english, WORDS_FR[english])
    return text


def _bare(proxy: str) -> str:
    """A proxy's address without its user name and password."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


def proxy_in_use(url: str, configured: str | None = None) -> str | None:
    """`the proxy http://proxy.example:3128 (HTTPS_PROXY)`: the proxy a request to `url` goes
    through (the source's `proxy:`, else the environment's, as httpx reads it), or None."""
    if configured:
        return f"the proxy {_bare(configured)} (the source's proxy:)"
    environment = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if not environment or bypass(parts.hostname or "", environment):
        return None
    for key in (parts.scheme, "all"):
        value = environment.get(key)
        if value:
            names = [f"{key.upper()}_PROXY", f"{key}_proxy"]
            name = next((n for n in names if os.environ.get(n)), names[0])
            return f"the proxy {_bare(value)} ({name})"
    return None


def silence(url: str, seconds: float, proxy: str | None = None) -> str:
    """One line for a portal that said nothing at all in `seconds` (no exception to explain)."""
    host = urlsplit(url).hostname or url
    through = proxy_in_use(url, proxy)
    via = f" (through {through})" if through else ""
    return f"{host}: {_WORDS['timeout']}{via} [no answer in {seconds:g} s]"


def explain(exc: BaseException, url: str, proxy: str | None = None) -> str:
    """One line: the portal's host, what went wrong in words (and through which proxy, when one
    is in use: `proxy` is the source's), the technical detail in brackets."""
    host = urlsplit(url).hostname or url
    detail = f"{type(exc).__name__}: {exc}".strip()
    if len(detail) > 160:
        detail = detail[:159] + "…"
    through = proxy_in_use(url, proxy)
    via = f" (through {through})" if through else ""
    return f"{host}: {_WORDS[cause(exc)]}{via} [{detail}]"


def retryable(exc: BaseException) -> bool:
    """Whether another try in a few seconds may succeed (not for DNS, proxy or TLS failures)."""
    return cause(exc) not in {"dns", "proxy", "tls"}


def all_offline(errors: list[str]) -> bool:
    """Whether every error of a round says a portal could not be reached (no network at all)."""
    return bool(errors) and all(UNREACHABLE in e or "did not answer in time" in e for e in errors)
