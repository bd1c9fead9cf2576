"""Part 2, page watching: the `html` kind on 500 detail pages of about 7 KB from a loopback site,
against urlwatch on the same pages in the same run.

The site is a buyer's tender list (`/avis/`, 500 items) and one detail page per tender. The
`html` source reads the list and every detail page (501 requests), with `concurrency: 4` and
`min_interval: 0` (a loopback site asks for no politeness); urlwatch watches the 500 detail
pages (its jobs file lists them). Both run as the command a user would run (`watcher run
--once`, `urlwatch`), from a fresh state, then again after 5% of the pages changed. Each round is
repeated and the median kept; peak memory is the process's resident high-water mark.
urlwatch is installed by the benchmark into `benchmarks/.venv-urlwatch` (pip).
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from benchmarks.common import PYTHON, ROOT, LoopbackServer, Measured, Row, mib, seconds, spawn

PAGES, CHANGED_EVERY = 500, 20  # 5% of the pages change in the second round
URLWATCH_VENV = ROOT / "benchmarks" / ".venv-urlwatch"
URLWATCH_VERSION = "urlwatch==2.29"
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


def urlwatch_bin() -> Path:
    """urlwatch in its own virtual environment, installed on first use."""
    binary = URLWATCH_VENV / "bin" / "urlwatch"
    if not binary.exists():
        print(f"installing {URLWATCH_VERSION} into {URLWATCH_VENV}…", flush=True)
        subprocess.run([PYTHON, "-m", "venv", str(URLWATCH_VENV)], check=True)
        pip = [str(URLWATCH_VENV / "bin" / "pip"), "install", "-q", URLWATCH_VERSION]
        subprocess.run(pip, check=True)
    return binary


def _urlwatch_files(folder: Path, base_url: str) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    jobs = "---\n".join(f"name: avis {n}\nurl: {base_url}/avis/{n}.html\n" for n in range(PAGES))
    (folder / "urls.yaml").write_text(jobs, "utf-8")
    return [
        str(urlwatch_bin()),
        "--urls",
        str(folder / "urls.yaml"),
        "--config",
        str(folder / "urlwatch.yaml"),
        "--hooks",
        str(folder / "hooks.py"),
        "--cache",
        str(folder / "cache.db"),
    ]


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


def _rounds(
    site: Site, server: LoopbackServer, tmp: Path, *, etags: bool = False
) -> dict[str, tuple[Measured, Measured]]:
    """One fresh first run and one 5%-changed run of each tool; with `etags`, the site answers
    ETags and 304s (both tools send validators back)."""
    site.changed = False
    server.etags = etags
    uw_dir, w_dir = tmp / "urlwatch", tmp / "watcher"
    for folder in (uw_dir, w_dir):
        shutil.rmtree(folder, ignore_errors=True)
    urlwatch = _urlwatch_files(uw_dir, server.url)
    env = _watcher_env(w_dir, server.url)
    spawn([WATCHER, "db", "upgrade"], env=env).check()  # installing is not watching
    uw_env = {"HOME": str(uw_dir), "PYTHONPATH": ""}
    first = (spawn(urlwatch, env=uw_env).check(), spawn([WATCHER, "run", "--once"], env=env))
    site.changed = True
    again = (spawn(urlwatch, env=uw_env).check(), spawn([WATCHER, "run", "--once"], env=env))
    for _, ours in (first, again):
        ours.check()
    if etags:
        return {"5% changed, site sends ETags": again}
    return {"first run": first, "5% changed": again}


def poll_seconds(measured: Measured) -> float:
    """The polls' own duration, from the summary lines `watcher run` prints (`…, 0.8s`)."""
    found = re.findall(r"notices fetched .*?, ([\d.]+)s", measured.stdout)
    if not found:
        raise RuntimeError(f"no poll summary in: {measured.stdout[-500:]}")
    return sum(float(value) for value in found)


def not_modified(measured: Measured) -> int:
    """Pages that answered 304, from the summary lines."""
    return sum(int(n) for n in re.findall(r"(\d+) pages not modified", measured.stdout))


def compare(
    part: str, what: str, pairs: list[tuple[Measured, Measured]], *, poll_row: bool = True
) -> list[Row]:
    """The rows of one round against urlwatch: the poll alone (from the summary line; not for
    hundreds of sources, whose rounded seconds would not add up), wall time, peak memory
    (medians)."""
    theirs_s = statistics.median(p[0].seconds for p in pairs)
    ours_s = statistics.median(p[1].seconds for p in pairs)
    theirs_m = statistics.median(p[0].peak_mib for p in pairs)
    ours_m = statistics.median(p[1].peak_mib for p in pairs)
    rows = []
    if poll_row:
        polls = statistics.median(poll_seconds(p[1]) for p in pairs)
        rows.append(Row(part, f"{what}: the poll alone (no start-up, no feeds)", seconds(polls)))
    return [
        *rows,
        Row(
            part,
            f"{what}: seconds",
            seconds(ours_s),
            f"urlwatch {seconds(theirs_s)}",
            f"{ours_s / theirs_s:.2f}×",
            "≤ 1× urlwatch",
            ours_s <= theirs_s,
        ),
        Row(
            part,
            f"{what}: peak memory",
            mib(ours_m),
            f"urlwatch {mib(theirs_m)}",
            f"{ours_m / theirs_m:.2f}×",
            "≤ 1× urlwatch",
            ours_m <= theirs_m,
        ),
    ]


def run(*, quick: bool = False) -> list[Row]:
    """Both tools, `reps` times each round; the median seconds and peak memory."""
    reps = 1 if quick else 3
    site = Site()
    results: dict[str, list[tuple[Measured, Measured]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp, LoopbackServer(site) as server:
        for _ in range(reps):
            for etags in (False, True):
                for name, pair in _rounds(site, server, Path(tmp), etags=etags).items():
                    results.setdefault(name, []).append(pair)
    rows = []
    for name, pairs in results.items():
        rows += compare("html", f"html kind, {PAGES} pages, {name}", pairs)
    unchanged = PAGES - PAGES // CHANGED_EVERY
    counted = [not_modified(p[1]) for p in results["5% changed, site sends ETags"]]
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
