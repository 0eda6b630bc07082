"""The service layer's Messenger, over the Bot Connector REST client."""
from __future__ import annotations

from dataclasses import dataclass

from ..connector import ConnectorClient

CARD = "application/vnd.microsoft.card.adaptive"


def card_message(card: dict) -> dict:
    return {"type": "message", "attachments": [{"contentType": CARD, "content": card}]}


@dataclass
class ConnectorMessenger:
    client: ConnectorClient

    async def open_conversation(self, service_url: str, tenant_id: str | None, user_id: str) -> str:
        return await self.client.create_conversation(service_url, tenant_id, user_id)

    async def send_card(self, service_url: str, conversation_id: str, card: dict, tenant_id: str | None) -> str:
        return await self.client.send_activity(service_url, conversation_id, card_message(card), tenant_id=tenant_id)

    async def update_card(self, service_url: str, conversation_id: str, activity_id: str, card: dict,
                          tenant_id: str | None) -> None:
        await self.client.update_activity(service_url, conversation_id, activity_id, card_message(card),
                                          tenant_id=tenant_id)
