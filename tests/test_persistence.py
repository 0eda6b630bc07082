"""Persistence adapter: migrations, repository round trips, leases and concurrency.

Every test runs twice: on a fresh SQLite file (the embedded default) and on PostgreSQL
(production), each PostgreSQL test in its own schema, created and dropped here, so tests
and concurrent runs cannot see each other's rows.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.pool import NullPool
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from bot.adapters.db import migrate
from bot.adapters.db.engine import make_engine, make_sessionmaker, normalize_url
from bot.adapters.db.models import Base, Invitation, Meeting
from bot.adapters.db.repository import (
    EventRecord, InvitationRecord, MeetingRecord, NewInvitation, NotFound, Repository, UserRecord,
    VersionConflict,
)
from tests.conftest import Clock

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)
TABLES = {"users", "meetings", "invitations", "events", "alembic_version"}


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def repo(url, clock):
    r = Repository.from_url(url, clock=clock)
    yield r
    r.close()


@pytest.fixture
def other_repo(url, clock):
    """A second replica: its own engine and connections on the same database."""
    r = Repository.from_url(url, clock=clock)
    yield r
    r.close()


def new_meeting(repo: Repository, state: str = "sending", **kw) -> MeetingRecord:
    args = dict(
        area="north-somerset", case_ref="CASE-1", requester_aad_id="aad-requester", chair_aad_id="aad-chair",
        chair_name="Chair Person", request={"area": "north-somerset", "concerns": ("neglect",), "children": [{"ref": "C1"}]},
        plan={"area": "north-somerset", "quorum": ["social_care", "police", "health"], "invitees": []},
        deadline=T0 + timedelta(days=1), state=state,
    )
    args.update(kw)
    return repo.create_meeting(**args)


def invitees(n: int, prefix: str = "c") -> list[dict]:
    roles = ["social_care", "police", "health"]
    return [
        dict(role=roles[i % 3], level="quorum", contact_id=f"{prefix}{i}", contact_name=f"Contact {i}",
             contact_aad_id=f"aad-{prefix}{i}", tenant_id="tenant", service_url="https://smba.example/")
        for i in range(n)
    ]


# --- migrations ---------------------------------------------------------------------


def test_migrations_apply_from_empty_and_are_idempotent(db_url):
    assert migrate.current(db_url) is None
    head = migrate.head()
    assert head is not None
    assert migrate.upgrade(db_url) == head
    assert migrate.current(db_url) == head
    assert migrate.upgrade(db_url) == head  # a second start-up changes nothing
    engine = make_engine(db_url)
    try:
        assert TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_models_agree_with_migrations(url):
    """The models and the migrations describe the same schema: a new model change without
    a revision (or the reverse) fails here."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_concurrent_upgrades_from_empty_both_succeed(db_url):
    """Two replicas starting together: one migrates, the other waits, then finds head."""
    barrier = threading.Barrier(2)

    def start() -> str | None:
        barrier.wait()
        return migrate.upgrade(db_url)

    with ThreadPoolExecutor(2) as pool:
        results = [f.result(timeout=30) for f in [pool.submit(start), pool.submit(start)]]
    assert results == [migrate.head(), migrate.head()]


# --- users --------------------------------------------------------------------------


def test_user_upsert_and_get(repo, clock):
    assert repo.get_user("aad-1") is None
    u = repo.upsert_user(aad_object_id="aad-1", teams_user_id="29:1", name="Ann", tenant_id="t1",
                         service_url="https://smba.example/emea/", conversation_id="a:conv1")
    assert u == UserRecord("aad-1", "29:1", "Ann", "t1", "https://smba.example/emea/", "a:conv1", T0)
    assert repo.get_user("aad-1") == u

    # Seen again without a 1:1 conversation (e.g. in a channel): the known one is kept.
    later = clock.advance(minutes=5)
    u2 = repo.upsert_user(aad_object_id="aad-1", teams_user_id="29:1", name="Ann B", tenant_id="t1",
                          service_url="https://smba.example/uk/")
    assert (u2.name, u2.service_url, u2.conversation_id, u2.updated_at) == ("Ann B", "https://smba.example/uk/", "a:conv1", later)
    u3 = repo.upsert_user(aad_object_id="aad-1", teams_user_id="29:1", name="Ann B", tenant_id="t1",
                          service_url="https://smba.example/uk/", conversation_id="a:conv2")
    assert u3.conversation_id == "a:conv2"
    assert repo.get_user("aad-1") == u3


