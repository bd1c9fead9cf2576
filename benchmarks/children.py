"""The measured work of every part, one child process per measurement:
`python -m benchmarks.children MODULE.FUNCTION '{"keyword": "arguments"}'` runs
`benchmarks.MODULE.FUNCTION(**arguments)`, which prints one JSON line (`common.report`)."""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any


def main(argv: list[str]) -> None:
    """Run the child named by `argv[0]` with the keyword arguments of `argv[1]`."""
    module, function = argv[0].rsplit(".", 1)
    kwargs: dict[str, Any] = json.loads(argv[1]) if len(argv) > 1 else {}
    getattr(importlib.import_module(f"benchmarks.{module}"), function)(**kwargs)


if __name__ == "__main__":
    main(sys.argv[1:])
