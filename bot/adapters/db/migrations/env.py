"""Alembic environment, driven from code (`bot.adapters.db.migrate`), no alembic.ini.

`migrate` hands over a connection already inside a transaction and holding the
migration lock, so every revision applies atomically and once even when several
replicas start together. Offline mode (`--sql`) renders SQL for a DBA instead.
"""
from __future__ import annotations

from alembic import context

from bot.adapters.db.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_, obj, autogen_context):
    # Keep revisions independent of our Python-side type: the column is simply a
    # timezone-aware timestamp (UTCDateTime only adds conversion in Python).
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs) -> None:
    context.configure(target_metadata=target_metadata, render_item=render_item, compare_type=True, **kwargs)


def run_offline() -> None:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    _configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection) -> None:
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (conn := config.attributes.get("connection")) is not None:
    run_online(conn)
else:
    # Invoked by the alembic command line rather than by `migrate`: take the same lock.
    from bot.adapters.db.migrate import migration_connection

    with migration_connection(config.attributes.get("url") or config.get_main_option("sqlalchemy.url")) as conn:
        run_online(conn)
