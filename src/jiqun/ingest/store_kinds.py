"""Markets and customers → the store: validated row by row (archives are thousands of rows),
then upserted by ``code`` in one transaction. Identical rows are left alone (no audit entry)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.bounds import plausible_date
from jiqun.geo.address import parse_addresses, resolve_names
from jiqun.geo.divisions import division
from jiqun.ingest.columns import (
    BOOLEANS,
    CUSTOMER_TIERS,
    LIFECYCLE_STAGES,
    LIST_SEPARATORS,
    MARKET_TYPES,
    PLATFORMS,
)
from jiqun.ingest.report import Reject
from jiqun.store.estimates import market_volume
from jiqun.store.models import (
    ALL_CARRIERS,
    Customer,
    CustomerTier,
    Grid,
    LifecycleStage,
    Market,
    MarketType,
    MarketVolumeEstimate,
    OrgUnit,
    User,
)

Progress = Callable[[str, int, int], None]


@dataclass
class Planned:
    """One accepted row: the values to store under ``code``."""

    row: int
    code: str
    fields: dict[str, Any]
    estimate: tuple[dt.date | None, float] | None = None  # market-total daily volume


@dataclass
class Outcome:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


class RowReader:
    """Reads the cells of one row, collecting a reject line for every bad value."""

    def __init__(self, row: int, cells: dict[str, str | None], headers: dict[str, str]):
        self.row, self.cells, self.headers = row, cells, headers
        self.rejects: list[Reject] = []

    def reject(self, column: str, reason: str) -> None:
        self.rejects.append(Reject(self.row, self.headers.get(column, column), self.cells.get(column), reason))

    def text(self, column: str, required: bool = False) -> str | None:
        value = self.cells.get(column)
        if value is None and required:
            self.reject(column, "required")
        return value

    def number(self, column: str, minimum: float | None = None) -> float | None:
        value = self.cells.get(column)
        if value is None:
            return None
        try:
            number = float(value.replace(",", ""))
        except ValueError:
            self.reject(column, "not_a_number")
            return None
        if not math.isfinite(number):  # "nan", "inf", "1e400": cannot be stored nor summed
            self.reject(column, "not_finite")
            return None
        if minimum is not None and number < minimum:
            self.reject(column, "negative")
            return None
        return number

    def choice(self, column: str, vocab: dict[str, str], reason: str, required: bool = False) -> str | None:
        value = self.text(column, required)
        if value is None:
            return None
        if value.lower() not in vocab:
            self.reject(column, reason)
        return vocab.get(value.lower())

    def choices(self, column: str, vocab: dict[str, str] | None, reason: str) -> list[str] | None:
        value = self.cells.get(column)
        if value is None:
            return None
        for sep in LIST_SEPARATORS:
            value = value.replace(sep, ",")
        items = [v.strip() for v in value.split(",") if v.strip()]
        if vocab is None:
            return list(dict.fromkeys(items))
        if any(i.lower() not in vocab for i in items):
            self.reject(column, reason)
            return None
        return list(dict.fromkeys(vocab[i.lower()] for i in items))

    def boolean(self, column: str) -> bool | None:
        value = self.cells.get(column)
        if value is None:
            return None
        if value.lower() not in BOOLEANS:
            self.reject(column, "bad_bool")
        return BOOLEANS.get(value.lower())

    def date(self, column: str) -> dt.date | None:
        value = self.cells.get(column)
        if value is None:
            return None
        for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y-%m-%d %H:%M:%S"):
            try:
                day = dt.datetime.strptime(value, fmt).date()
            except ValueError:
                continue
            if not plausible_date(day):  # 0001-01-02 parses, and breaks every date sum later
                self.reject(column, "date_out_of_range")
                return None
            return day
        self.reject(column, "bad_date")
        return None

    def lookup(self, column: str, mapping: dict[str, Any], reason: str) -> Any:
        value = self.cells.get(column)
        if value is None:
            return None
        if value not in mapping:
            self.reject(column, reason)
        return mapping.get(value)


def _once_per_code(reader: RowReader, code: str | None, seen: set[str]) -> None:
    if code is not None:
        if code in seen:
            reader.reject("code", "duplicate_in_file")
        seen.add(code)


def _org_units(session: Session) -> dict[str, OrgUnit]:
    """Org units by code, those outside the session's subtree left out (an unknown code then)."""
    scope = session.info.get("scope")
    return {u.code: u for u in session.scalars(select(OrgUnit))
            if scope is None or scope.allows(u.id)}