# --- meetings -----------------------------------------------------------------------


def test_meeting_round_trip(repo):
    m = new_meeting(repo, state="draft", meeting_at=T0 + timedelta(hours=3), join_url="https://teams.example/j/1",
                    chair_conversation_id="a:chair", chair_service_url="https://smba.example/", chair_tenant_id="t1")
    assert len(m.id) == 32 and m.version == 1 and m.state == "draft"
    assert m.request["concerns"] == ["neglect"]  # JSON-normalised: what a later read returns
    got = repo.get_meeting(m.id)
    assert got == m
    assert repo.get_meeting("nope") is None

    got.request["concerns"].append("tampered")  # a returned copy is not the stored value
    assert repo.get_meeting(m.id).request["concerns"] == ["neglect"]


def test_update_meeting_fields_bumps_version_and_is_audited(repo, clock):
    m = new_meeting(repo, state="draft")
    clock.advance(minutes=1)
    m2 = repo.update_meeting_fields(m.id, expected_version=1, actor_aad_id="aad-chair", state="sending",
                                    plan_activity_id="act-1", meeting_at=T0 + timedelta(hours=2))
    assert (m2.version, m2.state, m2.plan_activity_id, m2.updated_at) == (2, "sending", "act-1", clock.now)
    assert m2.meeting_at == T0 + timedelta(hours=2)
    assert m2.created_at == m.created_at
    assert repo.get_meeting(m.id) == m2
    # Without expected_version: last writer wins, still bumping the version.
    m3 = repo.update_meeting_fields(m.id, status_activity_id="act-2")
    assert m3.version == 3

    updated = [e for e in repo.list_events(m.id) if e.kind == "meeting.updated"]
    assert len(updated) == 1  # activity ids alone are not audit events
    assert updated[0].actor_aad_id == "aad-chair"
    assert updated[0].detail == {"fields": ["meeting_at", "state"], "version": 2, "from_state": "draft", "to_state": "sending"}


def test_version_conflict_changes_nothing(repo, other_repo):
    m = new_meeting(repo, state="draft")
    # Two replicas read version 1; the first to write wins, the second gets a clear error.
    other_repo.update_meeting_fields(m.id, expected_version=1, state="sending")
    with pytest.raises(VersionConflict) as info:
        repo.update_meeting_fields(m.id, expected_version=1, state="cancelled")
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert "version 2, not 1" in str(info.value)
    now = repo.get_meeting(m.id)
    assert (now.state, now.version) == ("sending", 2)


def test_update_meeting_fields_refuses_bad_input(repo):
    m = new_meeting(repo, state="draft")
    with pytest.raises(NotFound):
        repo.update_meeting_fields("no-such-meeting", state="sending")
    with pytest.raises(ValueError, match="cannot update meeting field"):
        repo.update_meeting_fields(m.id, version=7)
    with pytest.raises(ValueError, match="state 'posted'"):
        repo.update_meeting_fields(m.id, state="posted")
    with pytest.raises(ValueError, match="no time zone"):
        repo.update_meeting_fields(m.id, deadline=datetime(2026, 11, 24, 9, 0))
    with pytest.raises(ValueError, match="not valid JSON"):
        repo.update_meeting_fields(m.id, plan={"when": datetime.now(timezone.utc)})
    with pytest.raises(ValueError, match="not valid JSON"):
        repo.update_meeting_fields(m.id, plan={"score": float("nan")})
    with pytest.raises(ValueError, match="NUL"):
        repo.update_meeting_fields(m.id, join_url="https://x\x00y")
    with pytest.raises(ValueError, match="NUL"):
        repo.update_meeting_fields(m.id, request={"case": "a\x00b"})
    assert repo.get_meeting(m.id) == m


def test_create_meeting_refuses_bad_input(repo):
    with pytest.raises(ValueError, match="no time zone"):
        new_meeting(repo, deadline=datetime(2026, 11, 24, 9, 0))
    with pytest.raises(ValueError, match="state"):
        new_meeting(repo, state="pending")
    with pytest.raises(ValueError, match="blank"):
        new_meeting(repo, chair_name="  ")
    with pytest.raises(TypeError, match="JSON object"):
        new_meeting(repo, plan=["not", "an", "object"])


