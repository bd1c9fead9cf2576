"""Questions to ask about a procedure (issue 28): red flags, worded as questions with their evidence.

Pure functions over a plain procedure: `{"id": …, "notices": [snapshot, …]}`, its notices' stored
snapshots (`core/normalize.snapshot`) in publication order, each with its `id` (the portal's id)
and, when known, its source `kind` (`decp`, `boamp`…). Thresholds come from
`core/rules/questions.yaml` (`default_rules()`), each question's method from the literature
cited there: the Open Contracting Partnership's "Red flags for integrity" guide, its Cardinal
indicators, opentender.eu's indicators, directive 2014/24/EU and the Code de la commande publique.

A question is a reason to ask, never a finding: a single offer may be the only firm able to do the
work; a negotiated procedure may be lawful (CCP R2122-1 ff.). Each question says which notices it
rests on and the figures it read; a fact the notices do not state raises no question (except the
one that lists missing fields).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from watcher.core import doubts
from watcher.core.calendar import add_months
from watcher.core.normalize import format_money
from watcher.core.yamlio import load_yaml

Notice = Mapping[str, Any]
Procedure = Mapping[str, Any]

CODES: tuple[str, ...] = (
    "single_offer",
    "no_publicity",
    "award_without_call",
    "short_submission",
    "value_growth",
    "duration_extension",
    "incumbency",
    "unsuccessful_then_negotiated",
    "late_data",
    "missing_fields",
)

# Short names of the questions, for counts, filters and the "question raised" events' change
# line (the questions themselves are below).
SHORT_NAMES: dict[str, dict[str, str]] = {
    "fr": {
        "single_offer": "Une seule offre",
        "no_publicity": "Sans publicité",
        "award_without_call": "Attribution sans appel publié",
        "short_submission": "Délai de réponse court",
        "value_growth": "Montant augmenté",
        "duration_extension": "Durée prolongée",
        "incumbency": "Même titulaire",
        "unsuccessful_then_negotiated": "Infructueux puis négocié",
        "late_data": "Données publiées tard",
        "missing_fields": "Informations manquantes",
        "title": "Questions à poser",
        "all": "toutes",
    },
    "en": {
        "single_offer": "Single tender",
        "no_publicity": "No publicity",
        "award_without_call": "Award without a published call",
        "short_submission": "Short submission period",
        "value_growth": "Value increased",
        "duration_extension": "Duration extended",
        "incumbency": "Same winner",
        "unsuccessful_then_negotiated": "Unsuccessful then negotiated",
        "late_data": "Data published late",
        "missing_fields": "Missing information",
        "title": "Questions to ask",
        "all": "all",
    },
}
_CALLS = frozenset({"notice", "prior_information", "corrigendum"})
_FIELD_NAMES = {
    "winners": ("titulaire", "winner"),
    "value": ("montant", "amount"),
    "procedure_type": ("type de procédure", "procedure type"),
    "notified": ("date de notification", "notification date"),
    "data_published": ("date de publication des données", "data publication date"),
    "duration_months": ("durée", "duration"),
}
_PROCEDURE_NAMES = {
    "open": ("appel d'offres ouvert", "open procedure"),
    "restricted": ("appel d'offres restreint", "restricted procedure"),
    "negotiated_with_publicity": ("procédure avec négociation", "negotiated procedure"),
    "negotiated_without_publicity": (
        "marché sans publicité ni mise en concurrence préalables",
        "negotiated procedure without prior publication",
    ),
    "competitive_dialogue": ("dialogue compétitif", "competitive dialogue"),
    "adapted": ("procédure adaptée (MAPA)", "adapted procedure (MAPA)"),
    "other": ("autre procédure", "other procedure"),
}


@dataclass(frozen=True, slots=True)
class Question:
    """One question to ask, in French and English, with the figures and notices it rests on."""

    code: str
    fr: str
    en: str
    evidence_fr: tuple[str, ...]
    evidence_en: tuple[str, ...]
    notices: tuple[str, ...]
    figures: Mapping[str, Any] = field(default_factory=dict)
    cite: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (API, feeds)."""
        return {
            "code": self.code,
            "fr": self.fr,
            "en": self.en,
            "evidence_fr": list(self.evidence_fr),
            "evidence_en": list(self.evidence_en),
            "notices": list(self.notices),
            "figures": dict(self.figures),
            "cite": list(self.cite),
        }


