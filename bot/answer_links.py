"""Signed, expiring, single-use answer links for invitees the bot cannot message in Teams.

A link is `{public_url}/answer/{token}`; the token is an itsdangerous URL-safe timed
signature over {invitation id, nonce}, so only the bot can make one and it says when it was
made. Three checks make it usable exactly once by the person it was made for:

* **signature** (forged or altered: refused), with a salt so no other signature the bot might
  make could pass as a link;
* **age** (`max_age`, default 10 days; expired: refused). A fixed age rather than one derived
  from the meeting: the meeting's time and deadline change after the link is sent, and the
  meeting's own state already refuses answers once it is cancelled, held or closed. Ten days
  covers the longest time any protocol allows before a strategy meeting (a few working days
  with a weekend and a bank holiday) with room to spare, and bounds the life of a forwarded link;
* **nonce** (each link has its own, random): consumed in the same transaction as the answer
  (the `answer_link_uses` table), so a second answer with the same link changes nothing.
  Viewing the page consumes nothing. A newly made link (a reminder, a chair's copy) has a new
  nonce, so the invitee can still change their answer with it, as on the card.

The secret comes from `STRATBOT_ANSWER_LINK_SECRET`; without it, a random one is made once and
kept in `var/answer-link.secret` (mode 0600), which suits the embedded single-process default.
Replicas must share one secret: set the variable.
"""
from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from itsdangerous import (BadPayload, BadSignature, SignatureExpired, TimestampSigner, URLSafeSerializer,
                          URLSafeTimedSerializer)

SALT = "stratbot.answer-link.v1"
FORM_SALT = "stratbot.answer-form.v1"
DEFAULT_MAX_AGE = timedelta(days=10)
SECRET_FILE = "answer-link.secret"
MIN_SECRET_LENGTH = 32  # characters: a short secret could be guessed offline from one link


@dataclass(frozen=True)
class LinkClaim:
    """What a valid token says: the invitation it answers and its own nonce."""

    invitation_id: str
    nonce: str
    issued_at: datetime


class LinkRefused(Exception):
    """A token that cannot be used; `reason` is "expired" or "invalid" (never which check failed
    beyond that: a forger learns nothing)."""

    def __init__(self, reason: str, invitation_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.invitation_id = invitation_id  # an expired link's (its signature held): to name the chair


def load_secret(configured: str, var_dir: Path) -> str:
    """The signing secret: the configured one, else the one kept in `var_dir`, made on first use.
    Several processes starting together agree: the file is created exclusively, and whoever
    loses the race reads the winner's."""
    if configured:
        if len(configured) < MIN_SECRET_LENGTH:
            raise ValueError(f"STRATBOT_ANSWER_LINK_SECRET must be at least {MIN_SECRET_LENGTH} characters")
        return configured
    path = var_dir / SECRET_FILE
    var_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # the creator writes it at once; wait for it (never an empty secret)
            text = path.read_text().strip()
            if text:
                return text
            time.sleep(0.01)
        raise ValueError(f"{path} is empty: delete it, or set STRATBOT_ANSWER_LINK_SECRET")
    with os.fdopen(fd, "w") as f:
        value = secrets.token_urlsafe(48)
        f.write(value + "\n")
    return value


class AnswerLinks:
    """Makes and reads answer links; `clock` is the bot's clock (so tests can expire a link)."""

    def __init__(self, secret: str, public_url: str, *, clock: Callable[[], datetime],
                 max_age: timedelta = DEFAULT_MAX_AGE):
        if not secret:
            raise ValueError("an answer-link secret is required")
        self.public_url = public_url.rstrip("/")
        self.max_age = max_age
        self._clock = clock

        class ClockSigner(TimestampSigner):  # itsdangerous reads time.time(); the bot's clock rules
            def get_timestamp(self) -> int:
                return int(clock().timestamp())

        self._serializer = URLSafeTimedSerializer(secret, salt=SALT, signer=ClockSigner)
        self._forms = URLSafeSerializer(secret, salt=FORM_SALT)

    def token(self, invitation_id: str) -> str:
        """A new token for this invitation, with a nonce of its own."""
        return self._serializer.dumps({"i": invitation_id, "n": secrets.token_urlsafe(16)})

    def url(self, invitation_id: str) -> str:
        return f"{self.public_url}/answer/{self.token(invitation_id)}"

    def expires_at(self, issued_at: datetime | None = None) -> datetime:
        return (issued_at or self._clock()) + self.max_age

    def read(self, token: str) -> LinkClaim:
        """The claim a token carries; LinkRefused("expired" / "invalid") when it cannot be used."""
        if not token or len(token) > 512:
            raise LinkRefused("invalid")
        try:
            payload, signed_at = self._serializer.loads(token, max_age=int(self.max_age.total_seconds()),
                                                        return_timestamp=True)
        except SignatureExpired as e:
            try:  # the signature held (only the age failed): its payload is the bot's own
                payload = self._serializer.load_payload(e.payload) if e.payload is not None else {}
            except BadPayload:
                payload = {}
            payload = payload if isinstance(payload, dict) else {}
            invitation = payload.get("i") if isinstance(payload.get("i"), str) else None
            raise LinkRefused("expired", invitation) from None
        except BadSignature:
            raise LinkRefused("invalid") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("i"), str) or not isinstance(payload.get("n"), str):
            raise LinkRefused("invalid")
        return LinkClaim(payload["i"], payload["n"], signed_at)

    def form_nonce(self, claim: LinkClaim) -> str:
        """The value each form of the page carries: the link's nonce, signed for forms, so a
        POST that did not come from a page this link produced is refused (CSRF)."""
        return self._forms.dumps(claim.nonce)

    def form_nonce_ok(self, claim: LinkClaim, value: str) -> bool:
        try:
            return self._forms.loads(value) == claim.nonce
        except BadSignature:
            return False
