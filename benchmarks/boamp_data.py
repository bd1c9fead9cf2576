"""Synthetic BOAMP API pages built from the recorded records of `tests/fixtures/boamp/`.

Every record of the fixtures that has an id is a template (real eForms records of 10-20 KB of
`donnees`, MAPA and FNSimple ones of about 1 KB, a V230 one of 9 KB). Copies get their own `idweb`,
title, procedure id and publication date; corrections and awards point at the copy of the notice
they correct; one in forty is about a detention centre, so that the matcher has work to do and the
feeds have events.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "boamp"
RECORDS_PATH = "/api/explore/v2.1/catalog/datasets/boamp/records"
SUBJECTS = (
    "Entretien des espaces verts",
    "Fourniture de repas",
    "Nettoyage des locaux",
    "Maintenance des ascenseurs",
    "Travaux de réfection de toiture",
    "Fourniture de mobilier",
    "Transport scolaire",
    "Assurance dommages aux biens",
    "Location de véhicules",
    "Prestations de gardiennage",
    "Travaux de voirie",
    "Maintenance informatique",
)
TOWNS = (
    "Lille", "Rouen", "Orléans", "Bordeaux", "Tours", "Dijon", "Mamoudzou", "Roissy",
    "Coquelles", "Vincennes", "Béziers", "Nîmes", "Metz", "Rennes", "Toulouse", "Lyon",
)  # fmt: skip
DETENTION = (
    "Centre de rétention administrative de {town} : {subject}",
    "{subject} au local de rétention administrative de {town}",
    "{subject} pour la zone d'attente de {town}",
)


def templates() -> list[dict[str, Any]]:
    """The fixture records that have an `idweb` and readable `donnees`."""
    found: list[dict[str, Any]] = []
    for name in ("page_eforms.json", "page_national.json", "poll_page.json"):
        for record in json.loads((FIXTURES / name).read_text("utf-8"))["results"]:
            if record.get("idweb") and len(record.get("donnees") or "") > 100:
                found.append(record)
    return found


def _replace_ids(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for old, new in ids.items():
            if old in value:
                value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_replace_ids(v, ids) for v in value]
    return value


def records(count: int, today: dt.date, start: int = 0) -> list[dict[str, Any]]:
    """`count` records, oldest first, published over the 20 days before `today`; their ids
    count from `start` (so that several sets of records do not share ids)."""
    models = templates()
    latest: dict[str, str] = {}  # template idweb → idweb of its latest copy
    procedures: dict[str, str] = {}  # template procedure id → that of its latest copy
    made: list[dict[str, Any]] = []
    for i in range(count):
        model = models[i % len(models)]
        record = copy.deepcopy(model)
        idweb = f"26-{300000 + start + i}"
        ids = {model["idweb"]: idweb, model["idweb"].replace("-", "_"): idweb.replace("-", "_")}
        for ref in model.get("annonce_lie") or []:
            if ref in latest:
                ids[ref] = latest[ref]
        latest[model["idweb"]] = idweb
        for key in ("idweb", "id", "filename", "url_avis", "gestion", "donnees", "annonce_lie"):
            record[key] = _replace_ids(record.get(key), ids)
        subject, town = SUBJECTS[i % len(SUBJECTS)], TOWNS[(i // 7) % len(TOWNS)]
        if i % 40 == 0:
            pattern = DETENTION[(i // 40) % len(DETENTION)]
            record["objet"] = pattern.format(town=town, subject=subject.lower())
            record["nomacheteur"] = "MINISTERE DE L'INTERIEUR - SGAMI"
        else:
            record["objet"] = f"{subject} – {town} ({i})"
        folder = model.get("contractfolderid")
        if folder:
            # A procedure of its own, or the procedure of the copy it corrects or awards.
            if not model.get("annonce_lie") or folder not in procedures:
                procedures[folder] = f"bench-{start + i:06d}-0000-4000-8000-000000000000"
            record["contractfolderid"] = procedures[folder]
            record["donnees"] = record["donnees"].replace(folder, procedures[folder])
        day = today - dt.timedelta(days=20 - (20 * i) // count)
        record["dateparution"] = day.isoformat()
        record["datelimitereponse"] = f"{day + dt.timedelta(days=40)}T12:00:00+00:00"
        made.append(record)
    return made


def write_pages(
    folder: Path, count: int, page_size: int, today: dt.date, start: int = 0
) -> list[Path]:
    """The API pages of `count` records (ids from `start`), as `total_count` + `results` files."""
    folder.mkdir(parents=True, exist_ok=True)
    made = records(count, today, start)
    paths = []
    for number, first in enumerate(range(0, count, page_size)):
        body = {"total_count": count, "results": made[first : first + page_size]}
        path = folder / f"page_{number:03d}.json"
        path.write_text(json.dumps(body, ensure_ascii=False), "utf-8")
        paths.append(path)
    return paths


class BoampPages:
    """The loopback portal's handler: a page by `offset`, the way Explore v2.1 pages."""

    def __init__(self, paths: list[Path], page_size: int) -> None:
        self.pages = [path.read_bytes() for path in paths]
        self.page_size = page_size

    def __call__(self, path: str, query: dict[str, list[str]]) -> tuple[int, bytes, str]:
        if path != RECORDS_PATH:
            return 404, b'{"error": "not found"}', "application/json"
        offset = int((query.get("offset") or ["0"])[0])
        number = offset // self.page_size
        if number >= len(self.pages):
            return 200, b'{"total_count": 0, "results": []}', "application/json"
        body = self.pages[number]
        return 200, body, "application/json; charset=utf-8"
