"""Shared reading of OCDS release packages, for the UK kinds `find_a_tender` and `contracts_finder`.

Both portals answer with an OCDS 1.1 release package (`{releases: [...], links: {next}}`) and page
with a cursor: the next page is the absolute URL in `links.next`. `OcdsSource` does the paging and
the parsing; a kind module only says which path to call, which query parameters one poll sends,
and how a release becomes a link to the portal's own notice page.

One release is one notice (`native_id` = release `id`); the releases of one procedure share an
`ocid`, which becomes `procedure_id`, and a page's releases come out grouped by `ocid`.

Phases (`watcher.core.phases`)
    the release's own `tag`, else its notice type (`watcher.core.phases`).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import re
from abc import abstractmethod
from collections.abc import Callable, Iterator
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

from pydantic import Field

from watcher.core import deadlines, facts
from watcher.errors import ParseError
from watcher.records import Lot, NoticeRecord, NoticeType, PollWindow, RawPage
from watcher.sources.base import ApiSourceConfig, Source, as_list, dig
from watcher.sources.http import Fetcher, decode_json

log = logging.getLogger(__name__)

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
_NUTS = re.compile(r"^[A-Z]{2}[A-Z0-9]{0,3}$")


class OcdsConfig(ApiSourceConfig):
    """Keys shared by the OCDS kinds."""

    limit: int = Field(default=100, ge=1, le=100)
    max_pages: int = Field(default=50, ge=1, le=1000)


class OcdsSource(Source):
    """An OCDS release-package API with cursor paging (`links.next`)."""

    config: OcdsConfig
    # The portal's standard path, appended to `base_url`.
    path: ClassVar[str]
    # A little politeness; both portals answer 429/503 with Retry-After when pushed.
    min_interval = 0.5

    @abstractmethod
    def queries(self, window: PollWindow) -> list[dict[str, str]]:
        """The query parameters of each paged call one poll makes (one per stage on FTS)."""

    @abstractmethod
    def notice_url(self, release: dict[str, Any]) -> str | None:
        """The human page of a release on the portal, or None when it cannot be known."""

    def fetch(self, fetcher: Fetcher, window: PollWindow) -> Iterator[RawPage]:
        """Each call of `queries()`, page after page, following `links.next`."""
        endpoint = self.config.base_url + self.path
        for params in self.queries(window):
            url: str | None = f"{endpoint}?{urlencode(params, safe=':,')}"
            seen: set[str] = set()
            number = 0
            while url is not None and url not in seen:
                if number >= self.config.max_pages:
                    log.warning("%s: stopped after max_pages=%d", self.name, self.config.max_pages)
                    break
                seen.add(url)
                number += 1
                response = fetcher.get(url)
                data = decode_json(response)
                meta = {"page": number, "stages": params.get("stages")}
                yield RawPage(url=url, content=response.content, fetched_at=window.now, meta=meta)
                url = next_url(data, endpoint)

    def parse(self, page: RawPage) -> Iterator[NoticeRecord]:
        """The releases of one package, grouped by `ocid`."""
        yield from parse_package(page, self.notice_url)


def window_params(source: Source, window: PollWindow) -> tuple[str, str]:
    """The poll window as `YYYY-MM-DDTHH:MM:SS` strings in UTC (the portals' documented format)."""
    start = source.window_start(window).astimezone(dt.UTC)
    end = window.now.astimezone(dt.UTC)
    return start.strftime(TIME_FORMAT), end.strftime(TIME_FORMAT)


def next_url(package: Any, endpoint: str) -> str | None:
    """The next page, or None on the last one.

    `links.next` is absolute and names the portal's public host: its query (the cursor and the
    filters) is kept and put on our own `endpoint`, so a mirror in `base_url` keeps being asked.
    A page without releases ends the paging even when it carries a link. (INFERRED: consumers
    follow `links.next`, and the packages declare the OCDS pagination extension.)
    """
    if not isinstance(package, dict) or not as_list(package.get("releases")):
        return None
    link = dig(package, "links", "next")
    if not isinstance(link, str) or not link.strip():
        return None
    query = urlsplit(link.strip()).query
    return f"{endpoint}?{query}" if query else None


def parse_package(
    page: RawPage, notice_url: Callable[[dict[str, Any]], str | None]
) -> Iterator[NoticeRecord]:
    """The notices of a release package; a release without an `id` is skipped."""
    try:
        data = json.loads(page.content)
    except ValueError:
        raise ParseError(f"{page.url}: expected an OCDS release package, got no JSON") from None
    if not isinstance(data, dict) or "releases" not in data:
        raise ParseError(f"{page.url}: expected an OCDS release package with 'releases'")
    groups: dict[str, list[dict[str, Any]]] = {}
    for release in as_list(data["releases"]):
        if isinstance(release, dict):
            groups.setdefault(_str(release.get("ocid")) or "", []).append(release)
    for releases in groups.values():
        for release in releases:
            record = release_record(release, notice_url(release))
            if record is not None:
                yield record


def release_record(release: dict[str, Any], url: str | None) -> NoticeRecord | None:
    """One OCDS release as a `NoticeRecord`; None when it has no `id`."""
    release_id = _str(release.get("id"))
    if release_id is None:
        return None
    tender = _dict(release.get("tender"))
    awards = [a for a in as_list(release.get("awards")) if isinstance(a, dict)]
    parties = [p for p in as_list(release.get("parties")) if isinstance(p, dict)]
    kind = notice_type(release.get("tag"), _str(tender.get("status")))
    # An award shows what was awarded; anything else the tender's (estimated) value.
    value, currency = _total([_amount(a.get("value")) for a in awards])
    tender_value, tender_currency = _amount(tender.get("value"))
    if kind != "award" or value is None:
        value, currency = tender_value, tender_currency
        tender_value = None
    elif tender_currency not in (None, currency):
        tender_value = None
    title = _str(tender.get("title")) or _str(release.get("title"))
    end = _str(dig(tender, "tenderPeriod", "endDate"))
    shown = _shown(end)
    return NoticeRecord(
        native_id=release_id,
        title=title or _first([_str(a.get("title")) for a in awards]) or release_id,
        url=url,
        buyer=_str(dig(release, "buyer", "name")) or _party_name(parties, "buyer"),
        published=_published(release.get("date")),
        deadline=_datetime(end),
        deadline_local=shown.local if shown else None,
        deadline_zone=shown.zone if shown else None,
        cpv=_cpv(tender),
        place=_place(tender, parties),
        notice_type=kind,
        value=value,
        currency=currency,
        # An award's value as given (Contracts Finder gives 0 where it has none, SEEN in
        # samples/real): the tender's value is kept beside it (issue 13).
        tender_value=tender_value,
        winners=_winners(awards, parties),
        description=_str(tender.get("description")) or _str(release.get("description")),
        documents=_unique([_str(d.get("url")) for d in _dicts(tender.get("documents"))]),
        lots=_lots(tender, awards),
        procedure_id=_str(release.get("ocid")),
        language=_str(release.get("language")),
        raw=json.dumps(release, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
        **release_facts(release),
    )


def release_facts(release: dict[str, Any]) -> dict[str, Any]:
    """The facts of issue 28 a release states: `tender.numberOfTenderers`, the procedure from
    `procurementMethodDetails` (else `procurementMethod`), the contract period (`awards[]`, else
    `tender.contractPeriod`: the earliest start, the latest end) and the earliest
    `contracts[].dateSigned`. Contracts Finder gives no `numberOfTenderers` (SEEN: none of the
    100 releases of samples/real)."""
    tender = _dict(release.get("tender"))
    out: dict[str, Any] = {}
    count = tender.get("numberOfTenderers")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        out["tenders_received"] = count
    details, method = (
        _str(tender.get("procurementMethodDetails")),
        _str(tender.get("procurementMethod")),
    )
    kind = facts.procedure_type(details, method=method)
    if kind is not None:
        out["procedure_type"] = kind
        out["procedure_label"] = details or method
    periods = [_dict(a.get("contractPeriod")) for a in _dicts(release.get("awards"))]
    periods = [p for p in periods if p] or [_dict(tender.get("contractPeriod"))]
    starts = [d for p in periods if (d := _published(p.get("startDate")))]
    ends = [d for p in periods if (d := _published(p.get("endDate")))]
    if starts:
        out["contract_start"] = min(starts)
    if ends:
        out["contract_end"] = max(ends)
    signed = [d for c in _dicts(release.get("contracts")) if (d := _published(c.get("dateSigned")))]
    if signed:
        out["notified"] = min(signed)
    return out


def notice_link(release: dict[str, Any], prefix: str) -> str | None:
    """A link to the portal's notice page that the release carries in its documents, if any."""
    holders = [_dict(release.get("tender")), *_dicts(release.get("awards"))]
    for holder in holders:
        for document in _dicts(holder.get("documents")):
            url = _str(document.get("url"))
            if url and url.startswith(prefix):
                return url
    return None


def notice_type(tags: Any, tender_status: str | None = None) -> NoticeType:
    """OCDS release tags → notice type; a cancelled tender is a cancellation whatever its tag."""
    found = {str(tag).lower() for tag in as_list(tags) if isinstance(tag, str)}
    if "tendercancellation" in found or (tender_status or "").lower() in {"cancelled", "withdrawn"}:
        return "cancellation"
    if found & {"tenderamendment", "amendment", "tenderupdate", "contractamendment"}:
        return "corrigendum"
    if found & {"award", "awardupdate", "contract", "contractupdate", "implementation"}:
        return "award"
    if "tender" in found:
        return "notice"
    if found & {"planning", "planningupdate"}:
        return "prior_information"
    return "notice"


def _str(value: Any) -> str | None:
    """A non-empty string from a string or a number; portals send ids as either."""
    value = value[0] if isinstance(value, list) and value else value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    if "&" in text:
        # Contracts Finder escapes some texts for HTML (`St Bede&apos;s`, SEEN in samples/real).
        text = html.unescape(text).strip()
    return text or None


def _shown(value: str | None) -> deadlines.Deadline | None:
    """What the portal wrote of a deadline: UK times with their offset are London time; a
    naive time is UTC, as `_datetime` reads it (INFERRED)."""
    if value is None:
        return None
    has_offset = bool(re.search(r"(?:Z|[+-]\d{2}:?\d{2})$", value)) and "T" in value
    return deadlines.read(value, "Europe/London" if has_offset else "UTC")


def _dict(value: Any) -> dict[str, Any]:
    value = value[0] if isinstance(value, list) and value else value
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in as_list(value) if isinstance(item, dict)]


def _first(values: list[str | None]) -> str | None:
    return next((v for v in values if v), None)


def _unique(values: list[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _datetime(value: Any) -> dt.datetime | None:
    """An ISO 8601 timestamp as an aware UTC datetime; a naive one is taken as UTC (INFERRED)."""
    text = _str(value)
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def _published(value: Any) -> dt.date | None:
    """The day of a release as the portal dated it (its own offset, not UTC)."""
    text = _str(value)
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        return None


def _amount(value: Any) -> tuple[float | None, str | None]:
    money = _dict(value)
    amount = money.get("amount")
    if isinstance(amount, bool):
        return None, None
    try:
        number = float(amount) if isinstance(amount, int | float | str) else None
    except ValueError:
        number = None
    return number, (_str(money.get("currency")) if number is not None else None)


def _total(amounts: list[tuple[float | None, str | None]]) -> tuple[float | None, str | None]:
    """The sum of award values, when they are all in one currency."""
    known = [(v, c) for v, c in amounts if v is not None]
    if not known or len({c for _, c in known}) > 1:
        return None, None
    return sum(v for v, _ in known), known[0][1]


def _codes(holder: dict[str, Any]) -> list[str | None]:
    found = [_dict(holder.get("classification")), *_dicts(holder.get("additionalClassifications"))]
    return [_str(c.get("id")) for c in found if (_str(c.get("scheme")) or "CPV").upper() == "CPV"]


def _cpv(tender: dict[str, Any]) -> tuple[str, ...]:
    codes = _codes(tender)
    for item in _dicts(tender.get("items")):
        codes.extend(_codes(item))
    return _unique(codes)


def _party_name(parties: list[dict[str, Any]], role: str) -> str | None:
    return _first([_str(p.get("name")) for p in parties if role in as_list(p.get("roles"))])


def _winners(awards: list[dict[str, Any]], parties: list[dict[str, Any]]) -> tuple[str, ...]:
    names = [_str(s.get("name")) for a in awards for s in _dicts(a.get("suppliers"))]
    if not any(names):
        names = [_str(p.get("name")) for p in parties if "supplier" in as_list(p.get("roles"))]
    return _unique(names)


def _place(tender: dict[str, Any], parties: list[dict[str, Any]]) -> str | None:
    """Where the work is done (delivery addresses), else where the buyer is."""
    delivery = _dicts(tender.get("deliveryAddresses"))
    for item in _dicts(tender.get("items")):
        delivery.extend(_dicts(item.get("deliveryAddresses")))
    buyer = [_dict(p.get("address")) for p in parties if "buyer" in as_list(p.get("roles"))]
    for addresses in (delivery, buyer):
        # CF splits one place over several objects ([{postalCode}, {region, countryName}]).
        locality = _first([_str(a.get("locality")) for a in addresses])
        # FTS gives NUTS codes (`UKI74`) as regions: no use to a reader.
        region = _first(
            [r for a in addresses if (r := _str(a.get("region"))) and not _NUTS.match(r)]
        )
        place = ", ".join(_unique([locality, region])) or _first(
            [_str(a.get("postalCode")) for a in addresses]
        )
        if place:
            return place
    return None


def _lots(tender: dict[str, Any], awards: list[dict[str, Any]]) -> tuple[Lot, ...]:
    lots = []
    for lot in _dicts(tender.get("lots")):
        lot_id = _str(lot.get("id"))
        items = [
            i for i in _dicts(tender.get("items")) if lot_id and _str(i.get("relatedLot")) == lot_id
        ]
        won = [
            a
            for a in awards
            if lot_id and lot_id in [_str(x) for x in as_list(a.get("relatedLots"))]
        ]
        lots.append(
            Lot(
                number=lot_id,
                title=_str(lot.get("title")),
                description=_str(lot.get("description")),
                cpv=_unique([code for item in items for code in _codes(item)]),
                deadline=_datetime(dig(lot, "tenderPeriod", "endDate")),
                value=_amount(lot.get("value"))[0],
                winners=_winners(won, []),
            )
        )
    return tuple(lots)
