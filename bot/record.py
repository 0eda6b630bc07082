"""The case record of a strategy meeting: who was invited, who answered what and when, who
attended, and what was decided, for export to the child's case file (issue 4).

Pure functions over what the repository returns (no I/O): `case_record` builds a JSON-ready
dict; `record_csv` and `timeline_csv` render it as tables a records officer can open in Excel.

What is left out, on purpose: everything the request says about the children (refs, ages,
education, concerns, flags: the case reference is the only link to the child), the raw
event details (they are summarised in plain English instead), Teams plumbing (conversation
and activity ids, service URLs, leases) and delivery diagnostics beyond the failure's kind.

Times are ISO 8601 in UK local time with the offset (Europe/London: +00:00 or +01:00).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from .adapters.db.repository import EventRecord, InvitationRecord, MeetingRecord
from .cards import role_name, uk_time
from .core.outcome import DECISIONS
from .core.privacy import meeting_code

__all__ = ["case_record", "record_csv", "timeline_csv", "RECORD_COLUMNS", "TIMELINE_COLUMNS", "safe_cell"]

UK = ZoneInfo("Europe/London")
FORMAT = "stratbot-case-record/1"

# Meeting-level columns, repeated on every invitation row of the record CSV.
MEETING_COLUMNS = (
    "case_ref", "meeting_id", "area", "state", "requested_at", "chair", "deadline", "deadline_rule",
    "deadline_source", "meeting_at", "held", "held_at", "quorate", "decision", "decision_text",
    "others_attended", "minutes_circulated_at", "minutes_to", "follow_ups_completed",
    "delay_reason", "discussion_at", "discussion_with", "discussion_safety_plan", "discussion_rationale",
    "follow_on_meeting_id", "follow_on_of",
)
INVITATION_COLUMNS = (
    "invitation_id", "role", "role_name", "level", "contact_name", "contact_email", "contact_phone",
    "nominated_by", "invited_at", "delivery", "delivered_at", "delivery_failure", "response",
    "response_detail", "responded_at", "attended",
)
RECORD_COLUMNS = MEETING_COLUMNS + INVITATION_COLUMNS
TIMELINE_COLUMNS = ("case_ref", "meeting_id", "at", "kind", "actor", "role", "invitation_id", "description")

# Spreadsheet programs run a cell that begins with one of these as a formula (CSV/formula
# injection, OWASP); tab and carriage return are on OWASP's list too.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_ANSWERED = {
    "accepted": "accepted",
    "declined": "declined",
    "nominated": "nominated a colleague",
    "written": "will give information in writing",
    "none": "withdrew the answer",
}
_FIELD_WORDS = {
    "meeting_at": "meeting time", "deadline": "deadline", "plan": "plan", "request": "request details",
    "state": "state", "outcome": "outcome", "join_url": "join link", "chair_name": "chair",
    "chair_aad_id": "chair", "case_ref": "case reference", "area": "area",
}


# --- values -----------------------------------------------------------------------------


def _uk(value: datetime | str | None) -> str | None:
    """An instant as ISO 8601 in UK local time with its offset. A stored time without an
    offset is given back as stored: guessing its zone could move it by an hour."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        value = parsed
    if value.tzinfo is None or value.utcoffset() is None:
        return value.isoformat(timespec="seconds")
    return value.astimezone(UK).isoformat(timespec="seconds")


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _yes_no(value)
    if isinstance(value, (list, tuple)):
        return "; ".join(_text(v) for v in value)
    return str(value)


