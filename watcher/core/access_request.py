"""Ask for the documents (issue 28): a ready-to-send request for a procedure's contract documents.

Pure: filled from the procedure's notices' snapshots, nothing is sent by the product.

- France: communication of administrative documents, code des relations entre le public et
  l'administration (CRPA) art. L300-1/L300-2 (contracts are administrative documents), L311-1
  (right of communication), L311-6 (what is withheld: the secret des affaires), L311-7 (the rest is
  communicated with those parts hidden), L311-9 (by e-mail if asked); no answer within one month is
  a refusal (R311-13), then the CADA may be asked within two months (R343-1). The CADA's doctrine:
  once the contract is signed, it and its parts (acte d'engagement, CCAP, CCTP), the winner's
  global price and the analysis report (rapport d'analyse des offres) are communicable, the
  secrets of the other bidders hidden; the winner's detailed prices (BPU/DPGF) are weighed case by
  case (CE, 30 mars 2016, Centre hospitalier de Perpignan, n° 375529).
- United Kingdom: Freedom of Information Act 2000 s. 1 (right of access), s. 10 (an answer within
  20 working days); s. 43 (commercial interests) is the exemption a buyer may invoke.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

UK_KINDS = frozenset({"contracts_finder", "find_a_tender"})


@dataclass(frozen=True, slots=True)
class Letter:
    """A request to copy or send: its language, subject, body and a `mailto:` link."""

    language: str
    subject: str
    body: str

    @property
    def mailto(self) -> str:
        """`mailto:?subject=…&body=…` (the buyer's address is for the reader to add)."""
        return f"mailto:?subject={quote(self.subject)}&body={quote(self.body)}"


def _facts(notices: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Each fact from the latest award stating it, else the latest notice stating it."""
    awards = [n for n in notices if n.get("notice_type") == "award"]
    ordered = [*reversed(awards), *reversed([n for n in notices if n not in awards])]

    def latest(key: str) -> Any:
        return next((n[key] for n in ordered if n.get(key)), "")

    refs = [str(n.get("id")) for n in notices if n.get("id")]
    winners = sorted({str(w) for n in awards for w in n.get("winners") or ()})
    published = [str(n["published"]) for n in awards if n.get("published")]
    return {
        "buyer": latest("buyer"),
        "title": latest("title"),
        "procedure": latest("procedure_id"),
        "refs": ", ".join(dict.fromkeys(refs)),
        "winners": ", ".join(winners),
        "published": min(published) if published else "",
        "notified": latest("notified"),
    }


def _day(value: Any, fmt: str) -> str:
    try:
        return dt.date.fromisoformat(str(value)[:10]).strftime(fmt) if value else ""
    except ValueError:
        return ""


def french_request(notices: Sequence[Mapping[str, Any]]) -> Letter:
    """A CRPA request (L311-1 ff.) for the signed contract, the price schedule and the analysis
    report of the procedure's award."""
    f = _facts(notices)
    award = _day(f["published"], "%d/%m/%Y")
    notified = _day(f["notified"], "%d/%m/%Y")
    lines = [
        "Madame, Monsieur,",
        "",
        "En application des articles L300-1, L311-1 et suivants du code des relations entre le "
        "public et l'administration, je vous demande la communication des documents suivants "
        f"relatifs au marché « {f['title']} »"
        + (f" (référence {f['procedure']})" if f["procedure"] else "")
        + (f", attribué à {f['winners']}" if f["winners"] else "")
        + (f", avis d'attribution publié le {award}" if award else "")
        + (f", notifié le {notified}" if notified else "")
        + " :",
        "- le marché signé (acte d'engagement, CCAP, CCTP) et ses avenants ;",
        "- le bordereau des prix unitaires (BPU) ou la décomposition du prix global et "
        "forfaitaire (DPGF) de l'offre retenue ;",
        "- le rapport d'analyse des offres.",
        "",
        "Selon la doctrine constante de la CADA, ces documents sont communicables à toute personne "
        "qui en fait la demande une fois le marché signé, sous réserve de l'occultation des "
        "mentions couvertes par le secret des affaires (articles L311-6 et L311-7 du CRPA ; le "
        "détail des prix est apprécié au cas par cas, CE, 30 mars 2016, n° 375529).",
        "",
        "Je souhaite les recevoir par courrier électronique (article L311-9 du CRPA). À défaut de "
        "réponse dans un délai d'un mois, je saisirai la Commission d'accès aux documents "
        "administratifs (articles R311-13 et R343-1).",
        "",
        f"Références des avis : {f['refs']}." if f["refs"] else "",
        "",
        "Je vous prie d'agréer, Madame, Monsieur, l'expression de mes salutations distinguées.",
    ]
    subject = f"Demande de communication de documents administratifs — {f['title']}"
    return Letter("fr", subject, "\n".join(lines).replace("\n\n\n", "\n\n"))


def english_request(notices: Sequence[Mapping[str, Any]]) -> Letter:
    """A Freedom of Information Act 2000 request for the contract, its pricing schedule and the
    tender evaluation report."""
    f = _facts(notices)
    award = _day(f["published"], "%d %B %Y")
    lines = [
        "Dear Sir or Madam,",
        "",
        "Under section 1 of the Freedom of Information Act 2000, please send me the following "
        f"information about the contract “{f['title']}”"
        + (f" (reference {f['procedure']})" if f["procedure"] else "")
        + (f", awarded to {f['winners']}" if f["winners"] else "")
        + (f", award notice published on {award}" if award else "")
        + ":",
        "- the signed contract, including any variations;",
        "- the pricing schedule of the successful tender;",
        "- the tender evaluation report (or moderation/scoring summary).",
        "",
        "If you consider any part exempt (for example under section 43), please release the rest "
        "with only that part redacted and tell me which exemption you rely on. I look forward to "
        "your reply within 20 working days (section 10). I would like to receive the information "
        "by e-mail.",
        "",
        f"Notice references: {f['refs']}." if f["refs"] else "",
        "",
        "Yours faithfully,",
    ]
    subject = f"Freedom of Information request — {f['title']}"
    return Letter("en", subject, "\n".join(lines).replace("\n\n\n", "\n\n"))


def request_for(notices: Sequence[Mapping[str, Any]]) -> Letter:
    """The request that fits the procedure's country: FOI for UK portals, CRPA otherwise."""
    if any(n.get("kind") in UK_KINDS for n in notices):
        return english_request(notices)
    return french_request(notices)
