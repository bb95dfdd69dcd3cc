"""Audit log: every insert, update and delete of an :class:`Audited` row, with who and when.

Written in the same transaction as the change, so an audited change and its entry land together.
The actor comes from ``session.info["user_id"]`` and ``session.info["source"]``.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from jiqun.store.models import Audited, AuditEntry

_SECRET_COLUMNS = {"password_hash"}
# Derived columns are no one's edit: a customer's search keys follow its name (search_keys.py).
_BOOKKEEPING_COLUMNS = {"created_at", "updated_at", "version", "fragment_key", "words_key"}


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _column_changes(obj: Audited) -> dict[str, list[Any]]:
    changes: dict[str, list[Any]] = {}
    state = inspect(obj)
    for attr in state.mapper.column_attrs:
        if attr.key in _BOOKKEEPING_COLUMNS:
            continue
        history = state.attrs[attr.key].history
        if history.has_changes():
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if attr.key in _SECRET_COLUMNS:
                old, new = "***", "***"
            changes[attr.key] = [_plain(old), _plain(new)]
    return changes


def _snapshot(obj: Audited) -> dict[str, Any]:
    state = inspect(obj)
    return {
        a.key: ("***" if a.key in _SECRET_COLUMNS else _plain(getattr(obj, a.key)))
        for a in state.mapper.column_attrs
        if a.key not in _BOOKKEEPING_COLUMNS
    }


def _actor_name(session: Session) -> str:
    """The acting user's name; a session without one belongs to the system account."""
    actor = session.info.get("actor")
    if actor is not None:
        return actor.username
    return session.info.get("username") or "system"


def _entry(session: Session, obj: Audited, action: str, changes: dict) -> dict[str, Any]:
    # In after_flush a new row's identity key is not set yet, but its primary key attributes are.
    state = inspect(obj)
    ident = [v for v in state.mapper.primary_key_from_instance(obj) if v is not None]
    return {
        "at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        "user_id": session.info.get("user_id"),
        "username": _actor_name(session),
        "org_unit_id": getattr(obj, "org_unit_id", None),
        "action": action,
        "entity": type(obj).__tablename__,
        "entity_id": ",".join(str(i) for i in ident) if ident else None,
        "changes": changes,
        "source": session.info.get("source"),
    }


@event.listens_for(Session, "after_flush")
def _write_audit_entries(session: Session, _flush_context) -> None:
    if session.info.get("audit") is False:
        return
    rows = [_entry(session, o, "insert", _snapshot(o)) for o in session.new if isinstance(o, Audited)]
    for obj in session.dirty:
        if isinstance(obj, Audited) and session.is_modified(obj, include_collections=False):
            changes = _column_changes(obj)
            if changes:
                rows.append(_entry(session, obj, "update", changes))
    rows += [_entry(session, o, "delete", _snapshot(o)) for o in session.deleted if isinstance(o, Audited)]
    if rows:
        session.connection().execute(insert(AuditEntry.__table__), rows)