# --- invitations --------------------------------------------------------------------


def test_add_invitations_is_idempotent_and_keeps_existing_rows(repo, clock):
    m = new_meeting(repo)
    first = repo.add_invitations(m.id, invitees(3))
    # Listed as added, then by level, role and contact: c2 health, c1 police, c0 social care.
    assert [(i.contact_id, i.delivery_state, i.response, i.attempts) for i in first] == [
        ("c2", "pending", "none", 0), ("c1", "pending", "none", 0), ("c0", "pending", "none", 0),
    ]
    assert repo.list_invitations(m.id) == first

    # Deliver one; re-adding the same people (changed details) plus one new changes only
    # by adding the new one: an invitation already sent must not be reset.
    (claimed,) = repo.claim_invitations("w1", T0, limit=1)
    assert repo.mark_delivered(claimed.id, "w1", "a:conv", "act-1")
    before = repo.list_invitations(m.id)
    clock.advance(minutes=1)
    again = invitees(3)
    again[0]["contact_email"] = "changed@example.org"
    rows = repo.add_invitations(m.id, again + [NewInvitation(role="gp", level="should", contact_id="gp1")])
    assert rows[:3] == before
    assert len(rows) == 4 and (rows[3].contact_id, rows[3].level, rows[3].created_at) == ("gp1", "should", clock.now)
    added = [e for e in repo.list_events(m.id) if e.kind == "invitation.added"]
    assert [e.detail["contact_id"] for e in added] == ["c0", "c1", "c2", "gp1"]


def test_add_invitations_with_a_bad_row_stores_nothing(repo):
    m = new_meeting(repo)
    bad_batches = [
        invitees(2) + [dict(role="police", level="urgent", contact_id="x")],
        invitees(2) + [dict(role="sheriff", level="must", contact_id="x")],
        invitees(2) + [dict(role="police", level="must", contact_id="")],
        invitees(2) + [dict(role="police", level="must", contact_id="x", contact_emial="typo@example.org")],
        invitees(2) + [dict(role="police", level="must", contact_id="x", contact_name="nul\x00")],
    ]
    for batch in bad_batches:
        with pytest.raises(ValueError):
            repo.add_invitations(m.id, batch)
    assert repo.list_invitations(m.id) == []
    with pytest.raises(NotFound):
        repo.add_invitations("no-such-meeting", invitees(1))


def test_claim_lease_and_mark_delivered(repo):
    m = new_meeting(repo)
    repo.add_invitations(m.id, invitees(2))
    claimed = repo.claim_invitations("w1", T0, lease_seconds=60)
    assert len(claimed) == 2
    assert all(isinstance(c, InvitationRecord) for c in claimed)
    assert {(c.lease_owner, c.lease_expires_at, c.attempts) for c in claimed} == {("w1", T0 + timedelta(seconds=60), 1)}
    # Leased: nobody else gets them while the lease runs.
    assert repo.claim_invitations("w2", T0 + timedelta(seconds=59)) == []

    a, b = claimed
    assert repo.mark_delivered(a.id, "w2", "a:conv", "act") is False  # not the owner
    assert repo.mark_delivered(a.id, "w1", "a:conv-a", "act-a") is True
    assert repo.mark_delivered(a.id, "w1", "a:conv-a", "act-a") is False  # no longer pending
    got = repo.get_invitation(a.id)
    assert (got.delivery_state, got.conversation_id, got.activity_id, got.lease_expires_at) == ("delivered", "a:conv-a", "act-a", None)
    # Delivered is final: not claimable even once the lease time has long passed.
    later = repo.claim_invitations("w2", T0 + timedelta(hours=1))
    assert [c.id for c in later] == [b.id]
    delivered = [e for e in repo.list_events(m.id) if e.kind == "invitation.delivered"]
    assert [(e.detail["invitation_id"], e.detail["owner"]) for e in delivered] == [(a.id, "w1")]


def test_claim_only_for_meetings_being_sent(repo):
    m = new_meeting(repo, state="draft")
    repo.add_invitations(m.id, invitees(2))
    assert repo.claim_invitations("w1", T0) == []  # a draft sends nothing
    repo.update_meeting_fields(m.id, state="cancelled")
    assert repo.claim_invitations("w1", T0) == []
    repo.update_meeting_fields(m.id, state="sending")
    assert len(repo.claim_invitations("w1", T0)) == 2


