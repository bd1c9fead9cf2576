"""TED, Tenders Electronic Daily: the EU's journal of public procurement, above EU thresholds.

Portal
    Tenders Electronic Daily, run by the Publications Office of the EU. French tenders above the EU
    thresholds (building a CRA, guarding, cleaning or catering for one) appear here as well as on
    BOAMP, often with per-lot details and, months later, the award notice with the winners.

URL
    `POST {base_url}/v3/notices/search` (search API v3, no key). Each notice links to its French
    page, `https://ted.europa.eu/fr/notice/-/detail/{publication-number}`.

Caveats
    - The query is an expert query. The source ANDs the poll window
      (`publication-date>=YYYYMMDD`, day precision) and appends `SORT BY publication-date DESC`, so
      `query` must not sort by itself.
    - ITERATION paging (`iterationNextToken`), which has no 15 000-notice cap.
    - Texts are maps keyed by language (`{"fra": ...}`), a string or a list: French is preferred,
      then English, then whatever language is there.
    - Per-lot arrays have unequal lengths (`classification-cpv` holds the procedure's code and the
      lots'): a value goes to a lot only when its array has one entry per lot. The notice's
      deadline is the latest one.
    - TED sends no rate-limit headers; its firewall answers 429 or 403 when pushed. One request a
      second by default, and both statuses are retried with backoff.
    - A field name TED does not know fails the whole request (HTTP 400), so the default `fields`
      lists only names seen in real answers.
    - Reuse is allowed under Commission Decision 2011/833/EU, with attribution.

Phases (`watcher.core.phases`)
    `pin-*` → planning; `cn-*`, `subco`, `qu-sy` → tender; `corr*` → tenderAmendment; `can-modif` →
    contractAmendment; `can-*`, `veat` → award. `procedure-identifier` links a notice to BOAMP's
    `contractfolderid` (the same eForms ContractFolderID).

Config keys
    - `base_url`: scheme and host of the API (default `https://api.ted.europa.eu`).
    - `query`: the expert query; default, a net on detention vocabulary (French and English).
    - `fields`: the fields asked for (default: see `FIELDS`).
    - `limit`: notices per page, 1 to 250 (default 100).
    - `scope`: `ALL` (default), `ACTIVE` or `LATEST`.
    - `max_pages`: a safety bound on pages per poll (default 40).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import re
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from watcher.core import doubts, fastjson, places, values
from watcher.core.deadlines import Deadline
from watcher.core.deadlines import read as read_deadline
from watcher.errors import ParseError
from watcher.records import Amount, Lot, NoticeRecord, NoticeType, PollWindow, RawPage, Unreadable
from watcher.sources.base import ApiSourceConfig, Source, as_list, read_each
from watcher.sources.http import RETRY_STATUSES, Fetcher, decode_json

log = logging.getLogger(__name__)

SEARCH_PATH = "/v3/notices/search"
NOTICE_URL = "https://ted.europa.eu/fr/notice/-/detail/{}"

# Full-text terms of the default net (SOURCES.md §2.6 and §8); the matcher decides relevance.
_TERMS = (
    "rétention administrative",
    "centre de rétention",
    "centres de rétention",
    "local de rétention",
    "zone d'attente",
    "éloignement des étrangers",
    "immigration removal centre",
    "immigration detention",
)
DEFAULT_QUERY = (
    " OR ".join(f'FT~("{term}")' for term in _TERMS)
    # Prison-building and detention-services CPV codes, French buyers only (SOURCES.md §7).
    + " OR (classification-cpv IN (45216113 75231200) AND buyer-country=FRA)"
)

# Every name here was seen in a real answer (SOURCES.md §2.4, samples/): an unknown name is a 400.
FIELDS: tuple[str, ...] = (
    "publication-number", "notice-identifier", "notice-version", "notice-type", "form-type",
    "procedure-type", "publication-date", "notice-title", "title-proc", "title-lot",
    "description-proc", "description-lot", "identifier-lot", "buyer-name", "buyer-country",
    "buyer-city", "buyer-post-code", "classification-cpv", "contract-nature",
    "place-of-performance", "place-of-performance-city-lot", "place-of-performance-post-code-lot",
    "place-of-performance-country-lot",
    "deadline-receipt-tender-date-lot", "deadline-receipt-tender-time-lot",
    "deadline-receipt-request-date-lot", "estimated-value-lot", "estimated-value-proc",
    "total-value", "tender-value", "tender-value-cur", "winner-name", "winner-identifier",
    "document-url-lot", "official-language", "links", "procedure-identifier",
)  # fmt: skip

_PREFERRED = ("fra", "eng")
_ISO_639_1 = {
    "bul": "bg", "ces": "cs", "dan": "da", "deu": "de", "ell": "el", "eng": "en", "spa": "es",
    "est": "et", "fin": "fi", "fra": "fr", "gle": "ga", "hrv": "hr", "hun": "hu", "ita": "it",
    "lit": "lt", "lav": "lv", "mlt": "mt", "nld": "nl", "pol": "pl", "por": "pt", "ron": "ro",
    "slk": "sk", "slv": "sl", "swe": "sv",
}  # fmt: skip
# NUTS-3 → département for the CRA sites of SOURCES.md §8 (INFERRED there); postcodes come first.
_NUTS_DEPARTMENT = {
    "FRE11": "59", "FRE12": "62", "FRL04": "13", "FRJ13": "34", "FRI12": "33", "FRC11": "21",
    "FR108": "95", "FRY50": "976", "FRG01": "44", "FRL03": "06", "FRB06": "45", "FRD22": "76",
    "FR101": "75", "FR102": "77",
}  # fmt: skip
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:?\d{2})?$")


class TedConfig(ApiSourceConfig):
    """Keys of a `ted` source."""

    base_url: str = "https://api.ted.europa.eu"
    query: str = DEFAULT_QUERY
    fields: tuple[str, ...] = Field(default=FIELDS, min_length=1)
    limit: int = Field(default=100, ge=1, le=250)
    scope: Literal["ALL", "ACTIVE", "LATEST"] = "ALL"
    max_pages: int = Field(default=40, ge=1, le=1000)

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if re.search(r"\bSORT\s+BY\b", value, re.IGNORECASE):
            raise ValueError("must not sort: the source appends 'SORT BY publication-date DESC'")
        return value.strip()


class TedSource(Source):
    """TED search API v3: expert query, ITERATION paging, multilingual notices."""

    kind = "ted"
    Config = TedConfig
    config: TedConfig
    min_interval = 1.0
    retry_statuses: ClassVar[frozenset[int] | None] = RETRY_STATUSES | {403}

    def query(self, window: PollWindow) -> str:
        """The expert query sent for `window`: the configured query, the dates, the sort order."""
        since = self.window_start(window).strftime("%Y%m%d")
        return f"({self.config.query}) AND publication-date>={since} SORT BY publication-date DESC"

    def fetch(self, fetcher: Fetcher, window: PollWindow) -> Iterator[RawPage]:
        """POST the query and follow `iterationNextToken` until TED has no more pages."""
        url = self.config.base_url + SEARCH_PATH
        body: dict[str, Any] = {
            "query": self.query(window),
            "fields": list(self.config.fields),
            "limit": self.config.limit,
            "scope": self.config.scope,
            "paginationMode": "ITERATION",
        }
        seen: set[str] = set()
        for number in range(1, self.config.max_pages + 1):
            response = fetcher.request("POST", url, json=body)
            data = decode_json(response)
            yield RawPage(
                url=url, content=response.content, fetched_at=window.now, meta={"page": number}
            )
            token = data.get("iterationNextToken") if isinstance(data, dict) else None
            notices = data.get("notices") if isinstance(data, dict) else None
            if not isinstance(token, str) or not token or not notices or token in seen:
                return
            seen.add(token)
            body = {**body, "iterationNextToken": token}
        log.warning(
            "%s: stopped after max_pages=%d pages; raise it", self.name, self.config.max_pages
        )

    def parse(self, page: RawPage) -> Iterator[NoticeRecord | Unreadable]:
        """Each notice of a search answer; notices without a publication number are skipped."""
        try:
            data = fastjson.loads(page.content)
        except (ValueError, RecursionError):
            raise ParseError(f"{page.url}: TED answer is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("notices"), list):
            raise ParseError(f"{page.url}: TED answer has no 'notices' list")
        yield from read_each(data["notices"], _notice_record)


def _notice_record(notice: Any) -> NoticeRecord | None:
    return notice_record(notice) if isinstance(notice, dict) else None


def notice_record(notice: dict[str, Any]) -> NoticeRecord | None:
    """One TED notice as a `NoticeRecord`; None when it has no publication number."""
    number = _text(notice.get("publication-number"))
    if number is None:
        return None
    titles, language = _texts(notice.get("notice-title"))
    if not titles:
        titles, language = _texts(notice.get("title-proc"))
    deadlines = _deadlines(notice)
    lots = _lots(notice, deadlines)
    latest = max((d for d in deadlines if d is not None), default=None)
    shown = _shown(notice, deadlines.index(latest)) if latest is not None else None
    found = _departments(notice)
    description = _texts(notice.get("description-proc"))[0]
    if not any(lot.description for lot in lots):  # else the lots carry their own descriptions
        description += _texts(notice.get("description-lot"))[0]
    value, currency = _value(notice)
    kind = _notice_type(_text(notice.get("notice-type")), _text(notice.get("form-type")))
    return NoticeRecord(
        native_id=number,
        title=titles[0] if titles else _text(notice.get("title-lot")) or f"TED {number}",
        url=NOTICE_URL.format(number),
        buyer=_text(notice.get("buyer-name")),
        published=_date(notice.get("publication-date")),
        deadline=latest,
        deadline_local=shown.local if shown else None,
        deadline_zone=shown.zone if shown else None,
        cpv=_unique(_strings(notice.get("classification-cpv"))),
        place=_text(notice.get("place-of-performance-city-lot")) or _text(notice.get("buyer-city")),
        departments=tuple(found),
        notice_type=kind,
        value=value,
        currency=currency,
        amounts=_amounts(notice, kind),
        winners=_unique(_texts(notice.get("winner-name"))[0]),
        description="\n\n".join(_unique(description)) or None,
        documents=_unique([html.unescape(u) for u in _strings(notice.get("document-url-lot"))]),
        lots=lots,
        # `procedure-identifier` (BT-04, the eForms ContractFolderID that BOAMP calls
        # `contractfolderid`) links the notice to the same procedure on BOAMP.
        procedure_id=_text(notice.get("procedure-identifier")),
        language=_ISO_639_1.get(language, language) if language else None,
        raw=json.dumps(notice, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
    )


def _strings(value: Any) -> list[str]:
    """Non-empty strings of a value that is a string, a number or a list of them."""
    items = [
        v for v in as_list(value) if isinstance(v, str | int | float) and not isinstance(v, bool)
    ]
    return [text for text in (str(v).strip() for v in items) if text]


def _texts(value: Any) -> tuple[list[str], str | None]:
    """The strings of a multilingual map in the preferred language (fra, eng, any) and its code."""
    if not isinstance(value, dict):
        return _strings(value), None
    by_language = {str(key).lower(): text for key, text in value.items()}
    for language in (*_PREFERRED, *by_language):
        strings = _strings(by_language.get(language))
        if strings:
            return strings, language
    return [], None


def _text(value: Any) -> str | None:
    strings = _texts(value)[0]
    return strings[0] if strings else None


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _split_date(text: str) -> tuple[dt.date, dt.tzinfo | None] | None:
    """`2026-07-13+02:00` → (date, tz); TED dates carry the publisher's UTC offset."""
    match = _DATE.match(text.strip())
    if not match:
        return None
    try:
        day = dt.date.fromisoformat(match.group(1))
        offset = match.group(2)
        if offset is None:
            return day, None
        if offset == "Z":
            return day, dt.UTC
        return day, dt.datetime.strptime(offset.replace(":", ""), "%z").tzinfo
    except ValueError:
        return None


