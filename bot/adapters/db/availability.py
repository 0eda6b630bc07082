"""Telling "the database is not there" from "the database said no", without SQLAlchemy
leaving this package."""
from __future__ import annotations

from sqlalchemy import exc as sa


def database_unavailable(error: BaseException) -> bool:
    """True for a failure to reach or keep a connection (server down, restarting, network,
    pool exhausted, SQLite locked past its busy timeout): trying again later can help.
    False for everything the database understood and refused (constraints, bad data)."""
    if isinstance(error, (sa.DisconnectionError, sa.TimeoutError)):
        return True
    if isinstance(error, sa.DBAPIError):
        return error.connection_invalidated or isinstance(error, (sa.OperationalError, sa.InterfaceError))
    return False
