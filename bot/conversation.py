"""Kept for imports from before the service layer became a package (bot.service)."""
from .service import Actor, ConversationService, Messenger, Reply

__all__ = ["Actor", "ConversationService", "Messenger", "Reply"]
