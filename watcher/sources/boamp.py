"""BOAMP, the French official bulletin of public procurement notices (DILA), via its open JSON API.

Portal
    Bulletin officiel des annonces des marchés publics: the French public-procurement notices above
    the national thresholds, and the European ones (eForms). Open data, Licence Etalab 2.0, no key.

URL
    `GET {base_url}/api/explore/v2.1/catalog/datasets/boamp/records` (Opendatasoft Explore v2.1),
    with `where` (ODSQL), `order_by`, `limit` and `offset`. The same dataset is served by
    `https://www.boamp.fr`; point `base_url` at it, at a mirror, or at a loopback test server.

Caveats
    - `limit` is at most 100 and `offset + limit` at most 10,000 (the API answers 400 beyond). A
      window that holds more is split into smaller `dateparution` windows until each fits.
    - A poll asks for everything published since the last success, minus an overlap of three days,
      so that notices published late are not missed; notices are upserted on `idweb`.
    - Corrections, awards and cancellations are notices of their own, linked to the first one by
      `annonce_lie` (and, for eForms, the procedure's `contractfolderid`).
    - The full notice is in `donnees`, a JSON string, in one of three shapes (MAPA, FNSimple,
      EFORMS) or the older V230 one; see `boamp_donnees.py`. CPV codes exist only there, so they
      cannot be searched server-side: the matcher decides relevance client-side.
    - `search()` is a fuzzy full-text search; the short token "CRA" is too noisy for it and is left
      to the matcher, which reads it with word boundaries.
    - The deadline is read from `donnees`; the top-level `datelimitereponse` of FNSimple records is
      Paris wall-clock time labelled `+00:00` and is only a fallback, read as Paris time. The
      départements are those of the places of works (`lieuExecution`, the lots'), not the first of
      `code_departement`, which lists where the notice is advertised (issue 13).
    - Also reads the bare list of `/exports/json` and v1 pages (`records[].fields`), whose
      `code_departement` and `annonce_lie` are strings where v2.1 gives lists.

Config keys
    `base_url` (default `https://boamp-datadila.opendatasoft.com`, scheme and host only);
    `query`, a list of ODSQL clauses joined with OR, the wide net cast server-side (default: the
    detention keywords and site names below; an empty list fetches every notice of the window);
    `departments`, a list of département codes (`"59"`, `"2A"`, `"976"`) to restrict to;
    `page_size`, records per request (1 to 100, default 100).

Phases (`watcher.core.phases`)
    `PREINFORMATION` → planning; `APPEL_OFFRE` → tender; `RECTIFICATIF` / `MODIFICATION` →
    tenderAmendment; `ATTRIBUTION` / `RESULTAT` → award; `ANNULATION`, or "sans suite" /
    "infructueux" → tenderCancellation. Linked by `annonce_lie`, `annonces_anterieures` and
    `contractfolderid` (= TED `procedure-identifier`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, ClassVar

from pydantic import Field, field_validator

from watcher.core import deadlines, facts, fastjson, places, values
from watcher.errors import ParseError
from watcher.records import (
    NoticeRecord,
    NoticeType,
    PollWindow,
    RawPage,
    RawRecord,
    Unreadable,
)
from watcher.sources.base import ApiSourceConfig, Source, as_list, dig, read_each
from watcher.sources.boamp_donnees import (
    PARIS,
    Donnees,
    first_text,
    read_donnees,
    text,
    unique,
)
from watcher.sources.http import Fetcher

log = logging.getLogger(__name__)

RECORDS_PATH = "/api/explore/v2.1/catalog/datasets/boamp/records"
NOTICE_URL = "https://www.boamp.fr/pages/avis/?q=idweb:{idweb}"
MAX_RESULTS = 10_000  # offset + limit may not exceed this (ODS InvalidRESTParameterError)
# idweb breaks ties between notices of one day, so that offset paging neither skips nor repeats.
ORDER_BY = "dateparution asc, idweb asc"
# SOURCES.md §1.5 and §8: detention keywords, then the sites of existing and planned CRAs.
_SITES = "Loon-Plage Oissel Olivet Mérignac Luynes Longvic Koungou Goussainville Mesnil-Amelot"
_SITES += " Lesquin Coquelles Vincennes"
DEFAULT_QUERY: tuple[str, ...] = (
    'search("rétention administrative")',
    'search("centre de rétention")',
    'search("local de rétention")',
    'search("zone d\'attente")',
    'search("éloignement")',
    *(f'search("{site}")' for site in _SITES.split()),
)
_IDWEB = re.compile(r"(?<![\w-])\d{2}-\d{3,7}(?![\w-])")
_DEPARTMENT = re.compile(r"^(?:\d{2}|97[1-8]|2[AB])$")
_SEPARATORS = re.compile(r"[\s_'’-]+")
# A well-formed page starts like this; reading it spares decoding the page twice (issue 9).
_HEAD = re.compile(rb'^\s*\{\s*"total_count"\s*:\s*(\d+)\s*,\s*"results"\s*:\s*\[')


class BoampConfig(ApiSourceConfig):
    """Keys of a `boamp` source."""

    base_url: str = "https://boamp-datadila.opendatasoft.com"
    query: tuple[str, ...] = DEFAULT_QUERY
    departments: tuple[str, ...] = ()
    page_size: int = Field(default=100, ge=1, le=100)

    @field_validator("query")
    @classmethod
    def _query(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        clauses = tuple(clause.strip() for clause in value)
        if any(not clause for clause in clauses):
            raise ValueError(
                "an empty clause; write ODSQL such as 'search(\"centre de rétention\")'"
            )
        return clauses

    @field_validator("departments", mode="before")
    @classmethod
    def _departments_as_text(cls, value: Any) -> Any:
        # YAML reads `departments: [59, 13]` as numbers.
        if isinstance(value, list | tuple):
            return [str(code) if isinstance(code, int) else code for code in value]
        return value

    @field_validator("departments")
    @classmethod
    def _departments(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        codes = tuple(_department(code) or code for code in value)
        wrong = [code for code in codes if not _DEPARTMENT.match(code)]
        if wrong:
            raise ValueError(f"{', '.join(wrong)}: not a département code like '59', '2A' or '976'")
        return codes


class BoampSource(Source):
    """BOAMP notices from the Opendatasoft Explore API v2.1."""

    kind: ClassVar[str] = "boamp"
    Config: ClassVar[type[BoampConfig]] = BoampConfig
    min_interval: ClassVar[float] = 0.5

    @property
    def settings(self) -> BoampConfig:
        """This source's configuration, with its kind's own keys."""
        assert isinstance(self.config, BoampConfig)
        return self.config

    def where(self, first: dt.date, last: dt.date) -> str:
        """The ODSQL `where` of a request for notices published from `first` to `last` inclusive."""
        parts = [
            f"dateparution>=date'{first.isoformat()}'",
            f"dateparution<=date'{last.isoformat()}'",
        ]
        if self.settings.query:
            parts.append("(" + " OR ".join(self.settings.query) + ")")
        if self.settings.departments:
            codes = ",".join(f'"{code}"' for code in self.settings.departments)
            parts.append(f"code_departement in ({codes})")
        return " AND ".join(parts)

    def fetch(self, fetcher: Fetcher, window: PollWindow) -> Iterator[RawPage]:
        """Every page of notices published in the window, split by dates beyond 10,000 records."""
        first = self.window_start(window).astimezone(dt.UTC).date()
        # BOAMP dates are Paris dates, which may already be tomorrow in UTC.
        last = max(window.now.astimezone(PARIS).date(), first)
        yield from self._fetch_dates(fetcher, first, last)

    def _fetch_dates(self, fetcher: Fetcher, first: dt.date, last: dt.date) -> Iterator[RawPage]:
        url = self.settings.base_url + RECORDS_PATH
        size = self.settings.page_size
        offset = 0
        while True:
            params: dict[str, str | int] = {
                "where": self.where(first, last),
                "order_by": ORDER_BY,
                "limit": size,
                "offset": offset,
            }
            response = fetcher.get(url, params=params)
            total, count = _page_counts(response.content, str(response.request.url))
            if offset == 0 and total is not None and total > MAX_RESULTS:
                if first < last:
                    middle = first + (last - first) // 2
                    yield from self._fetch_dates(fetcher, first, middle)
                    yield from self._fetch_dates(fetcher, middle + dt.timedelta(days=1), last)
                    return
                log.warning(
                    "boamp: %s notices on %s, more than the API pages through; only %s are read",
                    total,
                    first,
                    MAX_RESULTS,
                )
            yield RawPage(
                url=str(response.request.url),
                content=response.content,
                content_type=response.headers.get("content-type", "application/json"),
                fetched_at=dt.datetime.now(dt.UTC),
                meta={"window": f"{first}..{last}", "offset": offset, "total_count": total},
            )
            offset += size
            if count is not None and count < size:
                return
            if (total is not None and offset >= total) or offset + size > MAX_RESULTS:
                return

    def parse(self, page: RawPage) -> Iterator[NoticeRecord | Unreadable]:
        """One notice per record of the page; a record without an id is skipped."""
        for raw in self.raw_records(page):
            notice = raw if isinstance(raw, Unreadable) else self.parse_raw(raw)
            if notice is not None:
                yield notice

    def raw_records(self, page: RawPage) -> Iterator[RawRecord | Unreadable]:
        """The page's records with their id, date and raw JSON, `donnees` left unread: the
        pipeline hashes these and parses only the records that changed (issue 9)."""
        return read_each(page_records(page.content, page.url), _raw_record)

    def parse_raw(self, raw: RawRecord) -> NoticeRecord | Unreadable | None:
        """The notice of one record of `raw_records` (an `Unreadable` when it cannot be read)."""
        return next(read_each([raw], lambda r: parse_record(r.item, raw=r.raw)), None)


def _raw_record(record: Any) -> RawRecord | None:
    if not isinstance(record, dict):
        return None
    idweb = record_id(record)
    if not idweb:
        return None
    published = parse_date(record.get("dateparution"))
    written = fastjson.dumps_sorted(record)
    if written is None:
        return RawRecord(idweb, published, record_raw(record), record)
    # Hashed from the bytes orjson wrote: an unchanged record is told at the hash floor's cost.
    digest = hashlib.sha256(written).hexdigest()
    return RawRecord(idweb, published, written.decode(), record, digest)


def _page_counts(content: bytes, url: str) -> tuple[int | None, int | None]:
    """`total_count` and the number of results of an answer; `ParseError` if it is not a page."""
    head = _HEAD.match(content[:256])
    if head:
        return int(head.group(1)), None
    data = _decode(content, url)
    records = _records_of(data, url)
    total = data.get("total_count") if isinstance(data, dict) else None
    return (total if isinstance(total, int) and not isinstance(total, bool) else None), len(records)


def page_records(content: bytes, url: str = "") -> list[Any]:
    """The records of an answer: v2.1 `results`, a bare list (`/exports/json`) or v1 `records`."""
    return _records_of(_decode(content, url), url)


def _decode(content: bytes, url: str) -> Any:
    try:
        return fastjson.loads(content)
    except (ValueError, RecursionError):
        snippet = " ".join(content[:200].decode("utf-8", "replace").split())[:80]
        raise ParseError(f"{url}: expected BOAMP JSON, got {snippet!r}") from None


def _records_of(data: Any, url: str) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        if isinstance(data.get("gestion"), dict) and isinstance(data.get("donnees"), dict):
            return [legacy_record(data)]
        if "idweb" in data:  # one record on its own (`select=*` of one notice)
            return [data]
        if isinstance(data.get("results"), list):
            return list(data["results"])
        if isinstance(data.get("records"), list):
            # v1: records[].fields; v2.0: records[].record.fields.
            return [
                item.get("fields") or dig(item, "record", "fields")
                for item in data["records"]
                if isinstance(item, dict)
            ]
    keys = ", ".join(sorted(map(str, data)))[:80] if isinstance(data, dict) else type(data).__name__
    raise ParseError(f"{url}: expected a page of BOAMP records with 'results', got {keys}")


def legacy_record(data: dict[str, Any]) -> dict[str, Any]:
    """One notice of the retired DILA API (`api.dila.fr/opendata/api-boamp/annonces/v230/…`:
    `gestion` and `donnees` as objects, dates in epoch milliseconds, SEEN in samples/real) as
    the flat record the Explore API gives, so that it is read the same way."""
    index = dig(data, "gestion", "indexation")
    published = dig(index, "datepublication")
    day = None
    if isinstance(published, int | float) and not isinstance(published, bool):
        day = dt.datetime.fromtimestamp(published / 1000, dt.UTC).astimezone(PARIS).date()
    return {
        "idweb": text(dig(data, "gestion", "reference", "idweb")),
        "objet": text(dig(index, "resumeobjet")),
        "dateparution": day.isoformat() if day else None,
        "code_departement": dig(index, "deppublication"),
        "code_departement_prestation": dig(index, "depprestation"),
        "donnees": data.get("donnees"),
    }


def record_raw(record: dict[str, Any]) -> str:
    """The record as compact JSON with sorted keys, so that one record always hashes the same."""
    written = fastjson.dumps_sorted(record)
    if written is not None:
        return written.decode()
    try:
        return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    except TypeError:  # keys of mixed types (never from JSON; a caller's dict): sorted as text
        text_keys = json.loads(json.dumps(record, ensure_ascii=False, default=str))
        return json.dumps(text_keys, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def record_id(record: dict[str, Any]) -> str | None:
    """A record's idweb: `idweb`, else the ODS `id` (`25_127510` → `25-127510`)."""
    return text(record.get("idweb")) or _from_record_id(text(record.get("id")))


