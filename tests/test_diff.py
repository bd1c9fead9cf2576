"""The diff says what changed the way a person would, and never speaks of nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from watcher.core.diff import diff_snapshots, event_type
from watcher.core.normalize import snapshot
from watcher.records import FieldChange, NoticeRecord

CASES = yaml.safe_load((Path(__file__).parent / "data" / "diff_cases.yaml").read_text("utf-8"))
BASE: dict[str, Any] = snapshot(
    NoticeRecord(
        native_id="26-00001",
        title="Construction du centre de rétention administrative de Dunkerque",
        buyer="SGAMI Nord",
        deadline=dt.datetime(2027, 1, 4, 11, tzinfo=dt.UTC),
        cpv=("45216113",),
    )
)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_diff_table(case: dict[str, Any]) -> None:
    old = {**BASE, **case["old"]}
    new = {**BASE, **case["new"]}
    assert [c.describe() for c in diff_snapshots(old, new)] == case["expect"]


def test_first_version_has_no_diff() -> None:
    assert diff_snapshots(None, BASE) == []


@pytest.mark.parametrize(
    ("fields", "notice_type", "expected"),
    [
        ({"deadline"}, "notice", "deadline_moved"),
        ({"notice_type", "winners"}, "award", "awarded"),
        ({"notice_type"}, "cancellation", "cancelled"),
        ({"title"}, "notice", "changed"),
    ],
)
def test_event_type(fields: set[str], notice_type: str, expected: str) -> None:
    changes = [FieldChange(f, f, "a", "b") for f in sorted(fields)]
    assert event_type(False, changes, notice_type) == expected


texts = st.one_of(st.none(), st.text(max_size=30))
snapshots = st.fixed_dictionaries(
    {
        "title": texts,
        "buyer": texts,
        "deadline": st.one_of(
            st.none(),
            st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: d.isoformat()),
        ),
        "notice_type": st.sampled_from(["notice", "award", "corrigendum"]),
        "winners": st.lists(st.text(min_size=1, max_size=10), max_size=3),
        "value": st.one_of(st.none(), st.floats(0, 1e9, allow_nan=False)),
        "cpv": st.lists(st.from_regex(r"\d{8}", fullmatch=True), max_size=3),
        "documents": st.lists(st.text(max_size=10), max_size=3),
        "description": texts,
    }
)


@given(snapshots)
def test_diff_of_a_snapshot_with_itself_is_empty(snap: dict[str, Any]) -> None:
    assert diff_snapshots(snap, dict(snap)) == []


@given(snapshots, snapshots)
def test_every_change_says_something(a: dict[str, Any], b: dict[str, Any]) -> None:
    for change in diff_snapshots(a, b):
        assert change.old != change.new
        assert change.describe().startswith(change.label)
