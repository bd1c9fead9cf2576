"""The renewal radar as documents (issue 28): `/feeds/radar.atom` and `/feeds/radar.ics`.

Pure: radar items in, bytes out. The calendar has one all-day event per contract end and per
remedy window that closes (legal clock), each with a reminder 7 days before; UIDs are stable per
notice and kind, so a subscribed calendar moves an event instead of adding a second one.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import icalendar

from watcher.publish.atom import FeedMeta, build_atom
from watcher.publish.entries import Entry

TITLES = {
    "fr": "Radar des renouvellements — marchés de la rétention et de l'expulsion",
    "en": "Renewal radar — immigration detention and removal contracts",
}
KIND_WORDS = {
    "end": {"fr": "Fin du marché", "en": "Contract ends"},
    "remedy": {"fr": "Fin du délai de recours", "en": "Remedy window closes"},
}
DISCLAIMER = {
    "fr": "Information, pas un conseil juridique.",
    "en": "Information, not legal advice.",
}


@dataclass(frozen=True, slots=True)
class RadarItem:
    """One date on the radar: a contract's end or a remedy's last day, for one notice."""

    kind: str  # "end" | "remedy"
    day: dt.date
    notice_id: int
    native_id: str
    title: str
    buyer: str | None
    site: str | None
    basis_fr: str
    basis_en: str
    winners: tuple[str, ...] = ()
    horizon: int | None = None
    label_fr: str = ""
    label_en: str = ""

    def words(self, lang: str) -> str:
        """`Fin du marché` / `Référé contractuel` in `lang`."""
        own = self.label_fr if lang == "fr" else self.label_en
        return own or KIND_WORDS[self.kind][lang]


def build_ics(items: Sequence[RadarItem], base_url: str) -> bytes:
    """The radar as an iCalendar, a 7-day reminder on each event."""
    host = urlsplit(base_url).hostname or "localhost"
    cal = icalendar.Calendar()
    cal.add("prodid", "-//detention-watcher//radar//FR")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("name", TITLES["fr"])
    cal.add("x-wr-calname", TITLES["fr"])
    cal.add("url", f"{base_url}/feeds/radar.ics")
    for item in items:
        event = icalendar.Event()
        event.add("uid", f"radar/{item.kind}/{item.notice_id}/{item.label_en or 'end'}@{host}")
        event.add("summary", f"{item.words('fr')} : {item.title}")
        event.add("dtstart", item.day)
        event.add("dtend", item.day + dt.timedelta(days=1))
        event.add("dtstamp", dt.datetime.combine(item.day, dt.time(), tzinfo=dt.UTC))
        lines = [item.basis_fr, item.basis_en]
        if item.buyer:
            lines.append(f"Acheteur / Buyer : {item.buyer}")
        if item.winners:
            lines.append("Titulaire(s) / Winner(s) : " + ", ".join(item.winners))
        if item.kind == "remedy":
            lines.append(f"{DISCLAIMER['fr']} / {DISCLAIMER['en']}")
        lines.append(f"{base_url}/notices/{item.notice_id}")
        event.add("description", "\n".join(lines))
        event.add("url", f"{base_url}/notices/{item.notice_id}")
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", f"{item.words('fr')} dans 7 jours : {item.title}")
        alarm.add("trigger", dt.timedelta(days=-7))
        event.add_component(alarm)
        cal.add_component(event)
    body: bytes = cal.to_ical()
    return body


def build_feed(items: Sequence[RadarItem], base_url: str, lang: str, now: dt.datetime) -> bytes:
    """The radar as Atom, soonest first; each entry dated `now` is not useful to readers, so its
    `updated` is the day the item falls due."""
    entries = []
    for item in items:
        words = item.words(lang)
        basis = item.basis_fr if lang == "fr" else item.basis_en
        colon = " : " if lang == "fr" else ": "
        text = f"{words}{colon}{item.day.isoformat()} — {basis}"
        if item.kind == "remedy":
            text += f" ({DISCLAIMER[lang]})"
        entries.append(
            Entry(
                key=f"radar/{item.kind}/{item.notice_id}/{item.label_en or 'end'}",
                title=f"{words}{colon}{item.title}",
                link=f"{base_url}/notices/{item.notice_id}",
                updated=min(now, dt.datetime.combine(item.day, dt.time(), tzinfo=dt.UTC)),
                html=f"<p>{html.escape(text)}</p>",
                text=text,
                kind=f"radar_{item.kind}",
                site=item.site,
                source="radar",
                categories=tuple(c for c in ("radar", item.site) if c),
                page=f"{base_url}/notices/{item.notice_id}",
            )
        )
    suffix = "?lang=en" if lang == "en" else ""
    meta = FeedMeta(
        feed_id=f"{base_url}/feeds/radar.atom{suffix}",
        title=TITLES[lang],
        self_url=f"{base_url}/feeds/radar.atom{suffix}",
        site_url=f"{base_url}/radar{suffix}",
        lang=lang,
    )
    return build_atom(entries, meta, base_url)
