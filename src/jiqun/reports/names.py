"""Names the reports print beside ids: teams (团队), grids (网格), markets (市场), customers
(客户) and org units, read through the picture's scoped store session (so a report can never
name something outside its scope)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.store.models import Customer, Grid, Market, OrgUnit, Team


def _localised(name: str, name_en: str | None, locale: str) -> str:
    return name_en if locale == "en" and name_en else name


def team_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Team.id, Team.name)).all())


def grid_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Grid.id, Grid.name)).all())


def market_names(session: Session, locale: str = "zh-CN") -> dict[int, str]:
    rows = session.execute(select(Market.id, Market.name, Market.name_en)).all()
    return {i: _localised(n, en, locale) for i, n, en in rows}


def customer_labels(session: Session, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """(code, name) of the given customers."""
    ids = [i for i in set(ids) if i is not None]
    if not ids:
        return {}
    rows = session.execute(
        select(Customer.id, Customer.code, Customer.name).where(Customer.id.in_(ids))
    ).all()
    return {i: (code, name) for i, code, name in rows}


def unit_names(session: Session, locale: str = "zh-CN") -> dict[int, str]:
    """Every org unit's name; org units are not scoped (the tree itself is public)."""
    rows = session.execute(select(OrgUnit.id, OrgUnit.name, OrgUnit.name_en)).all()
    return {i: _localised(n, en, locale) for i, n, en in rows}


def scope_name(session: Session, root_id: int | None, locale: str = "zh-CN") -> str | None:
    """The name of the scope's root unit (``None`` for the whole organisation)."""
    if root_id is None:
        return None
    unit = session.get(OrgUnit, root_id)
    return _localised(unit.name, unit.name_en, locale) if unit else None
