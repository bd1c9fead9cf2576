"""The first run: what `watcher init` writes and checks, and what `watcher demo` serves.

- `sources.example.yaml`, `env.example`: the commented files `watcher init` writes.
- `demo_poll_1.json`, `demo_poll_2.json`: the bundled sample for `watcher demo`: three BOAMP
  records in the Explore v2.1 shape (reconstructed from real records, see
  `tests/fixtures/boamp/README.md`), then the same page after the deadline of one of them moved;
  `demo_poll_3.json` adds the award of the meals contract to a company (a made-up name), so the
  demo shows an award and a company page.
- `portal.py`: a loopback BOAMP portal inside the process that serves them, so that the demo goes
  through the real pipeline (fetch, parse, match, diff, store, feeds) without any network.
- `probe.py`: the network check of `watcher init`, one plain line per portal.
"""

from __future__ import annotations

from importlib import resources


def bundled(name: str) -> bytes:
    """A file shipped in this package."""
    return (resources.files("watcher.cli.firstrun") / name).read_bytes()