def parse_record(record: Any, *, raw: str | None = None) -> NoticeRecord | None:
    """One BOAMP record as a notice: top-level fields first, `donnees` for the rest. `raw` is
    `record_raw(record)` when the caller has it already."""
    if not isinstance(record, dict):
        return None
    idweb = record_id(record)
    if not idweb:
        return None
    try:
        extra = read_donnees(record.get("donnees"))
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError) as exc:
        log.warning("boamp %s: unreadable donnees (%s); using the top-level fields", idweb, exc)
        extra = Donnees()
    value, currency = extra.value, extra.currency
    related = idwebs(record.get("annonce_lie"), record.get("annonces_anterieures"))
    related.extend(idwebs(*extra.related_ids))
    url = text(record.get("url_avis"))
    deadline, shown = extra.deadline, extra.deadline_text
    if deadline is None:
        shown = top_level_deadline(record.get("datelimitereponse"), extra.shape)
        deadline = shown.utc if shown else None
    return NoticeRecord(
        native_id=idweb,
        title=first_text(record.get("objet"), extra.title) or f"Avis BOAMP {idweb}",
        url=url
        if url and url.startswith(("http://", "https://"))
        else NOTICE_URL.format(idweb=idweb),
        buyer=first_text(record.get("nomacheteur"), extra.buyer),
        published=parse_date(record.get("dateparution")),
        deadline=deadline,
        deadline_local=shown.local if shown else None,
        deadline_zone=shown.zone if shown else None,
        cpv=tuple(extra.cpv),
        place=extra.place,
        departments=tuple(departments(record, extra)),
        notice_type=notice_type(record, extra.kind),
        value=value,
        currency=(currency or "EUR") if value is not None else None,
        winners=tuple(
            unique([*(text(w) for w in as_list(record.get("titulaire"))), *extra.winners])
        ),
        description=extra.description,
        documents=tuple(extra.documents),
        lots=tuple(extra.lots),
        amounts=values.amounts(extra.amounts),
        outcome="unsuccessful" if extra.outcome == "unsuccessful" else None,
        subcontractors=tuple(unique(extra.subcontractors)),
        procedure_id=text(record.get("contractfolderid"))
        or extra.procedure_id
        or place_procedure(extra),
        related_ids=tuple(r for r in unique(related) if r != idweb),
        language="fr",
        raw=raw if raw is not None else record_raw(record),
        **record_facts(record, extra),
    )