def _date(value: Any) -> dt.date | None:
    text = _text(value)
    parts = _split_date(text) if text else None
    return parts[0] if parts else None


@doubts.in_range
def _deadline(date_text: str, time_text: str | None) -> dt.datetime | None:
    """A date and an optional time (`12:00:00+02:00`) → an aware UTC datetime."""
    parts = _split_date(date_text)
    if parts is None:
        return None
    day, tz = parts
    clock = dt.time(0, 0)
    if time_text:
        try:
            clock = dt.time.fromisoformat(time_text.strip())
        except ValueError:
            clock = dt.time(0, 0)
    # Without a time the deadline is the start of its day: early rather than late.
    tzinfo = clock.tzinfo or tz or dt.UTC
    return dt.datetime.combine(day, clock.replace(tzinfo=None), tzinfo).astimezone(dt.UTC)


def _deadlines(notice: dict[str, Any]) -> list[dt.datetime | None]:
    """The deadlines in array order: tenders, else requests to participate (restricted)."""
    kind = "tender"
    dates = _strings(notice.get("deadline-receipt-tender-date-lot"))
    if not dates:
        kind = "request"
        dates = _strings(notice.get("deadline-receipt-request-date-lot"))
    times = _strings(notice.get(f"deadline-receipt-{kind}-time-lot"))
    if len(times) != len(dates):
        # Unequal arrays: a time is used only when it is the one time of every lot.
        times = times[:1] * len(dates) if len(set(times)) == 1 else []
    if not times:
        return [_deadline(date, None) for date in dates]
    return [_deadline(date, clock) for date, clock in zip(dates, times, strict=True)]


