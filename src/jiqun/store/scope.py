"""One mechanism that limits every read and write to the user's org subtree.

A :class:`Scope` is attached to a session (``session.info["scope"]``): the org unit ``root_path``
and everything below it. :data:`Scope.WHOLE` (and the scope of the organisation's root, HQ) is
the whole organisation and adds no filter at all. Two session events do the work for every
page, API call and CLI command alike:

* ``do_orm_execute`` sees every statement run through the session:

  - ORM SELECT, UPDATE and DELETE touching a :class:`~jiqun.store.models.Scoped` model get
    ``org_unit_id IN (SELECT id FROM org_units WHERE path LIKE '<root_path>%')`` (PostgreSQL:
    ``org_unit_id = ANY(<the scope's unit ids>)``, one array bound; link rows: their parent's id in the
    parent's scope), including ``Session.get`` and relationship loads;
  - INSERT (ORM or Core, one row, ``values([...])`` or a list of parameter dicts) and the new
    values of an UPDATE are checked: an org unit (or parent row) outside the subtree raises
    :class:`ScopeError`, and so does what cannot be checked (``INSERT … FROM SELECT``, a SQL
    expression as the org unit, a row without one);
  - what the ORM cannot limit is refused under a partial scope: textual SQL (``text()``, reads
    too) and Core statements on the tables of scoped models;
  - ``execution_options(unscoped=True)`` reads beyond the subtree, but only plain columns
    (codes that must be unique across the organisation, a proposer's name): ORM rows read that
    way would sit in the session's identity map, where ``Session.get`` and lazy loads would hand
    them out unfiltered, so loading entities unscoped is refused, and so are unscoped writes;

* ``before_flush`` refuses to insert, change or delete an ORM object outside the subtree;
* SQLAlchemy's legacy ``bulk_*`` methods, which skip both events, are refused under a partial
  scope (:class:`StoreSession`, the store's session class).

Two ways around it are left to code review, not to the events: ``Session.connection().execute``
is the raw connection beneath all of this (the audit writer uses it for rows whose org unit the
flush has already checked), and a Core table inside an ORM statement (``select(Customer.id)
.join(Visit.__table__, …)``) is not limited — join models, never their tables.

The lake uses the same :class:`Scope` through :func:`jiqun.lake.engine.scope_filter`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Select,
    Table,
    any_,
    cast,
    event,
    func,
    select,
)
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql.elements import BindParameter, ClauseElement, TextClause
from sqlalchemy.sql.util import find_tables

from jiqun.store.models import Base, OrgScoped, OrgUnit, Scoped, ScopedByParent

# Mapped models that carry no scope, each with the reason. Every other model must be Scoped
# (tests/store/test_scope_models.py fails for a new model that is on neither side).
UNSCOPED_MODELS: dict[str, str] = {
    # The tree itself: the scope is defined on it, and the names and paths of the units above
    # and beside a user (breadcrumbs, "escalated to", a market's city) are not tenant data.
    "OrgUnit": "the org tree the scope is defined on",
    # Authentication, read and written by the system's own sessions before a user is known (and
    # the name typed at sign-in may belong to nobody); no page or API reads them for a user.
    "WebSession": "server-side sign-in sessions, by hashed cookie id",
    "LoginAttempt": "sign-in throttling by name and client",
    "LoginGuard": "sign-in throttling: one lock row per name tried",
    # Scheduled jobs run for the whole organisation as the system account; their runs and
    # leases belong to no unit (the jobs page is the operator's, see service/jobs.py).
    "JobRun": "runs of organisation-wide scheduled jobs",
    "JobLease": "one lock row per scheduled job",
}

_PATH = re.compile(r"/(\d+/)*")


class ScopeError(PermissionError):
    """A read or write reached outside the acting user's org subtree (or could not be checked)."""


