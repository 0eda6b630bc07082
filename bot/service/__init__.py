"""The service layer: what the bot does for the people who talk to it, as small use-case
handlers (requests, sending, answers, out_of_hours, outcome, status) routed by card verb
(dispatch) over the shared plumbing of `ConversationService` (core)."""
from .core import Actor, ConversationService, Messenger, Reply

__all__ = ["Actor", "ConversationService", "Messenger", "Reply"]