def _lots(notice: dict[str, Any], deadlines: list[dt.datetime | None]) -> tuple[Lot, ...]:
    """Lots from `identifier-lot`; another array gives each lot a value only if lengths match."""
    ids = _strings(notice.get("identifier-lot"))

    def per_lot(values: list[Any]) -> list[Any]:
        return values if len(values) == len(ids) else [None] * len(ids)

    values = per_lot([_number(v) for v in as_list(notice.get("estimated-value-lot"))])
    if all(v is None for v in values):  # an award gives each lot's winning tender instead
        values = per_lot([_number(v) for v in as_list(notice.get("tender-value"))])
    columns = zip(
        ids,
        per_lot(_texts(notice.get("title-lot"))[0]),
        per_lot(_texts(notice.get("description-lot"))[0]),
        per_lot(_strings(notice.get("classification-cpv"))),
        per_lot(deadlines),
        values,
        strict=True,
    )
    return tuple(
        Lot(number=n, title=t, description=d, cpv=(c,) if c else (), deadline=dl, value=v)
        for n, t, d, c, dl, v in columns
    )


def _number(value: Any) -> float | None:
    for item in as_list(value):
        if isinstance(item, bool):
            continue
        try:
            return float(str(item).replace(" ", "").replace(",", "."))
        except ValueError:
            continue
    return None


