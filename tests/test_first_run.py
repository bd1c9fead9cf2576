"""`watcher init` and `watcher demo` (issue 19): the first commands of a newcomer, word for word.
The network check only ever talks to loopback here: the checked URLs come from the sources file."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tests.atom_schema import atom_problems
from tests.loopback import LoopbackServer, Reply
from tests.web.test_service import _free_port
from watcher.cli import main


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_init_writes_commented_files_that_check(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["init", "--dir", str(tmp_path), "--no-check"], env={})
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{tmp_path / 'sources.yaml'}: written\n{tmp_path / '.env.example'}: written\n"
    )
    sources = (tmp_path / "sources.yaml").read_text("utf-8")
    assert sources.startswith("# Sources watched by detention-watcher")
    assert "WATCHER_SMTP_URL" in (tmp_path / ".env.example").read_text("utf-8")
    checked = CliRunner().invoke(main, ["check-config", str(tmp_path / "sources.yaml")], env={})
    assert checked.exit_code == 0 and "OK, 9 sources (6 enabled)" in checked.stdout


def test_init_never_overwrites_without_saying_so(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text("sources: []\n")
    result = CliRunner().invoke(main, ["init", "--dir", str(tmp_path), "--no-check"], env={})
    assert result.stdout.splitlines()[0] == (
        f"{tmp_path / 'sources.yaml'}: already exists, left as it is (--force replaces it)"
    )
    assert (tmp_path / "sources.yaml").read_text() == "sources: []\n"
    forced = CliRunner().invoke(
        main, ["init", "--dir", str(tmp_path), "--no-check", "--force"], env={}
    )
    assert forced.stdout.splitlines() == [
        f"{tmp_path / 'sources.yaml'}: replaced",
        f"{tmp_path / '.env.example'}: replaced",
    ]


def test_init_says_which_portals_answer(tmp_path: Path) -> None:
    dead = _closed_port()
    with LoopbackServer(lambda _request: Reply(404, b"no")) as alive:
        (tmp_path / "sources.yaml").write_text(
            "sources:\n"
            f"  - name: boamp\n    kind: boamp\n    base_url: {alive.url}\n"
            f"  - name: ted\n    kind: ted\n    base_url: http://127.0.0.1:{dead}\n"
            f"  - name: spare\n    kind: boamp\n    enabled: false\n    base_url: {alive.url}\n"
        )
        result = CliRunner().invoke(main, ["init", "--dir", str(tmp_path)], env={})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()[2:]
    assert lines[0] == "checking the network to 2 portal(s) of sources.yaml…"
    assert lines[1] == f"  ok    boamp: {alive.url}/ answers"
    assert lines[2].startswith(
        "  FAIL  ted: 127.0.0.1: cannot reach the portal — check the internet connection or the "
        "proxy (the connection was refused) [ConnectError: "
    )
    assert lines[3] == (
        "1 of 2 portal(s) answer; the others are tried at each run and their failures shown on "
        "the /sources page"
    )


def test_init_offline_points_at_the_demo(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(
        f"sources:\n  - name: boamp\n    kind: boamp\n    base_url: http://127.0.0.1:{_closed_port()}\n"
    )
    result = CliRunner().invoke(main, ["init", "--dir", str(tmp_path)], env={})
    assert result.stdout.splitlines()[-1] == (
        "no portal answers: cannot reach the portal — check the internet connection or the "
        "proxy. Meanwhile `watcher demo` shows the site with sample data, without any network"
    )


def test_demo_serves_the_site_a_procedure_and_a_feed_without_network(tmp_path: Path) -> None:
    port = _free_port()
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "watcher", "demo", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "WATCHER_DATABASE_URL": "notaurl-is-never-used"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        assert time.monotonic() - started < 60
        home = httpx.get(f"{base}/").text
        assert "Démonstration :" in home and "Construction du centre de rétention" in home
        feed = httpx.get(f"{base}/feeds/all.atom")
        assert atom_problems(feed.content) == []
        sources = httpx.get(f"{base}/sources").text
        assert "boamp-demo" in sources
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert out.splitlines()[0] == (
        "demo: DEMONSTRATION with a bundled sample of 4 BOAMP notices, an award among them "
        "(real-shaped, frozen; names and dates rewritten). Nothing is fetched from the internet and no alert is sent."
    )
    page = re.search(r"demo: a procedure's page:  (\S+)", out)
    assert page is not None
    assert "demo: a feed:              " in out and "Traceback" not in err
    # An award and the company that won it (issue 25).
    company = re.search(r"demo: a company's page:    (\S+)", out)
    assert company is not None and company.group(1).endswith("/companies/restauration-des-flandres")


def test_demo_procedure_page_has_a_timeline(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["demo", "--no-serve", "--data-dir", str(tmp_path), "--port", "8099"], env={}
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == "demo: poll 1 of the sample: 3 notice(s), 3 new, 0 changed, 2 event(s)"
    assert lines[2] == "demo: poll 2 of the sample: 3 notice(s), 0 new, 1 changed, 1 event(s)"
    assert lines[3] == "demo: poll 3 of the sample: 4 notice(s), 1 new, 0 changed, 1 event(s)"
    assert lines[4] == "demo: companies: 1"
    from starlette.testclient import TestClient  # noqa: PLC0415

    from watcher.pipeline.runtime import Runtime  # noqa: PLC0415
    from watcher.settings import Settings  # noqa: PLC0415
    from watcher.web.server import create_app  # noqa: PLC0415

    path = re.search(r"http://127\.0\.0\.1:8099(/notices/\d+)", result.stdout)
    assert path is not None
    runtime = Runtime(
        Settings(
            sources=tmp_path / "sources.yaml",
            data_dir=tmp_path,
            database_url=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
            demo=True,
        )
    )
    with TestClient(create_app(runtime)) as client:
        notice = client.get(path.group(1)).text
        company = client.get("/companies/restauration-des-flandres")
        subscribe = client.get("/subscribe").text
    assert company.status_code == 200 and "RESTAURATION DES FLANDRES" in company.text
    assert "Démonstration" in subscribe  # the form says it is a demonstration too
    assert notice.count('class="step') == 2 and "04/01/2027" in notice and "18/01/2027" in notice
    runtime.close()


def test_demo_run_again_on_its_folder_adds_no_event(tmp_path: Path) -> None:
    """Issue 25: polling the sample again moved the deadline back and forth: false events."""
    args = ["demo", "--no-serve", "--data-dir", str(tmp_path)]
    assert CliRunner().invoke(main, args, env={}).exit_code == 0
    from sqlalchemy import create_engine, func, select  # noqa: PLC0415

    from watcher.db.models import Event  # noqa: PLC0415

    engine = create_engine(f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    with engine.connect() as conn:
        before = conn.scalar(select(func.count(Event.id)))
    again = CliRunner().invoke(main, args, env={})
    assert again.exit_code == 0, again.output
    assert f"demo: the sample is already in {tmp_path}; shown as it is" in again.stdout
    with engine.connect() as conn:
        assert conn.scalar(select(func.count(Event.id))) == before == 4
    engine.dispose()


def test_demo_checks_its_port_first_and_leaves_no_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile  # noqa: PLC0415

    monkeypatch.setattr(tempfile, "tempdir", None)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        taken = CliRunner().invoke(main, ["demo", "--port", str(port)], env={})
    assert taken.exit_code == 1
    assert f"port {port} on 127.0.0.1 is already in use" in taken.stderr
    assert "poll 1" not in taken.stdout  # nothing was built first
    done = CliRunner().invoke(main, ["demo", "--no-serve"], env={})
    assert done.exit_code == 0, done.output
    assert "deleted when the demonstration stops" in done.stdout
    assert list(tmp_path.iterdir()) == []  # no watcher-demo-* folder left


def test_demo_feeds_say_demonstration(tmp_path: Path) -> None:
    args = ["demo", "--no-serve", "--data-dir", str(tmp_path)]
    assert CliRunner().invoke(main, args, env={}).exit_code == 0
    atom = (tmp_path / "feeds" / "all.atom").read_text("utf-8")
    assert "<title>Démonstration — " in atom
    english = (tmp_path / "feeds" / "en" / "all.atom").read_text("utf-8")
    assert "<title>Demonstration — " in english
