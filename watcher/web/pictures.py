"""Pictures without JavaScript (pure): the map of the sites and the timeline of procedures, as SVG.

Both are plain strings of SVG, inlined in the pages and served alone (`/sites.svg`). They scale to
the page's width (`viewBox`), carry a `<title>` and `<desc>` (text alternatives), draw status and
phase with a shape AND a colour (never colour alone) and a legend in words, in French or English.
The pages also give the same facts as a table.

Map: metropolitan France, Corsica, Great Britain and Ireland in one Mercator frame; Île-de-France
enlarged; Guadeloupe, Martinique, Guyane, La Réunion and Mayotte as insets. Outlines are the
hand-simplified polygons of `watcher.web.outlines`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from watcher.web import outlines
from watcher.web.gazetteer import Site

WIDTH = 600
STATUSES = ("existing", "under_construction", "planned", "closed")
_STATUS_COLOUR = {
    "existing": "#b3261e",
    "under_construction": "#e07b00",
    "planned": "#1a5fb4",
    "closed": "#555555",
}
_WORDS = {
    "fr": {
        "map_title": "Carte des lieux d'enfermement",
        "map_desc": "{n} lieux : {counts}. Le nombre près d'un lieu est son nombre de procédures.",
        "existing": "en service",
        "under_construction": "en construction",
        "planned": "en projet",
        "closed": "fermé",
        "unknown": "statut inconnu",
        "procedures": "{n} procédure(s)",
        "idf": "Île-de-France",
        "timeline_title": "Frise des procédures",
        "timeline_desc": "{n} procédure(s), de {start} à {end}.",
        "planning": "information préalable",
        "tender": "appel d'offres",
        "award": "attribution",
        "modification": "modification du marché",
        "cancelled": "annulation",
    },
    "en": {
        "map_title": "Map of detention sites",
        "map_desc": "{n} sites: {counts}. The number next to a site is its number of procedures.",
        "existing": "in use",
        "under_construction": "under construction",
        "planned": "planned",
        "closed": "closed",
        "unknown": "status unknown",
        "procedures": "{n} procedure(s)",
        "idf": "Île-de-France",
        "timeline_title": "Timeline of procedures",
        "timeline_desc": "{n} procedure(s), from {start} to {end}.",
        "planning": "prior information",
        "tender": "call for tenders",
        "award": "award",
        "modification": "contract modification",
        "cancelled": "cancellation",
    },
}


def words(lang: str) -> dict[str, str]:
    """The pictures' words in `lang`."""
    return _WORDS.get(lang, _WORDS["fr"])


def _merc(lat: float) -> float:
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


@dataclass(frozen=True, slots=True)
class Frame:
    """A lon/lat box drawn into a pixel box (Mercator)."""

    lon0: float
    lon1: float
    lat0: float
    lat1: float
    x: float
    y: float
    w: float
    h: float

    def point(self, lon: float, lat: float) -> tuple[float, float]:
        """Pixel position of (lon, lat), keeping the aspect ratio (centred in the box)."""
        span_x = math.radians(self.lon1 - self.lon0)
        span_y = _merc(self.lat1) - _merc(self.lat0)
        scale = min(self.w / span_x, self.h / span_y)
        off_x = (self.w - span_x * scale) / 2
        off_y = (self.h - span_y * scale) / 2
        px = self.x + off_x + math.radians(lon - self.lon0) * scale
        py = self.y + off_y + (_merc(self.lat1) - _merc(lat)) * scale
        return round(px, 1), round(py, 1)

    def contains(self, lon: float, lat: float) -> bool:
        """Whether the point is inside the lon/lat box."""
        return self.lon0 <= lon <= self.lon1 and self.lat0 <= lat <= self.lat1


MAIN = Frame(-10.6, 9.7, 41.2, 58.8, 0, 0, WIDTH, 470)
IDF = Frame(1.75, 2.85, 48.6, 49.15, 440, 6, 154, 120)
INSETS: tuple[tuple[str, Frame, tuple[outlines.Ring, ...]], ...] = (
    ("Guadeloupe", Frame(-61.9, -61.0, 15.8, 16.6, 4, 482, 112, 92), outlines.GUADELOUPE),
    ("Martinique", Frame(-61.3, -60.75, 14.35, 14.95, 124, 482, 112, 92), (outlines.MARTINIQUE,)),
    ("Guyane", Frame(-54.8, -51.4, 2.0, 6.0, 244, 482, 112, 92), (outlines.GUYANE,)),
    ("La Réunion", Frame(55.15, 55.9, -21.45, -20.8, 364, 482, 112, 92), (outlines.REUNION,)),
    ("Mayotte", Frame(44.95, 45.35, -13.05, -12.6, 484, 482, 112, 92), (outlines.MAYOTTE,)),
)
HEIGHT = 580


