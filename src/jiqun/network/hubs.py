"""Consolidation centres 集包中心 (N3): where to put them and how big, from the merchants.

Demand points are merchants (商家) with coordinates and their average daily parcels (the
``daily`` aggregate); candidates are the outlets, the existing centres and sites a user adds.
Travel time is the local road estimate (great-circle km × ``pickup_detour_factor``) at
``pickup_speed_kmh``. Four models run through :mod:`jiqun.network.location`, each reporting its
objective, proven bound and gap:

* ``cover`` — set covering: fewest centres with every merchant within R minutes (半小时揽收圈);
* ``mclp`` — maximal covering: most parcels within R minutes with p centres;
* ``pmedian`` — p centres minimising parcel-weighted travel minutes;
* ``cflp`` — capacitated facility location with fixed costs (existing centres kept or closable).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.errors import Invalid
from jiqun.geo import haversine_km
from jiqun.lake import daily
from jiqun.network.location import (
    CapacitatedProblem,
    CoveringProblem,
    LocationResult,
    PMedianProblem,
    SolveOptions,
    solve_capacitated,
    solve_max_covering,
    solve_pmedian,
    solve_set_covering,
)
from jiqun.network.params import HUB_MODELS, PlanningParams
from jiqun.store.models import Customer, Facility, FacilityKind, Market
from jiqun.store.scope import Scope

Model = Literal["cover", "mclp", "pmedian", "cflp"]
MODELS = HUB_MODELS
VOLUME_DAYS = 90  # trailing days of a merchant's average daily parcels


@dataclass(frozen=True)
class Site:
    """A candidate centre: an outlet, an existing centre or a site a user adds."""

    name: str
    lon: float
    lat: float
    kind: str  # outlet / consolidation_centre / added
    capacity: float | None = None
    existing: bool = False
    code: str | None = None  # the facility's code (outlets and existing centres)

    @property
    def key(self) -> str:
        """What a form or a command names the site by: its code, else its name."""
        return self.code or self.name


@dataclass
class Merchants:
    ids: np.ndarray
    names: list[str]
    lon: np.ndarray
    lat: np.ndarray
    parcels: np.ndarray  # average per day


@dataclass
class HubPlan:
    """The chosen centres with their load, and the solve's numbers."""

    model: str
    p: int | None
    radius: float
    objective: float
    bound: float
    gap: float
    status: str
    seconds: float
    centres: list[dict]
    merchants: int
    parcels: float
    covered_parcels: float
    unreachable: int
    points: list[dict] = field(default_factory=list)  # merchants for the map

    def summary(self) -> dict:
        return {"model": self.model, "p": self.p, "radius_min": self.radius,
                "objective": round(self.objective, 4), "bound": round(self.bound, 4),
                "gap": round(self.gap, 6), "status": self.status,
                "seconds": round(self.seconds, 3), "centres": len(self.centres),
                "merchants": self.merchants, "parcels_per_day": round(self.parcels, 2),
                "covered_share": round(self.covered_parcels / self.parcels, 4)
                if self.parcels else None, "unreachable": self.unreachable}


def province_prefix(province: str | None) -> str | None:
    """The adcode prefix of a province (``410000`` → ``41``), or None for every province."""
    return str(province)[:2] if province else None


def scope_provinces(session: Session) -> list[tuple[str, str]]:
    """The provinces (adcode, name) of the merchants with coordinates in the session's scope:
    what a user whose scope spans several (HQ) may narrow the what-if to (分省测算)."""
    from jiqun.geo import division

    found = session.scalars(select(Customer.adcode).where(
        Customer.lon.is_not(None), Customer.lat.is_not(None), Customer.adcode.is_not(None))
        .distinct())
    codes = sorted({str(code)[:2] + "0000" for code in found if code})
    return [(code, d.name if (d := division(code)) else code) for code in codes]


def merchant_demand(session: Session, con, lake: Path, scope: Scope | None,
                    as_of: dt.date | None = None, province: str | None = None) -> Merchants:
    """Merchants with coordinates and their average parcels a day over the trailing 90 days
    (of one province when ``province``, an adcode, is given)."""
    t = daily(con, lake, scope)
    end = as_of or t.day.max().to_pyarrow().as_py()
    rows = {}
    if end is not None:
        start = end - dt.timedelta(days=VOLUME_DAYS - 1)
        t = t.filter((t.day >= start) & (t.day <= end) & t.customer_id.notnull())
        g = t.group_by("customer_id").aggregate(parcels=t.parcels.sum().cast("int64"))
        rows = {r["customer_id"]: r["parcels"] / VOLUME_DAYS
                for r in g.to_pyarrow().to_pylist()}
    query = select(Customer.id, Customer.name, Customer.lon, Customer.lat).where(
        Customer.lon.is_not(None), Customer.lat.is_not(None)).order_by(Customer.id)
    if prefix := province_prefix(province):
        query = query.where(Customer.adcode.startswith(prefix, autoescape=True))
    found = [c for c in session.execute(query) if rows.get(c.id, 0) > 0]
    return Merchants(np.array([c.id for c in found], dtype=np.int64), [c.name for c in found],
                     np.array([c.lon for c in found]), np.array([c.lat for c in found]),
                     np.array([rows[c.id] for c in found], dtype=np.float64))