def record_facts(record: dict[str, Any], extra: Donnees) -> dict[str, Any]:
    """The facts of issue 28 a BOAMP record states: those of its `donnees` (eForms: tenders
    received, procedure type, durations; national: `natureMarche.dureeMois`), and the
    procedure from the top-level `procedure_libelle` ("Procédure Ouverte") or `type_procedure`
    ("OUVERT") when `donnees` gives none (SEEN in samples/real)."""
    out = dict(extra.facts)
    label = first_text(record.get("procedure_libelle"), record.get("type_procedure"))
    if label and "procedure_type" not in out:
        out["procedure_type"] = facts.procedure_type(label)
        out["procedure_label"] = label
    return out


def place_procedure(extra: Donnees) -> str | None:
    """The buyer's reference (`identifiantInterne`) of a notice whose `urlProfilAch` names a PLACE
    consultation: the reference PLACE gives the same consultation (its `procedure_id`), so the
    two notices link by identifier, not by similarity (SEEN in samples/real: 26-7113, SGAMI Est,
    `2025SGAMI57045`, issue 24)."""
    on_place = any(r.startswith("place:") for r in extra.references)
    own = [r for r in extra.references if not r.startswith("place:")]
    return own[0] if on_place and own else None


def top_level_deadline(value: Any, shape: str | None = None) -> deadlines.Deadline | None:
    """The top-level `datelimitereponse`, read only when `donnees` has no deadline.

    On FNSimple records it is Paris wall-clock time labelled UTC (`2026-02-16T12:00:00+00:00`
    where `donnees` says `12:00:00.000+01:00`, SEEN in samples/real, issue 13): `+00:00` is read
    as Paris time; another offset is taken as written (eForms records give `+01:00`). V230
    records carry there the UTC of the dataset's fixed `+01:00` (`2015-04-20T11:00:00+00:00` for
    `12:00:00+01:00`, "à 12 heures" in April, SEEN in samples/real, issue 24): an instant, not a
    Paris time labelled UTC, read back into its `+01:00` wall clock, which is Paris time."""
    found = text(value)
    if not found:
        return None
    if shape == "V230":
        instant = deadlines.read(found)
        if instant is None:
            return None
        # The UTC of the dataset's fixed +01:00 (see `boamp_donnees._v230`): its +01:00 wall
        # clock is the Paris time the notice wrote.
        fixed = instant.utc.astimezone(dt.timezone(dt.timedelta(hours=1)))
        return deadlines.read(fixed.strftime("%Y-%m-%dT%H:%M:%S"))
    wall_clock = found.endswith(("+00:00", "Z"))
    return deadlines.read(found, ignore_offset=wall_clock)


