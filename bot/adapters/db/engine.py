"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production).

SQLite needs three things the driver does not do by default:
  * foreign keys are off unless asked for, per connection;
  * WAL lets readers carry on while one writer writes;
  * a transaction that may write starts with BEGIN IMMEDIATE. Python's sqlite3 begins
    lazily (DEFERRED), so a transaction that reads then writes can fail at once with
    SQLITE_BUSY when another writer got in between, whatever the busy timeout. Taking
    the write lock up front makes SQLite a plain single-writer queue: a second writer
    waits (up to the busy timeout) instead of failing, and a read-then-write such as
    claiming invitations is atomic.

Reads do not queue with the writers. A session from `make_sessionmaker(engine,
read_only=True)` begins DEFERRED (plain BEGIN): under WAL it reads a consistent snapshot
while a writer writes, and never takes the write lock. Such a session refuses to write
(ReadOnlyError, before anything reaches the database), on PostgreSQL too, so nothing can
try to turn a deferred read into a write and fail with SQLITE_BUSY.

Writers of one process queue on a lock in the process before BEGIN IMMEDIATE (one per
database file). SQLite's own wait for a busy database is a poll with sleeps of up to
100 ms, so under load a waiting writer slept on while the lock was free: measured with
50 concurrent card actions, three quarters of the database threads' time was spent in
BEGIN IMMEDIATE. The process lock hands the turn on the moment the last writer commits;
SQLite's lock (and the busy timeout) still separates processes, and stays the guard:
the process lock only orders the queue in front of it.
"""
from __future__ import annotations

import json
import os
import select
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "var" / "stratbot.sqlite3"
SQLITE_BUSY_TIMEOUT_SECONDS = 30
READ_ONLY = "stratbot_read_only"  # the execution option of read-only sessions
_READ_STATEMENTS = frozenset({"SELECT", "BEGIN", "PRAGMA"})


class ReadOnlyError(RuntimeError):
    """A read-only session was asked to write: a programming error, never user input."""


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
    if "pool_pre_ping" in kwargs:
        return create_engine(u, **kwargs)
    engine = create_engine(u, **kwargs)
    _ping_when_in_doubt(engine)  # replicas outlive server restarts/failovers
    _describe_lazily(engine)
    return engine


def _describe_lazily(engine: Engine) -> None:
    """psycopg's cursors with a `description` built only when read (_LazyDescribing).

    psycopg builds a `Column` object for every column of every result whenever the
    description is asked for, and SQLAlchemy asks after every statement that returns rows,
    if only to see that it is not None: for a statement it has run before it already knows
    the columns (its compiled form keeps them) and never reads the Column objects. A card
    press reads about a hundred columns (the invitation and its meeting, the meeting's
    invitations, the reminders), and building their Column objects cost more CPU than
    anything else the driver did for it. A connection given another cursor class
    (connect_args' cursor_factory) keeps it."""
    if engine.dialect.driver != "psycopg":
        return
    import psycopg

    class LazyDescribing(psycopg.Cursor):
        @property
        def description(self):  # type: ignore[override]
            res = self.pgresult
            if res and (res.nfields or res.status in _ROWS_STATUSES):
                return _Description(self, res)
            return None  # the statement returned no rows, as psycopg says

    _ROWS_STATUSES = frozenset(
        getattr(psycopg.pq.ExecStatus, name) for name in ("TUPLES_OK", "SINGLE_TUPLE", "TUPLES_CHUNK")
        if hasattr(psycopg.pq.ExecStatus, name))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        if dbapi_connection.cursor_factory is psycopg.Cursor:
            dbapi_connection.cursor_factory = LazyDescribing


class _Description(Sequence):
    """A cursor's description as psycopg gives it (a list of psycopg `Column`s), each
    Column built on the first read. It keeps the result it describes, so it still describes
    that result when read after the cursor has run another statement."""

    __slots__ = ("pgresult", "_cursor", "_columns")

    def __init__(self, cursor: Any, pgresult: Any) -> None:
        self.pgresult, self._cursor, self._columns = pgresult, cursor, None

    # What psycopg's Column reads from the cursor it is given: the result, the connection's
    # encoding and the cursor's adapters.
    @property
    def _encoding(self) -> str:
        return self._cursor._encoding

    @property
    def adapters(self) -> Any:
        return self._cursor.adapters

    def _built(self) -> list:
        if self._columns is None:
            from psycopg import Column

            self._columns = [Column(self, i) for i in range(self.pgresult.nfields)]  # type: ignore[arg-type]
        return self._columns

    def __len__(self) -> int:
        return self.pgresult.nfields

    def __getitem__(self, index):  # type: ignore[override]
        return self._built()[index]

    def __iter__(self):
        return iter(self._built())

    def __eq__(self, other: object) -> bool:
        return self._built() == other

    def __repr__(self) -> str:
        return repr(self._built())


# A pooled connection last used longer ago than this is pinged before use whatever its socket says.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_in_doubt(engine: Engine) -> None:
    """SQLAlchemy's pool_pre_ping, without its round trip on a connection in steady use.

    A connection the server closed (a restart, a failover, pg_terminate_backend, an idle
    timeout) has the server's goodbye waiting in its socket: the FATAL message, then the end
    of the stream. So a connection is pinged (SELECT 1) before use only when its socket has
    something to read (nothing should be waiting on an idle connection), when it was last
    used more than PING_AFTER_IDLE_SECONDS ago, or when it has never been checked in; a ping
    that fails discards it and the pool connects anew, as pool_pre_ping does. Under load every
    checkout is of a connection used milliseconds ago: the ping was a round trip per
    transaction (one in eight of a card press's statements on PostgreSQL) that found nothing."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, _proxy) -> None:
        last = record.info.pop("checked_in", None)
        if last is not None and time.monotonic() - last < PING_AFTER_IDLE_SECONDS \
                and not _has_something_to_read(dbapi_connection):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as e:
            raise exc.DisconnectionError(f"pooled connection failed its ping: {e}") from e


def _has_something_to_read(dbapi_connection: Any) -> bool:
    """Whether the server sent anything on an idle connection (or closed it): select() with
    no wait on its socket. True when the socket cannot be checked (then the caller pings)."""
    try:
        fd = dbapi_connection.pgconn.socket
        return bool(select.select([fd], [], [], 0)[0])
    except Exception:
        return True


def _sqlite_engine(u: URL, **kwargs: Any) -> Engine:
    if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_SECONDS)
    # Sessions may be used from worker threads (the scheduler); each connection is
    # still used by one thread at a time, via the pool.
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("factory", _queued_writers(u))
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
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")  # deferred: a snapshot under WAL, no write lock
            return
        dbapi_connection = conn.connection.dbapi_connection
        if not isinstance(dbapi_connection, _QueuedWriter):  # in memory: one connection anyway
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        dbapi_connection.queue_for_write()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            dbapi_connection.leave_write_queue()
            raise

    return engine


class _QueuedWriter(sqlite3.Connection):
    """A connection whose writers queue in the process (see _queued_writers)."""

    def queue_for_write(self) -> None:
        raise NotImplementedError

    def leave_write_queue(self) -> None:
        raise NotImplementedError


_write_locks: dict[str, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def _queued_writers(u: URL) -> type[sqlite3.Connection]:
    """The sqlite3 connection class for this database: writers of this process take their
    turn on one lock per file before BEGIN IMMEDIATE and give it up when the transaction
    ends (commit, rollback or close). An in-memory database gets the plain class."""
    if not u.database or u.database == ":memory:" or u.database.startswith("file:"):
        return sqlite3.Connection
    key = str(Path(u.database).expanduser().resolve())
    with _write_locks_guard:
        lock = _write_locks.setdefault(key, threading.Lock())

    class QueuedWriters(_QueuedWriter):
        _holds_turn = False

        def queue_for_write(self) -> None:
            # As long as SQLite's busy timeout: a writer stuck behind another for that long
            # gets the same "database is locked" SQLite would give.
            if not lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_SECONDS):
                raise sqlite3.OperationalError("database is locked (waited for this process's other writers)")
            self._holds_turn = True

        def leave_write_queue(self) -> None:
            if self._holds_turn:
                self._holds_turn = False
                lock.release()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self.leave_write_queue()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self.leave_write_queue()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self.leave_write_queue()

    return QueuedWriters


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


def make_sessionmaker(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions on `engine`. `read_only`: for work that only reads; on SQLite its
    transactions begin DEFERRED and never wait for the write lock, and on any database a
    statement other than SELECT raises ReadOnlyError before it is sent."""
    # expire_on_commit=False: the repository copies rows into dataclasses before the
    # session closes, and must not trigger a reload after commit to do so.
    if read_only:
        _refuse_writes(engine)
        engine = engine.execution_options(**{READ_ONLY: True})
    return sessionmaker(bind=engine, expire_on_commit=False)


def _refuse_writes(engine: Engine) -> None:
    if event.contains(engine, "before_cursor_execute", _check_read_only):
        return
    event.listen(engine, "before_cursor_execute", _check_read_only)


def _check_read_only(conn, _cursor, statement: str, _parameters, _context, _executemany) -> None:
    if conn.get_execution_options().get(READ_ONLY):
        words = statement.lstrip().split(None, 1)
        if not words or words[0].upper() not in _READ_STATEMENTS:
            raise ReadOnlyError(f"a read-only session cannot run {statement.strip()[:60]!r}")