def rules_from_yaml(text: str) -> dict[str, Any]:
    """The thresholds of a questions file (`core/rules/questions.yaml`)."""
    rules = load_yaml(text)
    if not isinstance(rules, dict) or not set(CODES) <= set(rules):
        raise ValueError(f"a questions file names every question: {', '.join(CODES)}")
    return rules


@cache
def default_rules() -> dict[str, Any]:
    """The thresholds shipped with the package."""
    path = resources.files("watcher.core") / "rules" / "questions.yaml"
    return rules_from_yaml(path.read_text(encoding="utf-8"))


def as_date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _id(notice: Notice) -> str:
    return str(notice.get("id") or notice.get("url") or notice.get("title") or "?")


def _money(value: float | None, notice: Notice) -> str:
    return format_money(value, notice.get("currency") or "EUR") or "—"


def awarded_value(award: Notice) -> Any:
    """The value the award states before any amendment: its `contract` or `awarded` amount
    (issue 24: a DECP contract's `value` is the value after its amendments), else its `value`."""
    for stated in award.get("amounts") or ():
        if stated.get("kind") in ("contract", "awarded") and stated.get("lot") is None:
            return stated.get("amount")
    return award.get("value")


def award_notices(notices: Sequence[Notice]) -> list[Notice]:
    return [n for n in notices if n.get("notice_type") == "award"]


def _procedure_type(notices: Sequence[Notice]) -> tuple[str | None, Notice | None]:
    """The procedure type the latest notice stating one gives, and that notice."""
    for notice in reversed(notices):
        if notice.get("procedure_type"):
            return str(notice["procedure_type"]), notice
    return None, None


def make_question(code: str, rules: Mapping[str, Any], fr: str, en: str, **kw: Any) -> Question:
    return Question(code, fr, en, cite=tuple(rules[code].get("cite", ())), **kw)


def single_offer(notices: Sequence[Notice], rules: Mapping[str, Any]) -> list[Question]:
    """An award whose notice says a lot (or the contract) received a single tender."""
    limit = int(rules["single_offer"]["max_tenders"])
    out = []
    for notice in award_notices(notices):
        by_lot = notice.get("tenders_by_lot") or {}
        lots = [lot for lot, n in by_lot.items() if n <= limit]
        count = notice.get("tenders_received")
        if not lots and (count is None or count > limit):
            continue
        where_fr = f" (lot {', '.join(lots)})" if lots else ""
        where_en = f" (lot {', '.join(lots)})" if lots else ""
        fr_n = "une seule offre" if (count or 0) <= 1 else f"{count} offres"
        en_n = "a single tender" if (count or 0) <= 1 else f"{count} tenders"
        out.append(
            make_question(
                "single_offer",
                rules,
                "Pourquoi une seule offre a-t-elle été reçue ?",
                "Why was only one tender received?",
                evidence_fr=(f"L'avis {_id(notice)} indique {fr_n} reçue(s){where_fr}.",),
                evidence_en=(f"Notice {_id(notice)} states {en_n} received{where_en}.",),
                notices=(_id(notice),),
                figures={"tenders_received": count, "lots": lots},
            )
        )
    return out[:1]


