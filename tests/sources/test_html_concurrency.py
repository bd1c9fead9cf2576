"""`html` with `concurrency`: detail pages fetched at once come out as a sequential poll gives
them, and requests still start no closer together than `min_interval`."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import pytest
from pydantic import ValidationError

from tests.loopback import LoopbackServer, Reply, Request
from watcher.records import PollWindow
from watcher.sources.html import HtmlSource
from watcher.sources.http import Fetcher

WINDOW = PollWindow(now=dt.datetime(2026, 3, 12, tzinfo=dt.UTC))
ITEMS = 12


def handler(started: list[float]):
    def serve(request: Request) -> Reply:
        started.append(time.monotonic())
        html = {"Content-Type": "text/html; charset=utf-8"}
        if request.path == "/avis/":
            items = "".join(
                f'<li class="avis" data-ref="A-{n}"><a href="/avis/{n}.html">Avis {n}</a></li>'
                for n in range(ITEMS)
            )
            return Reply(200, f"<ul>{items}</ul>".encode(), html)
        n = int(request.path.removeprefix("/avis/").removesuffix(".html"))
        if n == 5:
            return Reply(404, b"gone", html)
        body = f"<h1>Avis {n} en détail</h1><p class='lieu'>({59 + n % 2}) Nord</p>"
        return Reply(200, body.encode(), html)

    return serve


def poll(url: str, interval: float, **config: object):
    src = HtmlSource(
        HtmlSource.Config(
            name="pref",
            kind="html",
            list_urls=[f"{url}/avis/"],
            item="li.avis",
            fields={"id": "@data-ref", "title": "a", "link": "a"},
            detail={"title": "h1", "place": ".lieu"},
            **config,
        )
    )
    with httpx.Client(trust_env=False) as client:
        pages = list(src.fetch(Fetcher(client, min_interval=interval, retries=0), WINDOW))
    return [(n.native_id, n.title, n.department) for page in pages for n in src.parse(page)]


def test_concurrent_detail_pages_give_what_a_sequential_poll_gives() -> None:
    with LoopbackServer(handler([])) as server:
        one = poll(server.url, 0, concurrency=1)
        many = poll(server.url, 0, concurrency=4)
    assert many == one
    assert len(one) == ITEMS
    assert one[1] == ("A-1", "Avis 1 en détail", "60")
    assert one[5] == ("A-5", "Avis 5", None)  # its page is gone: what the list said


def test_concurrency_keeps_the_interval_between_requests() -> None:
    started: list[float] = []
    with LoopbackServer(handler(started)) as server:
        poll(server.url, 0.03, concurrency=4)
    assert len(started) == ITEMS + 1
    # 13 requests, each starting 30 ms after the one before: 360 ms at least (arrival times
    # jitter a little on a busy machine, the sum does not).
    assert started[-1] - started[0] >= 0.3


@pytest.mark.parametrize("value", [0, 17])
def test_concurrency_is_bounded(value: int) -> None:
    with pytest.raises(ValidationError, match="concurrency"):
        HtmlSource.Config(
            name="pref",
            kind="html",
            list_urls=["https://pref.example/avis/"],
            item="li",
            fields={"title": "a", "link": "a"},
            concurrency=value,
        )