def departments(record: dict[str, Any], extra: Donnees) -> list[str]:
    """Where the work is: the départements of the places of works `donnees` names (the
    notice's and each lot's), else `code_departement_prestation`, else every one of
    `code_departement` (where the notice is advertised: the buyer's and its neighbours')."""
    if extra.departments:
        return extra.departments
    for key in ("code_departement_prestation", "code_departement"):
        found = places.unique(places.normalise(text(code)) for code in as_list(record.get(key)))
        if found:
            return found
    return []


def parse_date(value: Any) -> dt.date | None:
    """A date from `2025-11-19` or an ISO datetime."""
    found = text(value)
    if not found:
        return None
    try:
        return dt.date.fromisoformat(found[:10])
    except ValueError:
        return None


def idwebs(*values: Any) -> list[str]:
    """BOAMP notice ids (`25-123573`) named by fields: strings, lists, or text around them."""
    found: list[str] = []
    for item in (item for value in values for item in as_list(value)):
        item_text = text(item)
        if not item_text:
            continue
        matches = _IDWEB.findall(item_text)
        if matches:
            found.extend(matches)
        elif len(item_text) <= 40 and " " not in item_text:
            found.append(item_text)
    return found


def _from_record_id(value: str | None) -> str | None:
    """`25_127510` (the ODS `id`) → `25-127510`; older ids (`BOAMP-06-101-0001-01`) as they are."""
    if value and re.fullmatch(r"\d{2}_\d+", value):
        return value.replace("_", "-")
    return value