def candidate_sites(session: Session, added: list[Site] = (),
                    province: str | None = None) -> list[Site]:
    """Outlets and consolidation centres in scope (of one province when ``province`` is
    given), then the sites a user adds."""
    kinds = (FacilityKind.OUTLET, FacilityKind.CONSOLIDATION_CENTRE)
    query = select(Facility).where(Facility.kind.in_(kinds)).order_by(Facility.id)
    if prefix := province_prefix(province):
        query = query.where(Facility.adcode.startswith(prefix, autoescape=True))
    found = session.scalars(query)
    sites = [Site(f.name, f.lon, f.lat, f.kind.value, f.capacity_per_day,
                  existing=f.kind == FacilityKind.CONSOLIDATION_CENTRE, code=f.code)
             for f in found if f.lon is not None and f.status == "active"]
    return sites + list(added)


class SiteError(ValueError):
    """A site a user adds that cannot be placed (bad name or coordinates)."""


# Where a site may be added: a box around China (lon 73–136 E, lat 3–54 N).
CHINA_LON, CHINA_LAT = (73.0, 136.0), (3.0, 54.0)


def added_site(name: str, lon: float, lat: float) -> Site:
    """A candidate site a user adds (新增候选点), checked to lie in China."""
    name = " ".join(str(name).split())[:60]
    if not name:
        raise SiteError("A site needs a name")
    if not (CHINA_LON[0] <= lon <= CHINA_LON[1] and CHINA_LAT[0] <= lat <= CHINA_LAT[1]):
        raise SiteError("Longitude and latitude must lie in China")
    return Site(name, round(float(lon), 6), round(float(lat), 6), "added")


def parse_site(text: str) -> Site:
    """``NAME,LON,LAT`` (the form of ``--site`` and of the ``site`` query parameter); the name
    may itself hold commas."""
    try:
        name, lon, lat = str(text).rsplit(",", 2)
        return added_site(name, float(lon), float(lat))
    except ValueError as exc:
        if isinstance(exc, SiteError):
            raise
        raise SiteError("Use NAME,LON,LAT") from None


def site_text(site: Site) -> str:
    return f"{site.name},{site.lon},{site.lat}"


def place_choices(session: Session) -> list[Site]:
    """Places a user may pick as a new site: the markets (集群 towns) and the outlets in scope,
    and the county seats (县城) of the cities they lie in."""
    from jiqun.geo import all_divisions

    places = [Site(m.name, m.lon, m.lat, "market") for m in session.scalars(
        select(Market).order_by(Market.id)) if m.lon is not None]
    adcodes = {m.adcode for m in session.scalars(select(Market)) if m.adcode}
    adcodes |= {f.adcode for f in session.scalars(select(Facility).where(
        Facility.kind == FacilityKind.OUTLET)) if f.adcode}
    places += [Site(f.name, f.lon, f.lat, "outlet") for f in session.scalars(
        select(Facility).where(Facility.kind == FacilityKind.OUTLET).order_by(Facility.id))
        if f.lon is not None]
    cities = {code[:4] for code in adcodes}
    places += [Site(d.name, d.lon, d.lat, "county") for d in all_divisions().values()
               if d.level == "county" and d.adcode[:4] in cities]
    return places


def travel_minutes(m: Merchants, sites: list[Site], params: PlanningParams) -> np.ndarray:
    """Merchants × sites pickup minutes."""
    lon = np.array([s.lon for s in sites])
    lat = np.array([s.lat for s in sites])
    return params.travel_minutes(haversine_km(m.lon[:, None], m.lat[:, None], lon, lat))


