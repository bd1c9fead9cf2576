"""`/metrics` in Prometheus text format, read from the database at each scrape.

Every number comes from the database, not from this process's memory, so all instances of a
multi-instance deployment report the same totals and a restart loses nothing. Names start with
`watcher_`:

| metric | type | labels |
|---|---|---|
| `watcher_polls_total` | counter | source, outcome (`ok`/`failed`) |
| `watcher_poll_failures_total` | counter | source |
| `watcher_poll_duration_seconds` | histogram | source |
| `watcher_source_consecutive_failures` | gauge | source |
| `watcher_source_flagged` | gauge (0/1) | source |
| `watcher_source_last_success_timestamp_seconds` | gauge | source |
| `watcher_notices` | gauge | source, relevant (`true`/`false`) |
| `watcher_events_total` | counter | type |
| `watcher_alerts_sent_total` | counter | |
| `watcher_alerts_failed_total` | counter | |
| `watcher_alerts_pending` | gauge | |
| `watcher_fetch_refused_total` | counter | reason (`scheme`/`address`/`connected`): refused URLs |
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from watcher.db import limits, models
from watcher.db.models import Event, Notice, PollRun, SourceState
from watcher.pipeline.runtime import Runtime

BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class DatabaseCollector(Collector):
    """Collects the watcher's metrics with a handful of aggregate queries."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        with self.sessions() as session:
            names = dict(session.execute(select(SourceState.id, SourceState.name)).tuples().all())
            yield from self._polls(session, names)
            yield self._durations(session, names)
            yield from self._sources(session)
            yield from self._notices(session, names)
            yield self._events(session)
            yield from self._alerts(session)
            yield self._refused(session)

    def _polls(self, session: Session, names: dict[int, str]) -> Iterable[Metric]:
        polls = CounterMetricFamily(
            "watcher_polls", "Polls of each source, by outcome.", labels=["source", "outcome"]
        )
        failures = CounterMetricFamily(
            "watcher_poll_failures", "Failed polls of each source.", labels=["source"]
        )
        rows = session.execute(
            select(PollRun.source_id, PollRun.ok, func.count(PollRun.id)).group_by(
                PollRun.source_id, PollRun.ok
            )
        )
        failed: dict[str, int] = dict.fromkeys(names.values(), 0)
        for source_id, ok, count in rows:
            name = names.get(source_id, str(source_id))
            polls.add_metric([name, "ok" if ok else "failed"], int(count))
            if not ok:
                failed[name] = int(count)
        for name, count in sorted(failed.items()):
            failures.add_metric([name], count)
        return [polls, failures]

    def _durations(self, session: Session, names: dict[int, str]) -> Metric:
        family = HistogramMetricFamily(
            "watcher_poll_duration_seconds", "How long polls took.", labels=["source"]
        )
        columns: list[Any] = [
            func.sum(case((PollRun.seconds <= bound, 1), else_=0)) for bound in BUCKETS
        ]
        query = (
            select(PollRun.source_id, func.count(PollRun.id), func.sum(PollRun.seconds), *columns)
            .where(PollRun.seconds.is_not(None))
            .group_by(PollRun.source_id)
        )
        for source_id, count, total, *below in session.execute(query):
            buckets = [(str(b), float(n or 0)) for b, n in zip(BUCKETS, below, strict=True)]
            buckets.append(("+Inf", float(count)))
            family.add_metric(
                [names.get(source_id, str(source_id))], buckets, sum_value=float(total or 0)
            )
        return family

    def _sources(self, session: Session) -> Iterable[Metric]:
        failing = GaugeMetricFamily(
            "watcher_source_consecutive_failures",
            "Failed polls in a row (0 when the last poll succeeded).",
            labels=["source"],
        )
        flagged = GaugeMetricFamily(
            "watcher_source_flagged",
            "1 when the last poll returned far fewer notices than usual.",
            labels=["source"],
        )
        success = GaugeMetricFamily(
            "watcher_source_last_success_timestamp_seconds",
            "Unix time of the last successful poll.",
            labels=["source"],
        )
        for state in session.scalars(select(SourceState).order_by(SourceState.name)):
            failing.add_metric([state.name], state.consecutive_failures)
            flagged.add_metric([state.name], 1 if state.flagged else 0)
            if state.last_success_at is not None:
                success.add_metric([state.name], state.last_success_at.timestamp())
        return [failing, flagged, success]

    def _notices(self, session: Session, names: dict[int, str]) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "watcher_notices",
            "Notices stored, by source and relevance.",
            labels=["source", "relevant"],
        )
        rows = session.execute(
            select(Notice.source_id, Notice.relevant, func.count(Notice.id)).group_by(
                Notice.source_id, Notice.relevant
            )
        )
        for source_id, relevant, count in rows:
            name = names.get(source_id, str(source_id))
            family.add_metric([name, "true" if relevant else "false"], int(count))
        return [family]

    def _events(self, session: Session) -> Metric:
        family = CounterMetricFamily(
            "watcher_events", "Events told to readers, by type.", labels=["type"]
        )
        for kind, count in session.execute(
            select(Event.type, func.count(Event.id)).group_by(Event.type).order_by(Event.type)
        ):
            family.add_metric([kind], int(count))
        return family

    def _refused(self, session: Session) -> Metric:
        family = CounterMetricFamily(
            "watcher_fetch_refused",
            "URLs named by a portal that were not fetched (private address, bad scheme).",
            labels=["reason"],
        )
        for reason, count in sorted(limits.totals(session, limits.REFUSED_PREFIX).items()):
            family.add_metric([reason], count)
        return family

    def _alerts(self, session: Session) -> Iterable[Metric]:
        counts: dict[str, int] = {}
        # The delivery ledger belongs to `watcher.notify`; without it there is nothing to count.
        delivery: Any = getattr(models, "Delivery", None)
        if delivery is not None:
            counts = {
                str(status): int(n)
                for status, n in session.execute(
                    select(delivery.status, func.count(delivery.id)).group_by(delivery.status)
                )
            }
        sent = CounterMetricFamily("watcher_alerts_sent", "Alerts delivered.")
        sent.add_metric([], counts.get("sent", 0))
        failed = CounterMetricFamily("watcher_alerts_failed", "Alerts given up on.")
        failed.add_metric([], counts.get("failed", 0))
        pending = GaugeMetricFamily(
            "watcher_alerts_pending", "Alerts waiting to be sent (or being sent)."
        )
        pending.add_metric([], counts.get("pending", 0) + counts.get("sending", 0))
        return [sent, failed, pending]


def routes(runtime: Runtime) -> list[BaseRoute]:
    """`/metrics`, for `create_app`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(runtime.sessions))

    def metrics(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, name="metrics")]
