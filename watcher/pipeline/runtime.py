"""Wiring: settings + sources file + database + matcher, ready for a command to use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

from watcher.settings import Settings, load_settings

# What a command needs is imported when it first asks for it, so that `watcher check-config`
# never loads the database layer and `watcher --help` loads none of this.
if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from watcher.match.matcher import Matcher
    from watcher.pipeline.config import Config
    from watcher.pipeline.poll import Context


@dataclass
class Runtime:
    """Everything a command needs, built lazily so that `check-config` never opens a database."""

    settings: Settings
    # Runtimes made by commands, closed when the command ends (`close_all`).
    _opened: ClassVar[list[Runtime]] = []

    @classmethod
    def from_env(cls) -> Runtime:
        """Settings from the environment."""
        runtime = cls(load_settings())
        cls._opened.append(runtime)
        return runtime

    def close(self) -> None:
        """Close the database connections this runtime opened."""
        if "engine" in self.__dict__:
            self.engine.dispose()

    @classmethod
    def close_all(cls) -> None:
        """Close every runtime a command opened."""
        while cls._opened:
            cls._opened.pop().close()

    @cached_property
    def config(self) -> Config:
        """The validated sources file."""
        from watcher.pipeline.config import load_config  # noqa: PLC0415

        return load_config(self.settings.sources)

    @cached_property
    def engine(self) -> Engine:
        """The database engine, with the schema brought up to date."""
        from watcher.db.session import make_engine, upgrade  # noqa: PLC0415

        engine = make_engine(self.settings.db_url)
        upgrade(engine)
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """Session factory on the migrated database."""
        from watcher.db.session import make_sessionmaker  # noqa: PLC0415

        return make_sessionmaker(self.engine)

    @cached_property
    def matcher(self) -> Matcher:
        """The relevance matcher: shipped rules plus the sources file's extra rule files."""
        from watcher.match.matcher import Matcher  # noqa: PLC0415

        return Matcher.load(self.config.rules, self.config.sites)

    @cached_property
    def site_slugs(self) -> tuple[str, ...]:
        """The gazetteer's slugs (the feeds' sites), without compiling the matcher's rules."""
        if "matcher" in self.__dict__:
            return self.matcher.site_slugs
        from watcher.match.matcher import Matcher  # noqa: PLC0415

        return Matcher.slugs(self.config.sites)

    def context(self) -> Context:
        """A pipeline context."""
        from watcher.pipeline.poll import Context  # noqa: PLC0415

        return Context(settings=self.settings, sessions=self.sessions, matcher=self.matcher)
