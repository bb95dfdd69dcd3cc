"""One mechanism that limits every read and write to the user's org subtree.

A :class:`Scope` is attached to a session (``session.info["scope"]``). Two session events then do
the work for every page, API call and CLI command alike:

* ``do_orm_execute`` adds ``org_unit_id IN (subtree)`` to every ORM SELECT, UPDATE and DELETE
  touching an :class:`~jiqun.store.models.OrgScoped` model, including ``Session.get`` and
  relationship loads;
* ``before_flush`` refuses to insert, change or delete a row outside the subtree.

The lake uses the same :class:`Scope` (``scope.org_ids``) to filter waybills and events.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from jiqun.store.models import OrgScoped, OrgUnit


class ScopeError(PermissionError):
    """A write reached outside the acting user's org subtree."""


@dataclass(frozen=True)
class Scope:
    """The org subtree one user may see and change."""

    root_id: int
    root_path: str
    org_ids: frozenset[int]

    def allows(self, org_unit_id: int | None) -> bool:
        return org_unit_id in self.org_ids

    @classmethod
    def for_unit(cls, session: Session, unit: OrgUnit | int) -> Scope:
        """The scope of ``unit`` and everything below it (read without any scope applied)."""
        if isinstance(unit, int):
            unit = session.get(OrgUnit, unit)
        ids = session.scalars(
            select(OrgUnit.id).where(OrgUnit.path.startswith(unit.path))
        ).all()
        return cls(root_id=unit.id, root_path=unit.path, org_ids=frozenset(ids))

    @classmethod
    def for_unit_id(cls, store, unit_id: int) -> Scope:
        """The scope of one org unit, read by a short session of ``store`` without a scope."""
        with store._sessions() as s:
            return cls.for_unit(s, unit_id)


def session_scope(session: Session) -> Scope | None:
    return session.info.get("scope")


@event.listens_for(Session, "do_orm_execute")
def _filter_reads(state: ORMExecuteState) -> None:
    scope = session_scope(state.session)
    if scope is None or state.is_column_load or state.execution_options.get("unscoped"):
        return
    if state.is_select or state.is_update or state.is_delete:
        allowed = sorted(scope.org_ids)
        state.statement = state.statement.options(
            with_loader_criteria(
                OrgScoped,
                lambda cls: cls.org_unit_id.in_(allowed),
                include_aliases=True,
                track_closure_variables=False,
            )
        )


@event.listens_for(Session, "before_flush")
def _refuse_foreign_writes(session: Session, _flush_context, _instances) -> None:
    scope = session_scope(session)
    if scope is None:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, OrgScoped) and not scope.allows(obj.org_unit_id):
            raise ScopeError(
                f"{type(obj).__name__} in org unit {obj.org_unit_id} is outside the user's scope"
            )