def plan_hubs(merchants: Merchants, sites: list[Site], params: PlanningParams, model: Model,
              p: int | None = None, radius: float | None = None,
              capacity: float | None = None, keep_existing: bool = True,
              closable: Collection[str] | None = None) -> HubPlan:
    """Solve one model and describe the chosen centres (volume, merchants, farthest minutes).

    Existing centres: with ``closable`` given (the keys of the centres that may close), every
    other existing centre is fixed open in every model, set covering included — the what-if
    "these stay, what else do we need?". Without it, ``keep_existing`` fixes them all open in
    the models that count or cost centres (not in set covering)."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}")
    if model in ("mclp", "pmedian") and p is not None and p > len(sites):
        raise Invalid({"p": "More centres than candidate sites"})
    radius = params.cover_radius_minutes if radius is None else radius
    minutes = travel_minutes(merchants, sites, params)
    reachable = (minutes <= radius + 1e-9).any(axis=1)
    opts = SolveOptions(time_limit=params.solver_time_limit,
                        fixed_open=kept_open(sites, model, keep_existing, closable))
    # Kept centres count among the p: fewer would make the model infeasible.
    p = max(p or 1, len(opts.fixed_open))
    if model == "cover":
        # Merchants no candidate reaches cannot be covered: reported, left out of the model.
        result = solve_set_covering(CoveringProblem(minutes[reachable], radius), opts)
        assign = _nearest_open(minutes, result.open_facilities)
    elif model == "mclp":
        result = solve_max_covering(CoveringProblem(minutes, radius, merchants.parcels), p, opts)
        assign = _nearest_open(minutes, result.open_facilities)
    elif model == "pmedian":
        result = solve_pmedian(PMedianProblem(minutes, p, merchants.parcels), opts)
        assign = _nearest_open(minutes, result.open_facilities)
    else:
        result = _solve_cflp(merchants, sites, minutes, params, capacity, opts)
        assign = result.assignment
    return _describe(model, p if model in ("mclp", "pmedian") else None, radius, result,
                     merchants, sites, minutes, assign, int((~reachable).sum()))


def kept_open(sites: list[Site], model: str, keep_existing: bool = True,
              closable: Collection[str] | None = None) -> tuple[int, ...]:
    """Indexes of the existing centres fixed open (保留现有集包中心)."""
    if closable is not None:
        return tuple(i for i, s in enumerate(sites) if s.existing and s.key not in closable)
    if not keep_existing or model == "cover":
        return ()
    return tuple(i for i, s in enumerate(sites) if s.existing)


def _solve_cflp(merchants, sites, minutes, params, capacity, opts) -> LocationResult:
    cap = np.array([s.capacity if s.capacity and s.existing else
                    (capacity or params.centre_capacity_per_day) for s in sites], dtype=float)
    if capacity:
        cap = np.full(len(sites), float(capacity))
    fixed = np.array([0.0 if s.existing else params.centre_fixed_cost_per_day for s in sites])
    km = minutes / 60.0 * params.pickup_speed_kmh
    cost = (km * params.pickup_cost_per_parcel_km * merchants.parcels[:, None]).T
    problem = CapacitatedProblem(cap, fixed, merchants.parcels, cost)
    return solve_capacitated(problem, opts)


def _nearest_open(minutes: np.ndarray, open_sites: np.ndarray) -> np.ndarray:
    if open_sites.size == 0:
        return np.full(minutes.shape[0], -1)
    return open_sites[np.argmin(minutes[:, open_sites], axis=1)]


def _describe(model, p, radius, result: LocationResult, m: Merchants, sites, minutes, assign,
              unreachable) -> HubPlan:
    centres = []
    rows = np.arange(minutes.shape[0])
    mins = np.where(assign >= 0, minutes[rows, np.maximum(assign, 0)], np.inf)
    covered = mins <= radius + 1e-9
    for j in result.open_facilities:
        mine = assign == j
        s = sites[int(j)]
        centres.append({
            "site": s.name, "code": s.code, "kind": s.kind, "existing": s.existing,
            "added": s.kind == "added", "lon": s.lon, "lat": s.lat,
            "merchants": int(mine.sum()), "parcels_per_day": round(float(m.parcels[mine].sum()), 2),
            "max_minutes": round(float(mins[mine].max()), 1) if mine.any() else 0.0,
            "within_radius": round(float(m.parcels[mine & covered].sum()), 2),
        })
    centres.sort(key=lambda c: -c["parcels_per_day"])
    points = [{"lon": float(x), "lat": float(y), "parcels": round(float(v), 2),
               "covered": bool(c)} for x, y, v, c in zip(m.lon, m.lat, m.parcels, covered, strict=False)]
    return HubPlan(model, p, radius, float(result.objective), float(result.bound),
                   float(result.gap), str(result.status), float(result.seconds), centres,
                   int(m.ids.size), float(m.parcels.sum()), float(m.parcels[covered].sum()),
                   unreachable, points)
