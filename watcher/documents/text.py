"""Pure helpers for downloaded documents: what a file is, what it is called, and its text.

No I/O and no clock: bytes in, `Extracted` out, so every rule is tested on small files. A PDF's text
comes from pypdf; a ZIP (a DCE is usually one) is read member by member, PDFs only, nested ZIPs one
level deep, under `ZipLimits` that refuse zip bombs: too many members, too many bytes once
uncompressed, or a member that expands far more than real documents do.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import unquote, urlsplit

from watcher.core.sanitize import safe_filename, visible

MB = 1024 * 1024
# Real PDFs and office files deflate at most ~10:1; zeros or repeated bytes reach 1000:1. The
# threshold is Apache POI's `ZipSecureFile` default (a 1 % minimum inflate ratio).
MAX_RATIO = 100.0
RATIO_FLOOR = MB  # small members may compress well (a blank form); only big ones are judged
MAX_TEXT_CHARS = 5_000_000
MAX_PAGES = 3000
_HTML = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)


class ArchiveRefused(Exception):
    """A ZIP that would expand beyond `ZipLimits`: its text is not extracted."""


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """How much a ZIP may hold before it is refused as a zip bomb."""

    max_members: int = 1000
    max_total_bytes: int = 200 * MB
    max_ratio: float = MAX_RATIO
    max_depth: int = 2


@dataclass(frozen=True, slots=True)
class Extracted:
    """The text of a document (None when it has none or could not be read) and its ZIP members."""

    text: str | None
    members: tuple[str, ...] = ()
    error: str | None = None


def sniff(content: bytes, content_type: str | None) -> str:
    """`pdf`, `zip`, `html` (a web page, e.g. a login form: not a document) or `other`.

    Magic bytes win over the announced content type: portals serve PDFs as
    `application/octet-stream` and the odd one as `text/html`.
    """
    if b"%PDF-" in content[:1024]:
        return "pdf"
    if content.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    announced = (content_type or "").split(";")[0].strip().lower()
    head = content[:2048].lstrip(b"\xef\xbb\xbf")
    if announced in ("text/html", "application/xhtml+xml") or _HTML.match(head):
        return "html"
    return "other"


def media_type(kind: str, content_type: str | None) -> str:
    """The content type to record: the sniffed one for PDF and ZIP, else the server's."""
    if kind == "pdf":
        return "application/pdf"
    if kind == "zip":
        return "application/zip"
    announced = (content_type or "").split(";")[0].strip().lower()
    return announced[:100] or "application/octet-stream"


def filename_for(url: str, content_disposition: str | None = None) -> str:
    """The file's name: `Content-Disposition` (RFC 6266, `filename*` included), else the URL's."""
    name = None
    if content_disposition:
        message = Message()
        message["content-disposition"] = content_disposition
        name = message.get_filename()
    if not name:
        name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    name = re.split(r"[\\/]", name.strip())[-1].strip()
    # No control, bidi override or zero-width character: `facture\u202egpj.exe` (issue 18).
    return safe_filename(name)


def clean(text: str) -> str:
    """Extracted text without NUL bytes (PostgreSQL refuses them) or runs of blank lines."""
    text = text.replace("\x00", "")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()[:MAX_TEXT_CHARS]


def pdf_text(data: bytes) -> str:
    """The text of every page of a PDF; raises on a file pypdf cannot read."""
    parts: list[str] = []
    size = 0
    # pypdf warns about every small defect of real-world PDFs; they are not ours to fix.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pypdf import PdfReader  # noqa: PLC0415 - heavy; only when a PDF is read (issue 16)

        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            reader.decrypt("")  # "protected" DCE PDFs usually have an empty user password
        for number, page in enumerate(reader.pages):
            if number >= MAX_PAGES or size > MAX_TEXT_CHARS:
                break
            text = page.extract_text() or ""
            size += len(text)
            parts.append(text)
    return clean("\n".join(parts))


def extract(content: bytes, kind: str, limits: ZipLimits | None = None) -> Extracted:
    """The text of a PDF or of the PDFs inside a ZIP; other files are kept without text."""
    if kind == "pdf":
        try:
            return Extracted(pdf_text(content))
        except Exception as exc:  # noqa: BLE001 - pypdf raises many types on broken files
            return Extracted(None, error=f"unreadable PDF: {type(exc).__name__}: {exc}"[:500])
    if kind == "zip":
        walk = _ZipWalk(limits or ZipLimits())
        try:
            walk.read(content, "", 0)
        except ArchiveRefused as exc:
            return Extracted(None, tuple(walk.members), f"archive refused: {exc}")
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            return Extracted(None, tuple(walk.members), f"unreadable ZIP: {exc}")
        error = "; ".join(walk.problems)[:2000] or None
        return Extracted(clean("\n\n".join(walk.texts)) or None, tuple(walk.members), error)
    return Extracted(None)


def _member_name(info: zipfile.ZipInfo) -> str:
    """Windows tools write French names in the OEM code page without the UTF-8 flag."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("cp850")
    except UnicodeError:
        return info.filename


@dataclass
class _ZipWalk:
    limits: ZipLimits
    members: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    inflated: int = 0
    count: int = 0

    def read(self, data: bytes, prefix: str, depth: int) -> None:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = [info for info in archive.infolist() if not info.is_dir()]
            self.count += len(infos)
            if self.count > self.limits.max_members:
                raise ArchiveRefused(f"more than {self.limits.max_members} files")
            for info in infos:
                name = prefix + visible(_member_name(info))
                self.members.append(name)
                lower = name.lower()
                nested = lower.endswith(".zip") and depth + 1 < self.limits.max_depth
                if not (lower.endswith(".pdf") or nested):
                    continue
                try:
                    payload = self._inflate(archive, info, name)
                except (RuntimeError, NotImplementedError, zipfile.BadZipFile, OSError) as exc:
                    self.problems.append(f"{name}: {exc}")  # encrypted, deflate64, bad CRC
                    continue
                if nested:
                    self._nested(payload, name, depth)
                else:
                    self._pdf(payload, name)

    def _nested(self, payload: bytes, name: str, depth: int) -> None:
        try:
            self.read(payload, name + "/", depth + 1)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            self.problems.append(f"{name}: {exc}")

    def _pdf(self, payload: bytes, name: str) -> None:
        try:
            self.texts.append(f"=== {name} ===\n{pdf_text(payload)}")
        except Exception as exc:  # noqa: BLE001 - one broken PDF never hides the others
            self.problems.append(f"{name}: unreadable PDF: {type(exc).__name__}")

    def _inflate(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
        """Decompress one member in chunks, judging the real sizes, not the declared ones."""
        self._judge(info.file_size, info.compress_size, name)
        chunks: list[bytes] = []
        size = 0
        with archive.open(info) as handle:
            while chunk := handle.read(MB):
                size += len(chunk)
                self._judge(size, info.compress_size, name)
                chunks.append(chunk)
        self.inflated += size
        return b"".join(chunks)

    def _judge(self, size: int, compressed: int, name: str) -> None:
        if size > RATIO_FLOOR and size > self.limits.max_ratio * max(compressed, 1):
            raise ArchiveRefused(
                f"{name} expands more than {self.limits.max_ratio:.0f} times (zip bomb?)"
            )
        if self.inflated + size > self.limits.max_total_bytes:
            raise ArchiveRefused(f"more than {self.limits.max_total_bytes} bytes uncompressed")
