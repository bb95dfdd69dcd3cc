"""The monthly ledger (P4): revenue − cost = profit per org unit, market, grid and customer.

赢利归市分公司，亏损由省分公司托底: a city keeps its profit; a city whose result (profit less its
bonus pools and outlet shares) is a loss receives a **loss cover** from its province, shown on
both sides — ``+amount`` on the city, ``−amount`` on the province, and one :class:`Transfer`.
Every figure reconciles: the cost lines of :func:`jiqun.money.cost.cost_lines` are summed once,
so markets add up to their city, outlets to their city, cities to their province, and the cities'
results plus the province's transfers equal the province's result.

Revenue is the waybills' ``fee``; cost the activity cost of :mod:`jiqun.money.cost`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import ibis
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.money import incentives
from jiqun.money.cost import (
    SUMS,
    CostInputs,
    Unit,
    ancestor_at,
    chain_of,
    cost_table,
    cost_totals,
)
from jiqun.money.rules import FinanceRules
from jiqun.store.models import (
    Customer,
    Grid,
    Market,
    OrgLevel,
    Target,
    TargetScope,
    Team,
    TeamMember,
    TeamStatus,
    User,
)
from jiqun.store.scope import Scope

LEDGER_LEVELS = (OrgLevel.HQ, OrgLevel.PROVINCE, OrgLevel.CITY, OrgLevel.OUTLET)
BREAKDOWNS = ("market", "grid", "customer")


@dataclass(frozen=True)
class LedgerRow:
    """One org unit's month. ``result`` = profit − bonus pool − outlet share + loss cover
    (a city's cover received is positive, a province's cover paid negative)."""

    org_code: str
    parent_code: str | None
    level: str
    name: str
    parcels: int
    revenue: float
    cost: float
    profit: float
    loss_cover: float
    bonus_pool: float
    outlet_share: float

    @property
    def result(self) -> float:
        return self.profit - self.bonus_pool - self.outlet_share + self.loss_cover


@dataclass(frozen=True)
class Transfer:
    """A province covering a city's loss (亏损托底)."""

    from_code: str
    to_code: str
    amount: float


@dataclass(frozen=True)
class DetailRow:
    """A market, grid or customer of a city: its revenue, cost and profit of the month."""

    key: str
    label: str
    city_code: str | None
    parcels: int
    revenue: float
    cost: float
    profit: float
    bonus_pool: float = 0.0


@dataclass
class Statement:
    month: dt.date
    rows: list[LedgerRow]
    transfers: list[Transfer]
    bonuses: list[incentives.BonusShare] = field(default_factory=list)
    markets: list[DetailRow] = field(default_factory=list)


def _sums(rows: list[dict]) -> dict:
    out = defaultdict(float)
    for r in rows:
        for k in ("parcels", "revenue", "cost"):
            out[k] += float(r[k] or 0.0)
    return out


def _market_targets(session: Session, month: dt.date) -> dict[int, float]:
    return dict(session.execute(select(Target.scope_id, Target.revenue).where(
        Target.scope_type == TargetScope.MARKET, Target.month == month)).all())


def _recipients(session: Session, market_ids: list[int]):
    """Approved teams of each market and their leaders (the key people 关键人)."""
    teams: dict[int, list[incentives.Recipient]] = defaultdict(list)
    people: dict[int, list[incentives.Recipient]] = defaultdict(list)
    if not market_ids:
        return teams, people
    found = session.execute(select(Team.id, Team.name, Team.market_id).where(
        Team.market_id.in_(market_ids), Team.status == TeamStatus.APPROVED)
        .order_by(Team.id)).all()
    by_team = {}
    for tid, name, mid in found:
        teams[mid].append(incentives.Recipient("team", tid, name))
        by_team[tid] = mid
    if by_team:
        leaders = session.execute(
            select(TeamMember.team_id, User.id, User.display_name)
            .join(User, User.id == TeamMember.user_id)
            .where(TeamMember.team_id.in_(list(by_team)), TeamMember.role == "leader")
            .order_by(User.id), execution_options={"unscoped": True}).all()
        for tid, uid, name in leaders:
            person = incentives.Recipient("person", uid, name)
            if person not in people[by_team[tid]]:
                people[by_team[tid]].append(person)
    return teams, people