def test_claim_orders_by_deadline_and_respects_limit(repo):
    late = new_meeting(repo, deadline=T0 + timedelta(days=3))
    soon = new_meeting(repo, deadline=T0 + timedelta(hours=4))
    repo.add_invitations(late.id, invitees(2, "late"))
    repo.add_invitations(soon.id, invitees(2, "soon"))
    first = repo.claim_invitations("w1", T0, limit=3)
    assert [c.meeting_id for c in first] == [soon.id, soon.id, late.id]
    assert len(repo.claim_invitations("w1", T0, limit=3)) == 1
    with pytest.raises(ValueError):
        repo.claim_invitations("w1", T0, limit=0)
    with pytest.raises(ValueError, match="no time zone"):
        repo.claim_invitations("w1", datetime(2026, 11, 23, 9, 30))


def test_transient_failure_releases_lease_and_permanent_failure_is_final(repo):
    m = new_meeting(repo)
    repo.add_invitations(m.id, invitees(2))
    a, b = repo.claim_invitations("w1", T0, lease_seconds=3600)

    assert repo.mark_failed(a.id, "w2", "throttled", "429", permanent=False) is False  # not the owner
    assert repo.mark_failed(a.id, "w1", "throttled", "HTTP 429 Too Many Requests", permanent=False) is True
    got = repo.get_invitation(a.id)
    assert (got.delivery_state, got.lease_owner, got.lease_expires_at) == ("pending", None, None)
    assert (got.delivery_error_kind, got.delivery_error) == ("throttled", "HTTP 429 Too Many Requests")
    # Released: claimable at once, by anyone; the attempt is counted.
    retry = repo.claim_invitations("w2", T0 + timedelta(seconds=1))
    assert [(r.id, r.attempts, r.lease_owner) for r in retry] == [(a.id, 2, "w2")]

    # A back-off: released, but not claimable before retry_at.
    assert repo.mark_failed(a.id, "w2", "throttled", "again", permanent=False, retry_at=T0 + timedelta(minutes=5))
    assert repo.claim_invitations("w3", T0 + timedelta(minutes=4)) == []
    assert [r.id for r in repo.claim_invitations("w3", T0 + timedelta(minutes=5))] == [a.id]

    assert repo.mark_failed(b.id, "w1", "no_teams_address", "user has no \x00 conversation", permanent=True)
    got = repo.get_invitation(b.id)
    assert (got.delivery_state, got.lease_expires_at) == ("failed", None)
    assert got.delivery_error == "user has no \ufffd conversation"  # NUL replaced, never a crash
    assert b.id not in {r.id for r in repo.claim_invitations("w4", T0 + timedelta(days=1))}
    assert repo.mark_delivered(b.id, "w1", "a:c", "x") is False
    failed = [e.detail for e in repo.list_events(m.id) if e.kind == "invitation.failed"]
    assert [(d["kind"], d["permanent"]) for d in failed] == [("throttled", False), ("throttled", False), ("no_teams_address", True)]


def test_crashed_claimer_lease_expires_and_is_taken_over(repo, other_repo):
    """Claimed, never marked (the replica died): after the lease, another takes over;
    the dead replica's late report is refused so the record stays the survivor's."""
    m = new_meeting(repo)
    (inv,) = repo.add_invitations(m.id, invitees(1))
    (first,) = repo.claim_invitations("replica-a", T0, lease_seconds=30)
    assert first.attempts == 1
    assert other_repo.claim_invitations("replica-b", T0 + timedelta(seconds=29)) == []
    (taken,) = other_repo.claim_invitations("replica-b", T0 + timedelta(seconds=30))
    assert (taken.id, taken.lease_owner, taken.attempts) == (inv.id, "replica-b", 2)
    assert taken.lease_expires_at == T0 + timedelta(seconds=90)

    assert repo.mark_delivered(inv.id, "replica-a", "a:late", "late") is False
    assert other_repo.mark_delivered(inv.id, "replica-b", "a:conv", "act") is True
    got = repo.get_invitation(inv.id)
    assert (got.delivery_state, got.conversation_id, got.attempts) == ("delivered", "a:conv", 2)