def safe_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text: one beginning with =, +, -, @ (or a tab or
    carriage return) gets a leading single quote, so it is never run as a formula."""
    text = _text(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


# --- the record ---------------------------------------------------------------------------


def case_record(
    meeting: MeetingRecord, invitations: Sequence[InvitationRecord], events: Iterable[EventRecord],
    *, exported_at: datetime | None = None,
) -> dict[str, Any]:
    """The meeting's case record as a JSON-ready dict (see the module doc for what is left out)."""
    events = list(events)
    by_id = {i.id: i for i in invitations}
    stored = meeting.outcome or {}
    # The chair may mark follow-ups done before recording the outcome: no "held" yet means
    # no outcome yet.
    outcome = stored if "held" in stored else None
    attended_ids = set((outcome or {}).get("attended") or ())
    delivered_at: dict[str, datetime] = {}
    failed_at: dict[str, datetime] = {}
    for e in events:
        inv_id = e.detail.get("invitation_id")
        if e.kind == "invitation.delivered" and inv_id:
            delivered_at[inv_id] = e.at
        elif e.kind == "invitation.failed" and inv_id and e.detail.get("permanent"):
            failed_at[inv_id] = e.at

    plan = meeting.plan or {}
    rule = plan.get("deadline_rule") or {}
    record: dict[str, Any] = {
        "format": FORMAT,
        "exported_at": _uk(exported_at),
        "meeting_id": meeting.id,
        "area": meeting.area,
        "case_ref": meeting.case_ref,
        "meeting_code": meeting_code(meeting.id),  # what calendars and other organisations were given
        "state": meeting.state,
        "requested_at": _uk(meeting.created_at),
        "chair": meeting.chair_name,
        "deadline": _uk(plan.get("meeting_deadline") or meeting.deadline),
        "deadline_rule": {"id": rule.get("id"), "summary": rule.get("summary"), "source": rule.get("source")},
        "meeting_at": _uk(meeting.meeting_at),
        "quorum": [{"role": r, "role_name": role_name(r)} for r in plan.get("quorum") or ()],
        "outcome": _outcome(outcome, meeting),
        "follow_ups_completed": [k for k in stored.get("completed") or () if isinstance(k, str)],
        "delay": _delay(stored.get("delay")),
        "professional_discussion": _discussion(stored, meeting),
        # A further meeting raised for the daytime team, and the meeting this one follows on from.
        "follow_on_meeting_id": stored.get("follow_on_meeting_id"),
        "follow_on_of": (plan.get("follow_on") or {}).get("of"),
        "invitations": [_invitation(i, by_id, outcome, attended_ids, delivered_at, failed_at) for i in invitations],
        "timeline": [_event(e, meeting, by_id) for e in events],
    }
    return record


def _outcome(outcome: Mapping[str, Any] | None, meeting: MeetingRecord) -> dict[str, Any] | None:
    if not outcome:
        return None
    decision = outcome.get("decision")
    recorded_by = outcome.get("recorded_by")
    return {
        "held": outcome.get("held"),
        "held_at": _uk(outcome.get("held_at")),
        "quorate": outcome.get("quorate"),
        "decision": decision,
        "decision_text": DECISIONS.get(decision) if decision else None,
        "others_attended": outcome.get("others_attended") or "",
        "minutes_circulated_at": _uk(outcome.get("minutes_circulated_at")),
        "minutes_to": list(outcome.get("minutes_to") or ()),
        "recorded_by": meeting.chair_name if recorded_by and recorded_by == meeting.chair_aad_id else recorded_by,
        "recorded_at": _uk(outcome.get("recorded_at")),
    }


def _delay(delay: Any) -> dict[str, Any] | None:
    """The chair's reason for a meeting later than its deadline."""
    if not isinstance(delay, Mapping):
        return None
    return {"reason": delay.get("reason"), "recorded_at": _uk(delay.get("at")), "recorded_by": delay.get("by")}


def _discussion(stored: Mapping[str, Any], meeting: MeetingRecord) -> dict[str, Any] | None:
    """The protocol's professional discussion held instead of a quorate meeting (out of hours):
    who took part and when, the safety plan, the rationale, the decision, and the rule."""
    d = stored.get("professional_discussion")
    if not isinstance(d, Mapping):
        return None
    decision = stored.get("decision")
    rule = d.get("rule") if isinstance(d.get("rule"), Mapping) else {}
    recorded_by = stored.get("recorded_by")
    return {
        "at": _uk(d.get("at")), "with": d.get("with"), "safety_plan": d.get("safety_plan"),
        "rationale": d.get("rationale") or "", "decision": decision,
        "decision_text": DECISIONS.get(decision) if decision else None,
        "recorded_by": meeting.chair_name if recorded_by and recorded_by == meeting.chair_aad_id else recorded_by,
        "recorded_at": _uk(stored.get("recorded_at")),
        "rule": {"summary": rule.get("summary"), "source": rule.get("source")},
    }


def _who(i: InvitationRecord | None) -> str | None:
    if i is None:
        return None
    return i.contact_name or i.contact_email or i.contact_id


def _invitation(
    i: InvitationRecord, by_id: Mapping[str, InvitationRecord], outcome: Mapping[str, Any] | None,
    attended_ids: set[str], delivered_at: Mapping[str, datetime], failed_at: Mapping[str, datetime],
) -> dict[str, Any]:
    if outcome is None:
        attended = "unknown"
    elif not outcome.get("held"):
        attended = "no"  # a meeting that was not held was attended by no one
    else:
        attended = "yes" if i.id in attended_ids else "no"
    nominator = by_id.get(i.nominated_by_id) if i.nominated_by_id else None
    failed = i.delivery_state == "failed"
    return {
        "invitation_id": i.id,
        "role": i.role,
        "role_name": role_name(i.role),
        "level": i.level,
        "contact_name": i.contact_name,
        "contact_email": i.contact_email,
        "contact_phone": i.contact_phone,
        "nominated_by": _who(nominator) if nominator else None,
        "nominated_by_invitation_id": i.nominated_by_id,
        "invited_at": _uk(i.created_at),
        "delivery": i.delivery_state,
        "delivered_at": _uk(delivered_at.get(i.id) or getattr(i, "delivered_at", None))
        if i.delivery_state == "delivered" else None,
        "delivery_failure": (i.delivery_error_kind or "failed") if failed else None,
        "failed_at": _uk(failed_at.get(i.id)) if failed else None,
        "response": i.response,
        "response_detail": i.response_detail,
        "responded_at": _uk(i.responded_at),
        "attended": attended,
    }


