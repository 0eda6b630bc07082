"""The users table: who the bot has met in Teams, and their 1:1 chat."""
from __future__ import annotations

from collections.abc import Iterable


from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.service.records import (
    TeamsContactRecord, UserRecord,
)

from .checks import _columns, _record, _text
from .models import (
    TeamsContact, User,
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
        with self._conn(read=True) as conn:
            row = conn.execute(_GET_USER, {"aad_object_id": aad_object_id}).first()
            return None if row is None else UserRecord(*row)

    # --- reaching people in Teams (installation and 1:1 chat), shared by every replica -------

    def get_teams_contact(self, aad_object_id: str) -> TeamsContactRecord | None:
        with self._conn(read=True) as conn:
            row = conn.execute(_GET_TEAMS_CONTACT, {"aad_object_id": aad_object_id}).first()
            return None if row is None else TeamsContactRecord(*row)  # a delivery's first to them (known_chats)

    def known_chats(self, aad_object_ids: Iterable[str]) -> dict[str, str]:
        """The 1:1 chat ids known for these people, by Entra object id, in one read (a delivery
        batch's contacts: the first step of reach.py's `conversation_for`, for all of them)."""
        ids = [i for i in dict.fromkeys(aad_object_ids) if i]
        if not ids:
            return {}
        c = TeamsContact.__table__.c
        with self._conn(read=True) as conn:
            rows = conn.execute(select(c.aad_object_id, c.conversation_id).where(
                c.aad_object_id.in_(ids), c.conversation_id.is_not(None))).all()
            return {r.aad_object_id: r.conversation_id for r in rows}

    def save_teams_contact(self, *, aad_object_id: str, tenant_id: str | None, app_installed: bool,
                           conversation_id: str | None = None, service_url: str | None = None) -> TeamsContactRecord:
        """Record what was learnt. A None conversation_id or service_url keeps the one known:
        a replica that only learnt of the installation must not erase another's chat id."""
        if not isinstance(app_installed, bool):
            raise TypeError("app_installed must be a bool")
        values = dict(
            aad_object_id=_text("aad_object_id", aad_object_id), tenant_id=_text("tenant_id", tenant_id, optional=True),
            app_installed=app_installed, conversation_id=_text("conversation_id", conversation_id, optional=True),
            service_url=_text("service_url", service_url, optional=True), updated_at=self._now(),
        )
        with self._session() as s:
            dialect = s.get_bind().dialect.name
            ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(TeamsContact).values(**values)
            stmt = ins.on_conflict_do_update(
                index_elements=[TeamsContact.aad_object_id],
                set_={
                    "tenant_id": func.coalesce(ins.excluded.tenant_id, TeamsContact.tenant_id),
                    "app_installed": ins.excluded.app_installed,
                    # Not installed (any more): its chat refuses messages, so it is forgotten.
                    "conversation_id": func.coalesce(ins.excluded.conversation_id, TeamsContact.conversation_id)
                    if app_installed else None,
                    "service_url": func.coalesce(ins.excluded.service_url, TeamsContact.service_url),
                    "updated_at": ins.excluded.updated_at,
                },
            ).returning(TeamsContact)
            return _record(TeamsContactRecord, s.scalars(stmt, execution_options={"populate_existing": True}).one())


_GET_USER = select(*_columns(User, UserRecord)).where(User.__table__.c.aad_object_id == bindparam("aad_object_id"))
_GET_TEAMS_CONTACT = select(*_columns(TeamsContact, TeamsContactRecord)).where(
    TeamsContact.__table__.c.aad_object_id == bindparam("aad_object_id"))
