"""The service layer's Messenger, over the Bot Connector REST client (and so its rate limiter)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..connector import ConnectorClient

CARD = "application/vnd.microsoft.card.adaptive"


def card_message(card: dict) -> dict:
    return {"type": "message", "attachments": [{"contentType": CARD, "content": card}]}


def text_message(text: str) -> dict:
    return {"type": "message", "text": text}


@dataclass
class ConnectorMessenger:
    """`open_conversation` opens the 1:1 chat with someone. The chats opened are remembered in
    the database by the caller (bot/service/reach.py: `teams_contacts`), shared by replicas
    and kept across restarts, so a fan-out of 500 invitations to 80 people makes 80 creates,
    not 500, and a restart makes none again."""

    client: ConnectorClient
    _opening: dict[tuple[str, str | None, str], asyncio.Future[str]] = field(default_factory=dict, repr=False)

    async def open_conversation(self, service_url: str, tenant_id: str | None, user_id: str) -> str:
        key = (service_url, tenant_id, user_id)
        # Single flight: invitations to one person sent together share one create.
        pending = self._opening.get(key)
        if pending is None:
            pending = self._opening[key] = asyncio.ensure_future(
                self.client.create_conversation(service_url, tenant_id, user_id))
            pending.add_done_callback(lambda _: self._opening.pop(key, None))
        return await asyncio.shield(pending)

    async def send_card(self, service_url: str, conversation_id: str, card: dict, tenant_id: str | None) -> str:
        return await self.client.send_activity(service_url, conversation_id, card_message(card), tenant_id=tenant_id)

    async def send_text(self, service_url: str, conversation_id: str, text: str, tenant_id: str | None) -> str:
        return await self.client.send_activity(service_url, conversation_id, text_message(text), tenant_id=tenant_id)

    async def update_card(self, service_url: str, conversation_id: str, activity_id: str, card: dict,
                          tenant_id: str | None) -> None:
        await self.client.update_activity(service_url, conversation_id, activity_id, card_message(card),
                                          tenant_id=tenant_id)