def _actor(aad_id: str | None, meeting: MeetingRecord, by_id: Mapping[str, InvitationRecord]) -> str | None:
    if not aad_id:
        return None
    if aad_id == meeting.chair_aad_id:
        return meeting.chair_name
    for i in by_id.values():
        if i.contact_aad_id == aad_id and i.contact_name:
            return i.contact_name
    return aad_id


def _event(e: EventRecord, meeting: MeetingRecord, by_id: Mapping[str, InvitationRecord]) -> dict[str, Any]:
    d = e.detail or {}
    inv_id = d.get("invitation_id")
    inv = by_id.get(inv_id) if inv_id else None
    role = (inv.role if inv else None) or d.get("role")
    return {
        "at": _uk(e.at),
        "kind": e.kind,
        "actor": _actor(e.actor_aad_id, meeting, by_id),
        "actor_id": e.actor_aad_id,
        "role": role if isinstance(role, str) else None,
        "invitation_id": inv_id if isinstance(inv_id, str) else None,
        "description": describe(e, meeting, by_id),
    }


def describe(e: EventRecord, meeting: MeetingRecord, by_id: Mapping[str, InvitationRecord]) -> str:
    """One event in plain English. Built from known fields only: an event's raw detail is
    never copied out whole (it is not meant for the case file)."""
    d = e.detail or {}
    inv = by_id.get(d.get("invitation_id") or "")
    role = (inv.role if inv else None) or d.get("role")
    who_role = role_name(role) if isinstance(role, str) and role else "Invitee"
    who = _who(inv) or d.get("contact_name") or d.get("contact_id") or "the invitee"
    kind = e.kind
    if kind == "meeting.created":
        return "Meeting request created"
    if kind == "requested":
        rule = (meeting.plan or {}).get("deadline_rule") or {}
        cite = f" ({rule['source']})" if rule.get("source") and rule.get("id") == d.get("rule") else ""
        return f"Plan made: the meeting must be held by {uk_time(d.get('deadline'), missing='(no deadline)')}{cite}"
    if kind == "time_set":
        text = f"Meeting time set to {uk_time(d.get('meeting_at'), missing='(none)')}"
        return text + (f", after the deadline; reason for the delay: {d['delay_reason']}" if d.get("delay_reason") else "")
    if kind == "delay_explained":
        return f"Reason for the delay recorded: {d.get('reason') or ''}"
    if kind == "professional_discussion":
        return f"Professional discussion recorded instead of a meeting (held {uk_time(d.get('at'), missing='(time not given)')})"
    if kind == "follow_on_raised":
        return f"Further meeting requested for the daytime team (meeting {d.get('meeting_id') or ''})"
    if kind == "invited_by_chair":
        return f"{role_name(str(d.get('role') or ''))}: the chair invited {d.get('name') or 'a contact'}"
    if kind == "superseded":
        return f"The request was edited and replaced by meeting {d.get('by_meeting_id') or ''}"
    if kind == "meeting.updated":
        if d.get("from_state") and d.get("to_state"):
            text = f"Meeting state changed from {d['from_state']} to {d['to_state']}"
            others = [f for f in d.get("fields") or () if f != "state"]
            return text + (f"; also changed: {_fields(others)}" if others else "")
        return f"Meeting updated: {_fields(d.get('fields') or ())}"
    if kind == "invitations_created":
        roles = [r for r in d.get("roles") or () if isinstance(r, str)]
        text = f"Invitations prepared for {len(roles)} role{'s' if len(roles) != 1 else ''}"
        unresolved = [role_name(r) for r in d.get("unresolved") or () if isinstance(r, str)]
        if unresolved:
            text += f"; no contact in the directory for: {', '.join(unresolved)}"
        return text
    if kind == "invitation.added":
        text = f"{who_role}: {who} invited"
        if d.get("nominated_by_id"):
            nominator = _who(by_id.get(d["nominated_by_id"]))
            text += f", nominated by {nominator}" if nominator else ", nominated by a colleague"
        return text
    if kind == "invitation.delivered":
        return f"{who_role}: invitation delivered to {who} in Teams"
    if kind == "invitation.failed":
        why = d.get("kind") or "error"
        if d.get("permanent"):
            return f"{who_role}: invitation could not be delivered to {who} ({why}); delivery given up"
        return f"{who_role}: delivery to {who} failed ({why}); will be retried"
    if kind == "invitation.response":
        answer = d.get("response")
        text = f"{who_role}: {who} {_ANSWERED.get(answer, str(answer))}"
        if answer in ("declined", "nominated") and d.get("detail"):
            text += f": {d['detail']}"
        previous = d.get("previous")
        if previous and previous != "none" and previous != answer:
            text += f" (changed from {_ANSWERED.get(previous, previous)})"
        return text
    if kind == "exported":
        return f"Case record exported ({d.get('format', 'json')}) by {d.get('by') or 'an unknown user'}"
    if kind == "answered_by_link":
        return f"{who_role}: {who} answered with their answer link (the page for people the bot cannot message)"
    if kind == "answer_link_emailed":
        return f"{who_role}: {who} was emailed a personal answer link (the bot cannot message them in Teams)"
    if kind == "answer_refused":
        return f"{who_role}: an answer from someone other than {who} was refused"
    if kind == "quorate":
        return "The meeting became quorate: every quorum role has accepted"
    if kind.startswith("escalate_"):
        r = kind[len("escalate_"):]
        state = str(d.get("state") or "").replace("_", " ")
        return (f"{role_name(r)} cannot make the meeting quorate ({state}); "
                "the chair was told the area's escalation step")
    if kind.startswith("reminder."):
        what = str(d.get("kind") or "").replace("_", " ") or "a reminder"
        state = kind[len("reminder."):]
        if state == "sent":
            return f"Reminder sent: {what}"
        if state == "cancelled":
            return f"Reminder cancelled: {what}" + (f" ({d['reason']})" if isinstance(d.get("reason"), str) else "")
        if state == "failed":
            return f"Reminder could not be sent: {what}"
    return kind.replace(".", ": ").replace("_", " ").capitalize()


