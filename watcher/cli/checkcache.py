"""`watcher check-config` remembers the files it last found valid, so that checking them again
(a pre-commit hook, a deployment script, every `git commit`) answers at once.

Validating means loading pydantic, every source kind and the matcher's rules: about 0.2 s and 45 MiB.
The answer depends only on the files read, the `WATCHER_*` settings and the watcher's own code, so
it is kept in `$XDG_CACHE_HOME/watcher/check-config.json` (default `~/.cache/…`) under a key made of
the command's argument, the working folder and every `WATCHER_*` variable, with the sha256 of every
file it read and a stamp of the package's files (size and modification time). Any difference — an
edited `sources.yaml`, rule file or gazetteer, another setting, an upgrade or an edited module — and
the files are validated again. Only successes are kept: a file with a problem is checked every time.
`watcher check-config --full` always validates. A cache that cannot be read or written is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent


def cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "watcher" / "check-config.json"


def _key(argument: Path | None) -> str:
    settings = sorted((k, v) for k, v in os.environ.items() if k.startswith("WATCHER_"))
    raw = json.dumps([str(argument), os.getcwd(), settings])
    return hashlib.sha256(raw.encode()).hexdigest()


def _package_stamp() -> str:
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix in {".py", ".yaml", ".yml"}:
            stat = path.stat()
            digest.update(
                f"{path.relative_to(PACKAGE)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode()
            )
    return digest.hexdigest()


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _read() -> dict[str, dict[str, object]]:
    try:
        data = json.loads(cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remembered(argument: Path | None) -> str | None:
    """The line of the last successful check of these same inputs, or None."""
    entry = _read().get(_key(argument))
    if not isinstance(entry, dict) or entry.get("package") != _package_stamp():
        return None
    files = entry.get("files")
    if not isinstance(files, dict) or not files:
        return None
    if any(_sha256(Path(name)) != digest for name, digest in files.items()):
        return None
    line = entry.get("line")
    return line if isinstance(line, str) else None


def remember(argument: Path | None, files: list[Path], line: str) -> None:
    """Keep a successful check; never fails the command."""
    digests = {str(p.resolve()): _sha256(p) for p in files}
    if None in digests.values():
        return
    data = _read()
    data[_key(argument)] = {"package": _package_stamp(), "files": digests, "line": line}
    target = cache_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(dict(list(data.items())[-32:])), encoding="utf-8")
        tmp.replace(target)
    except OSError:
        return
