"""UK Contracts Finder: English public contracts from £12,000, as OCDS release packages.

Portal
    Contracts Finder, the UK Cabinet Office's register of lower-value contracts in England (and
    copies of many higher-value ones). Smaller Home Office contracts for immigration removal
    centres (healthcare, maintenance, welfare) and their awards appear here.

URL
    `GET {base_url}/Published/Notices/OCDS/Search?publishedFrom=…&publishedTo=…&stages=…&limit=100`
    (no key). Each notice links to `https://www.contractsfinder.service.gov.uk/Notice/{GUID}`.

Caveats
    - The window is on the publication time (`publishedFrom`/`publishedTo`, sent in UTC as
      `YYYY-MM-DDTHH:MM:SS`); pages are followed through `links.next`.
    - All stages go in one call, comma-separated: Contracts Finder keeps only the last of repeated
      `stages` parameters.
    - The notice page's GUID is the release id without its trailing `-NNNNNN` (seen in a consumer
      and in a real release); it is not the GUID inside the `ocid`.
    - There is no keyword parameter: the source fetches the whole window and the matcher decides.
    - Data under the Open Government Licence v3.

Config keys
    - `base_url`: scheme and host (default `https://www.contractsfinder.service.gov.uk`).
    - `stages`: the stages asked for (default `[tender, award, planning]`; also `implementation`).
    - `limit`: releases per page, 1 to 100 (default 100).
    - `max_pages`: a safety bound on pages per poll (default 50).

Phases (`watcher.core.phases`)
    the release's own `tag` (planning, tender, award...); `tender.status`
    cancelled / unsuccessful → tenderCancellation. Linked by `ocid` and `relatedProcesses`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from watcher.records import PollWindow
from watcher.sources.ocds import OcdsConfig, OcdsSource, notice_link, window_params

NOTICE_URL = "https://www.contractsfinder.service.gov.uk/Notice/{}"
_RELEASE_ID = re.compile(
    r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:-\d+)?$", re.IGNORECASE
)


class ContractsFinderConfig(OcdsConfig):
    """Keys of a `contracts_finder` source."""

    base_url: str = "https://www.contractsfinder.service.gov.uk"
    stages: tuple[Literal["planning", "tender", "award", "implementation"], ...] = Field(
        default=("tender", "award", "planning"), min_length=1
    )


class ContractsFinderSource(OcdsSource):
    """Contracts Finder OCDS search, all stages in one call."""

    kind = "contracts_finder"
    Config = ContractsFinderConfig
    config: ContractsFinderConfig
    path = "/Published/Notices/OCDS/Search"

    def queries(self, window: PollWindow) -> list[dict[str, str]]:
        """A single paged call on the publication time, stages comma-separated."""
        start, end = window_params(self, window)
        stages = ",".join(dict.fromkeys(self.config.stages))
        return [
            {
                "publishedFrom": start,
                "publishedTo": end,
                "stages": stages,
                "limit": str(self.config.limit),
            }
        ]

    def notice_url(self, release: dict[str, Any]) -> str | None:
        """`/Notice/{GUID}` from the release id, else a Contracts Finder notice link it carries."""
        match = _RELEASE_ID.match(str(release.get("id") or "").strip())
        if match:
            return NOTICE_URL.format(match.group(1).lower())
        return notice_link(release, NOTICE_URL.format(""))
