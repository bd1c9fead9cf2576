"""`kill -9` while alerts are being sent (issue 18, row 11), against a real SMTP server on
loopback, on SQLite and PostgreSQL: `watcher notify` says what is true (the alert in doubt is not
retried: at most once), never sends it twice, and lists it for the maintainers."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from click.testing import CliRunner, Result
from sqlalchemy import select

from tests.helpers import BoampPortal, runtime_env
from tests.loopback import LoopbackServer
from tests.mailbox import Mailbox
from tests.test_pipeline import sources_yaml
from watcher.cli import main
from watcher.db.models import Delivery
from watcher.notify import deliver_pending
from watcher.pipeline.poll import run_sources
from watcher.pipeline.runtime import Runtime

BOB = "bob@example.net"


def statuses(runtime: Runtime) -> list[str]:
    with runtime.sessions() as session:
        return sorted(session.scalars(select(Delivery.status)))


def cli(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env=env)
    assert "Traceback" not in result.output, result.output
    return result


def test_kill_9_while_sending_is_told_truly_never_sent_twice_and_listed(
    portal: tuple[BoampPortal, LoopbackServer],
    make_runtime: Callable[..., Runtime],
    mailbox: Mailbox,
) -> None:
    runtime = make_runtime(sources_yaml(portal[1].url))
    env = runtime_env(runtime, inherit=True, WATCHER_SMTP_URL=mailbox.url)
    env["WATCHER_MAIL_FROM"] = "Veille <alerts@watcher.example>"
    assert cli(env, "subscribers", "add", BOB).exit_code == 0
    [result] = run_sources(runtime.config.build(), runtime.context())
    assert result.events == 2, result

    # The mail server takes its time over the first message: the notifier is killed meanwhile.
    mailbox.delay = 30
    victim = subprocess.Popen(
        [sys.executable, "-m", "watcher", "notify"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while mailbox.data_started == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mailbox.data_started == 1, "the notifier never reached the mail server"
        assert statuses(runtime) == ["pending", "sending"]
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    mailbox.delay = 0

    # Right after: the other alert is sent; the one in doubt is not promised a retry.
    after = cli(env, "notify")
    assert after.exit_code == 0, after.output
    assert "alerts: 1 sent (1 messages)" in after.output
    assert "will be retried" not in after.output
    assert "1 alerts are being sent by another run, or were when it was stopped" in after.output
    assert "not re-sent (at most once)" in after.output
    assert len(mailbox.to(BOB)) == 1
    assert statuses(runtime) == ["sending", "sent"]

    # Later (the stale delay passed): marked interrupted, never sent, listed.
    later = deliver_pending(runtime, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), force=True)
    assert (later.sent, later.interrupted, later.in_flight, later.waiting) == (0, 1, 0, 0)
    assert "`watcher notify --interrupted` lists them" in later.summary()
    assert statuses(runtime) == ["failed", "sent"]
    listing = cli(env, "notify", "--interrupted")
    assert listing.exit_code == 0
    [line] = [x for x in listing.output.splitlines() if x.startswith("#")]
    assert "b***@example.net" in line and BOB not in listing.output
    assert "boamp/" in line and "1 interrupted alert(s), not re-sent" in listing.output
    again = cli(env, "notify")
    assert "alerts: 0 sent" in again.output or again.output == ""
    assert len(mailbox.to(BOB)) == 1  # never twice (the killed one never reached "250 OK")
