"""The answer_link_uses table: which answer links have answered (bot/answer_links.py)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError

from .checks import _instant, _text
from .models import AnswerLinkUse
from .unit_of_work import StoreBase


class AnswerLinkStore(StoreBase):
    def use_answer_link(self, nonce: str, invitation_id: str, meeting_id: str, now: datetime) -> bool:
        """Mark the link with this nonce used; False (and nothing written) if it already was.
        Call it inside the answer's unit of work, so the link and the answer go together."""
        row = AnswerLinkUse(nonce=_text("nonce", nonce), invitation_id=_text("invitation_id", invitation_id),
                            meeting_id=_text("meeting_id", meeting_id), used_at=_instant("now", now))
        with self._session() as s:
            if s.get(AnswerLinkUse, row.nonce) is not None:
                return False
            try:
                with s.begin_nested():  # a racing use of the same link: the primary key refuses it
                    s.add(row)
                    s.flush()
            except IntegrityError:
                return False
            return True

    def answer_link_used(self, nonce: str) -> bool:
        with self._read() as s:
            return s.get(AnswerLinkUse, nonce) is not None
