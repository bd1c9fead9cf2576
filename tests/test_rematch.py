"""`watcher rematch` (issue 29): the matcher run again over every stored notice, a batch at a time
(plain columns, one executemany for the verdicts that changed), with its progress told; the
outcome is what the rules say of each notice, whatever the size of the batches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.helpers import runtime_env
from tests.test_ocds import NOW, store_every_kind
from watcher.cli import main
from watcher.cli.common import Progress
from watcher.db.models import Event, Notice
from watcher.db.session import session_scope
from watcher.db.store import match_input
from watcher.match.matcher import Matcher
from watcher.pipeline import maintenance
from watcher.pipeline.runtime import Runtime


def _state(runtime: Runtime) -> tuple[dict[int, tuple[Any, ...]], list[tuple[Any, ...]]]:
    with runtime.sessions() as session:
        notices = {
            n.id: (n.relevant, n.site, n.score, n.reasons, n.announced, n.parent_id, n.compiled)
            for n in session.scalars(select(Notice))
        }
        events = [
            (e.key, e.notice_id, e.type, e.version, e.changes, e.site)
            for e in session.scalars(select(Event).order_by(Event.key))
        ]
    return notices, events


@pytest.mark.parametrize(
    ("rules", "more", "fewer"),
    [
        ("", False, False),  # the same rules: nothing changes
        # A new signal: procedures that were not relevant are announced.
        (
            "signals:\n  - {id: test-works, weight: 2.0,"
            " terms: [travaux, services, fourniture, marché, prestation, contract, works]}\n",
            True,
            False,
        ),
        # A threshold nothing reaches: first notices drop, linked ones stay.
        ("threshold: 10\n", False, True),
    ],
)
@pytest.mark.parametrize("batch", [2, 500])
def test_rematch_gives_each_notice_the_verdict_of_the_rules(
    make_runtime: Callable[..., Runtime],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    rules: str,
    more: bool,
    fewer: bool,
    batch: int,
) -> None:
    runtime = make_runtime("sources: []\n")
    store_every_kind(runtime)
    before, events_before = _state(runtime)
    extra = tmp_path / "extra.yaml"
    extra.write_text(rules or "{}\n", encoding="utf-8")
    matcher = Matcher.load(extra_rules=[extra])
    monkeypatch.setattr(maintenance, "BATCH", batch)
    told: list[tuple[str, int, int]] = []
    with session_scope(runtime.sessions) as session:
        report = maintenance.rematch(session, matcher, NOW, progress=lambda *a: told.append(a))
    after, events_after = _state(runtime)

    assert report.checked == len(before) == len(after)
    # Each notice as the rules see it; a linked notice keeps a relevance it had (its procedure's).
    with runtime.sessions() as session:
        for notice in session.scalars(select(Notice)):
            verdict = matcher.match(match_input(notice.snapshot))
            was = before[notice.id]
            assert notice.relevant == (verdict.relevant or (was[5] is not None and was[0]))
            assert notice.score == verdict.score and notice.reasons == list(verdict.reasons)
            assert notice.site == (verdict.site or (was[1] if was[5] else None))
    gained = [i for i in after if after[i][0] and not before[i][0]]
    lost = [i for i in after if before[i][0] and not after[i][0]]
    assert (report.became_relevant, report.became_irrelevant) == (len(gained), len(lost))
    assert bool(gained) == more and bool(lost) == fewer
    new_events = [e for e in events_after if e not in events_before]
    announced = [i for i in gained if after[i][5] is None and not before[i][4]]
    assert sorted(e[1] for e in new_events) == sorted(announced) and report.events == len(announced)
    assert all(e[2] in {"new", "planned"} and e[4] == [] for e in new_events)
    assert all(after[i][4] for i in announced)
    if not (more or fewer):
        assert after == before and events_after == events_before
    # Every stage told, to its end.
    stages = {stage: (done, total) for stage, done, total in told}
    assert stages["notices"] == (len(before), len(before))
    assert stages["procedures"][0] == stages["procedures"][1] > 0
    assert stages["search"][0] == stages["search"][1] == report.indexed

    # Again: nothing left to change.
    with session_scope(runtime.sessions) as session:
        again = maintenance.rematch(session, matcher, NOW)
    assert (again.became_relevant, again.became_irrelevant, again.events) == (0, 0, 0)
    assert _state(runtime) == (after, events_after)


def test_rematch_command_says_what_it_did(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime("sources: []\n")
    store_every_kind(runtime)
    result = CliRunner(env=runtime_env(runtime)).invoke(main, ["rematch"])
    assert result.exit_code == 0, result.output
    count = len(_state(runtime)[0])
    assert f"{count} notices checked: 0 became relevant" in result.output
    assert "…" not in result.output  # a short run tells no progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("tty", "expected"),
    [
        (
            False,
            "rematch: 30,000/100,000 notices…\n"
            "rematch: 60,000/100,000 notices…\n"
            "rematch: 1,000/3,000 procedures compiled…\n",
        ),
        (
            True,
            "\rrematch: 30,000/100,000 notices…"
            "\rrematch: 50,000/100,000 notices…"
            "\rrematch: 60,000/100,000 notices…"
            "\rrematch: 100,000/100,000 notices…\n"
            "\rrematch: 1,000/3,000 procedures compiled…"
            "\rrematch: 3,000/3,000 procedures compiled…\n",
        ),
    ],
)
def test_progress_is_told_now_and_then(
    capsys: pytest.CaptureFixture[str], tty: bool, expected: str
) -> None:
    clock = Clock()
    progress = Progress("rematch", "notices", after=2.0, every=5.0, tty=tty, clock=clock)
    for step, moment in enumerate([0.5, 1.0, 2.0, 2.4, 3.0, 7.0, 7.1, 7.2, 7.3, 7.4], start=1):
        clock.now = moment
        progress(step * 10_000, 100_000)
    clock.now = 12.5
    progress(1_000, 3_000, "procedures compiled")
    clock.now = 12.6
    progress.close(3_000, 3_000)
    assert capsys.readouterr().err == expected
