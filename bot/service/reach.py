"""Making sure the bot can message someone before it sends them a card, as real Teams requires.

Teams lets a bot open a 1:1 chat only with someone its app is installed for (else 403
BotNotInConversationRoster). So before the first card to a contact:

* a 1:1 chat already known (persisted in `teams_contacts`, or from a message they sent the
  bot) is used as it is: nothing is installed twice, no chat opened twice, across replicas
  and restarts;
* someone in the bot's own tenant, with Microsoft Graph configured, gets the app installed
  for them through Graph (already installed is success) and the chat's id read from Graph;
* someone whose organisation has installed the app (the directory says so) is reached by
  opening the chat through the Bot Connector;
* anyone else cannot be sent a Teams card: `NotInTeams` says so, and the chair is told which
  contacts must add the app and how they are invited meanwhile (calendar invitation and
  answer link, or an answer link the chair sends by secure email).
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

# The Messenger port's error (its adapter raises it): "not in Teams" is one more such refusal.
from ..adapters.connector import DeliveryError
from ..core.reach import REACH_WORDS, Reach, app_deep_link, reach_of

if TYPE_CHECKING:
    from ..directory import Contact, Directory
    from .core import ConversationService
    from .records import InvitationRecord, MeetingRecord

log = logging.getLogger("bot.service")

#: The connector-style code of an invitation the bot did not try to send in Teams.
NO_TEAMS_APP = "NoTeamsApp"


class AppInstaller(Protocol):
    """Installs the bot's Teams app for someone in the bot's own tenant: Microsoft Graph's
    adapter (bot/adapters/graph/installer.py). Raises DeliveryError when it cannot."""

    tenant_id: str | None

    async def install(self, aad_object_id: str) -> str:
        """Install the app for them (already installed is fine); return the 1:1 chat's id."""
        ...


class NotInTeams(DeliveryError):
    """The bot cannot send this contact a Teams card: their organisation has not added the app."""

    def __init__(self, reach: Reach) -> None:
        super().__init__("no_teams_app", None, "their organisation has not added the app in Teams",
                         code=NO_TEAMS_APP)
        self.reach = reach


def reach_for(svc: "ConversationService", area: str | None, tenant_id: str | None,
              conversation_known: bool = False) -> Reach:
    """How the bot will reach a contact of `area` in tenant `tenant_id`."""
    directory = svc.directories.get(area) if area else None
    installer = svc.installer
    # Someone of no known area (not a directory contact) is tried in Teams, as before.
    return reach_of(tenant_id, directory.has_app(tenant_id) if directory else True,
                    bot_tenant=installer.tenant_id if installer else None, graph=installer is not None,
                    conversation_known=conversation_known)


def contact_reach(svc: "ConversationService", area: str, contact: "Contact") -> Reach:
    return reach_for(svc, area, contact.tenant_id)


async def conversation_for(svc: "ConversationService", area: str | None, aad_object_id: str, tenant_id: str | None,
                           service_url: str) -> str:
    """The 1:1 chat to send to, installing the app first when the bot may and must (see the
    module docstring). Raises NotInTeams when no Teams card can reach them, DeliveryError when
    Teams or Graph refuses or fails.

    Invitations to one person delivered together (a fan-out: many meetings, the same contacts)
    share one look-up, and so one chat opened: each opening them a chat of its own was a create
    request per invitation in flight, spending the tenant's 50 a second on chats Teams already had
    (seen: 37 creates for 20 contacts)."""
    return await _single_flight(svc._reaching, (aad_object_id, area, tenant_id, service_url),
                                lambda: _conversation_for(svc, area, aad_object_id, tenant_id, service_url))


