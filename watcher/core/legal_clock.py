"""The legal clock (issue 28): for an award, the remedies still open and until when, from the dates
the notices give. Information, not legal advice / information, pas un conseil juridique.

Rules, as their texts say (checked against the texts, cited in the README):

France
- Référé contractuel, CJA L551-13 and R551-7: "au plus tard le trente et unième jour suivant la
  publication au Journal officiel de l'Union européenne d'un avis d'attribution du contrat" (or,
  for a contract under a framework agreement or a dynamic purchasing system, the notification of
  its conclusion naming the winner and the reasons); "en l'absence de la publication d'avis ou de
  la notification …, jusqu'à l'expiration d'un délai de six mois à compter du lendemain du jour de
  la conclusion du contrat". The 31 days run only from an award notice published in the OJEU
  (TED, `eforms`): a BOAMP-only award notice does not start them. The text fixes the last day
  itself (the 31st day after publication, the publication day not counted); it is not written as
  a "délai franc". A time limit that ends on a Saturday, a Sunday or a public holiday is extended
  to the next working day (code de procédure civile art. 642, applied by the administrative
  courts): the window shows both dates. The 6 months run from the day after the conclusion, which
  the notices rarely give: the notification date (DECP) is the latest the conclusion can be, so
  the window is said to close "at the latest" then.
- Recours "Tarn-et-Garonne" (CE, Ass., 4 avril 2014, n° 358994): any third party whose interests
  may be harmed, within two months of the "mesures de publicité appropriées" (a notice of the
  conclusion naming the parties, the object and where the contract can be consulted). Counted as
  the administrative courts count a two-month time limit (a "délai franc": published on 10 January,
  open until 11 March) and extended to the next working day. Whether the award notice is the
  adequate publicity depends on what it says: the clock says so.

United Kingdom (England and Wales)
- Public Contracts Regulations 2015 (procurements begun before 24 February 2025): standstill,
  reg. 87 (10 days after the award decision notice is sent, by electronic means), and proceedings
  within 30 days of when the supplier knew or ought to have known the grounds, reg. 92(2). Both
  start from facts no published notice gives (the sending of the decision notice, a supplier's
  knowledge): said, not computed.
- Procurement Act 2023 (procurements begun on or after 24 February 2025): standstill of eight
  working days beginning with the day the contract award notice is published (s. 51); proceedings
  within 30 days of when the supplier knew or ought to have known (s. 106). The standstill end is
  computed from the notice; the 30 days are not.
Which regime applies follows the date of the procedure's first notice seen (a procurement is
"begun" when it is first advertised, usually): said as such.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from watcher.core.calendar import DAY, add_months, add_working_days, next_working_day

DISCLAIMER_FR = "Information, pas un conseil juridique."
DISCLAIMER_EN = "Information, not legal advice."
PROCUREMENT_ACT_FROM = dt.date(2025, 2, 24)
# Source kinds whose award notices are OJEU (TED) publications.
OJEU_KINDS = frozenset({"ted"})
UK_KINDS = frozenset({"contracts_finder", "find_a_tender"})


@dataclass(frozen=True, slots=True)
class Window:
    """One remedy: until when it is open (None: the notices do not give what it runs from)."""

    code: str
    name_fr: str
    name_en: str
    rule: str
    opens: dt.date | None
    closes: dt.date | None
    # The last day once a weekend or public holiday at the end is skipped (None when the same).
    extended: dt.date | None
    note_fr: str
    note_en: str
    notice: str | None = None

    def open_on(self, today: dt.date) -> bool | None:
        """Whether the window is still open on `today` (None when its end is unknown)."""
        last = self.extended or self.closes
        return None if last is None else today <= last

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "code": self.code,
            "name_fr": self.name_fr,
            "name_en": self.name_en,
            "rule": self.rule,
            "opens": self.opens.isoformat() if self.opens else None,
            "closes": self.closes.isoformat() if self.closes else None,
            "extended": self.extended.isoformat() if self.extended else None,
            "note_fr": self.note_fr,
            "note_en": self.note_en,
            "notice": self.notice,
        }


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _extended(day: dt.date, country: str) -> dt.date | None:
    later = next_working_day(day, country)
    return later if later != day else None


def refere_contractuel(award: Mapping[str, Any]) -> Window:
    """CJA R551-7: 31 days after an OJEU award notice, else 6 months from the day after the
    contract's conclusion (the notification date the notices give: at the latest)."""
    name = ("Référé contractuel", "Référé contractuel (post-contract summary proceedings)")
    rule = "CJA L551-13, R551-7"
    published = _date(award.get("published"))
    if award.get("kind") in OJEU_KINDS and published is not None:
        closes = published + 31 * DAY
        return Window(
            "refere_contractuel",
            *name,
            rule,
            published,
            closes,
            _extended(closes, "FR"),
            f"Jusqu'au 31e jour suivant la publication au JOUE de l'avis d'attribution "
            f"({published:%d/%m/%Y}).",
            f"Until the 31st day after the award notice was published in the OJEU "
            f"({published:%d/%m/%Y}).",
            str(award.get("id") or "") or None,
        )
    concluded = _date(award.get("notified"))
    if concluded is not None:
        closes = add_months(concluded + DAY, 6)
        return Window(
            "refere_contractuel",
            *name,
            rule,
            concluded,
            closes,
            _extended(closes, "FR"),
            "Sans avis d'attribution au JOUE : six mois à compter du lendemain de la conclusion "
            f"du contrat, au plus tard notifié le {concluded:%d/%m/%Y} ; la date de conclusion "
            "n'est pas publiée, la fenêtre se ferme au plus tard ce jour-là.",
            "Without an award notice in the OJEU: six months from the day after the contract was "
            f"concluded, notified at the latest on {concluded:%d/%m/%Y}; the conclusion date is "
            "not published, so the window closes on that day at the latest.",
            str(award.get("id") or "") or None,
        )
    return Window(
        "refere_contractuel",
        *name,
        rule,
        None,
        None,
        None,
        "Les avis ne donnent ni publication au JOUE de l'avis d'attribution ni date de conclusion "
        "du contrat : la fin du délai ne peut pas être calculée.",
        "The notices give neither an OJEU award notice nor the contract's conclusion date: the "
        "end of the time limit cannot be computed.",
        str(award.get("id") or "") or None,
    )