def _path(frame: Frame, ring: outlines.Ring) -> str:
    points = " ".join(f"{x},{y}" for x, y in (frame.point(lon, lat) for lon, lat in ring))
    return f'<polygon points="{points}" fill="#e8e4d8" stroke="#8a8170" stroke-width="0.8"/>'


def marker(status: str | None, x: float, y: float, size: float = 6.0) -> str:
    """The status's shape at (x, y): circle in use, triangle under construction, hollow diamond
    planned, cross closed, square when unknown."""
    colour = _STATUS_COLOUR.get(status or "", "#333333")
    s = size
    if status == "existing":
        return (
            f'<circle cx="{x}" cy="{y}" r="{s}" fill="{colour}" stroke="#fff" stroke-width="1.2"/>'
        )
    if status == "under_construction":
        pts = f"{x},{y - s * 1.2} {x + s * 1.1},{y + s * 0.8} {x - s * 1.1},{y + s * 0.8}"
        return f'<polygon points="{pts}" fill="{colour}" stroke="#fff" stroke-width="1.2"/>'
    if status == "planned":
        pts = f"{x},{y - s} {x + s},{y} {x},{y + s} {x - s},{y}"
        return f'<polygon points="{pts}" fill="#fff" stroke="{colour}" stroke-width="2.2"/>'
    if status == "closed":
        d = f"M{x - s},{y - s}L{x + s},{y + s}M{x - s},{y + s}L{x + s},{y - s}"
        return f'<path d="{d}" stroke="{colour}" stroke-width="2.6" fill="none"/>'
    return (
        f'<rect x="{x - s * 0.8}" y="{y - s * 0.8}" width="{s * 1.6}" height="{s * 1.6}" '
        f'fill="{colour}" stroke="#fff"/>'
    )


def _frame_of(site: Site) -> Frame | None:
    if site.lat is None or site.lon is None:
        return None
    if IDF.contains(site.lon, site.lat):
        return IDF
    for _name, frame, _rings in INSETS:
        if frame.contains(site.lon, site.lat):
            return frame
    return MAIN if MAIN.contains(site.lon, site.lat) else None


