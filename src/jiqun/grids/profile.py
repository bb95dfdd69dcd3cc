"""A grid's profile (网格画像): its KPIs, market, team and manager, and its merchants.

What the grid page (``/grids/{grid_id}``) and its JSON twin show, in the scope of the session
that reads it; a grid outside that scope is :class:`~jiqun.errors.NotFound`.

* The KPIs are the grid's row of the grid KPI table (网格考核), :meth:`OperatingPicture.grids`:
  :func:`grid_kpi_rows` names the rows for ``/grids`` and :func:`grid_profile` picks one of
  them, so the list and the page never disagree and nothing is computed twice (the picture's
  figures are cached).
* The merchants are the customers whose grid it is, with their month-to-date parcels, largest
  first; the map draws those with coordinates.
* The market's name and the manager's are facts of the grid, read past the viewer's scope as
  plain ``id → name`` values (as :mod:`jiqun.sales.people` does for owners); the team is shown
  when the viewer can see it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.errors import NotFound
from jiqun.grids import teams
from jiqun.kpi import overview
from jiqun.kpi.service import OperatingPicture
from jiqun.sales.people import names_of
from jiqun.store.models import Customer, Grid, LifecycleStage, Market, Team
from jiqun.store.scope import values_by_id


@dataclass(frozen=True)
class GridMerchant:
    """A merchant (商家) of the grid as its page lists it."""

    id: int
    code: str
    name: str
    tier: str | None
    stage: str
    vip: bool
    owner_id: int | None
    owner: str | None
    parcels: int  # month to date
    lon: float | None
    lat: float | None


@dataclass(frozen=True)
class GridTeam:
    """The team that works the grid (营销团队), with its members, leader first."""

    id: int
    name: str
    status: str
    leader: str | None
    members: list[teams.MemberRow]


@dataclass
class GridProfile:
    id: int
    code: str
    name: str
    status: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    market_id: int
    market: str | None
    manager_id: int | None
    manager: str | None
    as_of: dt.date | None
    development_rate_target: float
    kpis: dict | None  # the grid's row of grid_kpi_rows; None: no plan or parcels this month
    team: GridTeam | None
    merchants: list[GridMerchant] = field(default_factory=list)


def _market_names(session: Session, ids) -> dict[int, str]:
    """Market names of grids the session sees: a grid's market is a fact of the grid, and an
    outlet's grid lies in a county's market, above a marketer's subtree."""
    return {mid: row.name for mid, row in values_by_id(session, Market.id, Market.name,
                                                        ids=ids).items()}


def grid_kpi_rows(session: Session, picture: OperatingPicture, as_of: dt.date) -> list[dict]:
    """The grid KPI table (网格考核) of the month to ``as_of``, ranked by plan progress: each
    row of :meth:`OperatingPicture.grids` with its grid's name, market and team. Rows of grid
    ids the store does not hold (or the viewer cannot see) are left out."""
    grids = {g.id: g for g in session.scalars(select(Grid))}
    markets = _market_names(session, (g.market_id for g in grids.values()))
    team_names = dict(session.execute(select(Team.id, Team.name)).all())
    rows = []
    for r in picture.grids(as_of):
        grid = grids.get(r["grid_id"])
        if grid is None:  # a grid id in the waybills that the store no longer has
            continue
        rows.append({**r, "grid": grid.name, "market_id": grid.market_id,
                     "market": markets.get(grid.market_id), "team": team_names.get(grid.team_id)})
    return rows


def _team(session: Session, team_id: int | None) -> GridTeam | None:
    if team_id is None:
        return None
    try:
        detail = teams.team_detail(session, team_id)
    except NotFound:  # a team of a unit above the viewer's: the grid page shows none
        return None
    return GridTeam(id=detail.team.id, name=detail.team.name, status=detail.team.status,
                    leader=detail.team.leader, members=detail.members)


def grid_merchants(picture: OperatingPicture, grid_id: int, as_of: dt.date | None
                   ) -> list[GridMerchant]:
    """The customers whose grid it is, with their parcels of the month to ``as_of``, most
    parcels first (then the largest estimated volume, then the code)."""
    session = picture.session
    customers = list(session.scalars(select(Customer).where(Customer.grid_id == grid_id)))
    parcels: dict[int, int] = {}
    if as_of is not None and customers:
        volumes = overview.customer_volumes(
            picture.con, picture.lake, picture.scope, overview.month_start(as_of), as_of,
            customer_ids=[c.id for c in customers])
        parcels = {v.customer_id: v.parcels for v in volumes}
    owners = names_of(session, (c.owner_id for c in customers))
    customers.sort(key=lambda c: (-parcels.get(c.id, 0), -(c.est_daily_volume or 0), c.code))
    return [
        GridMerchant(id=c.id, code=c.code, name=c.name, tier=c.tier.value if c.tier else None,
                     stage=c.lifecycle_stage.value, vip=bool(c.vip), owner_id=c.owner_id,
                     owner=owners.get(c.owner_id), parcels=parcels.get(c.id, 0),
                     lon=c.lon, lat=c.lat)
        for c in customers
    ]


def grid_profile(picture: OperatingPicture, grid_id: int, as_of: dt.date | None) -> GridProfile:
    """The grid's page in the picture's scope (``as_of``: the data date, None without data)."""
    session = picture.session
    grid = session.get(Grid, grid_id)  # scoped: a grid outside the scope is not found
    if grid is None:
        raise NotFound(grid_id)
    kpis = None
    if as_of is not None:
        kpis = next((r for r in grid_kpi_rows(session, picture, as_of)
                     if r["grid_id"] == grid.id), None)
    return GridProfile(
        id=grid.id, code=grid.code, name=grid.name, status=grid.status,
        valid_from=grid.valid_from, valid_to=grid.valid_to, market_id=grid.market_id,
        market=_market_names(session, [grid.market_id]).get(grid.market_id),
        manager_id=grid.manager_id, manager=names_of(session, [grid.manager_id]).get(
            grid.manager_id),
        as_of=as_of, development_rate_target=picture.rules.development_rate_target,
        kpis=kpis, team=_team(session, grid.team_id),
        merchants=grid_merchants(picture, grid.id, as_of),
    )


def merchant_map(merchants: list[GridMerchant]) -> dict:
    """The merchants with coordinates as map points, one series per lifecycle stage:
    ``{"series": [{"stage", "points": [[lon, lat, parcels, name, id], …]}]}``."""
    series: dict[str, list] = {}
    for m in merchants:
        if m.lon is None or m.lat is None:
            continue
        series.setdefault(m.stage, []).append(
            [round(m.lon, 5), round(m.lat, 5), m.parcels, m.name, m.id])
    order = list(LifecycleStage)  # the legend reads like the lifecycle (建档 → … → 流失)
    return {"series": [{"stage": k, "points": series[k]}
                       for k in sorted(series, key=lambda s: order.index(LifecycleStage(s)))]}