def tarn_et_garonne(award: Mapping[str, Any]) -> Window:
    """CE Ass. 4 avril 2014 n° 358994: two months (délai franc) from adequate publicity, here the
    award notice's publication if it names the parties, the object and where to consult it."""
    published = _date(award.get("published"))
    name = ("Recours « Tarn-et-Garonne »", "“Tarn-et-Garonne” third-party action")
    rule = "CE Ass. 4 avril 2014 n° 358994"
    if published is None:
        return Window(
            "tarn_et_garonne",
            *name,
            rule,
            None,
            None,
            None,
            "Date de publication de l'avis inconnue.",
            "Publication date of the notice unknown.",
        )
    closes = add_months(published, 2) + DAY
    return Window(
        "tarn_et_garonne",
        *name,
        rule,
        published,
        closes,
        _extended(closes, "FR"),
        "Deux mois (délai franc) à compter de mesures de publicité appropriées, si cet avis en "
        "est une : il doit nommer les parties, l'objet et où consulter le contrat.",
        "Two months (counted as a “délai franc”) from adequate publicity, if this notice is "
        "one: it must name the parties, the object and where the contract can be consulted.",
        str(award.get("id") or "") or None,
    )


def uk_windows(award: Mapping[str, Any], first_seen: dt.date | None) -> list[Window]:
    """The UK regime that applies by the first notice's date, its standstill and 30-day limit."""
    published = _date(award.get("published"))
    begun = first_seen or published
    ident = str(award.get("id") or "") or None
    if begun is not None and begun >= PROCUREMENT_ACT_FROM:
        standstill = add_working_days(published, 8, "GB") if published else None
        return [
            Window(
                "uk_standstill",
                "Période de suspension (standstill)",
                "Standstill period",
                "Procurement Act 2023 s. 51",
                published,
                standstill,
                None,
                "Huit jours ouvrés à compter du jour de publication de l'avis d'attribution "
                "(contract award notice), si cet avis en est un.",
                "Eight working days beginning with the day the contract award notice is "
                "published, if this notice is one.",
                ident,
            ),
            Window(
                "uk_proceedings",
                "Action en justice (30 jours)",
                "Proceedings (30 days)",
                "Procurement Act 2023 s. 106",
                None,
                None,
                None,
                "30 jours à compter du jour où le fournisseur a su ou aurait dû savoir : fait "
                "qu'aucun avis ne donne, non calculé.",
                "30 days from when the supplier knew or ought to have known: a fact no notice "
                "gives, not computed.",
                ident,
            ),
        ]
    return [
        Window(
            "uk_standstill",
            "Période de suspension (standstill)",
            "Standstill period",
            "Public Contracts Regulations 2015 reg. 87",
            None,
            None,
            None,
            "Dix jours après l'envoi de la décision d'attribution aux candidats : date non "
            "publiée, non calculé.",
            "Ten days after the award decision notice is sent to bidders: a date not published, "
            "not computed.",
            ident,
        ),
        Window(
            "uk_proceedings",
            "Action en justice (30 jours)",
            "Proceedings (30 days)",
            "Public Contracts Regulations 2015 reg. 92",
            None,
            None,
            None,
            "30 jours à compter du jour où le fournisseur a su ou aurait dû savoir : fait "
            "qu'aucun avis ne donne, non calculé.",
            "30 days from when the supplier knew or ought to have known: a fact no notice gives, "
            "not computed.",
            ident,
        ),
    ]


def windows(notices: Sequence[Mapping[str, Any]]) -> list[Window]:
    """The remedies of a procedure's award (its notices' snapshots in order, each with its `id`
    and source `kind`); none when it has no award. France: the référé contractuel runs from the
    first OJEU award notice when there is one, else from the latest award's notification; the
    Tarn-et-Garonne action from the first award notice's publication."""
    awards = [n for n in notices if n.get("notice_type") == "award"]
    if not awards:
        return []
    if any(n.get("kind") in UK_KINDS for n in awards):
        seen = [d for n in notices if (d := _date(n.get("published")))]
        return uk_windows(awards[-1], min(seen) if seen else None)
    ojeu = [n for n in awards if n.get("kind") in OJEU_KINDS and n.get("published")]
    notified = [n for n in awards if n.get("notified")]
    first = ojeu[0] if ojeu else (notified[-1] if notified else awards[-1])
    published = [n for n in awards if n.get("published")]
    return [refere_contractuel(first), tarn_et_garonne(published[0] if published else awards[0])]
