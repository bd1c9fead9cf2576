"""No server-side request forgery: where a URL named by a portal may lead the watcher (issue 17).

A hostile notice can name any URL as a document, a detail page, a next page or a feed entry. Left
alone, the watcher would fetch `http://127.0.0.1:…`, a private address or a cloud metadata
address (`169.254.169.254`) and publish the text it got back. Every request made through
`watcher.sources.http.build_client(…, guard=…)` is checked by a `NetGuard`:

- the scheme must be `http` or `https`;
- the host must resolve only to *global* addresses: loopback, private (RFC 1918, ULA),
  link-local (metadata), shared (CGNAT, `100.64/10`), multicast, reserved and unspecified
  addresses are refused, IPv4-mapped IPv6 included;
- the check runs before the request and again before each redirect is followed (httpx calls the
  request hook for every hop), and once connected, on the address the socket is *actually*
  connected to (httpcore's `network_stream` extension, `server_addr`), before the body is read:
  a name that resolved to a public address for the check and to a private one for the connection
  (DNS rebinding) is refused too.

URLs on the origin (scheme, host, port) of something a maintainer configured for the source
(`base_url`, `list_urls`, `url`, `urls`) are not checked: a maintainer may point a source at a
mirror on the local network. Behind a configured proxy the connected address is the proxy's, so
only the name is checked.

| variable | default | meaning |
|---|---|---|
| `WATCHER_FETCH_ALLOW` | unset | networks that portal-named URLs may reach anyway (`127.0.0.0/8,::1` on loopback) |

A refusal raises `RefusedURLError` (a `FetchError`): a detail page or a document is recorded as
refused, a next page ends the paging; the poll goes on. Each refusal is logged (warning) and
counted in the database (`watcher_fetch_refused_total{reason}` on `/metrics`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError, field_validator
from pydantic_settings import BaseSettings

from watcher.errors import ConfigError, RefusedURLError
from watcher.settings import ENV_CONFIG, ENV_FILE

log = logging.getLogger("watcher.sources.netguard")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]
URL_FIELDS = ("base_url", "list_urls", "url", "urls")
_ALLOW_VARIABLE = "WATCHER_FETCH_ALLOW"


class GuardSettings(BaseSettings):
    """`WATCHER_FETCH_ALLOW`, from the environment."""

    model_config = ENV_CONFIG

    fetch_allow: str = ""

    @field_validator("fetch_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        networks(value)
        return value


def networks(text: str) -> list[Network]:
    """Comma-separated addresses or networks; `ValueError` naming the bad one."""
    found: list[Network] = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            try:
                found.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
    return found


def load_allowance() -> list[Network]:
    """`WATCHER_FETCH_ALLOW` as networks; a bad value is one `ConfigError` line.

    Read again only when the variable or the `.env` file changed: a round of 200 feed sources
    built the settings model 200 times (issue 29)."""
    from watcher.core.plain import env_problem  # noqa: PLC0415

    key = _allowance_key()
    if key in _ALLOWANCE:
        return list(_ALLOWANCE[key])
    try:
        found = networks(GuardSettings().fetch_allow)
    except ValidationError as exc:
        raise ConfigError(env_problem(dict(exc.errors()[0]))) from None
    _ALLOWANCE.clear()
    _ALLOWANCE[key] = tuple(found)
    return found


_ALLOWANCE: dict[tuple[Any, ...], tuple[Network, ...]] = {}


def _allowance_key() -> tuple[Any, ...]:
    """What `GuardSettings` reads: the variable (in any case) and the `.env` file's identity."""
    named = tuple(sorted((k, v) for k, v in os.environ.items() if k.upper() == _ALLOW_VARIABLE))
    try:
        stat = os.stat(ENV_FILE)
        env_file: tuple[Any, ...] = (os.path.abspath(ENV_FILE), stat.st_mtime_ns, stat.st_size)
    except OSError:
        env_file = (os.path.abspath(ENV_FILE),)
    return named, env_file


def is_public(address: Address) -> bool:
    """True for an address on the public internet (not loopback, private, link-local…)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return bool(
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_unspecified
    )


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system's resolver, as httpx's connection uses)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _literal(host: str) -> Address | None:
    """`host` as an address when it is one, in any form the system accepts (`2130706433`)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(str(infos[0][4][0]).split("%")[0])