def _place(reader: RowReader, present: set[str]) -> tuple[str | None, bool]:
    """(adcode, needs_address_parse): from the adcode column, else names, else the address."""
    adcode = reader.text("adcode")
    if adcode is not None:
        if division(adcode) is None:
            reader.reject("adcode", "unknown_place")
        return adcode, False
    names = [reader.text(c) for c in ("province", "city", "county")]
    if any(names):
        codes = resolve_names(*names)
        if codes is None:  # report the first part that does not resolve
            for depth, column in enumerate(("province", "city", "county")):
                if names[depth] and resolve_names(*names[: depth + 1]) is None:
                    reader.reject(column, "unknown_place")
                    break
            return None, False
        return next(c for c in reversed(codes) if c), False
    return None, reader.text("address") is not None


def _fill_places(planned: list[Planned], needs_parse: list[Planned]) -> None:
    """One cpca call for every row whose place is only in its address."""
    found = parse_addresses([p.fields["address"] for p in needs_parse])
    for plan, place in zip(needs_parse, found, strict=True):
        plan.fields["adcode"] = place.adcode if place else None
    for plan in planned:
        if "lon" in plan.fields and plan.fields.get("lon") is None and plan.fields.get("adcode"):
            centre = division(plan.fields["adcode"])
            if centre:  # a market without coordinates sits at the centroid of its division
                plan.fields["lon"], plan.fields["lat"] = centre.lon, centre.lat


def plan_markets(session: Session, rows: list[dict], headers: dict[str, str], progress: Progress | None
                 ) -> tuple[list[Planned], list[Reject]]:
    """Validate market rows (集群市场档案)."""
    units = _org_units(session)
    present = set(headers)
    planned, needs_parse, rejects, seen = [], [], [], set()
    for i, cells in enumerate(rows):
        r = RowReader(cells.pop("_row"), cells, headers)
        code = r.text("code", required=True)
        _once_per_code(r, code, seen)
        fields: dict[str, Any] = {
            "name": r.text("name", required=True),
            "type": r.choice("type", MARKET_TYPES, "unknown_market_type", required=True),
            "industry": r.text("industry", required=True),
            "org_unit_id": getattr(r.lookup("org_unit", units, "unknown_org_unit"), "id", None),
        }
        if r.text("org_unit") is None:
            r.reject("org_unit", "required")
        for name in ("name_en", "address", "tier"):
            if name in present:
                fields[name] = r.text(name)
        if "yearly_revenue_target" in present:
            fields["yearly_revenue_target"] = r.number("yearly_revenue_target", minimum=0)
        if "key_area" in present:
            fields["key_area"] = bool(r.boolean("key_area"))
        fields["lon"], fields["lat"] = _coordinates(r)
        adcode, parse = _place(r, present)
        fields["adcode"] = adcode
        estimate = None
        volume = r.number("daily_volume_estimate", minimum=0)
        valid_from = r.date("estimate_date")
        if volume is not None:
            estimate = (valid_from, volume)
        if r.rejects:
            rejects += r.rejects
        else:
            plan = Planned(r.row, code, fields, estimate)
            planned.append(plan)
            if parse:
                needs_parse.append(plan)
        if progress and i % 500 == 0:
            progress("validating", i, len(rows))
    _fill_places(planned, needs_parse)
    for plan in planned:
        plan.fields["type"] = MarketType(plan.fields["type"])
    return planned, rejects


