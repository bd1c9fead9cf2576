"""No server-side request forgery (issue 17): a URL named by a portal never makes the watcher fetch
a loopback, private, link-local or metadata address, before the request, at each redirect and on
the address actually connected to; refusals are logged, counted, and never fail a poll."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from tests.loopback import LoopbackServer, Reply, Request
from tests.test_documents import set_notice
from watcher.db.models import Document, Notice
from watcher.documents.sync import sync_documents
from watcher.errors import ConfigError, RefusedURLError
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime
from watcher.settings import Settings
from watcher.sources.http import Fetcher, build_client
from watcher.sources.netguard import NetGuard, is_public, load_allowance
from watcher.web.server import create_app


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # AWS, GCP, Azure metadata
        ("100.100.100.200", False),  # Alibaba metadata (shared address space)
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("fd00:ec2::254", False),  # AWS metadata over IPv6
        ("fe80::1", False),
        ("::ffff:127.0.0.1", False),
        ("ff02::1", False),
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("185.24.185.10", True),
    ],
)
def test_only_public_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme"),
        ("ftp://portal.example/x", "scheme"),
        ("http://127.0.0.1:8080/admin", "address"),
        ("http://2130706433/", "address"),  # 127.0.0.1 written as a number
        ("http://0x7f.1/", "address"),
        ("http://[::ffff:169.254.169.254]/latest/meta-data/", "address"),
        ("http://169.254.169.254/latest/meta-data/", "address"),
        ("http://localhost/", "address"),
        ("http://internal.example/", "address"),  # resolves to 10.0.0.7
        ("https://www.boamp.fr/avis/1", None),
        ("https://mirror.example:8443/avis/1", None),  # a configured origin
    ],
)
def test_urls_named_by_portals_are_checked(url: str, reason: str | None) -> None:
    def resolve(host: str, _port: int) -> list[str]:
        return {"internal.example": ["10.0.0.7"], "localhost": ["127.0.0.1", "::1"]}.get(
            host, ["185.24.185.10"]
        )

    guard = NetGuard(trusted=[("https", "mirror.example", 8443)], resolve=resolve)
    if reason is None:
        guard.check(httpx.URL(url))
        return
    with pytest.raises(RefusedURLError) as refused:
        guard.check(httpx.URL(url))
    assert refused.value.reason == reason and guard.refused == [reason]


def test_the_address_actually_connected_to_is_checked() -> None:
    """A name that looked public at the check but connects to loopback (DNS rebinding)."""
    with LoopbackServer(lambda _r: Reply(200, b"secret")) as server:
        port = server.url.rsplit(":", 1)[1]
        guard = NetGuard(resolve=lambda _h, _p: ["185.24.185.10"])  # lies, like rebinding
        with build_client(Settings(), guard=guard) as client:
            fetcher = Fetcher(client, retries=0)
            with pytest.raises(RefusedURLError, match=r"connected to 127\.0\.0\.1"):
                fetcher.get(f"http://localhost:{port}/x")
        assert guard.refused == ["connected"]


def test_allowance_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHER_FETCH_ALLOW", "127.0.0.0/8, ::1")
    assert [str(n) for n in load_allowance()] == ["127.0.0.0/8", "::1/128"]
    monkeypatch.setenv("WATCHER_FETCH_ALLOW", "intranet")
    with pytest.raises(ConfigError, match="WATCHER_FETCH_ALLOW"):
        load_allowance()


class HostilePortal:
    """A prefecture page on 127.0.0.1 whose links lead to the same server by other names."""

    def __init__(self) -> None:
        self.port = 0

    def __call__(self, request: Request) -> Reply:
        html = {"Content-Type": "text/html; charset=utf-8"}
        secret = f"http://localhost:{self.port}/secret"
        if request.path == "/list.html":
            body = f"""<ul>
            <li class="avis" data-ref="A1"><h2 class="titre"><a href="{secret}">Nettoyage du centre
              de rétention administrative de Lille</a></h2></li>
            <li class="avis" data-ref="A2"><h2 class="titre"><a href="/avis/2.html">Repas du CRA
              de Lille</a></h2></li>
            <li class="avis" data-ref="A3"><h2 class="titre"><a href="/redirect">Gardiennage du
              CRA de Lille</a></h2></li></ul>
            <a class="suivant" href="http://[::ffff:127.0.0.1]:{self.port}/list2.html">suite</a>"""
            return Reply(200, body.encode(), html)
        if request.path == "/avis/2.html":
            return Reply(200, b"<div class='objet'><p>Repas servis aux retenus</p></div>", html)
        if request.path == "/redirect":
            return Reply(302, b"", {"Location": secret})
        return Reply(200, b"<div class='objet'><p>SECRET</p></div>", html)


@pytest.fixture
def hostile() -> tuple[HostilePortal, LoopbackServer]:
    handler = HostilePortal()
    with LoopbackServer(handler) as server:
        handler.port = int(server.url.rsplit(":", 1)[1])
        yield handler, server


def test_a_hostile_page_cannot_make_the_watcher_fetch_loopback(
    hostile: tuple[HostilePortal, LoopbackServer], make_runtime: Callable[..., Runtime]
) -> None:
    _, server = hostile
    yaml = f"""sources:
  - name: prefecture
    kind: html
    min_interval: 0
    list_urls: ["{server.url}/list.html"]
    item: li.avis
    next_page: a.suivant
    fields: {{id: "@data-ref", title: "h2.titre a", link: "h2.titre a"}}
    detail: {{description: ".objet p"}}
"""
    runtime = make_runtime(yaml)
    [result] = run_sources(runtime.config.build(), runtime.context())
    assert result.ok, result.error  # refusals never fail the poll
    paths = [r.path for r in server.requests]
    assert "/secret" not in paths and "/list2.html" not in paths
    assert paths.count("/list.html") == 1 and "/avis/2.html" in paths and "/redirect" in paths
    with runtime.sessions() as session:
        notices = {n.native_id: n for n in session.scalars(select(Notice))}
    assert sorted(notices) == ["A1", "A2", "A3"]  # each item kept with what its list said
    assert "SECRET" not in str([n.snapshot for n in notices.values()])
    with TestClient(create_app(runtime)) as client:
        metrics = client.get("/metrics").text
    assert 'watcher_fetch_refused_total{reason="address"} 3.0' in metrics


def test_documents_on_private_addresses_are_refused_not_fetched(
    hostile: tuple[HostilePortal, LoopbackServer],
    make_runtime: Callable[..., Runtime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, server = hostile
    monkeypatch.delenv("WATCHER_FETCH_ALLOW", raising=False)
    runtime = make_runtime(
        f"sources:\n  - {{name: boamp, kind: boamp, base_url: '{server.url}'}}\n"
    )
    links = [f"{server.url}/doc.pdf", "http://169.254.169.254/latest/meta-data/iam"]
    set_notice(runtime, "26-1", links)
    report = sync_documents(runtime)
    assert report.failed == 2 and report.fetched == 0
    assert server.requests == []
    with runtime.sessions() as session:
        assert {d.status for d in session.scalars(select(Document))} == {"refused"}
    # Refused documents are not asked for again at the next sync.
    assert sync_documents(runtime).failed == 0
