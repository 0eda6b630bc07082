"""What a Teams client sends to the bot, as Teams shapes it: one place for the activity
format the flow tests, the crash test, the auth tests and the delivery benchmark post to
/api/messages, and for reading data back out of the cards the bot sends."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TENANT = "11111111-1111-4111-8111-111111111111"


@dataclass(frozen=True)
class Person:
    """A Teams user in a 1:1 chat with the bot."""

    aad: str
    user_id: str
    name: str
    conversation: str


def activity(service_url: str, who: Person, *, id: str = "act-1", tenant: str = TENANT,
             bot_id: str = "28:bot", **fields: Any) -> dict:
    """An activity from `who` in their 1:1 chat, as Teams posts it (add type, text, value...)."""
    return {
        "id": id, "channelId": "msteams", "serviceUrl": service_url,
        "from": {"id": who.user_id, "name": who.name, "aadObjectId": who.aad},
        "recipient": {"id": bot_id, "name": "Strategy meetings"},
        "conversation": {"id": who.conversation, "conversationType": "personal", "tenantId": tenant},
        "channelData": {"tenant": {"id": tenant}}, **fields,
    }


def card_action(service_url: str, who: Person, verb: str, data: dict, **kw: Any) -> dict:
    """`who` pressing an Action.Execute button (the universal action invoke)."""
    return activity(service_url, who, type="invoke", name="adaptiveCard/action",
                    value={"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}, **kw)


def find_data(card: Any, key: str) -> Any:
    """The first `data[key]` of an action in a card (None if there is none)."""
    if isinstance(card, dict):
        data = card.get("data")
        if isinstance(data, dict) and key in data:
            return data[key]
        values = card.values()
    elif isinstance(card, list):
        values = card
    else:
        return None
    for v in values:
        found = find_data(v, key)
        if found is not None:
            return found
    return None


FORM_OF = {"outcome_open": "outcome_submit", "discussion_open": "discussion_submit", "time_open": "time_submit",
           "cancel_open": "meeting_cancel", "invite_open": "invite_contact"}


async def open_form(t: Any, who: Person, verb: str, data: dict) -> dict:
    """Press a button that opens a form: the form arrives as a message of its own (so no
    update of the card pressed can overwrite it while it is filled in). Returns the form.
    `t` is a test harness with `press` and `cards_to` (tests/test_bot_flow.Teams)."""
    before = len(t.cards_to(who.conversation))
    answer = await t.press(who, verb, data)
    submit = FORM_OF[verb]
    forms = [c for c in t.cards_to(who.conversation)[before:] if find_verb(c, submit)]
    assert len(forms) == 1, f"{verb} opened {len(forms)} forms: {answer}"
    return forms[0]


def find_verb(card: Any, verb: str) -> bool:
    """Whether any action in the card has this verb."""
    if isinstance(card, dict):
        if card.get("verb") == verb:
            return True
        return any(find_verb(v, verb) for v in card.values())
    if isinstance(card, list):
        return any(find_verb(v, verb) for v in card)
    return False
