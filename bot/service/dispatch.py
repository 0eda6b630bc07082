"""Card verbs to use-case handlers, and the guards every handler shares: someone the bot can
identify, and a refusal (`Refused`) answered in words with nothing changed."""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from .. import screening
from ..core.meeting import Refused
from . import answers, inviting, out_of_hours, outcome, requests, sending, status
from .core import Actor, ConversationService, Reply

log = logging.getLogger("bot.service")

Handler = Callable[[ConversationService, Actor, dict], Awaitable[Reply]]

HANDLERS: dict[str, Handler] = {
    # the request and its plan
    "request_new": requests.request_new, "request_start": requests.request_new,
    "request_submit": requests.request_submit,
    "request_withdraw": requests.withdraw, "request_edit": requests.request_edit,
    "request_separate": requests.request_separate,
    "plan_confirm_time": status.set_time,
    "plan_send": sending.send,
    # an invitee's answer
    "invite_accept": answers.respond, "invite_decline": answers.respond,
    "invite_nominate": answers.respond, "invite_written": answers.respond,
    "invite_reopen": answers.reopen,
    # the chair's live card and the forms it opens
    "status_refresh": status.refresh,
    "time_open": status.time_open, "time_submit": status.set_time,
    "cancel_open": status.cancel_open, "meeting_cancel": status.cancel,
    "delay_submit": status.explain_delay,
    "invite_open": inviting.invite_open, "invite_contact": inviting.invite_contact, "invite_email": inviting.invite_email,
    "outcome_open": outcome.open_form, "outcome_submit": outcome.submit,
    "minutes_submit": outcome.minutes, "followup_done": outcome.follow_up_done,
    "followup_date": outcome.follow_up_date,
    "meeting_close": outcome.close,
    # out of hours
    "discussion_open": out_of_hours.open_form, "discussion_submit": out_of_hours.submit,
    "followon_request": out_of_hours.request_follow_on,
}


async def dispatch(svc: ConversationService, actor: Actor, verb: str, data: dict[str, Any]) -> Reply:
    handler = HANDLERS.get(verb)
    if handler is None:
        return Reply(text=f"Sorry, I don't know the action '{verb[:40]}'. Type 'new' to request a strategy meeting.")
    if not actor.aad_object_id:
        return Reply(text="I could not tell who you are (no Entra ID object id came with the message), so I changed nothing.")
    await svc.remember(actor)
    refused = screening.refusal(verb, data, svc.clock().date())  # children's identifiers stay out
    if refused:
        return Reply(text=refused)
    try:
        return await handler(svc, actor, {**data, "verb": verb})
    except Refused as refused:
        return Reply(text=refused.reason)
