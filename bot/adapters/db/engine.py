"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production).

SQLite needs three things the driver does not do by default:
  * foreign keys are off unless asked for, per connection;
  * WAL lets readers carry on while one writer writes;
  * every transaction starts with BEGIN IMMEDIATE. Python's sqlite3 begins lazily
    (DEFERRED), so a transaction that reads then writes can fail at once with
    SQLITE_BUSY when another writer got in between, whatever the busy timeout. Taking
    the write lock up front makes SQLite a plain single-writer queue: a second writer
    waits (up to the busy timeout) instead of failing, and a read-then-write such as
    claiming invitations is atomic.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "var" / "stratbot.sqlite3"
SQLITE_BUSY_TIMEOUT_SECONDS = 30


def database_url() -> str:
    """DATABASE_URL, or the embedded SQLite file under the project's var/ folder."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"


def normalize_url(url: str | URL) -> URL:
    """Pick psycopg 3 for PostgreSQL URLs that name no driver: `postgresql://` would
    otherwise mean psycopg2, which is not installed, and hosted services hand out
    `postgres://`."""
    u = make_url(url)
    if u.drivername in ("postgres", "postgresql"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def _json_dumps(value: Any) -> str:
    # NaN/Infinity are not JSON: PostgreSQL would refuse them and SQLite would store text
    # no standard parser reads back. Refuse them everywhere, alike.
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


def make_engine(url: str | URL | None = None, **kwargs: Any) -> Engine:
    u = normalize_url(url if url is not None else database_url())
    kwargs.setdefault("json_serializer", _json_dumps)
    if u.get_backend_name() == "sqlite":
        return _sqlite_engine(u, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)  # replicas outlive server restarts/failovers
    return create_engine(u, **kwargs)


def _sqlite_engine(u: URL, **kwargs: Any) -> Engine:
    if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_SECONDS)
    # Sessions may be used from worker threads (the scheduler); each connection is
    # still used by one thread at a time, via the pool.
    connect_args.setdefault("check_same_thread", False)
    engine = create_engine(u, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Stop sqlite3 from issuing its own BEGIN/COMMIT around statements; we begin
        # explicitly below. PRAGMAs must run outside a transaction, so they go first.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
            if u.database and u.database != ":memory:":
                # synchronous stays at its default (FULL): NORMAL under WAL could lose the
                # last commits on power loss, e.g. a recorded response.
                _enable_wal(cursor)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _enable_wal(cursor) -> None:
    """WAL is a property of the file, so this only does work on a new database. Switching
    needs a moment of exclusive access and SQLite reports "database is locked" at once
    (no busy handler) if another connection is opening the same new file: retry then."""
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    give_up = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > give_up:
                raise
            time.sleep(0.02)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: the repository copies rows into dataclasses before the
    # session closes, and must not trigger a reload after commit to do so.
    return sessionmaker(bind=engine, expire_on_commit=False)
