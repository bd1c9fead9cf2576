"""Part 3, feeds: the `feed` kind on 200 RSS feeds of 20 items from a loopback site, against
urlwatch watching the same 200 URLs, in the same run.

Each feed is a `feed` source of its own in `sources.yaml` (`min_interval: 0`); urlwatch's jobs
file lists the 200 URLs. Both run as a user would run them (`watcher run --once`, `urlwatch`)
from a fresh state, then again after 5% of the feeds gained an item. Five rounds, the tools
interleaved, medians with min–max, as in part 2 (`benchmarks.pages`, whose urlwatch it shares).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from benchmarks.common import REPS, LoopbackServer, Row, spawn
from benchmarks.pages import WATCHER, Round, compare, urlwatch_argv

FEEDS, ITEMS, CHANGED_EVERY = 200, 20, 20
ITEM = """<item><guid isPermaLink="false">feed-{feed}-item-{n}</guid>
<title>{title}</title><link>https://acheteur-{feed}.example/avis/{n}</link>
<pubDate>Wed, 02 Sep 2026 08:{minute:02d}:00 +0200</pubDate>
<description>Le présent marché a pour objet {title_lower}. Les prestations sont exécutées
conformément au cahier des clauses techniques particulières ; date limite de réception des
offres le {day:02d}/10/2026 à 12h00. Lieu d'exécution : (59) Nord.</description></item>
"""
TITLES = (
    "Nettoyage des locaux administratifs",
    "Entretien des espaces verts",
    "Fourniture de repas pour le centre de rétention administrative",
    "Maintenance des portails",
    "Travaux de peinture",
)


def feed(number: int, extra: bool) -> bytes:
    """One buyer's RSS feed; `extra` adds the newest item (the changed round)."""
    items = []
    for n in range(ITEMS + (1 if extra else 0)):
        title = TITLES[(number + n) % len(TITLES)] + f" - lot {n}"
        items.append(
            ITEM.format(
                feed=number, n=n, title=title, title_lower=title.lower(), minute=n % 60, day=1 + n
            )
        )
    body = "".join(reversed(items))
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>Acheteur {number}</title><link>https://acheteur-{number}.example/</link>"
        f"<description>Avis</description>{body}</channel></rss>\n"
    ).encode()


class Feeds:
    """The loopback site; `changed` switches the second round's feeds on."""

    def __init__(self) -> None:
        self.changed = False
        self.pages = {
            flag: {n: feed(n, flag and n % CHANGED_EVERY == 0) for n in range(FEEDS)}
            for flag in (False, True)
        }

    def __call__(self, path: str, _query: dict[str, list[str]]) -> tuple[int, bytes, str]:
        if path.startswith("/feeds/") and path.endswith(".xml"):
            n = int(path.removeprefix("/feeds/").removesuffix(".xml"))
            if n in self.pages[self.changed]:
                return 200, self.pages[self.changed][n], "application/rss+xml; charset=utf-8"
        return 404, b"not found", "text/plain"


def _files(folder: Path, base_url: str) -> tuple[list[str] | None, dict[str, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    urls = [f"{base_url}/feeds/{n}.xml" for n in range(FEEDS)]
    jobs = "---\n".join(f"name: acheteur {n}\nurl: {url}\n" for n, url in enumerate(urls))
    urlwatch = urlwatch_argv(folder, jobs)
    entries = "".join(
        f"  - name: acheteur-{n}\n    kind: feed\n    min_interval: 0\n    url: {url}\n"
        for n, url in enumerate(urls)
    )
    (folder / "sources.yaml").write_text(f"sources:\n{entries}", "utf-8")
    env = {
        "WATCHER_SOURCES": str(folder / "sources.yaml"),
        "WATCHER_DATA_DIR": str(folder / "data"),
        "WATCHER_DATABASE_URL": f"sqlite:///{folder / 'data' / 'watcher.sqlite3'}",
        "WATCHER_HTTP_RETRIES": "0",
        "HOME": str(folder),
    }
    return urlwatch, env


def _rounds(site: Feeds, base_url: str, tmp: Path) -> dict[str, Round]:
    site.changed = False
    shutil.rmtree(tmp / "round", ignore_errors=True)
    urlwatch, env = _files(tmp / "round", base_url)
    spawn([WATCHER, "db", "upgrade"], env=env).check()  # installing is not watching
    uw_env = {"HOME": str(tmp / "round"), "PYTHONPATH": ""}
    made: dict[str, Round] = {}
    for name, changed in (("first run", False), ("5% changed", True)):
        site.changed = changed
        found: Round = {}
        if urlwatch is not None:
            found["urlwatch"] = spawn(urlwatch, env=uw_env).check()
        found["watcher"] = spawn([WATCHER, "run", "--once"], env=env).check()
        made[name] = found
    return made


def run(*, quick: bool = False) -> list[Row]:
    """Both tools, REPS times each round, interleaved; the medians with their ranges."""
    del quick  # the same 200 feeds: the part is short
    site = Feeds()
    results: dict[str, list[Round]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-feeds-") as tmp, LoopbackServer(site) as server:
        for _ in range(REPS):
            for name, found in _rounds(site, server.url, Path(tmp)).items():
                results.setdefault(name, []).append(found)
    rows: list[Row] = []
    for name, rounds in results.items():
        rows += compare("feed", f"feed kind, {FEEDS} feeds, {name}", rounds, poll_row=False)
    return rows