def _department(value: Any) -> str | None:
    """The first département code (`["59"]` or `"59"`); `"6"` → `"06"` as the site writes it."""
    code = text(value[0] if isinstance(value, list) and value else value)
    if not code:
        return None
    code = code.upper()
    return f"0{code}" if len(code) == 1 and code.isdigit() else code


def _fold(value: Any) -> str:
    """Upper case, no accents, no separators: `Avis de préinformation` → `AVISDEPREINFORMATION`."""
    found = " ".join(t for t in (text(v) for v in as_list(value)) if t)
    return _fold_text(found) if found else ""


@lru_cache(maxsize=512)
def _fold_text(found: str) -> str:
    # A few dozen labels make up every record's `nature`, `etat`...: cached.
    if not found.isascii():
        found = unicodedata.normalize("NFKD", found).encode("ascii", "ignore").decode()
    return _SEPARATORS.sub("", found.upper())


def notice_type(record: dict[str, Any], hint: str | None = None) -> NoticeType:
    """What a record is, from `etat`, `nature` and its labels, then what `donnees` says."""
    state = _fold(record.get("etat"))
    labels = "|".join(
        _fold(record.get(key))
        for key in ("nature", "nature_libelle", "nature_categorise_libelle", "type_avis")
    )
    if "ANNULATION" in state or "ANNULATION" in labels or hint == "cancellation":
        return "cancellation"
    if "RECTIFICATIF" in state or "MODIFICATION" in state or "RECTIFICATIF" in labels:
        return "corrigendum"
    if hint == "corrigendum":
        return "corrigendum"
    if "ATTRIBUTION" in labels or "RESULTAT" in labels or hint == "award":
        return "award"
    if "PREINFORMATION" in labels or hint == "prior_information":
        return "prior_information"
    return "notice"
