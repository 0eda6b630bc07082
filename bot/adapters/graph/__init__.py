"""Microsoft Graph: real Teams meetings in Outlook calendars, and free/busy to propose times.

Why a package of its own: it is optional (no STRATBOT_GRAPH_* settings, no Graph) and
self-contained; the service layer sees only the dataclasses and errors exported here.

    settings = GraphSettings.from_env(os.environ)        # None: run without Graph
    token = GraphToken(settings)                         # one per process
    async with GraphClient(settings, token=token) as graph:
        event = await graph.create_meeting(...)

`settings` (environment), `token` (MSAL), `client` (the calls, retries), `errors`.
"""
from .client import (
    Attendee,
    AttendeeResponse,
    Availability,
    CalendarEvent,
    GraphClient,
    GraphRetryPolicy,
    ResponseKind,
)
from .errors import GraphAuthError, GraphConfigError, GraphError, GraphRefused, GraphUnavailable
from .settings import GraphSettings
from .token import GraphToken, TokenSource

__all__ = [
    "Attendee", "AttendeeResponse", "Availability", "CalendarEvent", "GraphAuthError", "GraphClient",
    "GraphConfigError", "GraphError", "GraphRefused", "GraphRetryPolicy", "GraphSettings", "GraphToken",
    "GraphUnavailable", "ResponseKind", "TokenSource",
]
