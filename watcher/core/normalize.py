"""Pure normalisation: text cleanup, dates, money, and the canonical snapshot of a notice.

A snapshot holds only the fields a reader cares about, each as a comparable plain value, so that
`diff.py` sees a change only where a person would. No I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
import unicodedata
from typing import Any
from zoneinfo import ZoneInfo

import nh3

from watcher.core import facts
from watcher.core.sanitize import INVISIBLE
from watcher.records import NoticeRecord

PARIS = ZoneInfo("Europe/Paris")
_BREAKS = re.compile(r"<\s*/?\s*(?:br|p|div|li|tr|td|h\d)\b[^>]*>", re.IGNORECASE)
_SAFE_URL = re.compile(r"^https?://[^/\s]+", re.IGNORECASE)
# Characters that are not allowed in XML 1.0 (feeds would be invalid): C0 controls except \t\n\r,
# surrogates, U+FFFE and U+FFFF; and bidirectional controls and zero-width characters, which make
# a title read differently from what it says (`facture\u202egpj.exe`, issue 18).
_XML_ILLEGAL = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff{INVISIBLE}]")


def strip_markup(text: str) -> str:
    """Plain text from scraped text that may carry markup: tags dropped, `<script>` and `<style>`
    dropped with their content (nh3, the Rust HTML sanitizer), entities decoded, markup or not
    (`St Bede&apos;s` → `St Bede's`, issue 13)."""
    if "<" not in text:
        return html.unescape(text) if "&" in text else text
    text = _BREAKS.sub(" ", text)  # "Travaux<br />de voirie": a line break is a space
    return html.unescape(nh3.clean(text, tags=set(), attributes={}, strip_comments=True))


def clean_text(value: Any) -> str | None:
    """Plain text: markup stripped, XML-illegal, bidi-control and zero-width characters dropped,
    NFC, white space collapsed; None for empty values."""
    if value is None:
        return None
    text = strip_markup(_XML_ILLEGAL.sub("", unicodedata.normalize("NFC", str(value))))
    # `str.split()` cuts at the characters `\s` matches (both use `str.isspace`): the same as
    # collapsing runs with a regular expression and stripping, at half the cost.
    text = " ".join(_XML_ILLEGAL.sub("", text).split())
    return text or None


def safe_url(value: Any) -> str | None:
    """An http(s) URL, or None: `javascript:`, `data:` and other schemes never reach a link."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not _SAFE_URL.match(url) or any(c in url for c in '"<>\x00\n\r\t '):
        return None
    return url


def to_utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC datetime; a naive one is read as Paris time (French portals' habit)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=PARIS)
    return value.astimezone(dt.UTC)


def parse_datetime(value: Any) -> dt.datetime | None:
    """ISO 8601 date or datetime (with or without offset) → aware UTC; None when unreadable."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return to_utc(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=PARIS).astimezone(dt.UTC)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return to_utc(dt.datetime.fromisoformat(text))
    except ValueError:
        pass
    # "2026-07-13+02:00": a date with an offset (TED).
    match = re.match(r"^(\d{4}-\d{2}-\d{2})([+-]\d{2}:\d{2})?$", text)
    if match:
        day = dt.date.fromisoformat(match.group(1))
        return dt.datetime(day.year, day.month, day.day, tzinfo=PARIS).astimezone(dt.UTC)
    return None


def parse_date(value: Any) -> dt.date | None:
    """A calendar date from an ISO date or datetime string; None when unreadable."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def format_deadline(value: dt.datetime | None, *, with_time: bool = False) -> str | None:
    """`04/01/2027` (or `04/01/2027 12:00`) in Paris time, as French notices print it."""
    if value is None:
        return None
    local = value.astimezone(PARIS)
    return local.strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")


def format_money(value: float | None, currency: str | None = "EUR") -> str | None:
    """`1 234 567 €` / `1 234 567 GBP`."""
    if value is None:
        return None
    amount = f"{value:,.2f}".rstrip("0").rstrip(".").replace(",", " ").replace(".", ",")
    symbol = {"EUR": "€", None: "€", "GBP": "£"}.get(currency, currency or "€")
    return f"{amount} {symbol}"


def format_value(
    value: float | None, currency: str | None = "EUR", tender_value: float | None = None
) -> str | None:
    """An amount as a reader may quote it. An award of 0 is what some portals write when they
    publish no amount (Contracts Finder, issue 13): it is shown as given, said not to be an amount
    paid, with the tender's value beside it."""
    if value == 0 and tender_value:
        tender = format_money(tender_value, currency)
        return (
            f"{format_money(0, currency)} (tel que publié, pas un montant payé ; "
            f"valeur du marché : {tender})"
        )
    return format_money(value, currency)


def content_hash(raw: str) -> str:
    """sha256 hex digest of a raw payload: the evidence hash and the change detector."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def snapshot(record: NoticeRecord) -> dict[str, Any]:
    """The canonical, JSON-serialisable form of a notice that `diff.py` compares."""
    return {
        "title": clean_text(record.title),
        "buyer": clean_text(record.buyer),
        "url": safe_url(record.url),
        "published": record.published.isoformat() if record.published else None,
        "deadline": record.deadline.astimezone(dt.UTC).isoformat() if record.deadline else None,
        "notice_type": record.notice_type,
        "cpv": sorted({c[:8] for c in record.cpv if c}),
        "place": clean_text(record.place),
        "department": record.department,
        "departments": list(record.departments),
        "deadline_local": record.deadline_local,
        "deadline_zone": record.deadline_zone,
        "tender_value": record.tender_value,
        "flags": list(record.flags),
        "value": record.value,
        "currency": record.currency,
        "winners": sorted({w for w in (clean_text(x) for x in record.winners) if w}),
        "description": clean_text(record.description),
        "documents": sorted({u for u in map(safe_url, record.documents) if u}),
        "lots": [
            {
                "number": lot.number,
                "title": clean_text(lot.title),
                "description": clean_text(lot.description),
                "cpv": sorted({c[:8] for c in lot.cpv if c}),
                "deadline": lot.deadline.astimezone(dt.UTC).isoformat() if lot.deadline else None,
                "winners": sorted(lot.winners),
                "value": lot.value,
            }
            for lot in record.lots
        ],
        "language": record.language,
        "procedure_id": record.procedure_id,
        "related_ids": sorted(set(record.related_ids)),
        # Issue 28: only the facts the notice states (no key for an older notice).
        **facts.snapshot(record),
    }
