"""Teams activities (already authenticated, read and checked by `wire`) to calls on the
conversation service, and its replies back to Teams.

Plain dicts in, an `Answer` (status and JSON body) out: no botbuilder here. Every reply the
bot sends while answering goes through the service's messenger, that is through the one
`ConnectorClient` and its rate limiter, like proactive delivery (botbuilder's
`reply_to_activity` would bypass the limiter, and its 429 became the press's 500). A reply
that still fails is logged and dropped: the press itself has been done and stored.

Invoke names the bot does not implement get the answer Teams expects for their kind (see
`unhandled_invoke`), logged once per name at info.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ...service import Actor, ConversationService, Reply
from ...outage import BUSY_TEXT, Outages
from ..connector import DeliveryError
from .messenger import ConnectorMessenger

log = logging.getLogger(__name__)
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MESSAGE_CONTENT_TYPE = "application/vnd.microsoft.activity.message"
NOT_AVAILABLE = "This action is not available in this app."


@dataclass(frozen=True)
class Answer:
    """What to answer Teams' POST with: `body` None means no body."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def actor_of(activity: dict) -> Actor:
    sender = activity.get("from") or {}
    conversation = activity.get("conversation") or {}
    channel_data = activity.get("channelData") or {}
    tenant = (channel_data.get("tenant") or {}).get("id")
    return Actor(
        aad_object_id=(sender.get("aadObjectId") or "").strip() or None,  # blank: not known
        user_id=sender.get("id") or "",
        name=sender.get("name") or "",
        tenant_id=tenant or conversation.get("tenantId") or None,
        service_url=activity.get("serviceUrl") or "",
        conversation_id=conversation.get("id") or "",
        # For a card's button, the message that holds the card: the chair's status card lives there.
        message_id=activity.get("replyToId") or None,
    )


def unhandled_invoke(name: str, value: Any) -> Answer:
    """The answer Teams expects to an invoke the bot does not implement:

    * `signin/tokenExchange`: 412 with a TokenExchangeInvokeResponse, the Bot Framework's
      "this exchange cannot be done" (the bot uses no single sign-on);
    * `task/fetch`, `task/submit` (dialogs): 200 with a task "message" answer, which Teams
      shows in place of a dialog;
    * `composeExtension/...` (message extensions): 200 with a composeExtension "message";
    * anything else (`signin/verifyState`, `config/fetch`, `fileConsent/invoke`, names
      not yet invented...): 200 with an empty body, "received, nothing to show".
    """
    value = value if isinstance(value, dict) else {}
    if name == "signin/tokenExchange":
        return Answer(412, {"id": _str(value.get("id")), "connectionName": _str(value.get("connectionName")),
                            "failureDetail": "This bot does not use single sign-on."})
    if name.startswith("task/"):
        return Answer(200, {"task": {"type": "message", "value": NOT_AVAILABLE}})
    if name.startswith("composeExtension/"):
        return Answer(200, {"composeExtension": {"type": "message", "text": NOT_AVAILABLE}})
    return Answer(200)


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def invoke_card(card: dict) -> dict:
    return {"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": card}


def invoke_message(text: str) -> dict:
    return {"statusCode": 200, "type": MESSAGE_CONTENT_TYPE, "value": text}


class StrategyMeetingBot:
    """One turn: dispatch on the activity's type, answer as Teams expects."""

    def __init__(self, service: ConversationService, messenger: ConnectorMessenger,
                 outages: Outages | None = None):
        self.service = service
        self.messenger = messenger
        self.outages = outages or Outages()
        self._invokes_logged: set[str] = set()

    async def on_activity(self, activity: dict) -> Answer:
        try:
            return await self._dispatch(activity)
        except Exception as exc:
            if self.outages.report(exc) is None:
                raise  # a fault of ours: the app logs it and answers 500
            return await self._busy(activity)

    async def _dispatch(self, activity: dict) -> Answer:
        kind = activity["type"]
        if kind == "message":
            await self._message(activity)
        elif kind == "invoke":
            return await self._invoke(activity)
        elif kind == "conversationUpdate":
            recipient = (activity.get("recipient") or {}).get("id")
            if any(m["id"] != recipient for m in activity.get("membersAdded") or []):
                await self._send(activity, await self.service.welcome(actor_of(activity)))
        # Anything else (typing, messageReaction, installationUpdate, event...) needs nothing.
        return Answer(201 if kind == "message" else 200)

    async def _message(self, activity: dict) -> None:
        actor = actor_of(activity)
        value = activity.get("value")
        if isinstance(value, dict) and value:
            # Action.Submit fallback (clients without universal actions): same verbs as Execute.
            value = dict(value)
            verb = str(value.pop("verb", "") or value.pop("action", ""))
            reply = await self.service.card_action(actor, verb, value)
            reply_to = activity.get("replyToId")
            if reply.replace and reply_to and reply.card:
                await self._deliver(activity, "update", lambda m, to: m.update_card(
                    to[0], to[1], reply_to, reply.card, to[2]))
                for extra in reply.messages:
                    await self._send(activity, extra)
                return
            await self._send(activity, reply)
            return
        await self._send(activity, await self.service.message(actor, activity.get("text") or ""))

    async def _invoke(self, activity: dict) -> Answer:
        name = activity["name"]
        if name != "adaptiveCard/action":
            if name not in self._invokes_logged and len(self._invokes_logged) < 100:
                self._invokes_logged.add(name)
                log.info("invoke %r is not implemented; answered as Teams expects (logged once)", name[:80])
            return unhandled_invoke(name, activity.get("value"))
        value = activity.get("value") if isinstance(activity.get("value"), dict) else {}
        action = value.get("action") if isinstance(value.get("action"), dict) else {}
        verb = str(action.get("verb") or "")
        data = action.get("data") if isinstance(action.get("data"), dict) else {}
        reply = await self.service.card_action(actor_of(activity), verb, dict(data))
        for extra in reply.messages:
            await self._send(activity, extra)
        if reply.card is not None:
            return Answer(200, invoke_card(reply.card))
        return Answer(200, invoke_message(reply.text or "Done."))

    async def _busy(self, activity: dict) -> Answer:
        """The database (or Graph) is down: say so to a person in Teams; a 503 to anyone else."""
        retry = {"Retry-After": "60"}
        if activity.get("channelId") != "msteams":
            return Answer(503, {"error": BUSY_TEXT}, retry)
        if activity["type"] == "invoke":
            return Answer(200, invoke_message(BUSY_TEXT))
        if activity["type"] == "message" and await self._send(activity, Reply(text=BUSY_TEXT)):
            return Answer(201)
        return Answer(503, {"error": BUSY_TEXT}, retry)

    async def _send(self, activity: dict, reply: Reply) -> bool:
        """Send `reply` (and the messages after it) into the activity's conversation. False
        if any could not be sent (already logged)."""
        ok = True
        if reply.card is not None:
            ok = await self._deliver(activity, "card", lambda m, to: m.send_card(to[0], to[1], reply.card, to[2]))
        elif reply.text:
            ok = await self._deliver(activity, "text", lambda m, to: m.send_text(to[0], to[1], reply.text, to[2]))
        for extra in reply.messages:
            ok = await self._send(activity, extra) and ok
        return ok

    async def _deliver(self, activity: dict, what: str, call) -> bool:
        actor = actor_of(activity)
        try:
            await call(self.messenger, (actor.service_url, actor.conversation_id, actor.tenant_id))
            return True
        except DeliveryError as e:
            # The press was done and stored; only this message is lost. Ids are not logged.
            log.warning("a reply (%s) could not be sent: %s", what, e)
            return False
