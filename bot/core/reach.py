"""How each invitee will be reached: a Teams card, a calendar invitation with an answer link, or
an answer link the chair sends by secure email. Pure: the caller gives what it knows.

Teams' rule (Microsoft's "Proactive messages"): a bot can message someone 1:1 only when its app
is installed for them. For people in the bot's own tenant the bot installs itself through
Microsoft Graph (when Graph is configured); people in another organisation's tenant can be
messaged only if that organisation has installed the app. Everyone else is invited by the
calendar invitation (Graph) carrying a signed answer link, or, without Graph, by an answer link
the chair sends them by secure email.
"""
from __future__ import annotations

from enum import Enum


class Reach(str, Enum):
    TEAMS = "teams"                 # an invitation card in Teams
    CALENDAR = "calendar"           # the calendar invitation, with a link to answer
    EMAIL_LINK = "email_link"       # the chair sends an answer link by secure email


#: How the plan card says it, in a social worker's words.
REACH_WORDS = {
    Reach.TEAMS: "Invitation card in Teams",
    Reach.CALENDAR: "Calendar invitation with a link to answer (their organisation has not added the app in Teams)",
    Reach.EMAIL_LINK: "You send them an answer link by secure email (the bot cannot reach them in Teams)",
}


def reach_of(contact_tenant: str | None, organisation_has_app: bool, *, bot_tenant: str | None,
             graph: bool, conversation_known: bool = False) -> Reach:
    """How the bot will reach a contact.

    `organisation_has_app`: the directory says the contact's organisation installed the app for
    its people. `bot_tenant`: the tenant the bot's Graph acts in (None without Graph); only
    there can the bot install the app itself. `conversation_known`: the bot already has a 1:1
    chat with them (they used the bot, or it installed itself for them before)."""
    if conversation_known or organisation_has_app:
        return Reach.TEAMS
    same_tenant = bool(bot_tenant and contact_tenant and bot_tenant.lower() == contact_tenant.lower())
    if graph and same_tenant:
        return Reach.TEAMS  # the bot installs the app for them first
    return Reach.CALENDAR if graph else Reach.EMAIL_LINK


def app_deep_link(app_id: str) -> str:
    """The link that opens the app in Teams, for someone (or their administrator) to add it."""
    return f"https://teams.microsoft.com/l/app/{app_id}"