def origin(url: httpx.URL | str) -> tuple[str, str, int]:
    """(scheme, host, port) of `url`, the port made explicit."""
    # An `httpx.URL` is read as it is: parsing it again from its text cost two parses a request.
    parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return parsed.scheme, parsed.host.lower(), port


def configured_origins(config: BaseModel) -> set[tuple[str, str, int]]:
    """The origins of the URLs a maintainer configured for a source."""
    found: set[tuple[str, str, int]] = set()
    for name in URL_FIELDS:
        value = getattr(config, name, None)
        for url in value if isinstance(value, list | tuple) else [value]:
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                try:
                    found.add(origin(url))
                except (httpx.InvalidURL, ValueError):
                    continue
    return found


class NetGuard:
    """Checks every request and connection of one client (see the module docstring).

    `resolve` is None with a test transport (`httpx.MockTransport`): names are then not looked up
    (nothing is connected to), only literal addresses and `localhost` are checked.
    """

    def __init__(
        self,
        *,
        trusted: Iterable[tuple[str, str, int]] = (),
        allow: Iterable[Network] = (),
        resolve: Resolver | None = system_resolver,
        proxied: bool = False,
    ) -> None:
        self.trusted = frozenset(trusted)
        self.allow = tuple(allow)
        self.resolve = resolve
        self.proxied = proxied
        self.refused: list[str] = []
        self._lock = threading.Lock()

    def hooks(self) -> dict[str, list[Callable[..., Any]]]:
        """httpx `event_hooks`: a check before each request and redirect, and once connected."""
        return {"request": [self.on_request], "response": [self.on_response]}

    def allowed(self, address: Address) -> bool:
        """A public address, or one in `WATCHER_FETCH_ALLOW`."""
        return is_public(address) or any(address in net for net in self.allow)

    def _refuse(self, url: httpx.URL, reason: str, detail: str) -> None:
        with self._lock:
            self.refused.append(reason)
        shown = str(url.copy_with(query=None, fragment=None))[:120]
        log.warning("refused to fetch %s: %s", shown, detail)
        raise RefusedURLError(f"{shown}: refused: {detail}", reason=reason)

    def check(self, url: httpx.URL) -> None:
        """Raise `RefusedURLError` unless `url` may be fetched."""
        if url.scheme not in ("http", "https"):
            self._refuse(url, "scheme", f"scheme {url.scheme or '(none)'!r} is not http(s)")
        where = origin(url)
        if where in self.trusted:
            return
        host = url.host
        literal = _literal(host)
        if literal is not None:
            if not self.allowed(literal):
                self._refuse(url, "address", f"{literal} is not a public address")
            return
        if self.resolve is None:
            if host == "localhost" or host.endswith(".localhost"):
                self._refuse(url, "address", f"{host} is not a public host")
            return
        try:
            addresses = self.resolve(host, where[2])
        except (OSError, UnicodeError):
            return  # the connection fails the same way, as an ordinary fetch error
        for text in addresses:
            address = ipaddress.ip_address(text.split("%")[0])
            if not self.allowed(address):
                self._refuse(url, "address", f"{host} resolves to {address}, not public")

    def on_request(self, request: httpx.Request) -> None:
        """Request hook: the URL (first request and every redirect)."""
        self.check(request.url)

    def on_response(self, response: httpx.Response) -> None:
        """Response hook: the address actually connected to, before the body is read."""
        if self.proxied or origin(response.request.url) in self.trusted:
            return
        stream = response.extensions.get("network_stream")
        if stream is None:
            return  # a test transport: nothing was connected to
        peer = stream.get_extra_info("server_addr")
        if not peer:
            return
        address = ipaddress.ip_address(str(peer[0]).split("%")[0])
        if not self.allowed(address):
            self._refuse(response.request.url, "connected", f"connected to {address}, not public")


def for_source(
    config: BaseModel, transport: httpx.BaseTransport | None, proxy: str | None = None
) -> NetGuard:
    """The guard of one source's poll: its configured origins trusted."""
    return NetGuard(
        trusted=configured_origins(config),
        allow=load_allowance(),
        resolve=system_resolver if _networked(transport) else None,
        proxied=bool(proxy),
    )


def for_documents(transport: httpx.BaseTransport | None) -> NetGuard:
    """The guard of a documents sync: every document URL was named by a portal."""
    return NetGuard(
        allow=load_allowance(), resolve=system_resolver if _networked(transport) else None
    )


def _networked(transport: httpx.BaseTransport | None) -> bool:
    return transport is None or isinstance(transport, httpx.HTTPTransport)