def _value(notice: dict[str, Any]) -> tuple[float | None, str | None]:
    """Total value, else estimated value of the procedure, else the sum over the lots."""
    lots = len(_strings(notice.get("identifier-lot")))
    for key, currency_key in (
        ("total-value", "total-value-cur"),
        ("estimated-value-proc", "estimated-value-cur-proc"),
        ("estimated-value-lot", "estimated-value-cur-lot"),
        ("tender-value", "tender-value-cur"),
    ):
        values = [_number(v) for v in as_list(notice.get(key))]
        amounts = [v for v in values if v is not None]
        if not amounts or (len(amounts) > 1 and len(amounts) != lots):
            continue
        # Currency keys other than `tender-value-cur` are INFERRED names.
        return sum(amounts), _text(notice.get(currency_key)) or _text(
            notice.get("tender-value-cur")
        )
    return None, None


def _amounts(notice: dict[str, Any], kind: str) -> tuple[Amount, ...]:
    """Each value the notice states with its kind (issue 24): `total-value` (BT-161, awarded),
    `estimated-value-proc` (BT-27, estimate), and per lot `estimated-value-lot` and, on an award,
    `tender-value` (the winning tenders); a zero is not stated."""
    lots = _strings(notice.get("identifier-lot"))
    found: list[Amount | None] = []
    for key, cur_key, value_kind in (
        ("total-value", "total-value-cur", "awarded"),
        ("estimated-value-proc", "estimated-value-cur-proc", "estimate"),
    ):
        currency = _text(notice.get(cur_key)) or _text(notice.get("tender-value-cur"))
        found.append(values.amount(value_kind, _number(notice.get(key)), currency, field=key))
    for key, cur_key, value_kind in (
        ("estimated-value-lot", "estimated-value-cur-lot", "estimate"),
        ("tender-value", "tender-value-cur", "awarded" if kind == "award" else "estimate"),
    ):
        numbers = [_number(v) for v in as_list(notice.get(key))]
        currency = _text(notice.get(cur_key)) or _text(notice.get("tender-value-cur"))
        aligned = len(numbers) == len(lots)
        if not aligned and (len(numbers) > 1 or notice.get("estimated-value-proc") is not None):
            # Lot values that cannot be told apart (not one per lot): no amount is guessed for
            # them, the payload keeps them as evidence (612845-2025 in tests/fixtures/ted).
            continue
        for n, number in enumerate(numbers):
            lot = lots[n] if aligned else None
            found.append(values.amount(value_kind, number, currency, lot=lot, field=key))
    return values.amounts(found)