def test_concurrent_claimers_never_claim_the_same_invitation(url):
    m_repo = Repository.from_url(url)
    m = new_meeting(m_repo)
    all_ids = {i.id for i in m_repo.add_invitations(m.id, invitees(40))}
    m_repo.close()
    barrier = threading.Barrier(3)

    def worker(name: str) -> list[str]:
        # Each claimer is its own replica: own engine, own connections.
        r = Repository.from_url(url)
        got: list[str] = []
        try:
            barrier.wait()
            while batch := r.claim_invitations(name, T0, lease_seconds=300, limit=3):
                got += [b.id for b in batch]
        finally:
            r.close()
        return got

    with ThreadPoolExecutor(3) as pool:
        results = [f.result(timeout=60) for f in [pool.submit(worker, f"w{i}") for i in range(3)]]
    claimed = [i for r in results for i in r]
    assert len(claimed) == len(set(claimed)), "an invitation was claimed twice"
    assert set(claimed) == all_ids
    check = Repository.from_url(url)
    try:
        assert {i.attempts for i in check.list_invitations(m.id)} == {1}
    finally:
        check.close()


def test_claim_passes_rows_another_claimer_holds(repo, url):
    """A claimer mid-transaction holds two rows. PostgreSQL: the next claimer skips them
    at once (SKIP LOCKED) instead of waiting. SQLite: one writer at a time, so it waits
    for the first to commit and then sees the rows leased. Either way it gets exactly the
    other rows."""
    m = new_meeting(repo)
    ids = [i.id for i in repo.add_invitations(m.id, invitees(4))]
    held = ids[:2]
    engine = make_engine(url)
    blocker = make_sessionmaker(engine)()
    try:
        blocker.begin()
        blocker.execute(
            Invitation.__table__.update().where(Invitation.id.in_(held))
            .values(lease_owner="blocker", lease_expires_at=T0 + timedelta(minutes=5))
        )
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(repo.claim_invitations, "w1", T0)
            try:
                if engine.dialect.name == "postgresql":
                    done, _ = wait([future], timeout=5)
                    assert done, "the claimer waited for the locked rows instead of skipping them"
                else:
                    time.sleep(0.3)
                    assert not future.done(), "two SQLite writers at once"
            finally:
                blocker.commit()  # whatever happened, never leave the claimer stuck behind us
            got = future.result(timeout=10)
        assert sorted(g.id for g in got) == sorted(ids[2:])
    finally:
        blocker.close()
        engine.dispose()


# --- responses ----------------------------------------------------------------------


def test_record_response_is_idempotent_and_refuses_impostors(repo, clock):
    m = new_meeting(repo)
    inv, no_aad = repo.add_invitations(m.id, invitees(1) + [dict(role="gp", level="should", contact_id="gp-phone-only")])
    events_before = repo.list_events(m.id)

    impostor = repo.record_response(inv.id, "aad-someone-else", "declined", "not me", T0)
    assert impostor.refused and not impostor.changed and "invited person" in impostor.reason
    assert repo.record_response(no_aad.id, "aad-c0", "accepted", None, T0).refused  # no Teams identity to match
    assert repo.record_response("no-such-invitation", "aad-c0", "accepted", None, T0).reason == "no such invitation"
    assert repo.get_invitation(inv.id) == inv and repo.list_events(m.id) == events_before  # nothing written

    t1 = T0 + timedelta(minutes=3)
    first = repo.record_response(inv.id, "aad-c0", "accepted", None, t1)
    assert (first.outcome, first.previous) == ("recorded", "none")
    assert (first.invitation.response, first.invitation.responded_by_aad_id, first.invitation.responded_at) == ("accepted", "aad-c0", t1)

    again = repo.record_response(inv.id, "aad-c0", "accepted", None, t1 + timedelta(minutes=1))
    assert again.outcome == "unchanged" and not again.changed
    assert repo.get_invitation(inv.id) == first.invitation  # the first answer's time is kept

    t2 = t1 + timedelta(minutes=10)
    changed = repo.record_response(inv.id, "aad-c0", "nominated", "my deputy, D. Smith", t2)
    assert (changed.outcome, changed.previous) == ("recorded", "accepted")
    assert (changed.invitation.response_detail, changed.invitation.responded_at) == ("my deputy, D. Smith", t2)

    answers = [(e.actor_aad_id, e.detail["response"], e.detail["previous"], e.at)
               for e in repo.list_events(m.id) if e.kind == "invitation.response"]
    assert answers == [("aad-c0", "accepted", "none", t1), ("aad-c0", "nominated", "accepted", t2)]

    with pytest.raises(ValueError):
        repo.record_response(inv.id, "aad-c0", "none", None, t2)  # cannot un-answer
    with pytest.raises(ValueError):
        repo.record_response(inv.id, "aad-c0", "maybe", None, t2)
    with pytest.raises(ValueError, match="NUL"):
        repo.record_response(inv.id, "aad-c0", "written", "x\x00y", t2)
    assert repo.get_invitation(inv.id) == changed.invitation


