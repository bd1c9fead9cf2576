"""UK Find a Tender Service (FTS): UK notices above the thresholds, as OCDS release packages.

Portal
    Find a Tender, the UK Cabinet Office's service for high-value public contracts since Brexit.
    The Home Office buys the running, healthcare, escorting and building works of immigration
    removal centres (IRCs) here.

URL
    `GET {base_url}/api/1.0/ocdsReleasePackages?updatedFrom=…&updatedTo=…&stages=tender&limit=100`
    (no key). Each notice links to `https://www.find-tender.service.gov.uk/Notice/{release id}`.

Caveats
    - One stage per call: `stages=planning,tender` (comma) was seen returning nothing, so the
      source loops over `stages` and pages each one by following `links.next`.
    - The window is on the update time (`updatedFrom`/`updatedTo`, `YYYY-MM-DDTHH:MM:SS`, sent in
      UTC; the portal's own time zone is not documented).
    - There is no keyword parameter (`hasKeyword` is not in the official table): the source
      fetches the whole window and the matcher decides what is relevant.
    - 429 and 503 come with `Retry-After`, which the fetcher honours.
    - Data under the Open Government Licence v3.

Config keys
    - `base_url`: scheme and host (default `https://www.find-tender.service.gov.uk`).
    - `stages`: the stages asked for, one call each (default `[tender, award, planning]`).
    - `limit`: releases per page, 1 to 100 (default 100).
    - `max_pages`: a safety bound on pages per stage and poll (default 50).

Phases (`watcher.core.phases`)
    the release's own `tag` (planning, tender, tenderAmendment, award...);
    `tender.status` cancelled / unsuccessful → tenderCancellation. Linked by `ocid` and the ocids of
    `relatedProcesses`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from watcher.records import PollWindow
from watcher.sources.ocds import OcdsConfig, OcdsSource, notice_link, window_params

NOTICE_URL = "https://www.find-tender.service.gov.uk/Notice/{}"
_NOTICE_ID = re.compile(r"^\d{6}-\d{4}$")


class FindATenderConfig(OcdsConfig):
    """Keys of a `find_a_tender` source."""

    base_url: str = "https://www.find-tender.service.gov.uk"
    stages: tuple[Literal["planning", "tender", "award"], ...] = Field(
        default=("tender", "award", "planning"), min_length=1
    )


class FindATenderSource(OcdsSource):
    """Find a Tender OCDS release packages, one stage per call."""

    kind = "find_a_tender"
    Config = FindATenderConfig
    config: FindATenderConfig
    path = "/api/1.0/ocdsReleasePackages"

    def queries(self, window: PollWindow) -> list[dict[str, str]]:
        """One paged call per stage, on the update time."""
        start, end = window_params(self, window)
        return [
            {
                "updatedFrom": start,
                "updatedTo": end,
                "stages": stage,
                "limit": str(self.config.limit),
            }
            for stage in dict.fromkeys(self.config.stages)
        ]

    def notice_url(self, release: dict[str, Any]) -> str | None:
        """`/Notice/{id}` for an FTS notice id (`041267-2026`), else a notice link it carries."""
        release_id = str(release.get("id") or "").strip()
        if _NOTICE_ID.match(release_id):
            return NOTICE_URL.format(release_id)
        return notice_link(release, NOTICE_URL.format(""))
