"""DECP: awarded contracts (données essentielles de la commande publique) on data.gouv.fr.

Portal
    data.gouv.fr, where buyers' platforms publish the essential data of every contract they award
    (object, CPV, amount, winners): the AIFE for the State's platforms (PLACE, so the Ministry of
    the Interior), Atexo platforms, marches-securises.fr and others.

URL
    `{base_url}{path}` for each path in `urls`, or the absolute URL given: a static JSON resource
    such as `/fr/datasets/r/{resource id}` (data.gouv redirects to the file).

Caveats
    - Retrospective: an award appears weeks or months after it was notified.
    - Each poll reads whole files (no date window) within the HTTP size cap (50 MB): prefer a
      platform's own resource to the national consolidation.
    - Both regulatory formats are read, concessions included: 2019 (`{"marches": [...]}`,
      winners named) and 2022 (`{"marches": {"marche": [...]}}`), where buyers and winners are
      SIRET numbers only, so a buyer filter there needs a SIRET prefix.
    - Filters apply while parsing: every configured filter must match, any of its values will do.
    - U+FFFD (`�`, accents broken in the source) is kept as it is; filters still match across it.
    - A contract repeated in a file (the same buyer and `id`) is one notice whose evidence holds
      every distinct record, the latest giving the fields; a record without `id` is kept under its
      content hash. Place codes are read into valid départements (postal, INSEE, `078`), 7-digit
      CPV codes left-padded, markup stripped (issue 13).
    - The notice's link is the JSON resource: a contract has no page of its own. Its
      `procedure_id` is the contract `id`, the reference that links an award to its notice.

Config keys
    - `base_url`: scheme and host (default `https://www.data.gouv.fr`).
    - `urls`: paths (joined to `base_url`) or absolute URLs of DECP JSON resources.
    - `buyers`: part of the buyer's name (case, accents and apostrophes ignored) or a SIRET/SIREN
      prefix.
    - `cpv_prefixes`: starts of CPV codes, e.g. `5532` (catering), `79713` (guarding).
    - `keywords`: whole words or phrases of the contract's object.

Phases (`watcher.core.phases`)
    a record is a contract; a record with `modifications` (avenants) is a
    contractAmendment (event `contract_modified`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from pydantic import Field, field_validator

from watcher.core import facts, places
from watcher.core.normalize import clean_text
from watcher.errors import ParseError
from watcher.records import Modification, NoticeRecord, PollWindow, RawPage
from watcher.sources.base import ApiSourceConfig, Source, as_list, first
from watcher.sources.http import Fetcher
from watcher.sources.scrape import absolute_url

# 8 digits, or 7 when the leading zero was lost (`9310000` for 09310000, SEEN in samples/real).
_CPV = re.compile(r"^\s*(\d{7,8})(?!\d)")
_SIRET = re.compile(r"[\d ]+").fullmatch


class DecpConfig(ApiSourceConfig):
    """Keys of a `decp` source."""

    base_url: str = "https://www.data.gouv.fr"
    urls: list[str] = Field(min_length=1)
    buyers: list[str] = Field(default_factory=list)
    cpv_prefixes: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)

    @field_validator("cpv_prefixes")
    @classmethod
    def _cpv(cls, prefixes: list[str]) -> list[str]:
        for prefix in prefixes:
            if not re.fullmatch(r"\d{2,8}", prefix):
                raise ValueError(f"{prefix!r} is not the start of a CPV code (2 to 8 digits)")
        return prefixes


def fold(text: str) -> str:
    """Lower case without accents, one kind of apostrophe, for matching: "Ministère de l’Intérieur"
    → "ministere de l'interieur"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("\u2019", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def pattern(text: str, *, whole_words: bool) -> re.Pattern[str]:
    """A pattern over folded text where an accented letter may also be U+FFFD (or two of them),
    as in the source's broken strings: "rétention" matches "r�tention"."""
    pieces = []
    for char in text.strip():
        plain = re.escape(fold(char))
        pieces.append(f"(?:{plain}|\ufffd{{1,2}})" if fold(char) != char.lower() else plain)
    edge = r"\b" if whole_words else ""
    return re.compile(edge + "".join(pieces) + edge)


class DecpSource(Source):
    """Awarded contracts from DECP JSON files, filtered by buyer, CPV and keywords."""

    kind = "decp"
    Config = DecpConfig

    config: DecpConfig

    def resource_urls(self) -> list[str]:
        """The absolute URL of each configured resource."""
        return [
            url if absolute_url(url, url) == url else f"{self.config.base_url}/{url.lstrip('/')}"
            for url in self.config.urls
        ]

    def fetch(self, fetcher: Fetcher, window: PollWindow) -> Iterator[RawPage]:
        for url in self.resource_urls():
            response = fetcher.get(url)
            yield RawPage(
                url=str(response.url),
                content=response.content,
                content_type=response.headers.get("content-type", "application/json"),
                meta={"resource": url},
            )

    def parse(self, page: RawPage) -> Iterator[NoticeRecord]:
        url = page.meta.get("resource") or page.url
        names = [pattern(b, whole_words=False) for b in self.config.buyers if not _SIRET(b)]
        sirets = [b.replace(" ", "") for b in self.config.buyers if _SIRET(b)]
        keywords = [pattern(k, whole_words=True) for k in self.config.keywords]
        wanted = (
            c
            for c in contracts(page.content, url)
            if _wanted(c, names, sirets, self.config.cpv_prefixes, keywords)
        )
        for versions in grouped(wanted):
            record = _record(versions, url)
            if record is not None:
                yield replace(record, **contract_facts(versions))


def clean(value: Any) -> str | None:
    """Plain text of a DECP field: markup (`<br />`) stripped, entities decoded, spaces collapsed."""
    return clean_text(value) if value not in (None, "") else None


def contract_key(contract: dict[str, Any]) -> str:
    """What identifies a contract in a file: its buyer and `id`; a record without `id` (the
    2019 concessions, SEEN in samples/real) by its content, so that it is kept, never dropped."""
    ident = clean(str(contract.get("id") or ""))
    buyer = clean(str(_buyer(contract).get("id") or ""))
    if not ident:
        digest = hashlib.sha256(_raw(contract).encode("utf-8")).hexdigest()[:16]
        ident = f"sans-id-{digest}"
    return f"{buyer}:{ident}" if buyer else ident


def grouped(items: Iterator[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The contracts of a file, each with every distinct record the file gives it, in file
    order: a repeated id (188 of them in the AIFE 2019 file) is one contract published again,
    identical copies once, differing ones as its versions, none lost (issue 13)."""
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for contract in items:
        groups.setdefault(contract_key(contract), {}).setdefault(_raw(contract), contract)
    return [list(versions.values()) for versions in groups.values()]


def _raw(contract: dict[str, Any]) -> str:
    return json.dumps(contract, ensure_ascii=False, sort_keys=True)


def _wanted(
    contract: dict[str, Any],
    names: list[re.Pattern[str]],
    sirets: list[str],
    cpv_prefixes: list[str],
    keywords: list[re.Pattern[str]],
) -> bool:
    """Whether a contract passes every configured filter (any value of a filter will do)."""
    buyer = _buyer(contract)
    if names or sirets:
        name, ident = fold(str(buyer.get("nom") or "")), str(buyer.get("id") or "")
        if not any(n.search(name) for n in names) and not any(map(ident.startswith, sirets)):
            return False
    cpv = cpv_code(contract.get("codeCPV")) or ""
    if cpv_prefixes and not any(map(cpv.startswith, cpv_prefixes)):
        return False
    objet = fold(str(contract.get("objet") or ""))
    return not keywords or any(k.search(objet) for k in keywords)


def contracts(content: bytes, url: str) -> Iterator[dict[str, Any]]:
    """The contracts of a DECP file in the 2019 or the 2022 format (concessions included)."""
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise ParseError(f"{url}: not JSON: {exc}") from None
    marches = data.get("marches") if isinstance(data, dict) else data
    if isinstance(
        marches, dict
    ):  # 2022: {"marches": {"marche": [...], "contrat-concession": [...]}}
        items = as_list(marches.get("marche")) + as_list(marches.get("contrat-concession"))
    elif isinstance(marches, list):  # 2019: {"marches": [...]}
        items = marches
    else:
        raise ParseError(f"{url}: not a DECP file (no 'marches' list)")
    yield from (item for item in items if isinstance(item, dict))


def _buyer(contract: dict[str, Any]) -> dict[str, Any]:
    buyer = first(contract.get("acheteur") or contract.get("autoriteConcedante"))
    return buyer if isinstance(buyer, dict) else {}


def _party(entry: Any, key: str) -> str | None:
    # 2022 wraps each party: [{"titulaire": {...}}]; 2019 does not: [{...}].
    party = first(entry.get(key, entry)) if isinstance(entry, dict) else None
    if not isinstance(party, dict):
        return None
    name = clean(str(party.get("denominationSociale") or ""))
    if name:
        return name
    return clean(" ".join(str(party.get(k) or "") for k in ("typeIdentifiant", "id")))


def _winners(contract: dict[str, Any], key: str = "titulaires") -> tuple[str, ...]:
    if key not in contract and "concessionnaires" in contract:
        return _winners(contract, "concessionnaires")
    parties = (_party(entry, key[:-1]) for entry in as_list(contract.get(key)))
    return tuple(dict.fromkeys(p for p in parties if p))


def _amount(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).replace(" ", "").replace(",", "."))
    except ValueError:
        return None


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _euros(value: float) -> str:
    return f"{value:,.2f}".replace(",", " ").replace(".", ",").removesuffix(",00") + " € HT"


def cpv_code(value: Any) -> str | None:
    """The 8-digit CPV code of `codeCPV` (`79100000`, `79100000-5`), a 7-digit one left-padded
    (`9310000` → `09310000`: its leading zero lost by a spreadsheet); None when there is none."""
    match = _CPV.match(str(value or ""))
    return match.group(1).zfill(8) if match else None


def _place(contract: dict[str, Any]) -> tuple[str | None, places.Reading]:
    """The place as the file names it, and its département: a postal code (`33000`), an INSEE
    code or a département with a zero too many (`078`) read into a valid code, flagged when the
    code and the name disagree (issue 13)."""
    where = first(contract.get("lieuExecution"))
    if not isinstance(where, dict):
        return None, places.Reading(None)
    code, kind = str(where.get("code") or "").strip(), str(where.get("typeCode") or "")
    name = clean(str(where.get("nom") or ""))
    place = name
    in_name = places.in_text(name)
    reading = places.read_code(code, kind, name)
    if reading.department is None and in_name:
        reading = places.Reading(in_name[0])
    return clean(place) or clean(f"{kind} {code}"), reading


def _modifications(contract: dict[str, Any]) -> list[str]:
    lines = []
    for entry in as_list(contract.get("modifications")):
        change = first(entry.get("modification", entry)) if isinstance(entry, dict) else None
        if not isinstance(change, dict):
            continue
        when = change.get("dateNotificationModification") or change.get(
            "datePublicationDonneesModification"
        )
        parts = [f"Modification {change.get('id', '')}".strip() + (f" du {when}" if when else "")]
        if clean(str(change.get("objetModification") or "")):
            parts.append(clean(str(change["objetModification"])) or "")
        amount = _amount(change.get("montant"))
        if amount is not None:
            parts.append(f"montant {_euros(amount)}")
        if change.get("dureeMois") not in (None, ""):
            parts.append(f"durée {change['dureeMois']} mois")
        winners = _winners(change)
        if winners:
            parts.append("titulaires " + ", ".join(winners))
        lines.append(" : ".join([parts[0], ", ".join(parts[1:])]) if len(parts) > 1 else parts[0])
    return lines


def _version_line(contract: dict[str, Any]) -> str:
    value = _amount(contract.get("montant", contract.get("valeurGlobale")))
    parts = [
        f"publiée le {contract['datePublicationDonnees']}"
        if contract.get("datePublicationDonnees")
        else None,
        f"notifiée le {contract['dateNotification']}" if contract.get("dateNotification") else None,
        f"montant {_euros(value)}" if value is not None else None,
        ("titulaires " + ", ".join(_winners(contract))) if _winners(contract) else None,
    ]
    return "Autre version : " + (", ".join(p for p in parts if p) or "sans date")


def _record(versions: list[dict[str, Any]], url: str) -> NoticeRecord | None:
    """One contract from its records in the file: the latest published one gives the fields,
    the others are listed as versions and kept in `raw` (a list then)."""
    if not versions:
        return None
    order = sorted(
        range(len(versions)),
        key=lambda i: (str(versions[i].get("datePublicationDonnees") or ""), i),
    )
    contract = versions[order[-1]]
    key = contract_key(contract)
    ident = clean(str(contract.get("id") or "")) or key.rsplit(":", 1)[-1]
    buyer = _buyer(contract)
    buyer_id = clean(str(buyer.get("id") or ""))
    value = _amount(contract.get("montant", contract.get("valeurGlobale")))
    # Every version's code, the latest first: a CPV corrected between versions is not lost.
    codes = [cpv_code(contract.get("codeCPV"))]
    codes += [cpv_code(versions[i].get("codeCPV")) for i in reversed(order[:-1])]
    cpv = tuple(dict.fromkeys(c for c in codes if c))
    place, reading = _place(contract)
    flags = [reading.note] if reading.ambiguous and reading.note else []
    if len(versions) > 1:
        flags.append(f"{len(versions)} versions of contract {ident} in the file")
    facts = [
        ("Nature", contract.get("nature")),
        ("Procédure", contract.get("procedure")),
        ("Notifié le", contract.get("dateNotification")),
        ("Durée (mois)", contract.get("dureeMois")),
        ("Montant", _euros(value) if value is not None else None),
    ]
    lines = [f"{label} : {v}" for label, v in facts if v not in (None, "")]
    lines += [_version_line(versions[i]) for i in order[:-1]]
    title = clean(str(contract.get("objet") or "")) or clean(str(contract.get("nature") or ""))
    return NoticeRecord(
        native_id=key,
        title=title or ident,
        url=url,
        buyer=clean(str(buyer.get("nom") or "")) or buyer_id,
        published=_date(contract.get("datePublicationDonnees")),
        cpv=cpv,
        place=place,
        department=reading.department,
        flags=tuple(flags),
        notice_type="award",
        value=value,
        currency="EUR" if value is not None else None,
        winners=_winners(contract),
        description="\n".join(lines + _modifications(contract)) or None,
        procedure_id=clean(str(contract.get("id") or "")),
        language="fr",
        raw=_raw(contract) if len(versions) == 1 else json.dumps(versions, ensure_ascii=False),
    )


def latest(versions: list[dict[str, Any]]) -> dict[str, Any]:
    """The record of a contract that gives its fields: the latest published (the file's last
    among equals), as `_record` chooses it."""
    order = sorted(
        range(len(versions)),
        key=lambda i: (str(versions[i].get("datePublicationDonnees") or ""), i),
    )
    return versions[order[-1]]


def _count(value: Any) -> int | None:
    """A whole, non-negative count (`offresRecues`, `dureeMois`), else None."""
    number = _amount(value)
    if number is None or number < 0 or number != int(number):
        return None
    return int(number)


def contract_facts(versions: list[dict[str, Any]]) -> dict[str, Any]:
    """What a DECP contract states for the questions, the radar and the legal clock (issue 28),
    from its latest record: `offresRecues` (2022 format only; the 2019 format has no such field),
    `procedure`, `dureeMois`, `dateNotification` (a concession's `dateSignature`),
    `dateDebutExecution` and each of `modifications` (new total amount and duration); and the
    first `datePublicationDonnees` of its records, when its data was first published (a record
    published again later is not late data)."""
    contract = latest(versions)
    published = [d for v in versions if (d := _date(v.get("datePublicationDonnees")))]
    label = clean(str(contract.get("procedure") or ""))
    changes = []
    for entry in as_list(contract.get("modifications")):
        change = first(entry.get("modification", entry)) if isinstance(entry, dict) else None
        if not isinstance(change, dict):
            continue
        changes.append(
            Modification(
                date=_date(change.get("dateNotificationModification"))
                or _date(change.get("datePublicationDonneesModification")),
                amount=_amount(change.get("montant", change.get("valeurGlobale"))),
                duration_months=_count(change.get("dureeMois")),
                subject=clean(str(change.get("objetModification") or "")),
            )
        )
    return {
        "tenders_received": _count(contract.get("offresRecues")),
        "procedure_type": facts.procedure_type(label),
        "procedure_label": label,
        "duration_months": _count(contract.get("dureeMois")),
        "notified": _date(contract.get("dateNotification")) or _date(contract.get("dateSignature")),
        "contract_start": _date(contract.get("dateDebutExecution")),
        "data_published": min(published) if published else None,
        "modifications": tuple(changes),
    }