def _fields(names: Iterable[str]) -> str:
    words: list[str] = []
    for n in names:
        w = _FIELD_WORDS.get(n, n.replace("_", " "))
        if w not in words:
            words.append(w)
    return ", ".join(words) or "(nothing)"


# --- CSV ----------------------------------------------------------------------------------


def _csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """RFC 4180 (comma, double quotes doubled, CRLF), every cell made formula-safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _meeting_row(record: Mapping[str, Any]) -> dict[str, Any]:
    rule = record.get("deadline_rule") or {}
    outcome = record.get("outcome") or {}
    discussion = record.get("professional_discussion") or {}
    return {
        "case_ref": record.get("case_ref"), "meeting_id": record.get("meeting_id"), "area": record.get("area"),
        "state": record.get("state"), "requested_at": record.get("requested_at"), "chair": record.get("chair"),
        "deadline": record.get("deadline"), "deadline_rule": rule.get("summary"),
        "deadline_source": rule.get("source"), "meeting_at": record.get("meeting_at"),
        "held": outcome.get("held"), "held_at": outcome.get("held_at"), "quorate": outcome.get("quorate"),
        "decision": outcome.get("decision"), "decision_text": outcome.get("decision_text"),
        "others_attended": outcome.get("others_attended"),
        "minutes_circulated_at": outcome.get("minutes_circulated_at"), "minutes_to": outcome.get("minutes_to"),
        "follow_ups_completed": record.get("follow_ups_completed"),
        "delay_reason": (record.get("delay") or {}).get("reason"),
        "discussion_at": discussion.get("at"), "discussion_with": discussion.get("with"),
        "discussion_safety_plan": discussion.get("safety_plan"), "discussion_rationale": discussion.get("rationale"),
        "follow_on_meeting_id": record.get("follow_on_meeting_id"), "follow_on_of": record.get("follow_on_of"),
    }


def record_csv(record: Mapping[str, Any]) -> str:
    """One row per invitation, the meeting's columns repeated on each (one row with the
    invitation columns empty when nobody was invited), as a CSV string."""
    meeting = _meeting_row(record)
    invitations = record.get("invitations") or [{}]
    return _csv(RECORD_COLUMNS, ({**meeting, **{c: inv.get(c) for c in INVITATION_COLUMNS}} for inv in invitations))


def timeline_csv(record: Mapping[str, Any]) -> str:
    """The event log, oldest first, one row per event, as a CSV string."""
    keys = {"case_ref": record.get("case_ref"), "meeting_id": record.get("meeting_id")}
    return _csv(TIMELINE_COLUMNS, ({**keys, **e} for e in record.get("timeline") or ()))
