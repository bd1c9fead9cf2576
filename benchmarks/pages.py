"""Part 2, page watching: the `html` kind on 500 detail pages of about 7 KB from a loopback site,
against urlwatch on the same pages in the same run.

The site is a buyer's tender list (`/avis/`, 500 items) and one detail page per tender. The
`html` source reads the list and every detail page (501 requests), with `concurrency: 4` and
`min_interval: 0` (a loopback site asks for no politeness); urlwatch watches the 500 detail
pages (its jobs file lists them); the floor is a stdlib `http.client` keep-alive client in 10
threads that fetches the list and the 500 pages, hashes and compares (`benchmarks.floors.html`).
Each runs as a process (`watcher run --once`, `urlwatch`, the floor), from a fresh state, then
again after 5% of the pages changed; five rounds, the tools interleaved, medians with min–max;
peak memory is the process's resident high-water mark. urlwatch comes from this virtual
environment (`pip install -e '.[bench]'`); without it its rows are skipped with a note.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from benchmarks.common import (
    PYTHON,
    REPS,
    LoopbackServer,
    Measured,
    Row,
    Series,
    child,
    mib,
    seconds,
    spawn,
    times,
)

PAGES, CHANGED_EVERY = 500, 20  # 5% of the pages change in the second round
MEMORY_VS_URLWATCH = 1.2  # issue 29: at most urlwatch's time and 1.2× its memory
WATCHER = str(Path(PYTHON).with_name("watcher"))
SERVICES = (
    "Nettoyage des locaux",
    "Entretien des espaces verts",
    "Fourniture de repas",
    "Maintenance des portails et clôtures",
    "Travaux de peinture",
)
PARAGRAPH = (
    "<p>Le présent marché a pour objet {service} des bâtiments et des abords du site n°{n}, "
    "conformément au cahier des clauses techniques particulières. Le titulaire assure les "
    "prestations dans le respect des règles de sécurité du site, des horaires d'ouverture et des "
    "consignes données par le représentant du pouvoir adjudicateur. Les quantités sont données "
    "à titre indicatif; elles peuvent varier de plus ou moins vingt pour cent.</p>\n"
)


def detail_page(n: int, changed: bool) -> bytes:
    """One tender's page (about 7 KB), its deadline moved when `changed`."""
    service = SERVICES[n % len(SERVICES)]
    day = 10 + n % 18 + (7 if changed else 0)
    relevant = " du centre de rétention administrative" if n % 25 == 0 else ""
    body = "".join(PARAGRAPH.format(service=service.lower(), n=n) for _ in range(8))
    extra = "<p>Avis rectificatif : la date limite est reportée.</p>" if changed else ""
    nav = "".join(f'<li><a href="/rubrique/{i}">Rubrique {i}</a></li>' for i in range(12))
    return f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Avis {n} - Préfecture</title>
<link rel="stylesheet" href="/style.css"><script>window.analytics = {{site: "pref"}};</script>
</head><body><header><nav><ul>{nav}</ul></nav></header>
<main><article class="avis-detail">
<h1>{service}{relevant} - lot {n}</h1>
<dl><dt>Pouvoir adjudicateur</dt><dd class="acheteur">Préfecture du Nord - Bureau {n % 7}</dd>
<dt>Date limite</dt><dd class="limite">{day:02d}/09/2026 à 12h00</dd>
<dt>Lieu</dt><dd class="lieu">(59) Nord</dd></dl>
<div class="objet">{body}{extra}</div>
<ul class="documents"><li><a href="/docs/{n}-rc.pdf">Règlement de la consultation</a></li>
<li><a href="/docs/{n}-cctp.pdf">CCTP</a></li></ul>
</article></main><footer><p>Préfecture - mentions légales - accessibilité</p></footer>
</body></html>
""".encode()


def list_page() -> bytes:
    """The list of every tender, each linking to its detail page."""
    items = "".join(
        f'<li class="avis" data-ref="PREF-{n}"><h2 class="titre"><a href="/avis/{n}.html">'
        f'{SERVICES[n % len(SERVICES)]} - lot {n}</a></h2><p class="acheteur">Préfecture</p>'
        f'<p class="publication">Publié le 02/09/2026</p></li>\n'
        for n in range(PAGES)
    )
    return f'<!DOCTYPE html><html lang="fr"><body><ul class="liste">{items}</ul></body></html>'.encode()


class Site:
    """The loopback site; `changed` switches the second round's pages on."""

    def __init__(self) -> None:
        self.changed = False
        self.pages = {False: {}, True: {}}  # type: dict[bool, dict[int, bytes]]
        for n in range(PAGES):
            self.pages[False][n] = detail_page(n, changed=False)
            self.pages[True][n] = detail_page(n, changed=n % CHANGED_EVERY == 0)
        self.listing = list_page()

    def __call__(self, path: str, _query: dict[str, list[str]]) -> tuple[int, bytes, str]:
        if path == "/avis/":
            return 200, self.listing, "text/html; charset=utf-8"
        if path.startswith("/avis/") and path.endswith(".html"):
            n = int(path.removeprefix("/avis/").removesuffix(".html"))
            return 200, self.pages[self.changed][n], "text/html; charset=utf-8"
        return 404, b"not found", "text/plain"