@dataclass(frozen=True)
class Scope:
    """The org subtree one user may see and change.

    ``root_path`` is the root unit's materialised path (``/1/5/``); ``/`` is the whole
    organisation. ``org_ids`` are the subtree's unit ids, read once with the scope for checks in
    Python and for the lake; ``None`` for the whole organisation. ``root_id`` names the root
    unit (``None`` for :data:`WHOLE`, which belongs to no unit).
    """

    root_id: int | None
    root_path: str
    org_ids: frozenset[int] | None = None

    WHOLE: ClassVar[Scope]

    def __post_init__(self) -> None:
        if not _PATH.fullmatch(self.root_path):
            raise ValueError(f"not an org path: {self.root_path!r}")
        if self.whole and self.org_ids is not None:
            raise ValueError("the whole organisation has no list of org ids")
        if not self.whole and self.org_ids is None:
            raise ValueError("a scope below the whole organisation needs its org ids")

    @property
    def whole(self) -> bool:
        """The whole organisation: nothing is filtered."""
        return self.root_path == "/"

    def allows(self, org_unit_id: int | None) -> bool:
        return self.whole or org_unit_id in self.org_ids

    def units(self) -> Select:
        """``SELECT id FROM org_units WHERE path LIKE '<root_path>%'``: the subtree by path."""
        return select(OrgUnit.id).where(OrgUnit.path.like(self.root_path + "%"))

    def where(self, org_unit_id: ColumnElement) -> ColumnElement | None:
        """``org_unit_id IN (subtree)``, or ``None`` for the whole organisation."""
        return None if self.whole else org_unit_id.in_(self.units())

    @classmethod
    def whole_organisation(cls) -> Scope:
        return cls.WHOLE

    @classmethod
    def for_unit(cls, session: Session, unit: OrgUnit | int) -> Scope:
        """The scope of ``unit`` and everything below it (read without any scope applied).

        The root of a one-rooted tree (HQ) is the whole organisation: no filter, no id list."""
        if isinstance(unit, int):
            unit = session.get(OrgUnit, unit)
        if unit.parent_id is None and session.scalar(
                select(func.count()).select_from(OrgUnit).where(OrgUnit.parent_id.is_(None))) == 1:
            return cls(root_id=unit.id, root_path="/")
        ids = session.scalars(select(OrgUnit.id).where(OrgUnit.path.like(unit.path + "%"))).all()
        return cls(root_id=unit.id, root_path=unit.path, org_ids=frozenset(ids))

    @classmethod
    def for_unit_id(cls, store, unit_id: int) -> Scope:
        """The scope of one org unit, read by a short session of ``store`` without a scope."""
        with store._sessions() as s:
            return cls.for_unit(s, unit_id)


Scope.WHOLE = Scope(root_id=None, root_path="/")


def session_scope(session: Session) -> Scope:
    """The session's scope; a session opened without one is the whole organisation's."""
    return session.info.get("scope") or Scope.WHOLE


def values_by_id(session: Session, key: ColumnElement, *columns: ColumnElement,
                 ids: Iterable[int | None]) -> dict[int, Any]:
    """Plain column values of the rows with these ids, past the session's scope: ``key`` → row
    (with ``key`` and ``columns`` as attributes).

    The one sanctioned way to show a fact of a record the viewer sees that lives in a row above
    their subtree (an owner's name, a county's market): only the named columns are read, never
    ORM rows, which would stay in the scoped session's identity map. Callers pass ids they read
    from records the viewer can already see.
    """
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    query = select(key, *columns).where(key.in_(wanted))
    return {row[0]: row for row in session.execute(query, execution_options={"unscoped": True})}


class StoreSession(Session):
    """The store's session class: SQLAlchemy's legacy bulk methods write without the events
    above, so under a scope below the whole organisation they are refused."""

    def _refuse_bulk(self) -> None:
        if not session_scope(self).whole:
            raise ScopeError("legacy bulk writes bypass the scope; use insert()/update()")

    def bulk_save_objects(self, *args, **kwargs):
        self._refuse_bulk()
        return super().bulk_save_objects(*args, **kwargs)

    def bulk_insert_mappings(self, *args, **kwargs):
        self._refuse_bulk()
        return super().bulk_insert_mappings(*args, **kwargs)

    def bulk_update_mappings(self, *args, **kwargs):
        self._refuse_bulk()
        return super().bulk_update_mappings(*args, **kwargs)


# -- what is scoped ---------------------------------------------------------------------------
@cache
def _models_by_table() -> dict[str, type]:
    return {m.local_table.name: m.class_ for m in Base.registry.mappers
            if issubclass(m.class_, Scoped)}


@cache
def _link_models() -> tuple[type[ScopedByParent], ...]:
    return tuple(m for m in _models_by_table().values() if issubclass(m, ScopedByParent))


@cache
def _parent(model: type[ScopedByParent]) -> tuple[str, type[OrgScoped]]:
    """The foreign key attribute of a link model and its parent model."""
    key, name = model.__scope_parent__
    return key, Base.registry._class_registry[name]


def _in(column: ColumnElement, ids: Select) -> ColumnElement:
    return column.in_(ids)


