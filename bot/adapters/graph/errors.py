"""The errors the Graph adapter raises, so callers branch on a type and never on a string.

Why a separate module: the service layer (wired later) catches these without importing
aiohttp or msal. Every message is one line built from the operation, the HTTP status and
Graph's or Entra's error code and description; never from tokens, secrets or raw bodies.
(Graph's own message, kept in GraphRefused's text, can name the mailbox it refused.)

    GraphConfigError   the STRATBOT_GRAPH_* settings are incomplete or wrong (a ValueError)
    GraphAuthError     Microsoft Entra refused to issue a token, or Graph refused a fresh one
    GraphRefused       Graph understood and said no: 403 (e.g. ErrorAccessDenied), 404
                       (ErrorItemNotFound, MailboxNotEnabledForRESTAPI) or another 4xx that
                       retrying cannot fix (400 ErrorInvalidRequest, 409, 412...)
    GraphUnavailable   Graph or Entra could not be reached, kept failing (5xx) or kept
                       throttling (429) within the attempts and time allowed; try later
"""
from __future__ import annotations


class GraphConfigError(ValueError):
    """The Graph settings are half there or invalid; the message names the variable."""


class GraphError(Exception):
    """Base of the errors from a Graph call. `op` names the operation (e.g. "create_meeting")."""

    def __init__(self, message: str, *, op: str = "", status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.op = op
        self.status = status
        self.code = code

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(op={self.op!r}, status={self.status!r}, code={self.code!r})"


class GraphAuthError(GraphError):
    """No usable token: Entra's `error` (e.g. invalid_client) is `code`, its description's
    first line (e.g. "AADSTS7000215: Invalid client secret provided. ...") is `description`."""

    def __init__(self, message: str, *, op: str = "token", status: int | None = None, code: str | None = None,
                 description: str | None = None) -> None:
        super().__init__(message, op=op, status=status, code=code)
        self.description = description


class GraphRefused(GraphError):
    """Graph answered with a 4xx that retrying will not fix. `code` and `graph_message` are
    Graph's own (`{"error": {"code", "message"}}`). `after_retry` is True when an earlier
    attempt of the same call may have reached Graph (its answer was lost or a 5xx), so the
    refusal can be the consequence of that attempt (e.g. cancelling twice)."""

    def __init__(self, message: str, *, op: str, status: int, code: str | None, graph_message: str | None,
                 after_retry: bool = False) -> None:
        super().__init__(message, op=op, status=status, code=code)
        self.graph_message = graph_message
        self.after_retry = after_retry


class GraphUnavailable(GraphError):
    """Transient failure that outlasted the retry policy. `retry_after` is Graph's last
    requested wait in seconds (None if it gave none), so a caller can come back later."""

    def __init__(self, message: str, *, op: str, status: int | None = None, code: str | None = None,
                 retry_after: float | None = None, attempts: int | None = None) -> None:
        super().__init__(message, op=op, status=status, code=code)
        self.retry_after = retry_after
        self.attempts = attempts


__all__ = ["GraphAuthError", "GraphConfigError", "GraphError", "GraphRefused", "GraphUnavailable"]