def test_double_click_records_one_answer(url, repo):
    m = new_meeting(repo)
    (inv,) = repo.add_invitations(m.id, invitees(1))
    barrier = threading.Barrier(2)

    def click() -> str:
        r = Repository.from_url(url)
        try:
            barrier.wait()
            return r.record_response(inv.id, "aad-c0", "accepted", None, T0).outcome
        finally:
            r.close()

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(f.result(timeout=30) for f in [pool.submit(click), pool.submit(click)])
    assert outcomes == ["recorded", "unchanged"]
    assert len([e for e in repo.list_events(m.id) if e.kind == "invitation.response"]) == 1


# --- audit log ----------------------------------------------------------------------


def test_events_round_trip_in_order(repo, clock):
    m = new_meeting(repo)
    e1 = repo.add_event(m.id, "chair.confirmed", {"roles": ["police"], "note": "urgent"}, actor_aad_id="aad-chair")
    clock.advance(seconds=1)
    e2 = repo.add_event(m.id, "export.requested")
    assert isinstance(e1, EventRecord)
    assert (e1.kind, e1.actor_aad_id, e1.at, e1.detail) == ("chair.confirmed", "aad-chair", T0, {"roles": ["police"], "note": "urgent"})
    assert (e2.detail, e2.actor_aad_id, e2.at) == ({}, None, T0 + timedelta(seconds=1))
    events = repo.list_events(m.id)
    assert [e.kind for e in events] == ["meeting.created", "chair.confirmed", "export.requested"]
    assert events[1:] == [e1, e2] and e1.id < e2.id
    assert repo.list_events("other") == []
    with pytest.raises(NotFound):
        repo.add_event("no-such-meeting", "x")
    with pytest.raises(ValueError):
        repo.add_event(m.id, "x", {"bad": float("inf")})
    assert len(repo.list_events(m.id)) == 3


# --- time ---------------------------------------------------------------------------


def test_aware_datetimes_round_trip_as_utc(repo, url):
    london_bst = datetime(2026, 7, 1, 17, 45, 30, 123456, tzinfo=ZoneInfo("Europe/London"))  # 16:45:30Z
    kolkata = datetime(2026, 7, 2, 9, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))  # 03:30Z
    m = new_meeting(repo, deadline=london_bst, meeting_at=kolkata)
    got = repo.get_meeting(m.id)
    assert got.deadline == london_bst and got.meeting_at == kolkata  # same instants
    assert got.deadline.tzinfo == timezone.utc and got.meeting_at.tzinfo == timezone.utc
    assert got.deadline == datetime(2026, 7, 1, 16, 45, 30, 123456, tzinfo=timezone.utc)

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                # The session's time zone must not matter.
                conn.exec_driver_sql("SET TIME ZONE 'Pacific/Chatham'")
                raw = conn.execute(text("SELECT deadline FROM meetings")).scalar_one()
                assert raw == london_bst
                typed = conn.execute(select(Meeting.deadline)).scalar_one()
            else:
                raw = conn.execute(text("SELECT deadline FROM meetings")).scalar_one()
                assert raw.startswith("2026-07-01 16:45:30.123456")  # stored as UTC wall time
                typed = conn.execute(select(Meeting.deadline)).scalar_one()
            assert typed == london_bst and typed.tzinfo == timezone.utc
            # Lease comparisons happen in SQL: check an aware non-UTC `now` compares right.
            conn.rollback()
    finally:
        engine.dispose()

    repo.update_meeting_fields(m.id, state="sending")
    repo.add_invitations(m.id, invitees(1))
    plus_one = timezone(timedelta(hours=1))
    (c,) = repo.claim_invitations("w1", T0.astimezone(plus_one), lease_seconds=60)
    assert c.lease_expires_at == T0 + timedelta(seconds=60) and c.lease_expires_at.tzinfo == timezone.utc
    assert repo.claim_invitations("w2", (T0 + timedelta(seconds=59)).astimezone(ZoneInfo("America/New_York"))) == []
    assert len(repo.claim_invitations("w2", (T0 + timedelta(seconds=60)).astimezone(ZoneInfo("Asia/Tokyo")))) == 1


