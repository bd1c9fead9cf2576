"""`/metrics`: Prometheus text read from the database, so every instance reports the same totals."""

from __future__ import annotations

import datetime as dt

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from starlette.testclient import TestClient

from watcher.db.models import Delivery, Event, Subscriber
from watcher.pipeline.runtime import Runtime


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        assert family.name.startswith("watcher_")
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_count_polls_notices_events_and_durations(client: TestClient) -> None:
    m = scrape(client)
    src = (("source", "boamp"),)
    assert m[("watcher_polls_total", (("outcome", "ok"), ("source", "boamp")))] == 2
    assert m[("watcher_poll_failures_total", src)] == 0
    assert m[("watcher_notices", (("relevant", "true"), ("source", "boamp")))] == 2
    assert m[("watcher_notices", (("relevant", "false"), ("source", "boamp")))] == 1
    assert m[("watcher_events_total", (("type", "new"),))] == 2
    assert m[("watcher_events_total", (("type", "deadline_moved"),))] == 1
    assert m[("watcher_poll_duration_seconds_count", src)] == 2
    assert m[("watcher_poll_duration_seconds_bucket", (("le", "+Inf"), ("source", "boamp")))] == 2
    assert m[("watcher_poll_duration_seconds_sum", src)] > 0
    assert m[("watcher_source_consecutive_failures", src)] == 0
    assert m[("watcher_source_flagged", src)] == 0
    assert m[("watcher_source_last_success_timestamp_seconds", src)] > 1.7e9
    assert m[("watcher_alerts_sent_total", ())] == 0
    assert m[("watcher_alerts_pending", ())] == 0


def test_alert_metrics_read_the_delivery_ledger(client: TestClient, polled: Runtime) -> None:
    now = dt.datetime.now(dt.UTC)
    with polled.sessions() as session:
        events = session.scalars(select(Event.id)).all()
        for n, status in enumerate(["sent", "sent", "pending"]):
            subscriber = Subscriber(address=f"reader{n}@example.org", token=f"t{n}", confirmed=True)
            session.add(subscriber)
            session.flush()
            session.add(
                Delivery(
                    event_id=events[n],
                    subscriber_id=subscriber.id,
                    status=status,
                    next_attempt_at=now,
                )
            )
        session.commit()
    m = scrape(client)
    assert m[("watcher_alerts_sent_total", ())] == 2
    assert m[("watcher_alerts_pending", ())] == 1
    assert m[("watcher_alerts_failed_total", ())] == 0