def no_publicity(notices: Sequence[Notice], rules: Mapping[str, Any]) -> list[Question]:
    """A procedure whose type is one without a prior call for competition."""
    kind, notice = _procedure_type(notices)
    if notice is None or kind not in rules["no_publicity"]["procedure_types"]:
        return []
    label = notice.get("procedure_label") or _PROCEDURE_NAMES[str(kind)][0]
    return [
        make_question(
            "no_publicity",
            rules,
            "Pourquoi ce marché a-t-il été passé sans publicité ni mise en concurrence ?",
            "Why was this contract awarded without a prior call for competition?",
            evidence_fr=(f"L'avis {_id(notice)} indique la procédure « {label} ».",),
            evidence_en=(f"Notice {_id(notice)} states the procedure “{label}”.",),
            notices=(_id(notice),),
            figures={"procedure_type": kind, "procedure_label": label},
        )
    ]


def _threshold(rules: Mapping[str, Any], day: dt.date | None) -> float | None:
    found = None
    for step in rules["award_without_call"]["no_publicity_below"]:
        if day is not None and day >= dt.date.fromisoformat(str(step["from"])):
            found = float(step["amount"])
    return found


def award_without_call(notices: Sequence[Notice], rules: Mapping[str, Any]) -> list[Question]:
    """An award whose procedure shows no call for tenders the product saw, above the amount below
    which no publicity is required (a procedure stated without publicity is asked about by
    `no_publicity` instead)."""
    awards = award_notices(notices)
    if not awards or any(n.get("notice_type") in _CALLS for n in notices):
        return []
    kind, _ = _procedure_type(notices)
    if kind in rules["no_publicity"]["procedure_types"]:
        return []
    award = awards[0]
    value = award.get("value")
    day = as_date(award.get("notified")) or as_date(award.get("published"))
    below = _threshold(rules, day)
    if value is not None and below is not None and value < below:
        return []
    return [
        make_question(
            "award_without_call",
            rules,
            "Où l'appel à la concurrence de ce marché a-t-il été publié ?",
            "Where was the call for competition for this contract published?",
            evidence_fr=(
                f"L'avis d'attribution {_id(award)} ({_money(value, award)}) est le premier avis "
                "vu de cette procédure : aucun avis de marché n'a été vu sur les portails suivis.",
            ),
            evidence_en=(
                f"Award notice {_id(award)} ({_money(value, award)}) is the first notice seen of "
                "this procedure: no contract notice was seen on the portals watched.",
            ),
            notices=(_id(award),),
            figures={"value": value, "no_publicity_below": below},
        )
    ]


def short_submission(notices: Sequence[Notice], rules: Mapping[str, Any]) -> list[Question]:
    """A submission period (first call published → the latest deadline stated) shorter than the
    legal minimum for its procedure type, beyond the publication lag the law allows."""
    calls = [n for n in notices if n.get("notice_type") == "notice" and n.get("published")]
    kind, _ = _procedure_type(notices)
    minimums = rules["short_submission"]["minimum_days"]
    if not calls or kind is None or kind not in minimums:
        return []
    first = calls[0]
    dated = [n for n in notices if n.get("notice_type") in _CALLS and n.get("deadline")]
    if not dated:
        return []
    last = dated[-1]
    published, deadline = as_date(first["published"]), as_date(last["deadline"])
    if published is None or deadline is None:
        return []
    accelerated = any(n.get("accelerated") for n in notices)
    minimum = int(minimums[kind]["accelerated" if accelerated else "normal"])
    days = (deadline - published).days
    if days >= minimum - int(rules["short_submission"]["publication_lag_days"]):
        return []
    name_fr, name_en = _PROCEDURE_NAMES[kind]
    fr_acc = " accélérée" if accelerated else ""
    en_acc = " accelerated" if accelerated else ""
    ids = tuple(dict.fromkeys((_id(first), _id(last))))
    return [
        make_question(
            "short_submission",
            rules,
            "Pourquoi le délai de remise des offres était-il si court ?",
            "Why was the time allowed for tenders so short?",
            evidence_fr=(
                f"Publié le {published:%d/%m/%Y}, date limite le {deadline:%d/%m/%Y} : {days} jours, "
                f"pour un minimum de {minimum} jours ({name_fr}{fr_acc}).",
            ),
            evidence_en=(
                f"Published {published:%d/%m/%Y}, deadline {deadline:%d/%m/%Y}: {days} days, "
                f"for a minimum of {minimum} days ({name_en}{en_acc}).",
            ),
            notices=ids,
            figures={"days": days, "minimum_days": minimum, "procedure_type": kind},
        )
    ]