async def _conversation_for(svc: "ConversationService", area: str | None, aad_object_id: str, tenant_id: str | None,
                            service_url: str) -> str:
    repo = svc.repo
    known = await svc.db(repo.get_teams_contact, aad_object_id)
    if known and known.conversation_id:
        return known.conversation_id
    user = await svc.db(repo.get_user, aad_object_id)
    if user and user.conversation_id:  # they have talked to the bot: installed, chat known
        await svc.db(repo.save_teams_contact, aad_object_id=aad_object_id, tenant_id=tenant_id, app_installed=True,
                     conversation_id=user.conversation_id, service_url=user.service_url)
        return user.conversation_id
    route = reach_for(svc, area, tenant_id, conversation_known=bool(known and known.app_installed))
    if route is not Reach.TEAMS:
        raise NotInTeams(route)
    installer = svc.installer
    in_bot_tenant = bool(installer and installer.tenant_id and tenant_id
                         and installer.tenant_id.lower() == tenant_id.lower())
    if installer is not None and in_bot_tenant and not (known and known.app_installed):
        conversation_id = await _single_flight(svc._installing, aad_object_id, lambda: installer.install(aad_object_id))
        log.info("installed the Teams app for a contact before their first invitation")
    else:
        conversation_id = await svc.messenger.open_conversation(
            service_url, tenant_id, user.teams_user_id if user else aad_object_id)
    await svc.db(repo.save_teams_contact, aad_object_id=aad_object_id, tenant_id=tenant_id, app_installed=True,
                 conversation_id=conversation_id, service_url=service_url)
    return conversation_id


async def forget_installation(svc: "ConversationService", aad_object_id: str, tenant_id: str | None) -> None:
    """Teams said the app is not installed for them (removed since): the next invitation
    tries again from the start instead of sending to a chat that refuses."""
    try:
        await svc.db(svc.repo.save_teams_contact, aad_object_id=aad_object_id, tenant_id=tenant_id,
                     app_installed=False)
    except Exception as e:  # the refusal itself is recorded; this only saves a try next time
        log.warning("could not record that the app is not installed for a contact: %s", type(e).__name__)


async def _single_flight(running: dict, key, start) -> str:
    """Callers with the same `key` while one is running share its result (or its error): one
    installation, one chat opened, per person."""
    pending = running.get(key)
    if pending is None:
        pending = running[key] = asyncio.ensure_future(start())

        def done(f: asyncio.Future) -> None:
            running.pop(key, None)
            if not f.cancelled():
                f.exception()  # its waiters have it; none left (shutting down) is no "never retrieved" noise

        pending.add_done_callback(done)
    return await asyncio.shield(pending)


def not_in_teams_note(svc: "ConversationService", meeting: "MeetingRecord",
                      invitations: "list[InvitationRecord]") -> str | None:
    """What the chair must know at once about contacts no Teams card can reach: who they are,
    how they are invited meanwhile, and the link that adds the app."""
    from .. import cards

    lines: list[str] = []
    reaches: set[Reach] = set()
    for inv in invitations:
        route = reach_for(svc, meeting.area, inv.tenant_id)
        if route is Reach.TEAMS:
            continue
        reaches.add(route)
        org = _organisation_name(svc.directories.get(meeting.area), inv.tenant_id)
        lines.append(f"{inv.contact_name or 'A contact'} ({cards.role_name(inv.role)}{', ' + org if org else ''}): "
                     f"{REACH_WORDS[route].split(' (')[0].lower()}")
    if not lines:
        return None
    how = ("They get the meeting's calendar invitation once the time is set, and a personal link to answer: "
           "emailed to them, or given to you to send by secure email (the notices that follow say which)."
           if reaches == {Reach.CALENDAR} else
           "Each gets a personal link to answer: emailed to them where the bot can, else given to you to send "
           "by secure email (the notices that follow say which).")
    return ("These contacts will not get a Teams card, because the Strategy meetings app is not added for them: "
            + "; ".join(lines) + f". {how} So that the bot can reach them in Teams next time, they (or their "
            f"organisation's Teams administrator) can add the app: {app_deep_link(svc.teams_app_id)}")


def _organisation_name(directory: "Directory | None", tenant_id: str | None) -> str | None:
    org = directory.organisation(tenant_id) if directory else None
    return org.name if org else None


def plan_reach(svc: "ConversationService", area: str, plan: dict) -> dict[str, str]:
    """For the plan card: how each invitee's contact will be reached, by role, in plain words."""
    from ..directory import resolve

    directory = svc.directories.get(area)
    if directory is None:
        return {}
    out_of_hours = bool(plan.get("out_of_hours") or (plan.get("routing") or {}).get("out_of_hours"))
    words: dict[str, str] = {}
    for invitee in plan.get("invitees") or []:
        contact = resolve(directory, invitee["role"], out_of_hours)
        if contact is None:
            continue  # said when sending: no contact listed, invite them by phone or email
        org = _organisation_name(directory, contact.tenant_id)
        words[invitee["role"]] = f"{REACH_WORDS[contact_reach(svc, area, contact)]} — {contact.name}" \
            + (f", {org}" if org else "")
    return words