def _ids_clause(cls: type, ids: list[int]) -> ColumnElement:
    """The criteria of one scoped model for the subtree's unit ids (PostgreSQL), bound as one
    array (read by the org path index when the scope was made): the planner then reads how many
    rows the subtree holds from the column's statistics. Behind ``IN (subquery)`` it hash-joined
    the whole table (500k rows, a province's 461 units: 59 ms); behind ``= ANY(ARRAY(subquery))``
    it assumed a handful of units whatever the subtree, and listed a province's 170k customers
    by sorting all of them (300 ms) instead of walking the index in the list's order (0.4 ms;
    benchmarks/store.py)."""
    if issubclass(cls, ScopedByParent):
        key, parent = _parent(cls)
        return getattr(cls, key).in_(select(parent.id).where(_any_of(parent.org_unit_id, ids)))
    return _any_of(cls.org_unit_id, ids)


def _any_of(column: ColumnElement, ids: list[int]) -> ColumnElement:
    # One array parameter, not one parameter per unit: a province's 900 units rendered as
    # IN (%(p1)s, …) cost more to compile and send than the query took to run.
    return column == any_(cast(ids, ARRAY(Integer)))


def _clause(cls: type, pattern: str, member=_in) -> ColumnElement:
    """The criteria of one scoped model, for a subtree ``path LIKE pattern``."""
    units = select(OrgUnit.id).where(OrgUnit.path.like(pattern))
    if issubclass(cls, ScopedByParent):
        key, parent = _parent(cls)
        return member(getattr(cls, key), select(parent.id).where(member(parent.org_unit_id,
                                                                        units)))
    return member(cls.org_unit_id, units)


# -- statements -------------------------------------------------------------------------------
@event.listens_for(Session, "do_orm_execute")
def _scope_statements(state: ORMExecuteState) -> None:
    scope = session_scope(state.session)
    if scope.whole or state.is_column_load:  # a column load refreshes a row already in scope
        return
    statement = state.statement
    if isinstance(statement, TextClause):
        raise ScopeError("textual SQL cannot be limited to a scope; use the ORM")
    if state.execution_options.get("unscoped"):
        _check_unscoped(state)
        return
    if state.is_insert:
        _check_insert(state, scope)
        return
    if not state.is_orm_statement and _scoped_tables(statement):
        raise ScopeError("Core statements on scoped tables cannot be limited to a scope")
    if state.is_update:
        _check_update(state, scope)
    if state.is_select or state.is_update or state.is_delete:
        if state.session.get_bind().dialect.name == "postgresql":
            criteria = _criteria_ids(sorted(scope.org_ids))  # a list: psycopg sends an array
        else:
            criteria = _criteria_in(scope.root_path + "%")
        state.statement = statement.options(*criteria)


# One loader criteria for every org-scoped model, one for each link model. A lambda's SQL is
# cached by its place in the code (the pattern is its bound value), so each dialect's form of
# the criteria has a lambda of its own.
def _criteria_in(pattern: str) -> list:
    return [with_loader_criteria(model, lambda cls: _clause(cls, pattern, _in),
                                 include_aliases=True, track_closure_variables=False)
            for model in (OrgScoped, *_link_models())]


def _criteria_ids(ids: list[int]) -> list:
    return [with_loader_criteria(model, lambda cls: _ids_clause(cls, ids),
                                 include_aliases=True, track_closure_variables=False)
            for model in (OrgScoped, *_link_models())]


def _scoped_tables(statement: ClauseElement) -> list[str]:
    scoped = _models_by_table()
    tables = find_tables(statement, include_aliases=True, include_joins=True,
                         include_selects=True, include_crud=True)
    return [t.name for t in tables if isinstance(t, Table) and t.name in scoped]


def _check_unscoped(state: ORMExecuteState) -> None:
    if not state.is_select:
        raise ScopeError("writes are never unscoped")
    for column in state.statement.column_descriptions:
        entity = column.get("entity")
        if entity is not None and column.get("expr") is entity:
            raise ScopeError(
                f"unscoped reads return plain columns, not {getattr(entity, '__name__', entity)}"
                " rows (they would stay in the scoped session)")


def _model_of(statement) -> type | None:
    return _models_by_table().get(statement.table.name)


def _name(key: Any) -> str:
    return key if isinstance(key, str) else key.key


def _statement_rows(statement) -> list[dict[str, Any]]:
    """The rows an INSERT's ``values()`` carries (one empty row when it has none)."""
    if statement._multi_values:
        columns = [c.key for c in statement.table.columns]
        return [
            {_name(k): v for k, v in row.items()} if isinstance(row, Mapping)
            else dict(zip(columns, row, strict=False))
            for group in statement._multi_values for row in group
        ]
    return [{_name(k): v for k, v in (statement._values or {}).items()}]


