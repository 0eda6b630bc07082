"""Translate Teams activities into calls on the conversation service, and its replies back.

Known trap (botbuilder-integration-aiohttp 4.17.1): CloudAdapter serializes the invoke
response body itself, so an ActivityHandler that already turned it into a dict crashes it.
We answer `adaptiveCard/action` ourselves with an InvokeResponse whose body is the
AdaptiveCardInvokeResponse model.
"""
from __future__ import annotations

import logging
from http import HTTPStatus

from botbuilder.core import ActivityHandler, CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.schema import Activity, ActivityTypes, AdaptiveCardInvokeResponse, ChannelAccount

from ...service import Actor, ConversationService, Reply

log = logging.getLogger(__name__)
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


class _MessageInvokeResponse(AdaptiveCardInvokeResponse):
    """A universal-action answer that is a message, not a card: its `value` is a string,
    which the stock model (typed as a dict) cannot serialize."""

    _attribute_map = {**AdaptiveCardInvokeResponse._attribute_map, "value": {"key": "value", "type": "object"}}


def actor_of(activity: Activity) -> Actor:
    sender: ChannelAccount = activity.from_property or ChannelAccount()
    channel_data = activity.channel_data or {}
    tenant = (channel_data.get("tenant") or {}).get("id") if isinstance(channel_data, dict) else None
    conversation = activity.conversation
    return Actor(
        aad_object_id=sender.aad_object_id,
        user_id=sender.id or "",
        name=sender.name or "",
        tenant_id=tenant or (conversation.tenant_id if conversation else None),
        service_url=activity.service_url or "",
        conversation_id=conversation.id if conversation else "",
        # For a card's button, the message that holds the card: the chair's status card lives there.
        message_id=activity.reply_to_id or None,
    )


def card_activity(card: dict) -> Activity:
    return MessageFactory.attachment(CardFactory.adaptive_card(card))


class StrategyMeetingBot(ActivityHandler):
    def __init__(self, service: ConversationService):
        self.service = service

    async def on_members_added_activity(self, members_added, turn_context: TurnContext):
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if any(m.id != bot_id for m in members_added):
            await self._send(turn_context, await self.service.welcome(actor_of(turn_context.activity)))

    async def on_message_activity(self, turn_context: TurnContext):
        activity = turn_context.activity
        actor = actor_of(activity)
        if isinstance(activity.value, dict) and activity.value:
            # Action.Submit fallback (clients without universal actions): same verbs as Execute.
            value = dict(activity.value)
            verb = str(value.pop("verb", "") or value.pop("action", ""))
            reply = await self.service.card_action(actor, verb, value)
            if reply.replace and activity.reply_to_id and reply.card:
                update = card_activity(reply.card)
                update.id = activity.reply_to_id
                await turn_context.update_activity(update)
                for extra in reply.messages:
                    await self._send(turn_context, extra)
                return
            await self._send(turn_context, reply)
            return
        await self._send(turn_context, await self.service.message(actor, activity.text or ""))

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        activity = turn_context.activity
        if activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn_context)
        value = activity.value if isinstance(activity.value, dict) else {}
        action = value.get("action") if isinstance(value.get("action"), dict) else {}
        verb = str(action.get("verb") or "")
        data = action.get("data") if isinstance(action.get("data"), dict) else {}
        reply = await self.service.card_action(actor_of(activity), verb, dict(data))
        for extra in reply.messages:
            await self._send(turn_context, extra)
        if reply.card is not None:
            body = AdaptiveCardInvokeResponse(status_code=200, type=CARD_CONTENT_TYPE, value=reply.card)
        else:
            body = _MessageInvokeResponse(status_code=200, type="application/vnd.microsoft.activity.message",
                                          value=reply.text or "Done.")
        return InvokeResponse(status=int(HTTPStatus.OK), body=body)

    async def _send(self, turn_context: TurnContext, reply: Reply) -> None:
        if reply.card is not None:
            await turn_context.send_activity(card_activity(reply.card))
        elif reply.text:
            await turn_context.send_activity(MessageFactory.text(reply.text))
        for extra in reply.messages:
            await self._send(turn_context, extra)
