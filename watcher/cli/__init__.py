"""The `watcher` command line: one module per command group. Each command imports what it
needs when it runs, so `watcher --help` loads only click. May import anything."""

from watcher.cli.main import main

__all__ = ["main"]