SOURCES = """sources:
  - name: prefecture
    kind: html
    min_interval: 0
    concurrency: 4
    list_urls: ["{url}/avis/"]
    item: li.avis
    fields:
      id: "@data-ref"
      title: h2.titre a
      link: h2.titre a
      buyer: .acheteur
      published: .publication
    detail:
      title: h1
      buyer: dd.acheteur
      deadline: dd.limite
      place: dd.lieu
      description: .objet p
      documents: ul.documents a
"""


def urlwatch_bin() -> Path | None:
    """urlwatch from this virtual environment (the `bench` extra), or None when it is absent."""
    binary = Path(PYTHON).with_name("urlwatch")
    return binary if binary.exists() else None


URLWATCH_ABSENT = (
    "urlwatch rows skipped: urlwatch is not installed in this virtual environment "
    "(pip install -e '.[bench]')"
)


def urlwatch_argv(folder: Path, jobs: str) -> list[str] | None:
    """urlwatch's command line with its jobs (`jobs`, YAML), configuration, hooks and cache all
    in `folder`; None when urlwatch is not installed."""
    folder.mkdir(parents=True, exist_ok=True)
    binary = urlwatch_bin()
    if binary is None:
        return None
    (folder / "urls.yaml").write_text(jobs, "utf-8")
    return [
        str(binary),
        "--urls",
        str(folder / "urls.yaml"),
        "--config",
        str(folder / "urlwatch.yaml"),
        "--hooks",
        str(folder / "hooks.py"),
        "--cache",
        str(folder / "cache.db"),
    ]


def _urlwatch_files(folder: Path, base_url: str) -> list[str] | None:
    jobs = "---\n".join(f"name: avis {n}\nurl: {base_url}/avis/{n}.html\n" for n in range(PAGES))
    return urlwatch_argv(folder, jobs)


def _watcher_env(folder: Path, base_url: str) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sources.yaml").write_text(SOURCES.format(url=base_url), "utf-8")
    return {
        "WATCHER_SOURCES": str(folder / "sources.yaml"),
        "WATCHER_DATA_DIR": str(folder / "data"),
        "WATCHER_DATABASE_URL": f"sqlite:///{folder / 'data' / 'watcher.sqlite3'}",
        "WATCHER_HTTP_RETRIES": "0",
        "HOME": str(folder),
    }


# One round of every tool: "watcher", "urlwatch" (when installed), "floor" (the html kind only).
Round = dict[str, Measured]


def _rounds(
    site: Site, server: LoopbackServer, tmp: Path, *, etags: bool = False
) -> dict[str, Round]:
    """One fresh first run and one 5%-changed run of each tool, one after the other; with
    `etags`, the site answers ETags and 304s (both tools send validators back)."""
    site.changed = False
    server.etags = etags
    uw_dir, w_dir, f_dir = tmp / "urlwatch", tmp / "watcher", tmp / "floor"
    for folder in (uw_dir, w_dir, f_dir):
        shutil.rmtree(folder, ignore_errors=True)
    f_dir.mkdir()
    urlwatch = _urlwatch_files(uw_dir, server.url)
    env = _watcher_env(w_dir, server.url)
    spawn([WATCHER, "db", "upgrade"], env=env).check()  # installing is not watching
    uw_env = {"HOME": str(uw_dir), "PYTHONPATH": ""}
    paths = ["/avis/", *(f"/avis/{n}.html" for n in range(PAGES))]
    floor_args = {"base_url": server.url, "paths": paths, "state": str(f_dir / "hashes.json")}
    made: dict[str, Round] = {}
    for name, changed in (("first run", False), ("5% changed", True)):
        site.changed = changed
        found: Round = {}
        if urlwatch is not None:
            found["urlwatch"] = spawn(urlwatch, env=uw_env).check()
        found["watcher"] = spawn([WATCHER, "run", "--once"], env=env).check()
        if not etags:
            found["floor"] = child("floors.html", **floor_args).check()
        made[name] = found
    if etags:
        return {"5% changed, site sends ETags": made["5% changed"]}
    return made


