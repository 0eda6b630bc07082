"""Every free-text input the bot accepts on a card, screened before any handler sees it
(bot.core.privacy.screen): a date of birth, an NHS or National Insurance number or a full
postcode is refused, naming the field and what was found, and nothing is stored or sent.

The reply is a message, not a new card, so the card the person typed into stays as it was,
with their text in it, for them to correct. The request form is screened with its case
reference instead (bot.core.request.parse_new_request), its problems shown on the form.
"""
from __future__ import annotations

import logging
from datetime import date
from typing import Any, Mapping

from .core.privacy import FreeText, screen_inputs

log = logging.getLogger(__name__)

# verb -> its card's free-text inputs (ids as in cards/*.json), labelled as on the card.
FREE_TEXT: dict[str, tuple[FreeText, ...]] = {
    "invite_decline": (FreeText("decline_reason", "Why your agency cannot attend"),),
    "invite_nominate": (FreeText("nominee_name", "Colleague's name"), FreeText("nominee_email", "Colleague's work email")),
    # An agency's information may well cite the dates of earlier events; a birth date is still refused.
    "invite_written": (FreeText("written_information", "Information in writing", dates_expected=True),),
    "meeting_cancel": (FreeText("cancel_reason", "Why it is cancelled"),),
    "outcome_submit": (FreeText("others_attended", "Anyone else who attended"),
                       FreeText("minutes_to", "Minutes circulated to")),
    "minutes_submit": (FreeText("minutes_to", "Circulated to"),),
    # Why the meeting is later than its deadline: asked on the request form, both time forms and
    # the "deadline passed" card.
    "delay_submit": (FreeText("delay_reason", "Reason for the delay"),),
    "time_submit": (FreeText("delay_reason", "Reason for the delay"),),
    "plan_confirm_time": (FreeText("delay_reason", "Reason for the delay"),),
    "request_submit": (FreeText("delay_reason", "Reason for the delay"),),
    "discussion_submit": (FreeText("discussed_with", "Discussed with"),
                          FreeText("safety_plan", "Safety planning and actions agreed"),
                          FreeText("rationale", "Why a meeting could not be held")),
}

HOW_TO_FIX = ("Nothing was saved or sent. Take it out and press the button again: only the case reference may "
              "identify a child. The bot cannot recognise names, so leave those out too.")


def refusal(verb: str, data: Mapping[str, Any], today: date) -> str | None:
    """What to tell the person when a free-text input of this card carries a child's
    identifier (None: nothing found). Logs what kind was found, never the text."""
    problems = screen_inputs(dict(data), FREE_TEXT.get(verb, ()), today=today)
    if not problems:
        return None
    log.info("refused free text in %s: %s", verb, ", ".join(sorted(problems)))
    return " ".join(problems.values()) + " " + HOW_TO_FIX
