"""The store's sessions and units of work: every store method runs in the unit of work open in
its thread (`transaction()` for changes, `snapshot()` for several consistent reads), or in a
transaction of its own."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Self

from sqlalchemy.engine import URL, Connection
from sqlalchemy.orm import Session, sessionmaker

from .checks import _instant, _utcnow
from .engine import make_engine, make_sessionmaker


class StoreBase:
    """Sessions, units of work and the clock, shared by the stores the repository is made of.

    `sessions` is a SQLAlchemy sessionmaker (see engine.make_sessionmaker); `clock` gives
    the current time (aware) for timestamps the caller does not pass in.
    """

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = _utcnow):
        self._sessions = sessions
        self._clock = clock
        self._engine = None
        self._local = threading.local()  # the unit of work open in this thread, if any
        # Reads outside a unit of work: on SQLite they do not queue for the write lock (engine.py).
        self._reads = make_sessionmaker(sessions.kw["bind"], read_only=True)

    @classmethod
    def from_url(cls, url: str | URL | None = None, clock: Callable[[], datetime] = _utcnow, **engine_kwargs) -> Self:
        """A repository with its own engine (call `close` to release it). Does not migrate."""
        engine = make_engine(url, **engine_kwargs)
        repo = cls(make_sessionmaker(engine), clock)
        repo._engine = engine
        return repo

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def _now(self) -> datetime:
        return _instant("clock()", self._clock())  # type: ignore[return-value]

    # -- units of work --

    def transaction(self) -> AbstractContextManager[Self]:
        """One unit of work: every repository call made in this thread inside the block
        joins one transaction, committed at the end or rolled back whole on an exception.
        So a user's action (the change, its audit events, the re-planned reminders) is
        stored together or not at all. Nested blocks join the outer one."""
        return self._unit(self._sessions)

    def snapshot(self) -> AbstractContextManager[Self]:
        """Several reads in one read-only transaction (one consistent view, no write lock):
        every repository call made in this thread inside the block joins it."""
        return self._unit(self._reads)

    @contextmanager
    def _unit(self, sessions: sessionmaker[Session]) -> Iterator[Self]:
        if getattr(self._local, "unit", None) is not None:
            yield self  # an open unit of work: join it
            return
        with self._open(sessions):
            yield self

    @contextmanager
    def _open(self, sessions: sessionmaker[Session]) -> Iterator[_Unit]:
        """A transaction on a connection of `sessions`' engine, open in this thread until the
        block ends: committed then, rolled back on an exception. A unit of work is a Core
        connection, not an ORM session: most statements are Core (see `_core`), and a
        session's begin, connection look-ups and commit cost about as much CPU as the
        statements of a card press. The stores that use the ORM get a session on the
        unit's connection (`_session`), made the first time one is asked for."""
        with sessions.kw["bind"].connect() as conn, conn.begin():
            unit = _Unit(conn, sessions)
            self._local.unit = unit
            try:
                yield unit
                unit.flush()  # the ORM's pending changes go in before the commit
            finally:
                self._local.unit = None
                unit.close()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """An ORM session in the open unit of work, or in a transaction of this call's own."""
        current = getattr(self._local, "unit", None)
        if current is not None:
            current.forget()  # what the ORM writes may change what the unit keeps (see _Unit)
            yield current.orm()
            return
        with self._open(self._sessions) as unit:
            yield unit.orm()

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """An ORM session in the open unit of work (a read there sees its own changes), or
        in a read-only transaction of this call's own."""
        current = getattr(self._local, "unit", None)
        if current is not None:
            yield current.orm()
            return
        with self._open(self._reads) as unit:
            yield unit.orm()

    @contextmanager
    def _conn(self, *, read: bool = False) -> Iterator[Connection]:
        """The open unit of work's connection, for Core statements built once at import (see
        `_core`), or a transaction of this call's own (`read`: a read-only one). What the
        unit's ORM session holds pending is flushed first, so a read sees everything the
        unit of work wrote."""
        current = getattr(self._local, "unit", None)
        if current is not None:
            current.flush()
            yield current.conn
            return
        with self._open(self._reads if read else self._sessions) as unit:
            yield unit.conn

    def _locked(self, meeting_id: str) -> None:
        """The open unit of work (if any) has locked this meeting's row (see `_Unit.locked`)."""
        unit = getattr(self._local, "unit", None)
        if unit is not None:
            unit.locked.add(meeting_id)

    def _meeting_exists(self, s: Session, meeting_id: str) -> bool:
        """Whether the meeting exists, with no read when the open unit of work has locked it:
        a Send read the meeting it had just locked three more times, once for each audit
        event and once for its invitations."""
        from .models import Meeting

        unit = getattr(self._local, "unit", None)
        return (unit is not None and meeting_id in unit.locked) or s.get(Meeting, meeting_id) is not None

    @staticmethod
    def _core(s: Session) -> Connection:
        """The session's connection, for Core statements built once at import (a select of
        plain columns with bound parameters): SQLAlchemy then only looks the compiled form up,
        where an ORM statement built per call is constructed, cache-keyed and compiled through
        the ORM each time (about five times the CPU). Pending ORM changes are flushed first,
        as an ORM query would, so a Core read sees everything the unit of work wrote."""
        s.flush()
        return s.connection()


class _Unit:
    """One open unit of work: a connection in a transaction, and the ORM session on it once
    a store has asked for one. The session joins the connection's transaction and never
    ends it (the unit commits or rolls back the connection); it is flushed before the
    commit and before any Core statement of the unit."""

    __slots__ = ("conn", "_sessions", "_session", "invitations", "reminders", "locked")

    def __init__(self, conn: Connection, sessions: sessionmaker[Session]) -> None:
        self.conn, self._sessions, self._session = conn, sessions, None
        # A meeting's invitations as the statement that answered one of them read them
        # (InvitationStore.record_response on PostgreSQL), the answer included: the
        # re-planning that follows in the unit of work reads them from here instead of
        # asking the database again. Forgotten as soon as the unit uses its ORM session
        # (every other write to invitations goes through it: new ones, deliveries, leases).
        self.invitations: dict[str, list] = {}
        # Meetings this unit has locked (lock_meeting, update_meeting_fields): they exist until
        # it ends, as the lock (on SQLite the IMMEDIATE transaction) keeps anyone from deleting
        # them, so checking that one exists before writing its events needs no read.
        self.locked: set[str] = set()
        # The meeting's reminders, locked by the statement that answered (as the invitations
        # above), as ReminderStore.sync_reminders reads them: the next re-plan of the meeting in
        # this unit uses them, once (it writes them), instead of locking them with a statement of
        # its own. Forgotten with the invitations.
        self.reminders: dict[str, list] = {}

    def forget(self) -> None:
        self.invitations.clear()
        self.reminders.clear()

    def orm(self) -> Session:
        if self._session is None:
            self._session = self._sessions(bind=self.conn)
        return self._session

    def flush(self) -> None:
        if self._session is not None:
            self._session.flush()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