def _shown(notice: dict[str, Any], index: int) -> Deadline | None:
    """What TED wrote of the deadline at `index`: a date alone stays a date (shown without a
    time, not 00:00, issue 12), a time keeps the wall clock and offset the publisher gave."""
    kind = "tender" if _strings(notice.get("deadline-receipt-tender-date-lot")) else "request"
    dates = _strings(notice.get(f"deadline-receipt-{kind}-date-lot"))
    times = _strings(notice.get(f"deadline-receipt-{kind}-time-lot"))
    if len(times) != len(dates):
        times = times[:1] * len(dates) if len(set(times)) == 1 else []
    if index >= len(dates):
        return None
    match = _DATE.match(dates[index].strip())
    if not match:
        return None
    if not times:
        return read_deadline(match.group(1))
    clock = times[index].strip()
    offset = "" if re.search(r"(?:Z|[+-]\d{2}:?\d{2})$", clock) else (match.group(2) or "Z")
    return read_deadline(f"{match.group(1)}T{clock}{offset}")


def _departments(notice: dict[str, Any]) -> list[str]:
    """Every French département of the place of performance (its postcodes, else its NUTS
    codes), else the buyer's: all of them, not the first (issue 13)."""
    countries = {
        *_strings(notice.get("place-of-performance-country-lot")),
        *_strings(notice.get("buyer-country")),
    }
    nuts = [code for code in _strings(notice.get("place-of-performance")) if code.startswith("FR")]
    if "FRA" in countries or nuts:
        for key in ("place-of-performance-post-code-lot", "buyer-post-code"):
            found = places.unique(places.of_postal(code) for code in _strings(notice.get(key)))
            if found:
                return found
    return places.unique(_NUTS_DEPARTMENT.get(code) for code in nuts)


def _notice_type(notice_type: str | None, form_type: str | None) -> NoticeType:
    """eForms notice types (`cn-standard`, `can-social`, `pin-only`, `corr`) and form types."""
    code = (notice_type or "").lower()
    if code.startswith("corr") or code == "can-modif":
        return "corrigendum"
    if code.startswith(("can-", "veat")):
        return "award"
    if code.startswith("pin-"):
        return "prior_information"
    if code.startswith(("cn-", "subco", "qu-sy")):
        return "notice"
    form: dict[str, NoticeType] = {
        "result": "award",
        "planning": "prior_information",
        "change": "corrigendum",
        "competition": "notice",
    }
    return form.get((form_type or "").lower(), "notice")
