"""The cache of rendered pages (issue 29): a page changes right after a poll commits, whichever
process made it; readers never share a form's token; the language chosen is respected; 304s."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.testclient import TestClient

from tests.helpers import BoampPortal, runtime_env
from tests.loopback import LoopbackServer
from tests.test_pipeline import sources_yaml
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime
from watcher.web.page_cache import MARK, PageCache, etag_of, keep, marking, matches
from watcher.web.protect import client_address, site_secret, valid_form_token
from watcher.web.server import create_app

MOVED = 'class="badge kind-deadline_moved"'  # how `/` shows the second poll's news


def _poll(runtime: Runtime) -> None:
    [result] = run_sources(runtime.config.build(), runtime.context())
    assert result.ok, result.error


@pytest.fixture
def portal() -> Any:
    handler = BoampPortal()
    with LoopbackServer(handler) as server:
        yield handler, server


def _first_poll(make_runtime: Callable[..., Runtime], portal: Any) -> Runtime:
    handler, server = portal
    runtime = make_runtime(sources_yaml(server.url))
    _poll(runtime)
    handler.load("poll_page_moved_deadline.json")
    return runtime


@pytest.mark.parametrize("path", ["/", "/sites", "/sources", "/companies", "/radar"])
def test_a_page_changes_right_after_a_poll_of_this_process(
    make_runtime: Callable[..., Runtime], portal: Any, path: str
) -> None:
    runtime = _first_poll(make_runtime, portal)
    with TestClient(create_app(runtime)) as client:
        before = client.get(path)
        again = client.get(path)
        assert before.status_code == again.status_code == 200
        assert again.text == before.text  # served from the cache
        _poll(runtime)  # the deadline moves: the data generation grows
        after = client.get(path)
    assert after.status_code == 200
    if path in {"/", "/sources"}:
        assert after.text != before.text


def test_the_home_page_tells_a_poll_of_another_process_at_once(
    make_runtime: Callable[..., Runtime], portal: Any
) -> None:
    runtime = _first_poll(make_runtime, portal)
    with TestClient(create_app(runtime)) as client:
        before = client.get("/")
        assert MOVED not in before.text
        assert client.get("/").text == before.text
        done = subprocess.run(
            [sys.executable, "-m", "watcher", "run", "--once"],
            env=runtime_env(runtime, inherit=True),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        after = client.get("/")
    assert MOVED in after.text


def test_pages_are_cached_per_language(make_runtime: Callable[..., Runtime], portal: Any) -> None:
    runtime = _first_poll(make_runtime, portal)
    with TestClient(create_app(runtime)) as client:
        french = client.get("/")
        english = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
        asked = client.get("/?lang=en")
        french_again = client.get("/")
    assert french.headers["content-language"] == french_again.headers["content-language"] == "fr"
    assert english.headers["content-language"] == asked.headers["content-language"] == "en"
    assert french_again.text == french.text
    assert english.text != french.text
    assert "Vary" in english.headers


def test_an_unchanged_page_answers_304_until_the_data_changes(
    make_runtime: Callable[..., Runtime], portal: Any
) -> None:
    runtime = _first_poll(make_runtime, portal)
    with TestClient(create_app(runtime)) as client:
        first = client.get("/")
        tag = first.headers["etag"]
        same = client.get("/", headers={"If-None-Match": tag})
        assert same.status_code == 304 and not same.content
        assert same.headers["etag"] == tag
        _poll(runtime)
        changed = client.get("/", headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag


def _request(client: str, query: str = "", headers: dict[str, str] | None = None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/companies/acme",
        "query_string": query.encode(),
        "headers": raw,
        "client": (client, 50000),
        "server": ("watcher.example", 443),
        "scheme": "https",
    }
    return Request(scope)


def _form_page(request: Request) -> Response:
    token = MARK if marking(request) else "token-made-for-this-reader"
    return HTMLResponse(f'<form><input name="form_token" value="{token}"></form>')


@pytest.fixture
def runtime(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime("sources: []\n")


def test_readers_never_share_a_form_token(runtime: Runtime) -> None:
    cache = PageCache(runtime)
    page = cache.wrap(_form_page)
    secret = site_secret(runtime.settings)
    tokens = []
    for address in ("192.0.2.1", "198.51.100.7", "192.0.2.1"):
        request = _request(address)
        body = page(request).body.decode()
        assert MARK not in body and "etag" not in body
        token = body.split('value="')[1].split('"')[0]
        assert valid_form_token(secret, client_address(request, []), token)
        tokens.append(token)
    assert cache.misses == 1 and cache.hits == 2  # one render, three readers
    other = client_address(_request("198.51.100.7"), [])
    assert not valid_form_token(secret, other, tokens[0])  # one reader's token is not another's


@pytest.mark.parametrize(
    ("response", "kept"),
    [
        (HTMLResponse("<p>page</p>"), True),
        (HTMLResponse("<p>gone</p>", status_code=404), False),
        (HTMLResponse("<p>bad</p>", status_code=400), False),
        (HTMLResponse("<p>page</p>", headers={"Set-Cookie": "a=b"}), False),
        (HTMLResponse("<p>page</p>", headers={"Cache-Control": "no-store"}), False),
        (JSONResponse({"a": 1}), False),
        (HTMLResponse("x" * (3 * 1024 * 1024)), False),
    ],
    ids=["html", "404", "400", "cookie", "no-store", "json", "too-big"],
)
def test_what_is_kept(response: Response, kept: bool) -> None:
    assert keep(response) is kept


@pytest.mark.parametrize(
    ("header", "found"),
    [
        (None, False),
        ("", False),
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ('"x"', False),
        ("*", True),
    ],
)
def test_if_none_match(header: str | None, found: bool) -> None:
    assert matches(header, '"abc"') is found


def test_bounded_and_aged(runtime: Runtime) -> None:
    now = [0.0]
    cache = PageCache(runtime, max_bytes=250, max_age=60, clock=lambda: now[0])
    renders: list[str] = []

    def handler(request: Request) -> Response:
        renders.append(request.url.path)
        return HTMLResponse("x" * 100)

    page = cache.wrap(handler)
    for path in ("/a", "/b", "/a", "/c", "/a", "/b"):
        page(Request({**_request("192.0.2.1").scope, "path": path}))
    # 100 bytes each, 250 kept: /c pushes out the least recently used (/b), not /a.
    assert renders == ["/a", "/b", "/c", "/b"]
    assert len(cache) == 2
    now[0] = 61.0
    page(Request({**_request("192.0.2.1").scope, "path": "/a"}))
    assert renders[-1] == "/a"  # too old: rendered again


def test_no_cache_when_turned_off(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime("sources: []\n", page_cache_mb=0)
    cache = PageCache(runtime)
    assert cache.wrap(_form_page) is _form_page


def test_a_post_is_never_cached(runtime: Runtime) -> None:
    cache = PageCache(runtime)
    calls = []

    def handler(request: Request) -> Response:
        calls.append(request.method)
        return HTMLResponse("<p>done</p>")

    page = cache.wrap(handler)
    for _ in range(2):
        page(Request({**_request("192.0.2.1").scope, "method": "POST"}))
    assert calls == ["POST", "POST"] and len(cache) == 0


def test_nothing_is_left_behind_for_pages_not_kept(runtime: Runtime) -> None:
    cache = PageCache(runtime)

    def handler(request: Request) -> Response:
        if request.url.path == "/boom":
            raise RuntimeError("boom")
        return HTMLResponse("<p>no such page</p>", status_code=404)

    page = cache.wrap(handler)
    for number in range(50):
        page(Request({**_request("192.0.2.1").scope, "path": f"/notices/{number}"}))
    with pytest.raises(RuntimeError):
        page(Request({**_request("192.0.2.1").scope, "path": "/boom"}))
    assert len(cache) == 0 and not cache._flights


def test_a_form_page_not_kept_still_gets_its_reader_token(runtime: Runtime) -> None:
    cache = PageCache(runtime)

    def refused(request: Request) -> Response:
        token = MARK if marking(request) else "?"
        return HTMLResponse(f'<input name="form_token" value="{token}">', status_code=400)

    request = _request("192.0.2.1")
    answer = cache.wrap(refused)(request)
    token = answer.body.decode().split('value="')[1].split('"')[0]
    assert answer.status_code == 400 and len(cache) == 0
    assert valid_form_token(site_secret(runtime.settings), client_address(request, []), token)
    assert int(answer.headers["content-length"]) == len(answer.body)


class _SlowPages:
    """A page of the generation it is rendered at (`v1`, `v2`...) whose renders after the first
    block until `release` is set, under a cache whose generation and clock the test sets."""

    def __init__(self, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, *, warm: bool) -> None:
        self.gen, self.now = 1, 0.0
        self.cache = PageCache(runtime, max_age=60, stale_age=600, clock=lambda: self.now)
        monkeypatch.setattr(self.cache, "generation", lambda: self.gen)
        self.renders: list[int] = []
        self.started, self.release = threading.Event(), threading.Event()
        self.page = self.cache.wrap(self._render)
        if warm:
            self.release.set()
            assert self.get() == b"v1"
            self.release.clear()
            self.started.clear()

    def _render(self, request: Request) -> Response:
        self.renders.append(self.gen)
        self.started.set()
        assert self.release.wait(10)
        return HTMLResponse(f"v{self.gen}")

    def get(self, headers: dict[str, str] | None = None) -> bytes:
        return bytes(self.page(_request("192.0.2.1", headers=headers)).body)

    def in_thread(self) -> tuple[threading.Thread, list[Response]]:
        answers: list[Response] = []
        thread = threading.Thread(target=lambda: answers.append(self.page(_request("192.0.2.9"))))
        thread.start()
        return thread, answers


@pytest.mark.parametrize(
    ("bump", "later", "stale"),
    [
        (True, 0.0, True),  # a commit: the generation grew
        (True, 599.0, True),
        (False, 61.0, True),  # no commit, past MAX_AGE
        (True, 601.0, False),  # older than the bound: never served stale
        (False, 601.0, False),
    ],
    ids=["new-generation", "new-generation-9min", "aged", "new-generation-too-old", "too-old"],
)
def test_the_previous_page_while_the_new_one_renders(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, bump: bool, later: float, stale: bool
) -> None:
    pages = _SlowPages(runtime, monkeypatch, warm=True)
    pages.gen += bump
    pages.now += later
    renderer, rendered = pages.in_thread()
    assert pages.started.wait(10)  # the one render is under way
    if stale:
        # Another reader: the previous page at once, with the previous page's own ETag and 304.
        answer = pages.page(_request("192.0.2.1"))
        assert answer.body == b"v1" and answer.headers["etag"] == etag_of(b"v1")
        again = pages.page(_request("192.0.2.1", headers={"If-None-Match": etag_of(b"v1")}))
        assert again.status_code == 304 and again.headers["etag"] == etag_of(b"v1")
        assert pages.cache.stale == 2
        pages.release.set()
    else:
        waiter, waited = pages.in_thread()
        waiter.join(0.3)
        assert waiter.is_alive() and not waited  # waits for the render
        pages.release.set()
        waiter.join(10)
        assert [a.body for a in waited] == [f"v{pages.gen}".encode()]
        assert pages.cache.stale == 0
    renderer.join(10)
    new = f"v{pages.gen}".encode()
    assert [a.body for a in rendered] == [new]  # the reader who started the render waited for it
    assert pages.get() == new  # and once it is rendered, everyone gets it
    assert len(pages.renders) == 2 and not pages.cache._flights


def test_a_fresh_server_waits_for_the_one_render(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = _SlowPages(runtime, monkeypatch, warm=False)
    first, first_answer = pages.in_thread()
    assert pages.started.wait(10)
    second, second_answer = pages.in_thread()
    second.join(0.3)
    assert second.is_alive() and not second_answer  # nothing to serve yet: it waits
    pages.release.set()
    for thread in (first, second):
        thread.join(10)
    assert [a.body for a in first_answer + second_answer] == [b"v1", b"v1"]
    assert pages.renders == [1] and pages.cache.stale == 0


@pytest.mark.parametrize("status", [404, 500])
def test_a_page_gone_is_not_served_stale(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    pages = _SlowPages(runtime, monkeypatch, warm=True)
    pages.gen += 1
    page = pages.cache.wrap(lambda request: HTMLResponse("gone", status_code=status))
    assert page(_request("192.0.2.1")).status_code == status
    assert len(pages.cache) == 0  # its previous copy went with the render that did not keep
