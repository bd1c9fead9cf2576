"""Answers of searches kept in memory until the data changes (issue 27).

Searches repeat: feed readers poll the same search feeds, and a few searches are most of what
readers type. An answer is kept under its key (the parsed query's meaning — not its spelling —
its scope, page and size) together with the data generation it was computed at
(`watcher.db.generation.current`: one number that grows at every commit that wrote data, from any
process). It is served again only while the generation has not moved; a database without the
number (older than migration 0014) is never cached. At most `size` answers are kept, the least
recently used dropped first; 0 keeps none. Safe to share between threads.

What is kept must not hold database objects (they belong to a session): `watcher.db.search`
keeps plain values only (its `Procedure`, `Hit`, `Results`), and the feeds keep their bytes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from watcher.db.generation import current

__all__ = ["DEFAULT_SIZE", "ResultCache"]

DEFAULT_SIZE = 256
# Seconds a reader waits for the same answer computed by another thread (then computes it).
WAIT = 30.0
T = TypeVar("T")


class ResultCache(Generic[T]):
    """A bounded, thread-safe LRU of answers, each valid at one data generation."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = max(0, size)
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, tuple[int, T]] = OrderedDict()
        # Answers being computed: a reader asking the same meanwhile waits for it.
        self._computing: dict[tuple[Hashable, int], threading.Event] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable, generation: int | None) -> T | None:
        """The answer kept under `key` at this generation; None if there is none."""
        if generation is None or not self.size:
            return None
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] != generation:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found[1]

    def put(self, key: Hashable, generation: int | None, value: T) -> None:
        """Keep `value` under `key`, computed at `generation` (None: not kept)."""
        if generation is None or not self.size:
            return
        with self._lock:
            self._items[key] = (generation, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._items.clear()

    def answer(self, session: Session, key: Hashable, compute: Callable[[], T]) -> T:
        """The kept answer to `key` if the data has not changed since; else `compute()`'s,
        kept. The generation is read before computing: a commit made meanwhile makes the
        answer kept under the older number, which the next reader does not take. Readers
        asking what another thread is computing wait for its answer rather than compute it
        again (a popular search, asked by many at once after the data changed)."""
        if not self.size:
            return compute()
        generation = current(session)
        found = self.get(key, generation)
        if found is not None or generation is None:
            return found if found is not None else compute()
        with self._lock:
            running = self._computing.get((key, generation))
            if running is None:
                self._computing[(key, generation)] = threading.Event()
        if running is not None:
            running.wait(WAIT)
            found = self.get(key, generation)
            return found if found is not None else compute()
        try:
            value = compute()
            self.put(key, generation, value)
            return value
        finally:
            with self._lock:
                self._computing.pop((key, generation)).set()
