"""The Meeting aggregate on its own: every state against every command, and a hypothesis
state machine that no sequence of commands reaches an impossible meeting."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bot.core.meeting import ALLOWED, FINAL, STATES, Chair, Command, Meeting, Refused
from bot.core.outcome import Outcome

DECIDED = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)   # Tue 1 Dec 09:30 UK
SAM = Chair("chair-aad", "Sam Chairperson")


def meeting(state="draft", **kw) -> Meeting:
    base = dict(id="m1", state=state, version=1, chair=SAM, decided_at=DECIDED,
                deadline=DECIDED + timedelta(days=1), meeting_at=DECIDED + timedelta(hours=3))
    return Meeting(**{**base, **kw})


def held(at: datetime) -> Outcome:
    return Outcome(held=True, recorded_by="chair-aad", recorded_at=at, held_at=at, quorate=True, decision="joint")


def run(m: Meeting, command: Command, at: datetime):
    """Apply one command with plausible arguments; returns what the aggregate returns."""
    later = at + timedelta(hours=4)
    return {
        Command.SEND: lambda: m.send(at, "Sam Chairperson"),
        Command.DELIVERED: lambda: m.delivered(at),
        Command.SET_TIME: lambda: m.set_time(at + timedelta(hours=1), None, at, "Sam Chairperson"),
        Command.WITHDRAW: lambda: m.withdraw(at, "Sam Chairperson"),
        Command.CANCEL: lambda: m.cancel("family moved away", at, "Sam Chairperson"),
        Command.ANSWER: lambda: (m.check(Command.ANSWER), (m, []))[1],
        Command.INVITE: lambda: (m.check(Command.INVITE), (m, []))[1],
        Command.HAND_OVER: lambda: m.hand_over(Chair("edt-aad", "Eddie EDT")),
        Command.RECORD_OUTCOME: lambda: m.record_outcome(held(later), "Sam Chairperson"),
        Command.RECORD_DISCUSSION: lambda: m.record_discussion(held(later), {"with": "police"}, "Sam Chairperson", at),
        Command.RECORD_MINUTES: lambda: m.record_minutes(later, ("GP",)),
        Command.FOLLOW_UP_DONE: lambda: m.follow_up_done("minutes_due"),
        Command.SET_FOLLOW_UP_DATE: lambda: m.set_follow_up_date("review_strategy_meeting", later),
        Command.RAISE_FOLLOW_ON: lambda: m.follow_on_raised("m2", []),
        Command.CLOSE: lambda: m.close(later, "Sam Chairperson"),
        Command.EXPLAIN_DELAY: lambda: m.explain_delay("police could not attend sooner", at, "Sam Chairperson"),
    }[command]()


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("command", [c for c in Command if c is not Command.DELIVERED])
def test_every_state_against_every_command(state, command):
    m = meeting(state, outcome={"held": True, "recorded_by": "x", "recorded_at": DECIDED.isoformat()}
                if state in ("held", "not_held", "closed") else None)
    if command in ALLOWED[state]:
        changed, events = run(m, command, DECIDED + timedelta(hours=1))
        assert changed.state in STATES
        return
    with pytest.raises(Refused) as refused:
        run(m, command, DECIDED + timedelta(hours=1))
    assert "nothing was changed" in refused.value.reason


def test_final_states_refuse_everything():
    for state in FINAL:
        assert ALLOWED[state] == frozenset()


def test_a_cancelled_meeting_says_when_and_by_whom():
    m = meeting("sent").cancel("no longer needed", datetime(2026, 12, 1, 10, 58, tzinfo=timezone.utc), "Sam Chairperson")[0]
    with pytest.raises(Refused) as refused:
        m.record_outcome(held(DECIDED + timedelta(hours=5)), "Sam Chairperson")
    assert refused.value.reason == ("This meeting was cancelled on Tue 1 Dec at 10:58 by Sam Chairperson; "
                                    "nothing was changed.")


def test_a_refused_command_changes_nothing():
    m = meeting("cancelled", state_changed_at=DECIDED, state_changed_by="Sam Chairperson")
    before = replace(m)
    with pytest.raises(Refused):
        m.set_time(DECIDED + timedelta(hours=2), "https://teams.example/join", DECIDED, "Sam")
    assert m == before


def test_held_cannot_be_recorded_before_the_meeting_starts():
    m = meeting("sent", meeting_at=DECIDED + timedelta(hours=3))
    with pytest.raises(Refused, match="before it starts"):
        m.record_outcome(held(DECIDED + timedelta(hours=2)), "Sam")
    changed, _ = m.record_outcome(held(DECIDED + timedelta(hours=3)), "Sam")
    assert changed.state == "held"


def test_not_held_can_be_recorded_before_the_start_and_then_rearranged():
    m = meeting("sent", join_url="https://teams.example/join")
    not_held = Outcome(held=False, recorded_by="chair-aad", recorded_at=DECIDED + timedelta(hours=1))
    m, _ = m.record_outcome(not_held, "Sam")
    m, _ = m.follow_up_done("ooh_record_due")
    assert m.state == "not_held"
    m, events = m.set_time(DECIDED + timedelta(days=1), None, DECIDED + timedelta(hours=2), "Sam")
    assert m.state == "sent" and m.recorded_outcome is None
    # The link set earlier and the follow-up already done survive the new time.
    assert m.join_url == "https://teams.example/join"
    assert m.outcome == {"completed": ["ooh_record_due"]}
    assert [e.kind for e in events] == ["time_set"]


def test_a_meeting_cannot_be_set_before_the_decision():
    with pytest.raises(Refused, match="before the strategy discussion was decided"):
        meeting("sent").set_time(DECIDED - timedelta(minutes=5), None, DECIDED, "Sam")


def test_correcting_the_outcome_keeps_the_minutes_recorded_earlier():
    m = meeting("sent")
    m, _ = m.record_outcome(held(DECIDED + timedelta(hours=4)), "Sam")
    m, _ = m.record_minutes(DECIDED + timedelta(days=2), ("GP", "school DSL"))
    corrected = replace(held(DECIDED + timedelta(days=3)), decision="single_agency")
    m, events = m.record_outcome(corrected, "Sam")
    assert m.outcome["decision"] == "single_agency"
    assert m.outcome["minutes_to"] == ["GP", "school DSL"]
    assert [e.kind for e in events] == ["outcome_corrected"]


def test_delivered_moves_only_a_meeting_still_sending():
    assert meeting("sending").delivered(DECIDED)[0].state == "sent"
    cancelled = meeting("cancelled")
    assert cancelled.delivered(DECIDED) == (cancelled, [])


def test_a_follow_on_is_raised_once():
    m, _ = meeting("held", outcome={"held": True}).follow_on_raised("m2", ["review_meeting"])
    assert m.outcome["completed"] == ["review_meeting"]
    with pytest.raises(Refused, match="already requested"):
        m.follow_on_raised("m3", [])


# --- no sequence of commands reaches an impossible meeting ---------------------------------

class Lifecycle(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.m = meeting("draft", meeting_at=None)
        self.now = DECIDED
        self.version = 1

    @rule(command=st.sampled_from(list(Command)), minutes=st.integers(min_value=0, max_value=60 * 24 * 3))
    def apply(self, command, minutes):
        self.now += timedelta(minutes=minutes)
        before = self.m
        try:
            after, events = run(self.m, command, self.now)
        except Refused as refused:
            assert self.m == before, "a refused command changed the meeting"
            assert refused.reason.endswith(("nothing was changed.", "already requested."))
            return
        # Every accepted change bumps the version by exactly one; no change, no bump.
        assert after.version == before.version + (0 if after == before else 1)
        if after.state != before.state:
            assert before.allows(command) or command is Command.DELIVERED
        self.m = after

    @invariant()
    def the_meeting_is_possible(self):
        m = self.m
        assert m.state in STATES
        outcome = m.recorded_outcome
        if m.state in ("draft", "sending", "sent", "withdrawn"):
            assert outcome is None
        if m.state == "held":
            assert outcome is not None and outcome.held and m.meeting_at is not None
            assert outcome.recorded_at >= m.meeting_at or "professional_discussion" in m.outcome
        if m.state == "not_held":
            assert outcome is not None and not outcome.held
        if m.state == "cancelled":
            assert m.cancel_reason
        if m.state in FINAL | {"held", "not_held"} and m.state != "draft":
            assert m.state_changed_at is not None or m.state == "sent"
        if m.meeting_at is not None:
            assert m.meeting_at >= m.decided_at

    @precondition(lambda self: self.m.state in FINAL)
    @rule()
    def a_final_meeting_stays_final(self):
        for command in Command:
            if command is Command.DELIVERED:
                assert self.m.delivered(self.now) == (self.m, [])
                continue
            with pytest.raises(Refused):
                run(self.m, command, self.now)


TestLifecycle = Lifecycle.TestCase
TestLifecycle.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
