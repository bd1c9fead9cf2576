"""Scraped text is sanitized before it reaches a feed: no `<script>`, no event handlers, no
`javascript:` links, no characters that are illegal in XML."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from tests.atom_schema import atom_problems
from tests.loopback import LoopbackServer, Reply, Request
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime
from watcher.publish.feeds import write_feeds

ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE = """<html><body><ul>
<li class="avis" data-ref="A1">
  <h2 class="titre"><a href="javascript:alert(document.cookie)">Nettoyage du centre de rétention
  administrative de Lesquin<script>alert('x')</script><img src=x onerror="alert(1)"></a></h2>
  <p class="resume">Prestations\x0b de <b onclick="steal()">nettoyage</b> des locaux du CRA
  <iframe src="https://evil.example"></iframe> \x01 fin.</p>
  <span class="acheteur"><style>body{display:none}</style>SGAMI Nord</span>
</li></ul></body></html>"""


def test_markup_never_reaches_the_feed(make_runtime: Callable[..., Runtime]) -> None:
    def handler(_request: Request) -> Reply:
        return Reply(200, HOSTILE.encode(), {"Content-Type": "text/html; charset=utf-8"})

    with LoopbackServer(handler) as server:
        runtime = make_runtime(
            "sources:\n  - name: prefecture\n    kind: html\n"
            f"    list_urls: ['{server.url}/avis']\n"
            "    item: li.avis\n"
            "    fields: {id: '@data-ref', title: h2.titre a, link: h2.titre a@href,"
            " description: p.resume, buyer: span.acheteur}\n"
        )
        [result] = run_sources(runtime.config.build(), runtime.context())
    assert result.ok and result.events == 1, result
    with runtime.sessions() as session:
        write_feeds(session, runtime.settings, runtime.settings.data_dir / "f")
    document = (runtime.settings.data_dir / "f" / "all.atom").read_bytes()
    assert atom_problems(document) == []
    entry = etree.fromstring(document).find(f"{ATOM}entry")
    assert entry is not None
    html = (entry.findtext(f"{ATOM}content") or "") + (entry.findtext(f"{ATOM}title") or "")
    for bad in (
        "<script",
        "<img",
        "onerror",
        "onclick",
        "<iframe",
        "javascript:",
        "<style",
        "alert(",
    ):
        assert bad not in html.lower(), bad
    assert "Nettoyage du centre de rétention administrative de Lesquin" in html
    assert "SGAMI Nord" in html
    link = entry.find(f"{ATOM}link[@rel='alternate']")
    assert link is not None
    assert link.get("href", "").startswith("http://127.0.0.1:")  # the list page, not javascript:
