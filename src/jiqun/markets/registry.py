"""Registry of cluster markets (M1, 集群市场台账): create and edit a market with its type,
industry, tier, key-area flag (重点产粮区), org unit, coordinates, yearly targets and the
estimated daily volume of all carriers.

Every function takes a session opened for the acting user (``Store.session(actor=…)``): the
role decides what they may do (``market.create``, ``market.edit``, and ``target.set`` for an
edit that changes a yearly target; ``docs/permissions.md``), the scope where: a market outside
the subtree is not found, and a market placed outside it is refused by the scope mechanism itself
(its ``ScopeError`` is answered as a field error). Changes are audited by the store
(``store/audit.py``) with the session's user and source.

No lost update: an edit may carry the ``version`` of the market the user saw. When the market
has changed since, the edit is refused with :class:`~jiqun.errors.Conflict` listing, per field,
the value sent (``mine``) and the value stored (``theirs``) — unless it would change nothing.

Yearly targets: the revenue target is kept on the market (``yearly_revenue_target``) and, with
the optional yearly volume target, spread evenly over the twelve monthly
:class:`~jiqun.store.models.Target` rows of ``target_year`` (scope ``market``), which the plan
KPIs read. The spread is written only when a yearly figure changes, so editing a market's name
keeps monthly targets that were imported with their seasons.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from jiqun.bounds import FIRST_YEAR, LAST_YEAR, MAX_ID
from jiqun.markets.errors import Conflict, Invalid, NotFound, field_errors
from jiqun.permissions import Action, require
from jiqun.store.estimates import market_volume
from jiqun.store.models import (
    ALL_CARRIERS,
    Market,
    MarketType,
    MarketVolumeEstimate,
    OrgLevel,
    OrgUnit,
    Target,
    TargetScope,
)
from jiqun.store.scope import ScopeError, session_scope

MARKET_LEVELS = (OrgLevel.CITY, OrgLevel.COUNTY, OrgLevel.OUTLET)  # a market sits in a city
TIERS = ("A", "B", "C")  # operating tier (分级运营)
# China's bounding box: a coordinate outside it is a typo (swapped lon/lat, missing digit).
LON_RANGE, LAT_RANGE = (73.0, 136.0), (3.0, 54.0)
# The largest yearly target and daily estimate a market can plausibly have: far above any real
# market (the whole country ships ~10^11 parcels a year), far below what a float column or the
# pages' number formatting can no longer hold (1e39, inf).
MAX_YEARLY_TARGET = 1e12
MAX_DAILY_VOLUME = 1e9
TARGET_FIELDS = ("yearly_revenue_target", "yearly_volume_target")

FIELD_MESSAGES = {
    "code": "A code of 1–32 letters, digits, dashes or underscores",
    "name": "A name of 1–100 characters",
    "name_en": "An English name of up to 100 characters",
    "type": "Choose the market type",
    "industry": "An industry of 1–50 characters",
    "tier": "Tier A, B or C",
    "key_area": "Key area is yes or no",
    "org_unit_id": "Choose a city, county or outlet",
    "adcode": "A 6-digit division code",
    "address": "An address of up to 255 characters",
    "lon": "Longitude between 73 and 136 (China)",
    "lat": "Latitude between 3 and 54 (China)",
    "yearly_revenue_target": "A yearly revenue target between 0 and 1 trillion yuan",
    "yearly_volume_target": "A yearly volume target between 0 and 1 trillion parcels",
    "market_daily_volume": "An estimated daily volume between 0 and 1 billion parcels",
    "target_year": "A year between 2000 and 2100",
    "version": "The version of the market you edited",
}


class MarketIn(BaseModel):
    """A market as the form, the API and the CLI give it (创建 / 编辑集群市场)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=100)
    name_en: str | None = Field(None, max_length=100)
    type: MarketType
    industry: str = Field(min_length=1, max_length=50)
    tier: Literal["A", "B", "C"] | None = None
    key_area: bool = False
    org_unit_id: int = Field(ge=1, le=MAX_ID)
    adcode: str | None = Field(None, pattern=r"^\d{6}$")
    address: str | None = Field(None, max_length=255)
    lon: float | None = Field(None, ge=LON_RANGE[0], le=LON_RANGE[1])
    lat: float | None = Field(None, ge=LAT_RANGE[0], le=LAT_RANGE[1])
    yearly_revenue_target: float | None = Field(None, ge=0, le=MAX_YEARLY_TARGET,
                                                allow_inf_nan=False, description="yuan")
    yearly_volume_target: float | None = Field(None, ge=0, le=MAX_YEARLY_TARGET,
                                               allow_inf_nan=False, description="parcels")
    market_daily_volume: float | None = Field(
        None, ge=0, le=MAX_DAILY_VOLUME, allow_inf_nan=False,
        description="estimated parcels a day of all carriers (市场总量)")
    target_year: int = Field(default_factory=lambda: dt.date.today().year, ge=FIRST_YEAR,
                             le=LAST_YEAR)


_NUMBER_FIELDS = ("lon", "lat", "yearly_revenue_target", "yearly_volume_target",
                  "market_daily_volume")


def clean_form(form: Mapping[str, Any]) -> dict[str, Any]:
    """Form fields as the model expects them: blanks are missing, ``1,000,000`` is a number,
    a checkbox is a bool."""
    data: dict[str, Any] = {}
    for name in MarketIn.model_fields:
        value = form.get(name)
        if isinstance(value, str):
            value = value.strip()
            if name in _NUMBER_FIELDS:
                value = re.sub(r"[,_\s]", "", value)
            if value == "":
                value = None
        if value is not None:
            data[name] = value
    data["key_area"] = str(form.get("key_area", "")).lower() in ("1", "true", "on", "yes")
    return data


def parse_market(data: Mapping[str, Any]) -> MarketIn:
    """Validate ``data``; :class:`Invalid` lists every wrong field."""
    try:
        market = MarketIn.model_validate(dict(data))
    except ValidationError as err:
        raise field_errors(err, FIELD_MESSAGES, "Invalid value") from None
    if (market.lon is None) != (market.lat is None):
        raise Invalid({"lon": "Give both longitude and latitude, or neither"})
    return market


# -- reading ------------------------------------------------------------------------------------
def market_units(session: Session) -> list[OrgUnit]:
    """Org units a market may be placed under: cities, counties and outlets of the scope."""
    query = select(OrgUnit).where(OrgUnit.level.in_(MARKET_LEVELS)).order_by(OrgUnit.path)
    in_scope = session_scope(session).where(OrgUnit.id)  # by org path; None: everything
    if in_scope is not None:
        query = query.where(in_scope)
    return list(session.scalars(query))


def get_market(session: Session, market_id: int) -> Market:
    market = session.get(Market, market_id)  # scoped: a foreign market is not found
    if market is None:
        raise NotFound(market_id)
    return market


def market_by_code(session: Session, code: str) -> Market:
    market = session.scalars(select(Market).where(Market.code == code)).one_or_none()
    if market is None:
        raise NotFound(code)
    return market


def _year_months(year: int) -> list[dt.date]:
    return [dt.date(year, m, 1) for m in range(1, 13)]


def _market_targets(session: Session, market_id: int, year: int) -> dict[dt.date, Target]:
    rows = session.scalars(select(Target).where(
        Target.scope_type == TargetScope.MARKET, Target.scope_id == market_id,
        Target.month.between(dt.date(year, 1, 1), dt.date(year, 12, 1))))
    return {t.month: t for t in rows}


def yearly_volume_target(session: Session, market_id: int, year: int) -> float | None:
    """The year's monthly volume targets added up (``None`` when the year has none)."""
    total = session.scalar(select(func.sum(Target.volume)).where(
        Target.scope_type == TargetScope.MARKET, Target.scope_id == market_id,
        Target.month.between(dt.date(year, 1, 1), dt.date(year, 12, 1))))
    return float(total) if total else None


def market_values(session: Session, market: Market, year: int | None = None) -> dict[str, Any]:
    """The market as :class:`MarketIn` fields: what the edit form starts from."""
    year = year or dt.date.today().year
    values = {name: getattr(market, name) for name in MarketIn.model_fields
              if hasattr(Market, name)}
    values.update(
        type=market.type.value, key_area=bool(market.key_area), target_year=year,
        version=market.version,
        yearly_volume_target=yearly_volume_target(session, market.id, year),
        market_daily_volume=market_volume(session, market.id),
    )
    return values


# -- writing ------------------------------------------------------------------------------------
def _check_unit(session: Session, unit_id: int) -> OrgUnit:
    unit = session.get(OrgUnit, unit_id)
    if unit is None or unit.level not in MARKET_LEVELS:
        raise Invalid({"org_unit_id": "Choose a city, county or outlet"})
    return unit


def _check_code_free(session: Session, code: str, market_id: int | None) -> None:
    # Codes are unique across the whole organisation, so look beyond the scope.
    taken = session.scalar(select(Market.id).where(Market.code == code)
                           .execution_options(unscoped=True))
    if taken is not None and taken != market_id:
        raise Invalid({"code": "This code is already used by another market"})


_MARKET_COLUMNS = ("code", "name", "name_en", "type", "industry", "tier", "key_area",
                   "org_unit_id", "adcode", "address", "lon", "lat", "yearly_revenue_target")


def _spread_targets(session: Session, market: Market, data: MarketIn, *,
                    revenue_changed: bool, volume_changed: bool) -> None:
    """Write the year's twelve monthly targets: yearly figures / 12 (完成计划按月分解)."""
    if not (revenue_changed or volume_changed):
        return
    existing = _market_targets(session, market.id, data.target_year)
    for month in _year_months(data.target_year):
        target = existing.get(month)
        new = target is None
        if new:
            target = Target(scope_type=TargetScope.MARKET, scope_id=market.id, month=month,
                            volume=0.0, revenue=0.0, new_customers=0,
                            org_unit_id=market.org_unit_id)
            session.add(target)
        if revenue_changed or new:
            target.revenue = (data.yearly_revenue_target or 0.0) / 12
        if volume_changed or new:
            target.volume = (data.yearly_volume_target or 0.0) / 12


def _record_market_volume(session: Session, market: Market, daily: float | None,
                          today: dt.date) -> None:
    """A new estimate of all carriers from today when the figure changed (the history of
    estimates is kept: share over time reads it)."""
    if daily is None or daily == market_volume(session, market.id):
        return
    same_day = session.scalars(select(MarketVolumeEstimate).where(
        MarketVolumeEstimate.market_id == market.id,
        MarketVolumeEstimate.carrier == ALL_CARRIERS,
        MarketVolumeEstimate.valid_from == today)).one_or_none()
    if same_day is not None:
        same_day.daily_volume = daily
        return
    session.add(MarketVolumeEstimate(market_id=market.id, org_unit_id=market.org_unit_id,
                                     carrier=ALL_CARRIERS, valid_from=today, daily_volume=daily,
                                     source="registry"))


def _follow_market(session: Session, market: Market) -> None:
    """Targets and estimates of a moved market move with it, so they stay in its scope."""
    for model, key in ((Target, Target.scope_id), (MarketVolumeEstimate,
                                                    MarketVolumeEstimate.market_id)):
        query = select(model).where(key == market.id)
        if model is Target:
            query = query.where(Target.scope_type == TargetScope.MARKET)
        for row in session.scalars(query):
            row.org_unit_id = market.org_unit_id


def _flush_in_scope(session: Session) -> None:
    try:
        session.flush()
    except ScopeError:
        raise Invalid({"org_unit_id": "This org unit is outside your scope"}) from None
    except StaleDataError:  # a concurrent save got there between our read and our write
        raise Conflict("Someone else changed this record meanwhile; reload it and try again"
                       ) from None


def create_market(session: Session, data: Mapping[str, Any] | MarketIn,
                  today: dt.date | None = None) -> Market:
    """Add a market (新建集群市场) under an org unit of the scope, with its targets and estimate.

    Needs ``market.create``, and ``target.set`` when it comes with a yearly target."""
    require(session, Action.MARKET_CREATE)
    parsed = data if isinstance(data, MarketIn) else parse_market(data)
    if any(getattr(parsed, f) is not None for f in TARGET_FIELDS):
        require(session, Action.TARGET_SET)
    _check_unit(session, parsed.org_unit_id)
    _check_code_free(session, parsed.code, None)
    market = Market(**{c: getattr(parsed, c) for c in _MARKET_COLUMNS})
    session.add(market)
    _flush_in_scope(session)  # the scope mechanism refuses a unit outside the subtree
    _spread_targets(session, market, parsed,
                    revenue_changed=parsed.yearly_revenue_target is not None,
                    volume_changed=parsed.yearly_volume_target is not None)
    _record_market_volume(session, market, parsed.market_daily_volume, today or dt.date.today())
    session.flush()
    return market


_YEAR = TypeAdapter(Annotated[int, Field(ge=FIRST_YEAR, le=LAST_YEAR)])


def _year_of(changes: Mapping[str, Any]) -> int:
    """The year whose targets an edit is about, checked before it is used to read them."""
    raw = changes.get("target_year")
    if raw is None or raw == "":
        return dt.date.today().year
    try:
        return _YEAR.validate_python(raw)
    except ValidationError:
        raise Invalid({"target_year": FIELD_MESSAGES["target_year"]}) from None


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, MarketType) else value


def _same(old: Any, new: Any) -> bool:
    # Yearly volume targets are read back as a sum of twelve monthly floats; the form sends the
    # shown figure again, which must not count as a change (nor need target.set).
    if isinstance(old, float | int) and isinstance(new, float | int) \
            and not isinstance(old, bool) and not isinstance(new, bool):
        return math.isclose(old, new, rel_tol=1e-9, abs_tol=1e-6)
    return old == new


def _changes(before: Mapping[str, Any], parsed: MarketIn) -> dict[str, tuple[Any, Any]]:
    """Field → (stored, sent) for every field the edit changes."""
    found = {}
    for name in MarketIn.model_fields:
        if name == "target_year":
            continue
        old, new = _plain(before.get(name)), _plain(getattr(parsed, name))
        if not _same(old, new):
            found[name] = (old, new)
    return found


def _refuse_stale(market: Market, version: int | None,
                  changed: Mapping[str, tuple[Any, Any]]) -> None:
    """Someone saved the market after the user read it: refuse rather than overwrite, with
    both values of each field the save would change (a save that changes nothing passes)."""
    if version is None or version == market.version or not changed:
        return
    raise Conflict("This market was changed by someone else since you opened it",
                   mine={k: new for k, (_old, new) in changed.items()},
                   theirs={k: old for k, (old, _new) in changed.items()})


def edit_market(session: Session, market_id: int, changes: Mapping[str, Any],
                today: dt.date | None = None, *, version: int | None = None) -> Market:
    """Change some fields of a market of the scope (the rest keep their values).

    Needs ``market.edit``, and ``target.set`` when the changes carry a yearly target.
    ``version`` is the market's version the user saw (:class:`Conflict` when it moved on)."""
    require(session, Action.MARKET_EDIT)
    market = get_market(session, market_id)
    year = _year_of(changes)
    before = market_values(session, market, year)
    parsed = parse_market({**before, **changes, "target_year": year})
    changed = _changes(before, parsed)
    if any(f in changes for f in TARGET_FIELDS):
        # Sending a target is setting it, whatever is stored: the answer must not depend on
        # (nor reveal) the stored figure. Forms leave the targets out for users without it.
        require(session, Action.TARGET_SET)
    _refuse_stale(market, version, changed)
    if not changed:
        return market
    _check_unit(session, parsed.org_unit_id)
    _check_code_free(session, parsed.code, market.id)
    moved = parsed.org_unit_id != market.org_unit_id
    for column in _MARKET_COLUMNS:
        setattr(market, column, getattr(parsed, column))
    if not any(c in changed for c in _MARKET_COLUMNS):
        # Only a target or the estimate changes: the market's version still moves on, so a
        # second stale form is refused too.
        market.updated_at = dt.datetime.now().replace(microsecond=0)
        flag_modified(market, "updated_at")  # written even when it is still the same second
    _flush_in_scope(session)
    if moved:
        _follow_market(session, market)
    _spread_targets(session, market, parsed,
                    revenue_changed="yearly_revenue_target" in changed,
                    volume_changed="yearly_volume_target" in changed)
    _record_market_volume(session, market, parsed.market_daily_volume, today or dt.date.today())
    _flush_in_scope(session)
    return market