def _modified(notices: Sequence[Notice]) -> tuple[Notice, Notice, list[Mapping[str, Any]]] | None:
    """The first award and the latest notice listing modifications, with its modifications."""
    awards = award_notices(notices)
    changed = [n for n in notices if n.get("modifications")]
    if not awards or not changed:
        return None
    return awards[0], changed[-1], list(changed[-1]["modifications"])


def value_growth(notices: Sequence[Notice], rules: Mapping[str, Any]) -> list[Question]:
    """The contract's value grown through its amendments by at least the threshold, in % of the
    value awarded (each DECP modification states the new total)."""
    found = _modified(notices)
    if found is None:
        return []
    award, latest, changes = found
    base = awarded_value(award)
    amounts = [(c.get("date"), float(c["amount"])) for c in changes if c.get("amount") is not None]
    if not base or not amounts:
        return []
    when, new = amounts[-1]
    percent = round((new - float(base)) / float(base) * 100, 1)
    if percent < float(rules["value_growth"]["min_percent"]):
        return []
    on = f" du {as_date(when):%d/%m/%Y}" if as_date(when) else ""
    on_en = f" of {as_date(when):%d/%m/%Y}" if as_date(when) else ""
    steps = len(amounts)
    return [
        make_question(
            "value_growth",
            rules,
            "Pourquoi le montant du marché a-t-il augmenté par avenant ?",
            "Why did the contract's value grow through amendments?",
            evidence_fr=(
                f"Montant attribué {_money(base, award)} ; après {steps} modification(s), la "
                f"dernière{on} : {_money(new, award)} (+{percent:g} %).",
            ),
            evidence_en=(
                f"Value awarded {_money(base, award)}; after {steps} amendment(s), the "
                f"latest{on_en}: {_money(new, award)} (+{percent:g}%).",
            ),
            notices=tuple(dict.fromkeys((_id(award), _id(latest)))),
            figures={"awarded": base, "amended": new, "percent": percent},
        )
    ]


def duration_extension(notices: Sequence[Notice], rules: Mapping[str, Any]) -> list[Question]:
    """An amendment that makes the contract longer than awarded."""
    found = _modified(notices)
    if found is None:
        return []
    award, latest, changes = found
    base = award.get("duration_months")
    months = [int(c["duration_months"]) for c in changes if c.get("duration_months") is not None]
    if (
        base is None
        or not months
        or months[-1] - int(base) < rules["duration_extension"]["min_months"]
    ):
        return []
    return [
        make_question(
            "duration_extension",
            rules,
            "Pourquoi la durée du marché a-t-elle été prolongée ?",
            "Why was the contract extended?",
            evidence_fr=(f"Durée attribuée {base} mois ; après modification : {months[-1]} mois.",),
            evidence_en=(f"Duration awarded {base} months; after amendment: {months[-1]} months.",),
            notices=tuple(dict.fromkeys((_id(award), _id(latest)))),
            figures={"awarded_months": base, "amended_months": months[-1]},
        )
    ]


