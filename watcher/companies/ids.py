"""Company identifiers (pure): SIRET, SIREN, French and UK VAT numbers checked with `python-stdnum`,
UK Companies House numbers normalised; what two mentions must share to be one company."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret
from stdnum.fr import tva as fr_tva
from stdnum.gb import vat as gb_vat


def _label(scheme: str) -> str:
    decomposed = unicodedata.normalize("NFKD", scheme)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return "".join(re.findall(r"[a-z0-9]+", bare))


@dataclass(frozen=True, slots=True, order=True)
class Identifier:
    """One identifier of a company, as the portal gave it and normalised: `scheme` is `siret`,
    `siren`, `vat_fr`, `vat_gb`, `gb_coh` (UK Companies House) or `other`; `valid` says whether it
    passed its checksum (or format) check."""

    scheme: str
    value: str
    valid: bool = True

    @property
    def siren(self) -> str | None:
        """The SIREN this identifier names, when it is a valid French one."""
        if not self.valid:
            return None
        if self.scheme in ("siret", "siren"):
            return self.value[:9]
        if self.scheme == "vat_fr":
            return self.value[4:13]
        return None

    @property
    def key(self) -> str | None:
        """What two mentions must share to be one company: `siren:…` or `gb_coh:…`."""
        if self.siren:
            return f"siren:{self.siren}"
        if self.scheme == "gb_coh" and self.valid:
            return f"gb_coh:{self.value}"
        return None

    def label(self) -> str:
        """`SIRET 793 683 087 00019`, for readers."""
        names = {
            "siret": "SIRET",
            "siren": "SIREN",
            "vat_fr": "TVA",
            "vat_gb": "VAT",
            "gb_coh": "Companies House",
        }
        shown = self.value
        if self.valid and self.scheme == "siret":
            shown = fr_siret.format(self.value)
        elif self.valid and self.scheme == "siren":
            shown = fr_siren.format(self.value)
        return f"{names.get(self.scheme, self.scheme)} {shown}" + ("" if self.valid else " (?)")


_CH_NUMBER = re.compile(r"^(?:[0-9]{8}|(?:SC|NI|OC|SO|NC|R0|FC|GE|LP|SL|IP|SP|RC)[0-9]{6})$")


@functools.lru_cache(maxsize=16384)  # the same firms win again and again: checked once each
def identifier(scheme: str | None, value: str | None) -> Identifier | None:
    """Validate and normalise one identifier the portal labelled `scheme` (SIRET, SIREN, TVA,
    GB-COH, FR-RCS…); None when `value` is empty. A bare 14-digit value is taken for a SIRET,
    9 digits for a SIREN."""
    raw = (value or "").strip()
    if not raw:
        return None
    label = _label(scheme or "")
    compact = re.sub(r"[\s.\-/]", "", raw).upper()
    if label in ("siret", "") and compact.isdigit() and len(compact) == 14:
        return Identifier("siret", compact, fr_siret.is_valid(compact))
    if label in ("siren", "frsiren", "") and compact.isdigit() and len(compact) == 9:
        return Identifier("siren", compact, fr_siren.is_valid(compact))
    if label in ("siret", "frsiret"):
        return Identifier("siret", compact, fr_siret.is_valid(compact))
    if label in ("siren", "frsiren", "frrcs", "rcs"):
        return Identifier("siren", compact, fr_siren.is_valid(compact))
    if compact.startswith("FR") and fr_tva.is_valid(compact):
        return Identifier("vat_fr", "FR" + fr_tva.compact(compact), True)
    if compact.startswith("GB") and gb_vat.is_valid(compact):
        return Identifier("vat_gb", "GB" + gb_vat.compact(compact), True)
    if label in ("gbcoh", "companieshouse", "coh") or label.endswith("coh"):
        number = compact.removeprefix("GBCOH")
        number = number.zfill(8) if number.isdigit() else number
        return Identifier("gb_coh", number, bool(_CH_NUMBER.match(number)))
    if label in ("tva", "vat", "tvaintracommunautaire", "vatnumber"):
        return Identifier("vat_fr" if compact.startswith("FR") else "vat", compact, False)
    return Identifier("other", compact, False)
