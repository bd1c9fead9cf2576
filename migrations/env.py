"""Alembic environment: the watcher's metadata, the URL from the config or the environment."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from watcher.db import models  # noqa: F401 - registers the tables on Base.metadata
from watcher.db.base import Base
from watcher.db.search import managed_in_sql
from watcher.db.session import make_engine
from watcher.settings import load_settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    """The URL `watcher` passed in, else `WATCHER_DATABASE_URL` (plain `alembic -c pyproject.toml`)."""
    if config.file_config.has_section(config.config_ini_section):
        url = config.get_main_option("sqlalchemy.url")
        if url:
            return url
    return load_settings().db_url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        include_name=lambda name, type_, _parent: not managed_in_sql(name, type_),
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run with the connection the watcher passes in, or one made from the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    url = _url()
    engine = make_engine(url)
    with engine.connect() as conn:
        _configure(conn)
    engine.dispose()


def run_migrations_offline() -> None:
    """Emit SQL without a database (`alembic upgrade head --sql`)."""
    url = _url()
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