def unsuccessful_then_negotiated(
    notices: Sequence[Notice], rules: Mapping[str, Any]
) -> list[Question]:
    """A call declared unsuccessful, then an award by negotiation in the same procedure."""
    types = rules["unsuccessful_then_negotiated"]["procedure_types"]
    for i, notice in enumerate(notices):
        if notice.get("outcome") != "unsuccessful":
            continue
        later = [
            n
            for n in notices[i + 1 :]
            if n.get("notice_type") == "award" and n.get("procedure_type") in types
        ]
        if later:
            award = later[0]
            label = award.get("procedure_label") or award.get("procedure_type")
            return [
                make_question(
                    "unsuccessful_then_negotiated",
                    rules,
                    "L'appel d'offres déclaré infructueux a-t-il été attribué ensuite sans "
                    "nouvelle mise en concurrence, et à quelles conditions ?",
                    "Was the call declared unsuccessful then awarded without a new competition, "
                    "and on what terms?",
                    evidence_fr=(
                        f"L'avis {_id(notice)} déclare la procédure infructueuse ; l'avis "
                        f"{_id(award)} l'attribue par « {label} ».",
                    ),
                    evidence_en=(
                        f"Notice {_id(notice)} declares the procedure unsuccessful; notice "
                        f"{_id(award)} awards it by “{label}”.",
                    ),
                    notices=(_id(notice), _id(award)),
                    figures={"procedure_type": award.get("procedure_type")},
                )
            ]
    return []


def late_data(notices: Sequence[Notice], rules: Mapping[str, Any]) -> list[Question]:
    """Contract data published more than the allowed months after its notification."""
    months = int(rules["late_data"]["max_months"])
    for notice in notices:
        notified, published = as_date(notice.get("notified")), as_date(notice.get("data_published"))
        if notified is None or published is None or published <= add_months(notified, months):
            continue
        late = (published - notified).days
        return [
            make_question(
                "late_data",
                rules,
                "Pourquoi les données de ce marché ont-elles été publiées si tard ?",
                "Why was this contract's data published so late?",
                evidence_fr=(
                    f"Notifié le {notified:%d/%m/%Y}, données publiées le {published:%d/%m/%Y} : "
                    f"{late} jours après, au-delà des {months} mois prévus.",
                ),
                evidence_en=(
                    f"Notified {notified:%d/%m/%Y}, data published {published:%d/%m/%Y}: "
                    f"{late} days later, beyond the {months} months required.",
                ),
                notices=(_id(notice),),
                figures={"days": late, "max_months": months},
            )
        ]
    return []


def missing_fields(notices: Sequence[Notice], rules: Mapping[str, Any]) -> list[Question]:
    """An award that does not state key fields (`award_fields`; DECP also `decp_fields`). An
    award notice that says no contract was awarded (unsuccessful, cancelled) has none to state."""
    settings = rules["missing_fields"]
    for notice in award_notices(notices):
        if notice.get("outcome"):
            continue
        wanted = list(settings["award_fields"])
        if notice.get("kind") == "decp":
            wanted += [f for f in settings.get("decp_fields", ()) if f not in wanted]
        missing = [f for f in wanted if notice.get(f) in (None, "", [], {})]
        if not missing:
            continue
        fr = ", ".join(_FIELD_NAMES.get(f, (f, f))[0] for f in missing)
        en = ", ".join(_FIELD_NAMES.get(f, (f, f))[1] for f in missing)
        return [
            make_question(
                "missing_fields",
                rules,
                "Pourquoi l'avis d'attribution ne donne-t-il pas ces informations ?",
                "Why does the award notice not give this information?",
                evidence_fr=(f"L'avis {_id(notice)} ne donne pas : {fr}.",),
                evidence_en=(f"Notice {_id(notice)} does not give: {en}.",),
                notices=(_id(notice),),
                figures={"missing": missing},
            )
        ]
    return []


_ASKERS = (
    single_offer,
    no_publicity,
    award_without_call,
    short_submission,
    value_growth,
    duration_extension,
    unsuccessful_then_negotiated,
    late_data,
    missing_fields,
)


def ask(procedure: Procedure, rules: Mapping[str, Any] | None = None) -> list[Question]:
    """Every question one procedure raises, in the order of `CODES` (incumbency, which compares
    procedures, is `core/incumbency.py`)."""
    rules = rules or default_rules()
    notices = [
        n
        for n in procedure.get("notices") or ()
        if doubts.TEST_RECORD not in (n.get("flags") or ())
    ]
    return [question for asker in _ASKERS for question in asker(notices, rules)]
