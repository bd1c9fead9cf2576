"""What every command shares: one-line errors instead of tracebacks, and the lazy command group.

Only click and the error classes are imported here, so that `watcher --help` stays fast.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from watcher.errors import ConfigError, WatcherError

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn a `WatcherError` into `error: …` lines and exit 1, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for line in exc.problems:
                click.echo(f"error: {line}", err=True)
            sys.exit(1)
        except WatcherError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except OSError as exc:  # a full disk, a folder without permission (issue 18)
            from watcher.pipeline.cycle import os_error_text  # noqa: PLC0415

            click.echo(f"error: {os_error_text(exc)}", err=True)
            sys.exit(1)
        except Exception as exc:
            if not _database_error(exc):
                raise
            # The database is unreachable, locked or on a full disk: its own words, one line.
            click.echo(f"error: database: {' '.join(str(exc.orig).split())}", err=True)  # type: ignore[attr-defined]
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _database_error(exc: Exception) -> bool:
    """An SQLAlchemy `OperationalError`, without importing SQLAlchemy for `--help`."""
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    return sqlalchemy_exc is not None and isinstance(exc, sqlalchemy_exc.OperationalError)


class LazyGroup(click.Group):
    """A group whose commands live in their own modules, imported only when one is run.

    `commands_at` maps a command name to `"module:attribute"` and the one-line help shown by
    `--help` (a test checks that it is the command's own first docstring line), so listing the
    commands imports none of them.
    """

    def __init__(
        self, *args: Any, commands_at: dict[str, tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.commands_at = dict(commands_at or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.commands_at})

    def invoke(self, ctx: click.Context) -> Any:
        # Whether a command's `--help` was asked: the group's callback checks no setting then.
        rest = [*(getattr(ctx, "_protected_args", None) or []), *ctx.args]
        ctx.meta["watcher.help"] = "--help" in rest
        return super().invoke(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands_at and cmd_name not in self.commands:
            target, _ = self.commands_at[cmd_name]
            module_name, _, attribute = target.partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        for name in self.list_commands(ctx):
            if name in self.commands:
                command = self.commands[name]
                if command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(limit)))
            else:
                rows.append((name, self.commands_at[name][1]))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class Progress:
    """`rematch: 40,000/100,000 notices…` on stderr while a long command works, for the person
    waiting: on a terminal, one line rewritten in place (twice a second at most); in a log, one
    line every `every` seconds. A command done within `after` seconds says nothing."""

    def __init__(
        self,
        label: str,
        unit: str,
        *,
        after: float = 2.0,
        every: float = 10.0,
        tty: bool | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time  # noqa: PLC0415

        self.label, self.unit = label, unit
        self.clock = clock or time.monotonic
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.every = 0.5 if self.tty else every
        self.next = self.clock() + after
        self.shown = False
        self.last = (0, 0)

    def __call__(self, done: int, total: int, unit: str | None = None) -> None:
        """Tell that `done` of `total` are done (a line only when it is time for one); `unit`
        names what is counted from now on (a command's next stage)."""
        if unit is not None and unit != self.unit:
            self.close(*self.last)  # on a terminal, the last stage's line stays, complete
            self.unit, self.shown = unit, False
        self.last = (done, total)
        now = self.clock()
        if now < self.next:
            return
        self.next = now + self.every
        self._show(done, total)

    def _show(self, done: int, total: int) -> None:
        text = f"{self.label}: {done:,}/{total:,} {self.unit}…"
        if self.tty:
            click.echo(f"\r{text}", nl=False, err=True)
        else:
            click.echo(text, err=True)
        self.shown = True

    def close(self, done: int, total: int) -> None:
        """The last count, on a terminal whose line was shown (then the line is ended)."""
        if self.tty and self.shown:
            self._show(done, total)
            click.echo("", err=True)