def statement(con: ibis.BaseBackend, lake, session: Session, scope: Scope, month: dt.date,
              rules: FinanceRules | None = None) -> Statement:
    """The ledger of ``month`` in ``scope``: org units, transfers, bonus shares and markets."""
    rules = rules or FinanceRules()
    month = month.replace(day=1)
    inputs = CostInputs.load(session, scope, month, rules)
    # One query: the lines by unit × market (a few thousand rows), summed both ways here.
    keys = ["org_unit_id", "city_id", "market_id"]
    small = cost_table(con, lake, inputs, keys)
    by_unit = {r["org_unit_id"]: r for r in _sum_by(small, ["org_unit_id"])}
    by_market = _sum_by(small, ["market_id", "city_id"])
    return build_statement(session, inputs, month, by_unit, by_market, rules)


def _sum_by(table: pa.Table, keys: list[str]) -> list[dict]:
    """The summed figures of ``table`` by ``keys``, named as :func:`grouped` names them."""
    sums = [c for c in SUMS if c in table.column_names]
    summed = table.group_by(keys, use_threads=False).aggregate([(c, "sum") for c in sums])
    return summed.rename_columns([c.removesuffix("_sum") for c in summed.column_names]
                                 ).to_pylist()


def build_statement(session: Session, inputs: CostInputs, month: dt.date,
                    by_unit: dict[int, dict], by_market: list[dict],
                    rules: FinanceRules) -> Statement:
    """The statement from the cost lines summed by unit and by market × city (pure but for
    the store reads of targets, teams and names)."""
    units = inputs.units
    targets = _market_targets(session, month)
    market_ids = [r["market_id"] for r in by_market if r["market_id"] is not None]
    teams, people = _recipients(session, market_ids)
    names = _names(session, Market, market_ids)
    bonus_by_city: dict[int, float] = defaultdict(float)
    bonuses: list[incentives.BonusShare] = []
    markets: list[DetailRow] = []
    for r in by_market:
        profit = float(r["revenue"] or 0) - float(r["cost"] or 0)
        mid = r["market_id"]
        bonus = incentives.market_bonus(float(r["revenue"] or 0), profit, targets.get(mid),
                                        rules) if mid is not None else 0.0
        if bonus:
            bonus_by_city[r["city_id"]] += bonus
            bonuses += incentives.allocate_bonus(mid, bonus, teams.get(mid, []),
                                                 people.get(mid, []), rules)
        city = units.get(r["city_id"])
        markets.append(DetailRow(
            key="" if mid is None else str(mid), label=names.get(mid, "—"),
            city_code=city.code if city else None, parcels=int(round(r["parcels"] or 0)),
            revenue=float(r["revenue"] or 0), cost=float(r["cost"] or 0), profit=profit,
            bonus_pool=bonus))
    # Outlet shares: each outlet's own lines.
    share_of: dict[int, float] = {}
    for uid, r in by_unit.items():
        if uid in units and units[uid].level == OrgLevel.OUTLET:
            share_of[uid] = incentives.outlet_share(
                float(r["revenue"] or 0) - float(r["cost"] or 0), rules)
    # Roll every line's unit up its chain.
    totals: dict[int, dict] = defaultdict(lambda: defaultdict(float))
    for uid, r in by_unit.items():
        for a in chain_of(units, uid) if uid in units else []:
            for k in ("parcels", "revenue", "cost"):
                totals[a][k] += float(r[k] or 0.0)
            totals[a]["outlet_share"] += share_of.get(uid, 0.0)
    for city, bonus in bonus_by_city.items():
        for a in chain_of(units, city) if city in units else []:
            totals[a]["bonus_pool"] += bonus
    return _rows(inputs, units, totals, month, bonuses, markets)


def _rows(inputs, units: dict[int, Unit], totals, month, bonuses, markets) -> Statement:
    shown = [u for u in units.values() if inputs.scope.allows(u.id) and u.level in LEDGER_LEVELS
             and (u.id in totals or u.level in (OrgLevel.PROVINCE, OrgLevel.CITY))]
    cover: dict[int, float] = {}
    transfers = []
    for u in shown:
        if u.level != OrgLevel.CITY:
            continue
        t = totals.get(u.id, {})
        result = t.get("revenue", 0) - t.get("cost", 0) - t.get("bonus_pool", 0) \
            - t.get("outlet_share", 0)
        if result < 0:
            cover[u.id] = round(-result, 2)
            province = ancestor_at(units, u.id, OrgLevel.PROVINCE)
            if province is not None:
                transfers.append(Transfer(units[province].code, u.code, cover[u.id]))
    paid: dict[int, float] = defaultdict(float)
    for city, amount in cover.items():
        province = ancestor_at(units, city, OrgLevel.PROVINCE)
        if province is not None:
            paid[province] += amount
    rows = []
    for u in sorted(shown, key=lambda u: u.path):
        t = totals.get(u.id, {})
        revenue, cost = round(t.get("revenue", 0.0), 2), round(t.get("cost", 0.0), 2)
        loss_cover = cover.get(u.id, 0.0) - paid.get(u.id, 0.0)
        parent = units.get(u.parent_id) if u.parent_id else None
        rows.append(LedgerRow(
            org_code=u.code, parent_code=parent.code if parent else None, level=u.level.value,
            name=u.name, parcels=int(round(t.get("parcels", 0))), revenue=revenue, cost=cost,
            profit=round(revenue - cost, 2), loss_cover=round(loss_cover, 2),
            bonus_pool=round(t.get("bonus_pool", 0.0), 2),
            outlet_share=round(t.get("outlet_share", 0.0), 2)))
    return Statement(month=month, rows=rows, transfers=transfers, bonuses=bonuses,
                     markets=sorted(markets, key=lambda m: (m.city_code or "", -m.revenue)))


