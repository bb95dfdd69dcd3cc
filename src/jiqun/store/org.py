"""The organisation tree (三级联动): HQ → province → city → county → outlet."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.store.models import OrgLevel, OrgUnit

_CHILD_LEVEL = {
    None: OrgLevel.HQ,
    OrgLevel.HQ: OrgLevel.PROVINCE,
    OrgLevel.PROVINCE: OrgLevel.CITY,
    OrgLevel.CITY: OrgLevel.COUNTY,
    OrgLevel.COUNTY: OrgLevel.OUTLET,
}


def add_unit(
    session: Session,
    parent: OrgUnit | None,
    code: str,
    name: str,
    *,
    adcode: str | None = None,
    name_en: str | None = None,
) -> OrgUnit:
    """Add a unit one level below ``parent`` and give it its materialised path."""
    level = _CHILD_LEVEL[parent.level if parent else None]
    unit = OrgUnit(parent=parent, level=level, code=code, name=name, adcode=adcode, name_en=name_en)
    session.add(unit)
    session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    return unit


def unit_by_code(session: Session, code: str) -> OrgUnit | None:
    return session.scalars(select(OrgUnit).where(OrgUnit.code == code)).one_or_none()


def ancestors(session: Session, unit: OrgUnit) -> list[OrgUnit]:
    """From the root down to ``unit`` itself."""
    ids = [int(i) for i in unit.path.strip("/").split("/") if i]
    by_id = {u.id: u for u in session.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids)))}
    return [by_id[i] for i in ids]


def unit_at_level(session: Session, unit: OrgUnit, level: OrgLevel) -> OrgUnit | None:
    """The ancestor of ``unit`` (or itself) at ``level``, e.g. the city of an outlet."""
    return next((u for u in ancestors(session, unit) if u.level == level), None)
