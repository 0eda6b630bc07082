"""The Teams edge as the web app sees it, in two steps and with no botbuilder type crossing:

    await edge.authenticate(authorization)        # from the header alone, before the body is read
    answer = await edge.handle(body, authorization)  # the parsed body: shape, serviceUrl claim, turn

Authentication is botbuilder's (botframework-connector's JwtTokenValidation: the Bot
Framework's OpenID metadata and keys, issuer, audience = our app id, signature, key
endorsement for the channel, `serviceurl` claim = the activity's serviceUrl), plus what it
leaves out: a token must carry `exp` and `nbf` (PyJWT checks them only when present), both
within botbuilder's clock tolerance of 5 minutes. The first step checks everything that
needs no body; the second, once the body is read, the two checks that need it (the channel's
endorsement and the serviceUrl claim). botbuilder raises PermissionError, jwt's errors,
IndexError or a bare Exception for refused tokens; every one is a 401 here.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from botframework.connector.auth import (AuthenticationConfiguration, JwtTokenValidation, SimpleChannelProvider,
                                         SimpleCredentialProvider)

from .handler import Answer, StrategyMeetingBot
from .wire import MAX_AUTHORIZATION_BYTES, Rejected, check_activity

log = logging.getLogger(__name__)

#: botbuilder's own clock tolerance (ChannelValidation's VerifyOptions), used for nbf/exp.
CLOCK_SKEW_SECONDS = 5 * 60


class Unauthorized(Exception):
    """The request's token was refused; the message is for the log, never the caller."""


@dataclass(frozen=True)
class AuthSettings:
    app_id: str
    app_password: str
    channel_service: str = ""  # "" for the public cloud (botbuilder's ChannelService setting otherwise)

    @property
    def enabled(self) -> bool:
        return bool(self.app_id)


class TeamsEdge:
    def __init__(self, auth: AuthSettings, bot: StrategyMeetingBot, *, clock=time.time):
        self.auth = auth
        self.bot = bot
        self._clock = clock
        self._credentials = SimpleCredentialProvider(auth.app_id, auth.app_password)
        self._channel = SimpleChannelProvider(auth.channel_service) if auth.channel_service else None
        self._config = AuthenticationConfiguration()

    async def authenticate(self, authorization: str | None) -> None:
        """Raise Unauthorized unless the header holds a valid Bot Framework token (when auth is on)."""
        if not self.auth.enabled:
            return
        header = (authorization or "").strip()
        if not header:
            raise Unauthorized("no Authorization header")
        if len(header) > MAX_AUTHORIZATION_BYTES or not header.isascii():
            raise Unauthorized("the Authorization header is oversized or not ASCII")
        # channel_id "": the key's endorsement is checked in `handle`, once the channel is known.
        identity = await self._validate(header, channel_id="", service_url=None)
        self._check_times(identity.claims)

    async def handle(self, body: Any, authorization: str | None) -> Answer:
        """Answer one activity (raises Rejected for a bad shape, Unauthorized for a bad token)."""
        activity = check_activity(body)
        if self.auth.enabled:
            await self._validate((authorization or "").strip(), channel_id=activity.get("channelId") or "",
                                 service_url=activity["serviceUrl"])
        return await self.bot.on_activity(activity)

    async def _validate(self, header: str, *, channel_id: str, service_url: str | None):
        try:
            identity = await JwtTokenValidation.validate_auth_header(
                header, self._credentials, self._channel or "", channel_id, service_url, self._config)
        except Exception as exc:
            raise Unauthorized(f"{type(exc).__name__}: {str(exc)[:200]}") from None
        if identity is None or not identity.is_authenticated:
            raise Unauthorized("no identity")
        return identity

    def _check_times(self, claims: dict) -> None:
        now = self._clock()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        for name, value in (("exp", exp), ("nbf", nbf)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise Unauthorized(f"the token has no numeric {name}")
        if exp <= now - CLOCK_SKEW_SECONDS or nbf > now + CLOCK_SKEW_SECONDS:
            raise Unauthorized("the token is expired or not yet valid")


__all__ = ["Answer", "AuthSettings", "Rejected", "TeamsEdge", "Unauthorized"]