# --- engine -------------------------------------------------------------------------


def test_a_connection_the_database_server_dropped_is_replaced_without_an_error(db_url):
    """A PostgreSQL restart or failover closes pooled connections; the next request must not
    fail on one of them (the engine pings before use)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite connections are files, not sessions a server can drop")
    engine, admin = make_engine(db_url), make_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with admin.connect() as conn:  # the server ends the pooled session
            assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})").scalar() is True
            # as after a restart: the session is over (its socket closed) before the next request
            give_up = time.monotonic() + 30
            while conn.exec_driver_sql(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {int(pid)}").scalar():
                assert time.monotonic() < give_up, "the server did not end the session"
                conn.rollback()  # pg_stat_activity is read once per transaction
                time.sleep(0.01)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
    finally:
        engine.dispose()
        admin.dispose()


def test_engine_settings(url):
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
            # Foreign keys are enforced on both: no invitation for a meeting that isn't.
            with pytest.raises(Exception, match="(?i)foreign key"):
                conn.execute(Invitation.__table__.insert().values(
                    id="x" * 32, meeting_id="missing", role="police", level="must", contact_id="c",
                    delivery_state="pending", attempts=0, response="none", created_at=T0, updated_at=T0,
                ))
            conn.rollback()
            # CHECK constraints back up the repository's validation.
            with pytest.raises(Exception, match="(?i)check"):
                conn.execute(Meeting.__table__.insert().values(
                    id="m" * 32, area="a", requester_aad_id="r", chair_aad_id="c", chair_name="C", request={}, plan={},
                    state="bogus", deadline=T0, created_at=T0, updated_at=T0, version=1,
                ))
            conn.rollback()
    finally:
        engine.dispose()


def test_default_url_and_url_normalisation(monkeypatch, tmp_path):
    from bot.adapters.db import engine as engine_module

    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert engine_module.database_url() == f"sqlite:///{engine_module.PROJECT_ROOT / 'var' / 'stratbot.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p%25w@db.example/stratbot")
    assert normalize_url(engine_module.database_url()).drivername == "postgresql+psycopg"
    # A SQLite file in a folder that does not exist yet: the folder is created.
    nested = tmp_path / "a" / "b" / "bot.sqlite3"
    e = make_engine(f"sqlite:///{nested}")
    try:
        with e.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    finally:
        e.dispose()
    assert nested.exists()


def test_next_reminder_due_is_an_aware_instant_and_waits_for_a_lease(repo, clock):
    from bot.adapters.db.repository import NewReminder

    assert repo.next_reminder_due() is None
    m = new_meeting(repo)
    due = T0 + timedelta(minutes=5)
    repo.sync_reminders(m.id, [NewReminder("notice:quorate", "quorate", "chair", due, {})])
    assert repo.next_reminder_due() == due and repo.next_reminder_due().tzinfo is not None
    clock.advance(minutes=10)
    (claimed,) = repo.claim_reminders("replica-1", clock(), lease_seconds=60)
    assert repo.next_reminder_due() == clock() + timedelta(seconds=60)  # held by the lease until it ends


def test_an_answer_by_link_is_recorded_for_an_invitee_without_a_teams_identity(repo, clock):
    """Someone invited by email address from another organisation has no Teams identity: their
    signed answer link is what identifies them (bot/answer_links.py), and the answer is theirs."""
    m = new_meeting(repo)
    (outside,) = repo.add_invitations(m.id, [dict(role="police", level="quorum", contact_id="email:sgt@force.example",
                                                  contact_email="sgt@force.example")])
    assert repo.record_response(outside.id, "aad-c0", "accepted", None, T0).refused  # no card answer without the link
    by_link = repo.record_response(outside.id, None, "declined", "No one free", T0, by_link=True)
    assert by_link.outcome == "recorded" and by_link.invitation.response == "declined"
    assert by_link.invitation.responded_by_aad_id is None
    assert [e.detail["response"] for e in repo.list_events(m.id) if e.kind == "invitation.response"] == ["declined"]