def poll_seconds(measured: Measured) -> float:
    """The polls' own duration, from the summary lines `watcher run` prints (`…, 0.8s`)."""
    found = re.findall(r"notices fetched .*?, ([\d.]+)s", measured.stdout)
    if not found:
        raise RuntimeError(f"no poll summary in: {measured.stdout[-500:]}")
    return sum(float(value) for value in found)


def not_modified(measured: Measured) -> int:
    """Pages that answered 304, from the summary lines."""
    return sum(int(n) for n in re.findall(r"(\d+) pages not modified", measured.stdout))


def compare(part: str, what: str, rounds: list[Round], *, poll_row: bool = True) -> list[Row]:
    """The rows of one round: the stdlib floor (when measured), the poll alone (from the summary
    line; not for hundreds of sources, whose rounded seconds would not add up), the whole
    command's wall time and peak memory against urlwatch's (medians, min–max)."""
    ours = Series.of([r["watcher"] for r in rounds])
    rows = []
    if "floor" in rounds[0]:
        floor = Series.of([r["floor"] for r in rounds])
        inner = Series.of([r["floor"] for r in rounds], "seconds")
        rows.append(
            Row(
                part,
                f"{what}: floor, stdlib http.client keep-alive in 10 threads, fetch + hash + compare (process)",
                floor.text(),
                f"in-process {seconds(inner.median)}",
            )
        )
    if poll_row:
        polls = Series(tuple(poll_seconds(r["watcher"]) for r in rounds), ours.peaks)
        rows.append(
            Row(part, f"{what}: the poll alone (its summary line)", polls.text(memory=False))
        )
    if "urlwatch" not in rounds[0]:
        rows.append(Row(part, f"{what}: whole `watcher run --once`", ours.text()))
        rows.append(Row(part, URLWATCH_ABSENT, "—"))
        return rows
    theirs = Series.of([r["urlwatch"] for r in rounds])
    return [
        *rows,
        Row(part, f"{what}: urlwatch 2.29 (process)", theirs.text()),
        Row(
            part,
            f"{what}: whole `watcher run --once`, seconds",
            ours.text(memory=False),
            f"urlwatch {seconds(theirs.median)}",
            times(ours.median, theirs.median),
            "≤ 1× urlwatch",
            ours.median <= theirs.median,
        ),
        Row(
            part,
            f"{what}: whole `watcher run --once`, peak memory",
            mib(ours.peak),
            f"urlwatch {mib(theirs.peak)}",
            times(ours.peak, theirs.peak),
            f"≤ {MEMORY_VS_URLWATCH:g}× urlwatch",
            ours.peak <= MEMORY_VS_URLWATCH * theirs.peak,
        ),
    ]


def run(*, quick: bool = False) -> list[Row]:
    """Every tool, REPS times each round, interleaved; the medians with their ranges."""
    del quick  # the same 500 pages: the part is short
    site = Site()
    results: dict[str, list[Round]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp, LoopbackServer(site) as server:
        for _ in range(REPS):
            for etags in (False, True):
                for name, found in _rounds(site, server, Path(tmp), etags=etags).items():
                    results.setdefault(name, []).append(found)
    rows = []
    for name, rounds in results.items():
        rows += compare("html", f"html kind, {PAGES} pages, {name}", rounds)
    unchanged = PAGES - PAGES // CHANGED_EVERY
    counted = [not_modified(r["watcher"]) for r in results["5% changed, site sends ETags"]]
    rows.append(
        Row(
            "html",
            "conditional requests: detail pages answering 304 (no body, no parse), counted",
            f"{min(counted)}",
            f"{unchanged} unchanged pages",
            target=f"= {unchanged}",
            met=all(c == unchanged for c in counted),
        )
    )
    return rows
