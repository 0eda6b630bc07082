"""Shared fixtures: `db_url` gives each test an empty database, a SQLite file or a fresh
PostgreSQL schema (dropped after), so persistence and flow tests run on both; `url` is that
database migrated to head. `Clock` is a hand-wound clock for repositories."""
import os
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.adapters.db.engine import normalize_url  # noqa: E402

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """An empty database: a SQLite file, or a fresh PostgreSQL schema (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'stratbot.sqlite3'}"
        return
    if os.environ.get("STRATBOT_SKIP_POSTGRES") == "1":
        pytest.skip("STRATBOT_SKIP_POSTGRES=1")
    admin = create_engine(normalize_url(PG_URL), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    try:
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except OperationalError as e:
        pytest.fail(f"PostgreSQL at {PG_URL} is unreachable ({e.orig}); set STRATBOT_SKIP_POSTGRES=1 to skip")
    # search_path makes the schema the default for every connection made from this URL,
    # migrations (alembic_version included) and repository alike.
    url = normalize_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def url(db_url):
    """`db_url`, migrated to the newest schema."""
    from bot.adapters.db import migrate

    migrate.upgrade(db_url)
    return db_url


class Clock:
    """A hand-wound clock, so timestamps in assertions are known."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> datetime:
        self.now += timedelta(**kw)
        return self.now