def _parameter_rows(parameters) -> list[Mapping[str, Any]]:
    if not parameters:
        return [{}]
    if isinstance(parameters, Mapping):
        return [parameters]
    return list(parameters)


_MISSING = object()


def _value(row: Mapping[str, Any], params: Mapping[str, Any], key: str) -> Any:
    """The value a statement sets ``key`` to: a parameter wins over ``values()``; a value that
    is SQL (a subquery, a function) cannot be known before the database runs it."""
    if key in params:
        return params[key]
    value = row.get(key, _MISSING)
    if isinstance(value, BindParameter):
        if value.key in params:
            return params[value.key]
        value = value.effective_value
    if isinstance(value, ClauseElement) or hasattr(value, "__clause_element__"):
        raise ScopeError(f"{key} set by a SQL expression cannot be checked against the scope")
    return value


def _set_values(state: ORMExecuteState, key: str, required: bool) -> list[Any]:
    """Every value the statement gives ``key``; with ``required``, a row without one is
    refused (the scope cannot be checked)."""
    found = []
    for row in _statement_rows(state.statement):
        for params in _parameter_rows(state.parameters):
            value = _value(row, params, key)
            if value is _MISSING:
                if required:
                    raise ScopeError(f"a row without {key} cannot be checked against the scope")
                continue
            found.append(value)
    return found


def _check_insert(state: ORMExecuteState, scope: Scope) -> None:
    statement = state.statement
    model = _model_of(statement)
    if model is None:
        return
    if statement.select is not None:
        raise ScopeError("INSERT … FROM SELECT into a scoped table cannot be checked")
    _check_values(state, scope, model, required=True)


def _check_update(state: ORMExecuteState, scope: Scope) -> None:
    model = _model_of(state.statement)
    if model is None:
        return
    if isinstance(state.parameters, Sequence) and not isinstance(state.parameters, Mapping):
        # ORM bulk UPDATE by primary key: its WHERE is the key of each row, not the criteria.
        raise ScopeError("bulk UPDATE by primary key is not checked against the scope")
    _check_values(state, scope, model, required=False)


def _check_values(state: ORMExecuteState, scope: Scope, model: type, required: bool) -> None:
    if issubclass(model, ScopedByParent):
        key, parent = _parent(model)
        _check_parents(state.session, parent, _set_values(state, key, required))
        return
    for unit in _set_values(state, "org_unit_id", required):
        if not scope.allows(unit):
            raise ScopeError(f"{model.__name__} in org unit {unit} is outside the user's scope")


def _check_parents(session: Session, parent: type, ids: Iterable[Any]) -> None:
    """Every parent row named must be visible in the (scoped) session."""
    wanted = set(ids)
    if None in wanted:
        raise ScopeError(f"a row without its {parent.__name__} cannot be checked")
    if not wanted:
        return
    with session.no_autoflush:
        found = set(session.scalars(select(parent.id).where(parent.id.in_(sorted(wanted)))))
    if wanted - found:
        raise ScopeError(f"{parent.__name__} {sorted(wanted - found)} outside the user's scope")


# -- the unit of work -------------------------------------------------------------------------
def _parent_visible(session: Session, obj: ScopedByParent) -> bool:
    key, parent = _parent(type(obj))
    parent_id = getattr(obj, key)
    if parent_id is None:  # a new row linked to its parent object, not yet to its id
        for rel in type(obj).__mapper__.relationships:
            if [c.key for c in rel.local_columns] == [key]:
                related = getattr(obj, rel.key)
                return related is not None and session_scope(session).allows(related.org_unit_id)
        return False
    with session.no_autoflush:
        found = session.scalar(select(parent.org_unit_id).where(parent.id == parent_id))
    return found is not None and session_scope(session).allows(found)


@event.listens_for(Session, "before_flush")
def _refuse_foreign_writes(session: Session, _flush_context, _instances) -> None:
    scope = session_scope(session)
    if scope.whole:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, OrgScoped) and not scope.allows(obj.org_unit_id):
            raise ScopeError(
                f"{type(obj).__name__} in org unit {obj.org_unit_id} is outside the user's scope"
            )
        if isinstance(obj, ScopedByParent) and not _parent_visible(session, obj):
            raise ScopeError(f"{type(obj).__name__} of a row outside the user's scope")