def _coordinates(r: RowReader) -> tuple[float | None, float | None]:
    lon, lat = r.number("lon"), r.number("lat")
    if lon is not None and not -180 <= lon <= 180:
        r.reject("lon", "bad_coordinate")
    if lat is not None and not -90 <= lat <= 90:
        r.reject("lat", "bad_coordinate")
    return lon, lat


def plan_customers(session: Session, rows: list[dict], headers: dict[str, str],
                   progress: Progress | None) -> tuple[list[Planned], list[Reject]]:
    """Validate customer rows (客户档案)."""
    units = _org_units(session)
    markets = {m.code: m for m in session.scalars(select(Market))}
    grids: dict[tuple[int, str], int] = {}
    grid_codes: dict[str, list[int]] = {}
    for g in session.scalars(select(Grid)):
        grids[(g.market_id, g.code)] = g.id
        grid_codes.setdefault(g.code, []).append(g.id)
    users = {u.username: u.id for u in session.scalars(select(User))}
    present = set(headers)
    planned, needs_parse, rejects, seen = [], [], [], set()
    for i, cells in enumerate(rows):
        r = RowReader(cells.pop("_row"), cells, headers)
        code = r.text("code", required=True)
        _once_per_code(r, code, seen)
        market = r.lookup("market", markets, "unknown_market")
        unit = r.lookup("org_unit", units, "unknown_org_unit")
        fields: dict[str, Any] = {"name": r.text("name", required=True)}
        fields["market_id"] = market.id if market else None
        fields["org_unit_id"] = unit.id if unit else (market.org_unit_id if market else None)
        if fields["org_unit_id"] is None and not r.rejects:
            r.reject("org_unit", "no_org_unit")
        if "grid" in present:
            fields["grid_id"] = _grid_id(r, market, grids, grid_codes)
        for name in ("contact", "phone", "address"):
            if name in present:
                fields[name] = r.text(name)
        if "platforms" in present:
            fields["platforms"] = r.choices("platforms", PLATFORMS, "unknown_platform")
        if "categories" in present:
            fields["categories"] = r.choices("categories", None, "")
        if "est_daily_volume" in present:
            fields["est_daily_volume"] = r.number("est_daily_volume", minimum=0)
        if "lifecycle_stage" in present:
            stage = r.choice("lifecycle_stage", LIFECYCLE_STAGES, "unknown_stage")
            fields["lifecycle_stage"] = LifecycleStage(stage or "archived")
        if "tier" in present:
            tier = r.choice("tier", CUSTOMER_TIERS, "unknown_tier")
            fields["tier"] = CustomerTier(tier) if tier else None
        if "owner" in present:
            fields["owner_id"] = r.lookup("owner", users, "unknown_user")
        if "vip" in present:
            fields["vip"] = bool(r.boolean("vip"))
        if r.rejects:
            rejects += r.rejects
        else:
            plan = Planned(r.row, code, fields)
            planned.append(plan)
            if fields.get("address"):
                needs_parse.append(plan)
        if progress and i % 500 == 0:
            progress("validating", i, len(rows))
    _fill_places(planned, needs_parse)
    return planned, rejects


def _grid_id(r: RowReader, market: Market | None, grids: dict, grid_codes: dict) -> int | None:
    code = r.text("grid")
    if code is None:
        return None
    found = grids.get((market.id, code)) if market else (
        grid_codes[code][0] if len(grid_codes.get(code, [])) == 1 else None)
    if found is None:
        r.reject("grid", "unknown_grid")
    return found


def _changed(obj: Any, fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if getattr(obj, k) != v}


def _existing(session: Session, model, codes: list[str]) -> dict[str, Any]:
    found = {}
    for start in range(0, len(codes), 500):  # stay below SQLite's bound-parameter limit
        chunk = codes[start:start + 500]
        found.update({o.code: o for o in session.scalars(select(model).where(model.code.in_(chunk)))})
    return found


