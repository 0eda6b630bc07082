"""The users table: who the bot has met in Teams, and their 1:1 chat."""
from __future__ import annotations


from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.service.records import (
    UserRecord,
)

from .checks import _columns, _record, _text
from .models import (
    User,
)
from .unit_of_work import StoreBase


class UserStore(StoreBase):
    """The Teams users the bot has met, and where to reach them."""


    def upsert_user(
        self, *, aad_object_id: str, teams_user_id: str, name: str, tenant_id: str, service_url: str,
        conversation_id: str | None = None,
    ) -> UserRecord:
        """Insert or refresh what we know of a Teams user. A None conversation_id keeps
        the one already known: a message from a group chat must not erase the 1:1 one."""
        values = dict(
            aad_object_id=_text("aad_object_id", aad_object_id), teams_user_id=_text("teams_user_id", teams_user_id),
            name=_text("name", name), tenant_id=_text("tenant_id", tenant_id),
            service_url=_text("service_url", service_url),
            conversation_id=_text("conversation_id", conversation_id, optional=True), updated_at=self._now(),
        )
        with self._session() as s:
            # A native upsert: two replicas meeting the same new user at once must not
            # collide on the primary key.
            dialect = s.get_bind().dialect.name
            ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(User).values(**values)
            stmt = ins.on_conflict_do_update(
                index_elements=[User.aad_object_id],
                set_={
                    "teams_user_id": ins.excluded.teams_user_id, "name": ins.excluded.name,
                    "tenant_id": ins.excluded.tenant_id, "service_url": ins.excluded.service_url,
                    "conversation_id": func.coalesce(ins.excluded.conversation_id, User.conversation_id),
                    "updated_at": ins.excluded.updated_at,
                },
            ).returning(User)
            return _record(UserRecord, s.scalars(stmt, execution_options={"populate_existing": True}).one())

    def get_user(self, aad_object_id: str) -> UserRecord | None:
        with self._read() as s:
            row = self._core(s).execute(_GET_USER, {"aad_object_id": aad_object_id}).first()
            return None if row is None else UserRecord(*row)


_GET_USER = select(*_columns(User, UserRecord)).where(User.__table__.c.aad_object_id == bindparam("aad_object_id"))
