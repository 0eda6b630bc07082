"""kill -9 in the middle of a fan-out of 40 invitations (bench/crash_fanout.py, one trial):
only the cards in flight at the kill may go twice, each repeat is the same invitation in the
same chat, and the process that takes over leaves no meeting "sending".

The kill comes as soon as the Bot Connector emulator has received the 25th invitation card,
which it is still holding (it answers after 100 ms), so at least that send is in flight. How
many more are, and whether each goes twice, depends on timing; what is asserted holds for
any timing. One trial per database: two bot processes start in each (several seconds apiece
on a loaded machine), and the bench (16 trials at random moments) is where the bound is
measured."""
from __future__ import annotations

import aiohttp
import pytest

from bench.crash_fanout import Trial, run_trial

pytestmark = pytest.mark.slow


async def test_after_kill_9_only_the_sends_in_flight_repeat_and_no_meeting_stays_sending(db_url, tmp_path):
    trial = Trial(1, None, kill_at_card=25)
    async with aiohttp.ClientSession() as http:
        await run_trial(trial, db_url, tmp_path, http, linger=0.5)
    assert not trial.problems, trial.problems  # every invitee got a card, within Teams' limits, in time
    assert trial.received_at_kill >= 25 and trial.in_flight >= 1, trial
    assert trial.duplicates <= trial.in_flight, trial
    assert trial.outside_bound == 0, f"a card went twice that was not in flight at the kill: {trial}"
    assert trial.mixed_chats == 0 and trial.split_invitations == 0, f"a repeat is not the same invitation in the same chat: {trial}"
    assert trial.final_state == "sent", trial