def _names(session: Session, model, ids) -> dict[int, str]:
    ids = sorted({i for i in ids if i is not None})
    out = {}
    for chunk in (ids[i:i + 900] for i in range(0, len(ids), 900)):
        out.update(dict(session.execute(select(model.id, model.name).where(
            model.id.in_(chunk))).all()))
    return out


def ledger(con: ibis.BaseBackend, lake, session: Session, month: dt.date, scope: Scope,
           rules: FinanceRules | None = None) -> list[LedgerRow]:
    """One row per org unit (HQ, provinces, cities, outlets in ``scope``) of ``month``."""
    return statement(con, lake, session, scope, month, rules).rows


def ledger_by(con: ibis.BaseBackend, lake, session: Session, scope: Scope, month: dt.date,
              by: str, rules: FinanceRules | None = None) -> list[DetailRow]:
    """The month's revenue, cost and profit per market, grid or customer (by city)."""
    if by not in BREAKDOWNS:
        raise ValueError(f"unknown breakdown {by!r}")
    inputs = CostInputs.load(session, scope, month, rules)
    column = f"{by}_id"
    keys = [column, "city_id"]
    rows = cost_totals(con, lake, inputs, keys)
    model = {"market": Market, "grid": Grid, "customer": Customer}[by]
    names = _names(session, model, [r[column] for r in rows])
    out = []
    for r in rows:
        city = inputs.units.get(r["city_id"])
        revenue, cost = float(r["revenue"] or 0), float(r["cost"] or 0)
        out.append(DetailRow(key="" if r[column] is None else str(r[column]),
                             label=names.get(r[column], "—"),
                             city_code=city.code if city else None,
                             parcels=int(round(r["parcels"] or 0)), revenue=revenue, cost=cost,
                             profit=revenue - cost))
    return sorted(out, key=lambda d: (d.city_code or "", -d.revenue, d.key))


GRID_PROFIT = pa.schema([("grid_id", pa.int32()), ("grid_profit", pa.float64()),
                         ("grid_cost", pa.float64())])


def grid_profit(con: ibis.BaseBackend, lake, session: Session, scope: Scope, month: dt.date,
                rules: FinanceRules | None = None) -> pa.Table:
    """Grid profit (网格效益) of the month: revenue − activity cost of each grid's lines."""
    inputs = CostInputs.load(session, scope, month, rules)
    rows = [r for r in cost_totals(con, lake, inputs, ["grid_id"]) if r["grid_id"] is not None]
    return pa.Table.from_pylist(
        # To the fen: a sum the engine adds in parallel differs in its last bits from run to run.
        [{"grid_id": r["grid_id"],
          "grid_profit": round(float(r["revenue"] or 0) - float(r["cost"] or 0), 2),
          "grid_cost": round(float(r["cost"] or 0), 2)} for r in rows], GRID_PROFIT)


def latest_month(con: ibis.BaseBackend, lake, scope: Scope) -> dt.date:
    """The latest closed month in scope: the latest waybill's month when the data reaches its
    last day, else the month before it (this month when there are no waybills).

    A month still running carries its whole fixed cost on a few days' parcels, so on the 2nd
    every city would show a loss; the ledger opens on the last month a manager can close, and
    the running month stays one pick away."""
    from jiqun.kpi.overview import data_date

    last = data_date(con, lake, scope)
    if last is None:
        return dt.date.today().replace(day=1)
    month = last.replace(day=1)
    if (last + dt.timedelta(days=1)).month != month.month:
        return month
    before = (month - dt.timedelta(days=1)).replace(day=1)
    return before if data_date(con, lake, scope, before=month) is not None else month