def site_map(
    sites: Sequence[Site],
    counts: Mapping[str, int],
    lang: str,
    link: str = "/sites/{slug}",
    *,
    narrow: bool = False,
) -> str:
    """The map: every site with a position, marked by status, with its number of procedures;
    each mark links to the site's page (`<a id="site-<slug>">`). `narrow` draws the same map for
    a phone: bigger marks and words, the legend under the map, ids prefixed `n-`."""
    w = words(lang)
    big = 1.7 if narrow else 1.0
    pre = "n-" if narrow else ""
    height = HEIGHT + (4 * 34 + 10 if narrow else 0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'class="picture map" role="group" aria-labelledby="{pre}map-title {pre}map-desc" '
        f'font-family="sans-serif">',
        f'<title id="{pre}map-title">{escape(w["map_title"])}</title>',
    ]
    by_status: dict[str, int] = {}
    for site in sites:
        by_status[site.status or "unknown"] = by_status.get(site.status or "unknown", 0) + 1
    summary = ", ".join(f"{n} {w.get(k, k)}" for k, n in sorted(by_status.items()))
    parts.append(
        f'<desc id="{pre}map-desc">'
        f"{escape(w['map_desc'].format(n=len(sites), counts=summary))}</desc>"
    )
    parts.append(f'<rect width="{WIDTH}" height="{height}" fill="#f4f8fb"/>')
    for ring in (outlines.IRELAND, outlines.GREAT_BRITAIN, outlines.FRANCE, outlines.CORSICA):
        parts.append(_path(MAIN, ring))
    # Where the Île-de-France box comes from.
    (ax, ay), (bx, by) = MAIN.point(IDF.lon0, IDF.lat1), MAIN.point(IDF.lon1, IDF.lat0)
    parts.append(
        f'<rect x="{ax}" y="{ay}" width="{bx - ax}" height="{by - ay}" fill="none" '
        f'stroke="#333" stroke-width="1"/>'
    )
    parts.append(
        f'<line x1="{bx}" y1="{ay}" x2="{IDF.x}" y2="{IDF.y + IDF.h}" stroke="#333" '
        f'stroke-width="0.6" stroke-dasharray="3 2"/>'
    )
    for frame in [IDF, *(f for _n, f, _r in INSETS)]:
        parts.append(
            f'<rect x="{frame.x}" y="{frame.y}" width="{frame.w}" height="{frame.h}" '
            f'fill="#f4f8fb" stroke="#333" stroke-width="1"/>'
        )
    for _name, frame, rings in INSETS:
        parts.extend(_path(frame, ring) for ring in rings)
    for frame, label in [(IDF, w["idf"])] + [(f, n) for n, f, _r in INSETS]:
        # On a light band along the box's foot, so that land never hides the name.
        band = round(15 * big)
        parts.append(
            f'<rect x="{frame.x + 1}" y="{frame.y + frame.h - band - 1}" width="{frame.w - 2}" '
            f'height="{band}" fill="#ffffff" opacity="0.85"/>'
            f'<text x="{frame.x + 4}" y="{frame.y + frame.h - 5}" font-size="{12 * big:.0f}" '
            f'fill="#222">{escape(label)}</text>'
        )
    parts.append(_legend(w, narrow))
    # Sites with procedures last, so that no other mark hides their number.
    for site in sorted(sites, key=lambda s: counts.get(s.slug, 0)):
        where = _frame_of(site)
        if where is None or site.lat is None or site.lon is None:
            continue
        x, y = where.point(site.lon, site.lat)
        count = counts.get(site.slug, 0)
        state = w.get(site.status or "unknown", w["unknown"])
        name = f"{site.label} — {state} — {w['procedures'].format(n=count)}"
        href = link.format(slug=site.slug)
        parts.append(f'<a href="{escape(href)}" id="{pre}site-{escape(site.slug)}">')
        parts.append(f"<title>{escape(name)}</title>{marker(site.status, x, y, 6 * big)}")
        if count:
            parts.append(
                f'<text x="{x + 8 * big}" y="{y + 5 * big}" font-size="{13 * big:.0f}" '
                f'font-weight="bold" fill="#111" stroke="#fff" stroke-width="3" '
                f'paint-order="stroke">{count}</text>'
            )
        parts.append("</a>")
    parts.append("</svg>")
    return "".join(parts)


def _legend(w: Mapping[str, str], narrow: bool = False) -> str:
    """Status shapes in words: top left, or under the map (`narrow`, large)."""
    x, y, gap, size, font = (8, 14, 20, 5.5, 13) if not narrow else (12, HEIGHT + 26, 34, 10, 24)
    parts = []
    if not narrow:
        parts.append(
            f'<rect x="2" y="2" width="178" height="{len(STATUSES) * gap + 8}" fill="#fff" '
            f'stroke="#999" opacity="0.92"/>'
        )
    for i, status in enumerate(STATUSES):
        cy = y + i * gap
        parts.append(marker(status, x + size, cy, size))
        parts.append(
            f'<text x="{x + size * 2 + 10}" y="{cy + font * 0.35:.0f}" font-size="{font}" '
            f'fill="#111">{escape(w[status])}</text>'
        )
    return "".join(parts)


# --- timelines ------------------------------------------------------------------------------

PHASE_COLOUR = {
    "planning": "#6a3d9a",
    "tender": "#1a5fb4",
    "award": "#b3261e",
    "modification": "#e07b00",
    "cancelled": "#555555",
}
_PHASE_STATUS = {  # the map's shapes, reused: one shape per phase
    "planning": "planned",
    "tender": None,
    "award": "existing",
    "modification": "under_construction",
    "cancelled": "closed",
}


@dataclass(frozen=True, slots=True)
class Step:
    """One notice of a procedure on the timeline."""

    day: dt.date
    phase: str
    label: str


@dataclass(frozen=True, slots=True)
class Line:
    """One procedure: its title, its page and its notices."""

    title: str
    href: str
    steps: tuple[Step, ...]


def phase_marker(phase: str, x: float, y: float, size: float = 6.0) -> str:
    """A phase's shape and colour (legend and timeline)."""
    shape = marker(_PHASE_STATUS.get(phase), x, y, size)
    default = _STATUS_COLOUR.get(_PHASE_STATUS.get(phase) or "", "#333333")
    return shape.replace(default, PHASE_COLOUR.get(phase, "#333333"))


