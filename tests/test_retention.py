"""Retention: meetings closed or cancelled more than the period ago are deleted, leaving only
anonymous counts; live meetings and their reminders are untouched. On SQLite and PostgreSQL
(`url`), through the repository for set-up and `python -m bot purge` for the run."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from bot import cli
from bot.adapters.db.engine import normalize_url
from bot.adapters.db.repository import NewInvitation, NewReminder, Repository
from bot.core.retention import MeetingAge, verdict
from bot.retention import RetentionJob, purge, retention_days
from tests.conftest import Clock

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
OLD = NOW - timedelta(days=120)
RECENT = NOW - timedelta(days=10)


def meeting(repo: Repository, clock: Clock, at: datetime, state: str, case_ref: str, *, deadline=None,
            outcome=None, pending_reminder: bool = False, sent_reminder: bool = False):
    clock.now = at
    m = repo.create_meeting(
        area="bristol", case_ref=case_ref, requester_aad_id="aad-chair", chair_aad_id="aad-chair", chair_name="Sam Chair",
        request={"area": "bristol", "case_ref": case_ref, "children": [{"ref": "child1", "age": 6}]},
        plan={"area": "bristol", "quorum": ["social_care"], "invitees": [], "routing": {"out_of_hours": False}},
        deadline=deadline or at + timedelta(days=2), meeting_at=at + timedelta(days=1), state="draft")
    repo.add_invitations(m.id, [NewInvitation(role="police", level="quorum", contact_id="p1", contact_name="DC Bea",
                                              contact_aad_id="aad-p1", tenant_id="t", service_url="https://s/")])
    (inv,) = repo.list_invitations(m.id)
    repo.record_response(inv.id, "aad-p1", "declined", f"Away; re {case_ref}", at)
    reminders = []
    if pending_reminder or sent_reminder:
        reminders.append(NewReminder(key="k1", kind="followup_due", recipient="chair",
                                     due_at=NOW + timedelta(days=5) if pending_reminder else at,
                                     detail={"title": f"Case {case_ref}"}))
    repo.sync_reminders(m.id, reminders)
    if sent_reminder:
        (r,) = repo.claim_reminders("w", at, 60, 10)
        repo.finish_reminder(r.id, "w", "sent")
    fields = {"state": state} if state != "draft" else {}
    if outcome is not None:
        fields["outcome"] = outcome
    if fields:
        repo.update_meeting_fields(m.id, **fields)
    return m


@pytest.fixture
def world(url):
    clock = Clock(NOW)
    repo = Repository.from_url(url, clock=clock)
    made = {
        "cancelled_old": meeting(repo, clock, OLD, "cancelled", "BR-1001", sent_reminder=True),
        "closed_old": meeting(repo, clock, OLD, "closed", "BR-1002",
                              outcome={"held": True, "quorate": True, "decision": "joint"}),
        "closed_old_followup_pending": meeting(repo, clock, OLD, "closed", "BR-1003", pending_reminder=True),
        "closed_recent": meeting(repo, clock, RECENT, "closed", "BR-1004"),
        "withdrawn_old": meeting(repo, clock, OLD, "withdrawn", "BR-1008"),
        "held_never_closed": meeting(repo, clock, OLD, "held", "BR-1009"),
        "live": meeting(repo, clock, OLD, "sending", "BR-1005", pending_reminder=True),
        "draft_abandoned": meeting(repo, clock, OLD, "draft", "BR-1006"),
        "sent_never_closed": meeting(repo, clock, OLD, "sent", "BR-1007"),
    }
    clock.now = NOW
    yield url, repo, made
    repo.close()


def dump(url: str) -> str:
    engine = create_engine(normalize_url(url))
    with engine.connect() as c:
        out = []
        for table in ("meetings", "invitations", "events", "reminders"):
            out += [repr(tuple(r)) for r in c.execute(text(f"SELECT * FROM {table}"))]
    engine.dispose()
    return "\n".join(out)


def test_verdicts():
    def age(state, last, pending=0, deadline=OLD):
        return verdict(MeetingAge(state, deadline, last, pending), NOW, 90)
    assert age("cancelled", OLD) == age("closed", OLD) == age("withdrawn", OLD) == "purge"
    assert age("closed", RECENT) == "keep"
    assert age("closed", OLD, pending=1) == "keep"  # a follow-up still due: live
    assert age("draft", OLD) == "purge" and age("draft", OLD, deadline=NOW) == "keep"
    assert age("sent", OLD) == age("held", OLD) == age("not_held", OLD) == "open_past_retention"
    assert age("cancelled", NOW - timedelta(days=90)) == "keep"  # exactly the period: not yet


def test_dry_run_counts_and_changes_nothing(world):
    url, repo, made = world
    before = dump(url)
    report = purge(url, NOW, 90, apply=False)
    assert dump(url) == before
    assert (report.meetings, report.by_state) == (4, {"cancelled": 1, "closed": 1, "draft": 1, "withdrawn": 1})
    assert report.invitations == 4 and report.reminders == 1 and report.events > 4
    assert report.open_past_retention == 2 and report.kept_live == 3


def test_apply_deletes_what_is_past_retention_and_leaves_anonymous_counts(world):
    url, repo, made = world
    live_reminders = {k: repo.list_reminders(made[k].id) for k in ("live", "closed_old_followup_pending")}
    report = purge(url, NOW, 90, apply=True)
    assert report.meetings == 4
    for gone in ("cancelled_old", "closed_old", "draft_abandoned", "withdrawn_old"):
        assert repo.get_meeting(made[gone].id) is None
        assert repo.list_invitations(made[gone].id) == [] and repo.list_events(made[gone].id) == []
        assert repo.list_reminders(made[gone].id) == []
    for kept in ("closed_old_followup_pending", "closed_recent", "live", "sent_never_closed", "held_never_closed"):
        assert repo.get_meeting(made[kept].id) is not None
    # Live meetings' reminders are exactly as they were.
    assert {k: repo.list_reminders(made[k].id) for k in live_reminders} == live_reminders
    rest = dump(url)
    for ref in ("BR-1001", "BR-1002", "BR-1006", "BR-1008"):
        assert ref not in rest
    engine = create_engine(normalize_url(url))
    with engine.connect() as c:
        rows = [dict(r._mapping) for r in c.execute(text("SELECT * FROM purged_meetings ORDER BY state"))]
    engine.dispose()
    assert [(r["area"], r["state"], r["requested_month"]) for r in rows] == [
        ("bristol", "cancelled", "2026-08"), ("bristol", "closed", "2026-08"), ("bristol", "draft", "2026-08"),
        ("bristol", "withdrawn", "2026-08")]
    held = rows[1]
    assert (held["held"], held["quorate"], held["decision"], held["on_time"], held["invitations"]) == (True, True, "joint", True, 1)
    assert not any(str(v).startswith("BR-") for r in rows for v in r.values())
    # Idempotent: a second run (another replica, tomorrow) finds nothing more.
    assert purge(url, NOW, 90, apply=True).meetings == 0


def test_the_command_line(world, monkeypatch, capsys):
    url, repo, made = world
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("STRATBOT_RETENTION_DAYS", "100000")
    assert cli.main(["purge", "--apply"]) == 0
    assert "deleted 0 meeting(s)" in capsys.readouterr().out  # the period is long: nothing is old enough
    monkeypatch.setenv("STRATBOT_RETENTION_DAYS", "ninety")
    assert cli.main(["purge", "--dry-run"]) == 2
    assert "STRATBOT_RETENTION_DAYS: expected a whole number of days" in capsys.readouterr().err
    monkeypatch.delenv("STRATBOT_RETENTION_DAYS")
    assert cli.main(["purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("retention 90 days: would delete 4 meeting(s)") and "BR-" not in out
    assert "2 meeting(s) were sent but never closed" in out


def test_retention_days_setting():
    assert retention_days({}) == 90
    assert retention_days({"STRATBOT_RETENTION_DAYS": "30"}) == 30
    for bad in ("0", "-5", "3.5", "x"):
        with pytest.raises(ValueError, match="STRATBOT_RETENTION_DAYS"):
            retention_days({"STRATBOT_RETENTION_DAYS": bad})


async def test_the_daily_job_purges_and_is_scheduled_daily(world):
    url, repo, made = world
    job = RetentionJob(url, 90, clock=lambda: NOW)
    report = await job.run_once()
    assert report.meetings == 4 and repo.get_meeting(made["cancelled_old"].id) is None
    job.start()
    try:
        (scheduled,) = job.scheduler.get_jobs()
        assert str(scheduled.trigger).startswith("cron[") and "hour='2'" in str(scheduled.trigger)
    finally:
        job.shutdown()
