"""The engine's transactions, on SQLite and PostgreSQL: reads never wait for a writer, a
read-only session cannot write, and writers of one process take turns without failing or
losing updates (bot/adapters/db/engine.py)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update

from bot.adapters.db.engine import ReadOnlyError, make_engine, make_sessionmaker

HANG_GUARD = 20  # seconds: far above any real wait; a read stuck behind the writer never returns on its own

notes = Table("engine_notes", MetaData(), Column("id", Integer, primary_key=True),
              Column("body", String(100), nullable=False), Column("count", Integer, nullable=False))


@pytest.fixture
def engine(db_url):
    e = make_engine(db_url)
    notes.metadata.create_all(e)
    with e.begin() as c:
        c.execute(insert(notes).values(id=1, body="committed", count=0))
    yield e
    e.dispose()


def body(sessions) -> str:
    with sessions.begin() as s:
        return s.scalar(select(notes.c.body).where(notes.c.id == 1))


def test_a_read_does_not_wait_for_a_writer_and_sees_what_was_committed(engine):
    writes, reads = make_sessionmaker(engine), make_sessionmaker(engine, read_only=True)
    with writes.begin() as w:
        w.execute(update(notes).where(notes.c.id == 1).values(body="not yet committed"))
        # The writer holds SQLite's write lock (and this process's write turn) until the
        # block ends. A read that queued for either would never finish while we wait here.
        with ThreadPoolExecutor(1) as pool:
            seen = pool.submit(body, reads).result(timeout=HANG_GUARD)
        assert seen == "committed"
    assert body(reads) == "not yet committed"


def test_a_read_only_session_refuses_to_write_and_writes_nothing(engine):
    reads = make_sessionmaker(engine, read_only=True)
    for statement in (update(notes).values(body="changed"), insert(notes).values(id=2, body="new", count=0),
                      text("DELETE FROM engine_notes")):
        with pytest.raises(ReadOnlyError, match="read-only"):
            with reads.begin() as s:
                s.execute(statement)
    with engine.connect() as c:
        assert c.execute(select(notes.c.id, notes.c.body)).all() == [(1, "committed")]


def test_writers_in_threads_take_turns_without_failing_or_losing_an_update(engine):
    """Each writer reads the count and writes it plus one (a read-then-write, like claiming
    an invitation). On SQLite a deferred transaction would fail with SQLITE_BUSY here;
    without a row lock, PostgreSQL would lose updates."""
    writes = make_sessionmaker(engine)

    def add_one(times: int) -> None:
        for _ in range(times):
            with writes.begin() as s:
                count = s.scalar(select(notes.c.count).where(notes.c.id == 1).with_for_update())
                s.execute(update(notes).where(notes.c.id == 1).values(count=count + 1))

    with ThreadPoolExecutor(4) as pool:
        for f in [pool.submit(add_one, 25) for _ in range(4)]:
            f.result(timeout=HANG_GUARD)
    with engine.connect() as c:
        assert c.scalar(select(notes.c.count)) == 100


def test_a_failed_write_gives_the_turn_back(engine):
    writes = make_sessionmaker(engine)
    with pytest.raises(ZeroDivisionError):
        with writes.begin() as s:
            s.execute(update(notes).values(body="rolled back"))
            1 / 0
    # Another thread's writer gets its turn: had the failed one kept it, this would hang.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(add_note, writes).result(timeout=HANG_GUARD)
    assert body(make_sessionmaker(engine, read_only=True)) == "written after"


def add_note(writes) -> None:
    with writes.begin() as s:
        s.execute(update(notes).where(notes.c.id == 1).values(body="written after"))

