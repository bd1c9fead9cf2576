"""Issue 23: the Dunkerque story told right from one compiled procedure."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import select

from tests.test_story import play
from watcher.db.models import Notice
from watcher.pipeline.runtime import Runtime


def test_dump(make_runtime: Callable[..., Runtime]) -> None:
    story = play(make_runtime, "ted_first")
    runtime: Runtime = story["runtime"]
    with runtime.sessions() as session:
        root = session.scalar(select(Notice).where(Notice.native_id == "26-90001"))
        assert root is not None
        print(json.dumps(root.compiled, indent=1, ensure_ascii=False))
    for e in story["entries"]:
        print(e)
