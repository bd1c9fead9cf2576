"""The documents' settings (`WATCHER_DOCUMENTS`, `WATCHER_DOCUMENTS_*`), apart from the download
code, so that reading them (every command checks every setting first) loads no HTTP client and
no database layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from watcher.errors import ConfigError
from watcher.settings import ENV_CONFIG

if TYPE_CHECKING:
    from watcher.documents.text import ZipLimits

MB = 1024 * 1024


class DocumentsSettings(BaseSettings):
    """`WATCHER_DOCUMENTS=1` turns documents on in `run --once`; `WATCHER_DOCUMENTS_*` tune them."""

    model_config = SettingsConfigDict(
        **{**ENV_CONFIG, "env_prefix": "WATCHER_DOCUMENTS_", "populate_by_name": True}
    )

    enabled: bool = Field(default=False, validation_alias="WATCHER_DOCUMENTS")
    max_bytes: int = Field(default=25 * MB, gt=0)
    min_interval: float = Field(default=1.0, ge=0)
    limit: int = Field(default=200, gt=0, description="notices visited per sync")
    zip_max_members: int = Field(default=1000, gt=0)
    zip_max_bytes: int = Field(default=200 * MB, gt=0)
    # CPU seconds to read one file's text (0: no budget), and seconds for one whole sync.
    extract_seconds: float = Field(default=30.0, ge=0)
    sync_seconds: float = Field(default=1800.0, ge=0)

    def zip_limits(self) -> ZipLimits:
        """The zip-bomb guard for archives."""
        from watcher.documents.text import ZipLimits  # noqa: PLC0415

        return ZipLimits(max_members=self.zip_max_members, max_total_bytes=self.zip_max_bytes)


def load_documents_settings() -> DocumentsSettings:
    """Read the documents settings; a bad variable is one `ConfigError` line."""
    try:
        return DocumentsSettings()
    except ValidationError as exc:
        names = ["_".join(str(p) for p in err["loc"]).upper() for err in exc.errors()]
        from watcher.core.plain import explain  # noqa: PLC0415

        problems = [
            f"environment: {n if n.startswith('WATCHER_') else 'WATCHER_DOCUMENTS_' + n}"
            f"={str(err.get('input'))[:60]}: {explain(dict(err))}"
            for n, err in zip(names, exc.errors(), strict=True)
        ]
        raise ConfigError(problems[0], problems) from None