def _short(text: str, most: int = 60) -> str:
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def timeline(
    lines: Sequence[Line], lang: str, ident: str = "timeline", *, narrow: bool = False
) -> str:
    """The procedures' phases over time: one row per procedure (title above, notices on a line
    from its first to its last notice), a year axis and a legend; "" when nothing is dated.
    `narrow` draws it 360 units wide for a phone (words stay as large)."""
    w = words(lang)
    width = 360 if narrow else WIDTH
    columns = 2 if narrow else 3
    rows = [line for line in lines if line.steps]
    if not rows:
        return ""
    days = [s.day for line in rows for s in line.steps]
    start, end = min(days), max(days)
    first, last = dt.date(start.year, 1, 1), dt.date(end.year + 1, 1, 1)
    left, right = 16, width - 16
    span = (last - first).days or 1

    def x_of(day: dt.date) -> float:
        return round(left + (day - first).days / span * (right - left), 1)

    legend_h, row_h, axis_h = (66 if narrow else 46), 46, 26
    height = legend_h + axis_h + row_h * len(rows) + 8
    desc = w["timeline_desc"].format(n=len(rows), start=start.isoformat(), end=end.isoformat())
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="picture timeline" role="group" aria-labelledby="{ident}-title {ident}-desc" '
        f'font-family="sans-serif">',
        f'<title id="{ident}-title">{escape(w["timeline_title"])}</title>',
        f'<desc id="{ident}-desc">{escape(desc)}</desc>',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
    ]
    for i, phase in enumerate(("planning", "tender", "award", "modification", "cancelled")):
        lx, ly = 10 + (i % columns) * (width - 20) // columns, 12 + (i // columns) * 20
        parts.append(phase_marker(phase, lx + 6, ly, 5))
        parts.append(
            f'<text x="{lx + 16}" y="{ly + 4}" font-size="13" fill="#111">{escape(w[phase])}</text>'
        )
    axis_y = legend_h + 14
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{right}" y2="{axis_y}" stroke="#999"/>')
    years = range(first.year, last.year + 1)
    step = max(1, math.ceil(len(years) / (3 if narrow else 6)))
    for year in years:
        x = x_of(dt.date(year, 1, 1))
        parts.append(f'<line x1="{x}" y1="{axis_y - 4}" x2="{x}" y2="{height - 4}" stroke="#ddd"/>')
        if (year - first.year) % step == 0 and year < last.year:
            parts.append(
                f'<text x="{x + 3}" y="{axis_y - 4}" font-size="12" fill="#444">{year}</text>'
            )
    for n, line in enumerate(rows):
        top = legend_h + axis_h + n * row_h
        steps = sorted(line.steps, key=lambda s: s.day)
        x0, x1 = x_of(steps[0].day), x_of(steps[-1].day)
        y = top + 28
        parts.append(f'<a href="{escape(line.href)}">')
        parts.append(
            f'<text x="{left}" y="{top + 12}" font-size="13" fill="#0b3d91">'
            f"{escape(_short(line.title, 44 if narrow else 80))}</text>"
        )
        parts.append(
            f'<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#666" stroke-width="2"/>'
        )
        for item in steps:
            parts.append(
                f"<g><title>{escape(item.day.isoformat())} — {escape(w.get(item.phase, item.phase))}"
                f" — {escape(item.label)}</title>"
                f"{phase_marker(item.phase, x_of(item.day), y, 6)}</g>"
            )
        parts.append("</a>")
    parts.append("</svg>")
    return "".join(parts)


def responsive(wide: str, narrow: str) -> str:
    """Both drawings of a picture: the page's stylesheet shows the wide one on a wide screen and
    the narrow one on a phone (CSS only, no script)."""
    if not wide:
        return ""
    return f'<div class="pic-wide">{wide}</div><div class="pic-narrow">{narrow}</div>'


def site_pictures(sites: Sequence[Site], counts: Mapping[str, int], lang: str) -> str:
    """The map for `/sites`, wide and narrow."""
    return responsive(site_map(sites, counts, lang), site_map(sites, counts, lang, narrow=True))


def timelines(lines: Sequence[Line], lang: str, ident: str) -> str:
    """A timeline, wide and narrow ("" when there is nothing to draw)."""
    return responsive(
        timeline(lines, lang, ident), timeline(lines, lang, f"n-{ident}", narrow=True)
    )