def outside_scope(session: Session, model, planned: list[Planned], headers: dict[str, str]
                  ) -> tuple[list[Planned], list[Reject]]:
    """Rows whose code belongs to a record the session cannot see are rejected
    (``code_outside_scope``): codes are unique across the organisation, so such a row can
    neither update that record (outside the subtree) nor insert a second one."""
    codes = [p.code for p in planned]
    taken: set[str] = set()
    for start in range(0, len(codes), 500):  # stay below SQLite's bound-parameter limit
        chunk = codes[start:start + 500]
        taken |= set(session.scalars(select(model.code).where(model.code.in_(chunk)),
                                     execution_options={"unscoped": True}))
    if not taken:
        return planned, []
    foreign = taken - set(_existing(session, model, sorted(taken)))
    column = headers.get("code", "code")
    return ([p for p in planned if p.code not in foreign],
            [Reject(p.row, column, p.code, "code_outside_scope")
             for p in planned if p.code in foreign])


def apply_rows(session: Session, model, planned: list[Planned], dry_run: bool,
               progress: Progress | None = None) -> Outcome:
    """Insert new codes, update changed ones, leave identical ones alone."""
    outcome = Outcome()
    existing = _existing(session, model, [p.code for p in planned])
    for i, plan in enumerate(planned):
        obj = existing.get(plan.code)
        if obj is None:
            outcome.inserted += 1
            if not dry_run:
                obj = model(code=plan.code, **plan.fields)
                session.add(obj)
                existing[plan.code] = obj
            changed_estimate = plan.estimate is not None
        else:
            diff = _changed(obj, plan.fields)
            changed_estimate = plan.estimate is not None and _estimate_changes(session, obj, plan.estimate)
            if diff or changed_estimate:
                outcome.updated += 1
            else:
                outcome.unchanged += 1
            if not dry_run:
                for key, value in diff.items():
                    setattr(obj, key, value)
        if changed_estimate and not dry_run:
            _write_estimate(session, obj, plan.estimate)
        if progress and i % 500 == 0:
            progress("writing", i, len(planned))
    if not dry_run:
        session.flush()
    return outcome


def _whole_market_estimates(session: Session, market: Market) -> list[MarketVolumeEstimate]:
    """Every dated estimate of the market's total, to find the one of a given day."""
    if market.id is None:
        return []
    return list(session.scalars(
        select(MarketVolumeEstimate)
        .where(MarketVolumeEstimate.market_id == market.id,
               MarketVolumeEstimate.carrier == ALL_CARRIERS)
        .order_by(MarketVolumeEstimate.valid_from)
    ))


def _estimate_changes(session: Session, market: Market, estimate: tuple[dt.date | None, float]) -> bool:
    valid_from, volume = estimate
    if valid_from is None:  # an undated estimate changes the one in force now
        return market.id is None or market_volume(session, market.id) != volume
    same_day = [e for e in _whole_market_estimates(session, market) if e.valid_from == valid_from]
    return not same_day or same_day[0].daily_volume != volume


def _write_estimate(session: Session, market: Market, estimate: tuple[dt.date | None, float]) -> None:
    """Record the market-total daily volume (all carriers, carrier ``*``)."""
    session.flush()  # a new market needs its id
    valid_from = estimate[0] or dt.date.today()
    same_day = [e for e in _whole_market_estimates(session, market) if e.valid_from == valid_from]
    if same_day:
        same_day[0].daily_volume = estimate[1]
    else:
        session.add(MarketVolumeEstimate(
            market_id=market.id, org_unit_id=market.org_unit_id, carrier=ALL_CARRIERS,
            valid_from=valid_from, daily_volume=estimate[1], source="import",
        ))


@dataclass
class StoreKind:
    model: type
    plan: Callable
    extra: dict = field(default_factory=dict)
    # Writes the planned rows instead of the upsert by code (:func:`apply_rows`), for kinds
    # whose rows are not one record each: ``(session, planned, dry_run, rejects) -> Outcome``,
    # adding to ``rejects`` what it refuses (rate cards: jiqun.money.cards).
    apply: Callable | None = None


STORE_KINDS = {
    "markets": StoreKind(Market, plan_markets),
    "customers": StoreKind(Customer, plan_customers),
}
