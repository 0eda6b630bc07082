"""The repository's unit of work on its own: what is written inside `transaction()` commits
together or not at all, and, on PostgreSQL, a unit of work holding its meeting never
deadlocks with a worker that logs against the same meeting."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bot.adapters.db.repository import NewReminder, Repository

T0 = datetime(2026, 11, 25, 10, tzinfo=timezone.utc)


def new_meeting(repo: Repository):
    return repo.create_meeting(area="bristol", case_ref="BR-1", requester_aad_id="a", chair_aad_id="a",
                               chair_name="Sam", request={}, plan={}, deadline=T0 + timedelta(days=1))


def test_a_unit_of_work_commits_whole_or_not_at_all(url):
    repo = Repository.from_url(url)
    try:
        meeting = new_meeting(repo)
        with pytest.raises(RuntimeError):
            with repo.transaction():
                repo.update_meeting_fields(meeting.id, meeting.version, state="sending")
                repo.add_event(meeting.id, "invitations_sent")
                raise RuntimeError("the connection dropped before the commit")
        assert repo.get_meeting(meeting.id).state == "draft"
        assert [e.kind for e in repo.list_events(meeting.id)] == ["meeting.created"]
        with repo.transaction():
            repo.update_meeting_fields(meeting.id, meeting.version, state="sending")
            repo.add_event(meeting.id, "invitations_sent")
            # Reads inside the unit of work see its own writes.
            assert repo.get_meeting(meeting.id).state == "sending"
        assert [e.kind for e in repo.list_events(meeting.id)][-1] == "invitations_sent"
    finally:
        repo.close()


@pytest.mark.postgres
def test_holding_a_meeting_never_deadlocks_with_a_worker_logging_against_it(db_url):
    """A unit of work locks the meeting, then re-plans its reminders (locking their rows); a
    reminder worker has updated one of those rows and now writes its audit event, which
    checks the meeting (FOR KEY SHARE). With the meeting held FOR UPDATE that is a deadlock
    PostgreSQL breaks by killing one side; held FOR NO KEY UPDATE, both finish."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's row locks")
    from bot.adapters.db import migrate

    migrate.upgrade(db_url)
    repo = Repository.from_url(db_url)
    try:
        meeting = new_meeting(repo)
        (reminder,) = repo.sync_reminders(meeting.id, [NewReminder("deadline", "deadline_approaching", "chair",
                                                                   T0, {"title": "t"})])
        worker = create_engine(db_url, poolclass=NullPool).connect()
        worker_tx = worker.begin()
        worker.execute(text("UPDATE reminders SET attempts = attempts + 1 WHERE id = :id"), {"id": reminder.id})
        held, errors = threading.Event(), []

        def unit_of_work() -> None:
            try:
                with repo.transaction():
                    repo.lock_meeting(meeting.id)
                    held.set()
                    repo.sync_reminders(meeting.id, [])  # waits for the worker's reminder row
            except Exception as e:  # a deadlock would surface here, or in the worker
                errors.append(e)

        thread = threading.Thread(target=unit_of_work)
        thread.start()
        assert held.wait(10)
        worker.execute(text("SET LOCAL lock_timeout = '5s'"))
        worker.execute(text("INSERT INTO events (meeting_id, at, kind, detail) VALUES (:m, now(), 'reminder.sent', '{}')"),
                       {"m": meeting.id})
        worker_tx.commit()
        worker.close()
        thread.join(20)
        assert not thread.is_alive() and errors == []
        assert [r.state for r in repo.list_reminders(meeting.id)] == ["cancelled"]
    finally:
        repo.close()
