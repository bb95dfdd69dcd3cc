"""Grid design (网格划分, 责任田): split a market's merchants into k grids.

The grids are built from **spatial base units** — the occupied cells of a square lattice laid
over the market's merchants — so that every grid is a contiguous set of cells (rook adjacency;
clusters of cells separated by empty land are joined by their nearest pair of cells, so a market
with two clumps of shops still forms one graph). The design then

1. starts from the current grids when there are k of them (each cell goes to the grid most of
   its merchants belong to), otherwise grows k regions from spread-out seeds, always extending
   the lightest region next (region growing, 区域生长);
2. improves it by local search: a cell on a border moves to a neighbouring grid when that lowers

       100 · (excess over the tolerance band)           balance within tolerance comes first
     +   2 · (share of merchants moved)                 then as few changed assignments as possible
     + 0.2 · (compactness: mean distance to centre / market radius)
     +   1 · (mean squared relative deviation)          then as even as possible

   and the grid it leaves stays connected.

Workload (工作量) is the visits a grid's merchants need per month, by tier (:data:`VISITS_PER_MONTH`);
potential (潜力) is the merchants' estimated daily volume. The tolerance ``T`` bounds the
max/min ratio of both: every grid must carry between ``mean/√(1+T)`` and ``mean·√(1+T)``, so
``max/min ≤ 1 + T``. Cells are indivisible, so a tolerance can be out of reach; the plan then
says so (``within_tolerance`` false) and reports the ratios it achieved.

Pure computation: no store, no lake (see :mod:`jiqun.grids.redraw`).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from jiqun.grids.limits import DEFAULT_TOLERANCE

#: Visits a merchant needs per month (走访频次) by tier; ``None`` = not yet tiered (prospect).
VISITS_PER_MONTH: dict[str | None, float] = {
    "special": 8.0,  # 特级: twice a week
    "first": 4.0,  # 一级: weekly
    "second": 2.0,  # 二级: fortnightly
    "third": 1.0,  # 三级: monthly
    "micro": 0.5,  # 小微: every other month
    None: 1.0,  # untiered prospect: a monthly development visit
}
EARTH_M_PER_DEG = 111_320.0

_W_EXCESS, _W_MOVES, _W_COMPACT, _W_DEVIATION = 100.0, 2.0, 0.2, 1.0


@dataclass(frozen=True)
class Merchant:
    """One merchant to place: ``current`` is the key of its grid now (``None``: none)."""

    id: int
    lon: float
    lat: float
    tier: str | None = None
    potential: float = 0.0
    current: object | None = None

    @property
    def workload(self) -> float:
        return VISITS_PER_MONTH.get(self.tier, VISITS_PER_MONTH[None])


@dataclass
class GridSummary:
    """One grid of a plan: its merchants, workload, potential, centre and moves in."""

    index: int
    replaces: object | None  # the current grid it continues (most shared merchants), if any
    merchants: int
    workload: float
    potential: float
    moves_in: int  # merchants that come from another grid (or from none)
    centre: tuple[float, float]  # lon, lat of the merchants' mean
    mean_distance_m: float  # compactness: mean distance of its merchants to the centre
    units: int


@dataclass
class GridPlan:
    """A grid design: assignment of merchants to grids ``0..k-1`` and its figures."""

    k: int
    tolerance: float
    assignment: dict[int, int]  # merchant id → grid index
    grids: list[GridSummary]
    workload_ratio: float  # max/min workload over grids
    potential_ratio: float
    moves: int  # merchants whose grid changes
    within_tolerance: bool
    contiguous: bool
    cell_size_m: float
    units: int
    seconds: float
    unit_of: dict[int, int] = field(default_factory=dict, repr=False)  # merchant → unit

    def as_records(self) -> list[dict]:
        """Per-grid rows for tables and JSON."""
        return [{
            "grid": g.index + 1, "replaces": g.replaces, "merchants": g.merchants,
            "workload": round(g.workload, 2), "potential": round(g.potential, 2),
            "moves_in": g.moves_in, "mean_distance_m": round(g.mean_distance_m, 1),
            "units": g.units, "centre_lon": round(g.centre[0], 6), "centre_lat": round(g.centre[1], 6),
        } for g in self.grids]

    def totals(self) -> dict:
        """The plan's headline: ratios, moves, tolerance."""
        return {
            "k": self.k, "tolerance": self.tolerance, "workload_ratio": _round(self.workload_ratio),
            "potential_ratio": _round(self.potential_ratio), "moves": self.moves,
            "merchants": len(self.assignment), "within_tolerance": self.within_tolerance,
            "contiguous": self.contiguous, "units": self.units,
            "cell_size_m": round(self.cell_size_m, 1), "seconds": round(self.seconds, 3),
        }


def _round(x: float) -> float | None:
    return None if math.isinf(x) or math.isnan(x) else round(float(x), 4)


def max_min_ratio(values: Sequence[float]) -> float:
    """max/min of positive loads (∞ when a grid carries nothing but another does)."""
    values = list(values)
    if not values or max(values) <= 0:
        return 1.0
    low = min(values)
    return math.inf if low <= 0 else max(values) / low


# -- base units (基本单元) -----------------------------------------------------------------------
@dataclass
class Units:
    """Occupied lattice cells with their merchants, loads and adjacency."""

    xy: np.ndarray  # merchants' local metres (n × 2)
    unit_of: np.ndarray  # merchant row → unit
    members: list[list[int]]  # unit → merchant rows
    centre: np.ndarray  # unit → mean x, y of its merchants
    workload: np.ndarray
    potential: np.ndarray
    neighbours: list[set[int]]
    cell_size_m: float


def local_metres(lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Equirectangular projection around the merchants' mean: fine over a market's few km."""
    lat0 = math.radians(float(np.mean(lats)))
    x = (lons - np.mean(lons)) * EARTH_M_PER_DEG * math.cos(lat0)
    y = (lats - np.mean(lats)) * EARTH_M_PER_DEG
    return np.column_stack([x, y])


def _cells(xy: np.ndarray, size: float) -> np.ndarray:
    # Half a cell of margin: points spaced exactly one cell apart never straddle a border.
    return np.floor((xy - xy.min(axis=0)) / size + 0.5).astype(np.int64)


def choose_cell_size(xy: np.ndarray, target_units: int) -> float:
    """The largest lattice size whose occupied cells still number ``target_units`` (or every
    distinct merchant location when there are fewer): bisection on the size."""
    target = min(target_units, len(np.unique(xy, axis=0)))
    span = float(np.ptp(xy, axis=0).max()) or 1.0
    low, high = span / 4000.0, span * 2
    for _ in range(40):
        size = math.sqrt(low * high)
        if len(np.unique(_cells(xy, size), axis=0)) >= target:
            low = size
        else:
            high = size
    return low


def build_units(merchants: Sequence[Merchant], k: int, cell_size_m: float | None = None,
                units_per_grid: int = 40, max_units: int = 2500) -> Units:
    """Lattice cells holding merchants, and which cells touch (rook), joined into one graph."""
    xy = local_metres(np.array([m.lon for m in merchants]), np.array([m.lat for m in merchants]))
    size = cell_size_m or choose_cell_size(xy, min(max_units, max(k * units_per_grid, k)))
    cells = _cells(xy, size)
    keys, unit_of = np.unique(cells, axis=0, return_inverse=True)
    unit_of = unit_of.ravel()
    n_units = len(keys)
    members: list[list[int]] = [[] for _ in range(n_units)]
    for row, u in enumerate(unit_of):
        members[u].append(row)
    work = np.array([m.workload for m in merchants])
    pot = np.array([max(0.0, m.potential or 0.0) for m in merchants])
    centre = np.zeros((n_units, 2))
    np.add.at(centre, unit_of, xy)
    counts = np.bincount(unit_of, minlength=n_units)
    centre /= counts[:, None]
    index = {tuple(c): u for u, c in enumerate(keys.tolist())}
    neighbours: list[set[int]] = [set() for _ in range(n_units)]
    for u, (cx, cy) in enumerate(keys.tolist()):
        for dx, dy in ((1, 0), (0, 1)):
            v = index.get((cx + dx, cy + dy))
            if v is not None:
                neighbours[u].add(v)
                neighbours[v].add(u)
    _join_components(centre, neighbours)
    return Units(xy=xy, unit_of=unit_of, members=members, centre=centre,
                 workload=np.bincount(unit_of, weights=work, minlength=n_units),
                 potential=np.bincount(unit_of, weights=pot, minlength=n_units),
                 neighbours=neighbours, cell_size_m=size)


def components(nodes: Sequence[int] | range, neighbours: list[set[int]]) -> list[list[int]]:
    """Connected components of the subgraph induced by ``nodes``."""
    inside, seen, found = set(nodes), set(), []
    for start in nodes:
        if start in seen:
            continue
        part, queue = [], deque([start])
        seen.add(start)
        while queue:
            u = queue.popleft()
            part.append(u)
            for v in neighbours[u]:
                if v in inside and v not in seen:
                    seen.add(v)
                    queue.append(v)
        found.append(part)
    return found


def _join_components(centre: np.ndarray, neighbours: list[set[int]]) -> None:
    """Link clumps of cells across empty land by their nearest pair, until one graph remains."""
    parts = components(range(len(centre)), neighbours)
    while len(parts) > 1:
        parts.sort(key=len, reverse=True)
        main, rest = parts[0], [u for p in parts[1:] for u in p]
        tree = cKDTree(centre[main])
        dist, idx = tree.query(centre[rest])
        j = int(np.argmin(dist))
        a, b = main[int(idx[j])], rest[j]
        neighbours[a].add(b)
        neighbours[b].add(a)
        parts = components(range(len(centre)), neighbours)


# -- the design --------------------------------------------------------------------------------
class _State:
    """A unit → grid labelling with running loads, centres and moves (for cheap move deltas)."""

    def __init__(self, units: Units, labels: np.ndarray, k: int, tolerance: float,
                 current_counts: list[dict[int, int]]):
        self.u, self.k, self.labels = units, k, labels
        self.n_merchants = len(units.unit_of)
        self.unit_n = np.array([len(m) for m in units.members], dtype=float)
        self.mean_w = units.workload.sum() / k or 1.0
        self.mean_p = units.potential.sum() / k or 1.0
        band = math.sqrt(1.0 + tolerance)
        self.low, self.high = 1.0 / band, band
        self.current_counts = current_counts  # unit → {grid index: merchants there now}
        self.radius = float(np.sqrt((units.xy.var(axis=0)).sum())) or 1.0
        self.work = np.bincount(labels, weights=units.workload, minlength=k)
        self.pot = np.bincount(labels, weights=units.potential, minlength=k)
        self.count = np.bincount(labels, weights=self.unit_n, minlength=k)
        self.sum_xy = np.zeros((k, 2))
        np.add.at(self.sum_xy, labels, units.centre * self.unit_n[:, None])
        self.regions = [set(np.flatnonzero(labels == g).tolist()) for g in range(k)]

    def stays(self, u: int, g: int) -> int:
        return self.current_counts[u].get(g, 0) if self.current_counts else 0

    def _balance(self, w: float, p: float) -> tuple[float, float]:
        rw, rp = w / self.mean_w, p / self.mean_p
        excess = sum(max(0.0, r - self.high, self.low - r) for r in (rw, rp))
        return excess, (rw - 1) ** 2 + (rp - 1) ** 2

    def _grid_cost(self, w: float, p: float) -> float:
        excess, dev = self._balance(w, p)
        return _W_EXCESS * excess + _W_DEVIATION * dev / self.k

    def delta(self, u: int, b: int) -> float:
        """Change of the objective when unit ``u`` moves to grid ``b``."""
        a = self.labels[u]
        uw, up = self.u.workload[u], self.u.potential[u]
        d = (self._grid_cost(self.work[a] - uw, self.pot[a] - up)
             + self._grid_cost(self.work[b] + uw, self.pot[b] + up)
             - self._grid_cost(self.work[a], self.pot[a]) - self._grid_cost(self.work[b], self.pot[b]))
        if self.current_counts:
            d += _W_MOVES * (self.stays(u, a) - self.stays(u, b)) / self.n_merchants
        n = self.unit_n[u]
        ca = self.sum_xy[a] / max(self.count[a], 1)
        cb = self.sum_xy[b] / max(self.count[b], 1)
        here = self.u.centre[u]
        shift = n * (np.linalg.norm(here - cb) - np.linalg.norm(here - ca))
        return d + _W_COMPACT * shift / (self.n_merchants * self.radius)

    def move(self, u: int, b: int) -> None:
        a = self.labels[u]
        n, xy = self.unit_n[u], self.u.centre[u] * self.unit_n[u]
        for g, sign in ((a, -1), (b, 1)):
            self.work[g] += sign * self.u.workload[u]
            self.pot[g] += sign * self.u.potential[u]
            self.count[g] += sign * n
            self.sum_xy[g] += sign * xy
        self.regions[a].discard(u)
        self.regions[b].add(u)
        self.labels[u] = b

    def leaves_connected(self, u: int) -> bool:
        """Does grid ``labels[u]`` stay one piece (and non-empty) without ``u``?"""
        region = self.regions[self.labels[u]]
        if len(region) <= 1:
            return False
        rest = [v for v in self.u.neighbours[u] if v in region]
        if len(rest) <= 1:
            return bool(rest)  # a leaf of its region
        target, seen, queue = set(rest), {rest[0]}, deque([rest[0]])
        target.discard(rest[0])
        while queue and target:
            x = queue.popleft()
            for y in self.u.neighbours[x]:
                if y != u and y in region and y not in seen:
                    seen.add(y)
                    target.discard(y)
                    queue.append(y)
        return not target


def _spread_seeds(units: Units, k: int) -> list[int]:
    """k seed cells far apart (farthest-point), starting at the cell farthest from the middle."""
    c = units.centre
    first = int(np.argmax(np.linalg.norm(c - c.mean(axis=0), axis=1)))
    seeds, dist = [first], np.linalg.norm(c - c[first], axis=1)
    while len(seeds) < k:
        nxt = int(np.argmax(dist))
        seeds.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(c - c[nxt], axis=1))
    return seeds


def grow_regions(units: Units, k: int) -> np.ndarray:
    """Region growing: the lightest region takes its nearest unassigned neighbouring cell."""
    n = len(units.members)
    labels = np.full(n, -1)
    seeds = _spread_seeds(units, k)
    mean_w, mean_p = units.workload.sum() / k or 1.0, units.potential.sum() / k or 1.0
    load = np.zeros(k)
    for g, s in enumerate(seeds):
        labels[s] = g
        load[g] = units.workload[s] / mean_w + units.potential[s] / mean_p
    frontier = [{v for v in units.neighbours[s] if labels[v] < 0} for s in seeds]
    active = set(range(k))
    while active:
        g = min(active, key=lambda x: load[x])
        frontier[g] = {v for v in frontier[g] if labels[v] < 0}
        if not frontier[g]:
            active.discard(g)
            continue
        seed_xy = units.centre[seeds[g]]
        v = min(frontier[g], key=lambda x: float(np.sum((units.centre[x] - seed_xy) ** 2)))
        labels[v] = g
        load[g] += units.workload[v] / mean_w + units.potential[v] / mean_p
        frontier[g].update(w for w in units.neighbours[v] if labels[w] < 0)
    return labels


def _current_labels(units: Units, current: list[int | None], k: int) -> np.ndarray:
    """Each cell goes to the grid most of its merchants are in now (a cell of none: nearest)."""
    labels = np.full(len(units.members), -1)
    for u, rows in enumerate(units.members):
        votes = defaultdict(int)
        for r in rows:
            if current[r] is not None:
                votes[current[r]] += 1
        if votes:
            labels[u] = max(votes, key=lambda g: (votes[g], -g))
    _fill_unlabelled(units, labels)
    _make_contiguous(units, labels, k)
    return labels


def _fill_unlabelled(units: Units, labels: np.ndarray) -> None:
    """Cells nobody holds join a labelled neighbour (breadth-first from the labelled ones)."""
    queue = deque(np.flatnonzero(labels >= 0).tolist())
    while queue:
        u = queue.popleft()
        for v in units.neighbours[u]:
            if labels[v] < 0:
                labels[v] = labels[u]
                queue.append(v)


def _make_contiguous(units: Units, labels: np.ndarray, k: int) -> None:
    """Keep each grid's largest piece; stray pieces join the grid they touch most."""
    for g in range(k):
        parts = components(np.flatnonzero(labels == g).tolist(), units.neighbours)
        parts.sort(key=len, reverse=True)
        for piece in parts[1:]:
            touching = defaultdict(int)
            for u in piece:
                for v in units.neighbours[u]:
                    if labels[v] != g:
                        touching[labels[v]] += 1
            if touching:
                labels[piece] = max(touching, key=touching.get)


def _local_search(state: _State, max_passes: int, deadline: float) -> None:
    """Move border cells to a neighbouring grid while the objective drops and grids stay whole."""
    units = state.u
    for _ in range(max_passes):
        improved = 0
        for u in range(len(units.members)):
            a = state.labels[u]
            options = {state.labels[v] for v in units.neighbours[u]} - {a}
            if not options:
                continue
            best, best_d = None, -1e-12
            for b in options:
                d = state.delta(u, b)
                if d < best_d:
                    best, best_d = b, d
            if best is not None and state.leaves_connected(u):
                state.move(u, best)
                improved += 1
        if not improved or time.monotonic() > deadline:
            break


def _match_current(labels_of_merchants: np.ndarray, current: list[int | None], k: int,
                   m: int) -> dict[int, int]:
    """New grid index → current grid index sharing the most merchants (Hungarian matching)."""
    overlap = np.zeros((k, max(m, 1)))
    for g, c in zip(labels_of_merchants, current, strict=True):
        if c is not None:
            overlap[g, c] += 1
    rows, cols = linear_sum_assignment(-overlap)
    return {int(r): int(c) for r, c in zip(rows, cols, strict=True) if overlap[r, c] > 0}


def design_grids(merchants: Sequence[Merchant], k: int, tolerance: float = DEFAULT_TOLERANCE,
                 *, cell_size_m: float | None = None, max_passes: int = 60,
                 time_limit_s: float = 60.0, refinements: int = 2) -> GridPlan:
    """Split ``merchants`` into ``k`` contiguous, compact grids balanced within ``tolerance``,
    moving as few merchants as possible from their ``current`` grid.

    When the tolerance is missed, the lattice is refined (twice the cells per grid, up to
    ``refinements`` times): smaller cells let a border move less load at a time."""
    started = time.monotonic()
    plan = _design_once(merchants, k, tolerance, cell_size_m, 40, max_passes,
                        started + time_limit_s)
    per_grid = 40
    for _ in range(0 if cell_size_m else refinements):
        if plan.within_tolerance or time.monotonic() > started + time_limit_s:
            break
        per_grid *= 2
        finer = _design_once(merchants, k, tolerance, None, per_grid, max_passes,
                             started + time_limit_s)
        if _worst(finer) < _worst(plan):
            plan = finer
    plan.seconds = time.monotonic() - started
    return plan


def _worst(plan: GridPlan) -> float:
    return max(plan.workload_ratio, plan.potential_ratio)


def _design_once(merchants: Sequence[Merchant], k: int, tolerance: float,
                 cell_size_m: float | None, units_per_grid: int, max_passes: int,
                 deadline: float) -> GridPlan:
    started = time.monotonic()
    if k < 1:
        raise ValueError("k must be at least 1")
    if len(merchants) < k:
        raise ValueError(f"{len(merchants)} merchants cannot fill {k} grids")
    keys = sorted({m.current for m in merchants if m.current is not None}, key=str)
    key_index = {key: i for i, key in enumerate(keys)}
    current = [key_index.get(m.current) if m.current is not None else None for m in merchants]
    units = build_units(merchants, k, cell_size_m, units_per_grid=units_per_grid)
    if len(units.members) < k:
        units = build_units(merchants, k, cell_size_m=units.cell_size_m / 4)
    if keys and len(keys) == k:
        labels = _current_labels(units, current, k)
        if len(set(labels.tolist())) < k:
            labels = grow_regions(units, k)
    else:
        labels = grow_regions(units, k)
    mapping = _match_current(labels[units.unit_of], current, k, len(keys)) if keys else {}
    counts = _current_counts(units, current, mapping)
    state = _State(units, labels, k, tolerance, counts)
    _local_search(state, max_passes, deadline)
    return _summarise(merchants, units, state, current, keys, tolerance,
                      time.monotonic() - started)


def _current_counts(units: Units, current: list[int | None],
                    mapping: dict[int, int]) -> list[dict[int, int]]:
    """Per cell: how many of its merchants are now in the current grid matched to each new one."""
    if not mapping:
        return []
    back = {c: g for g, c in mapping.items()}
    out = []
    for rows in units.members:
        tally = defaultdict(int)
        for r in rows:
            g = back.get(current[r])
            if g is not None:
                tally[g] += 1
        out.append(dict(tally))
    return out


def _summarise(merchants, units: Units, state: _State, current, keys, tolerance,
               seconds: float) -> GridPlan:
    k = state.k
    per_merchant = state.labels[units.unit_of]
    mapping = _match_current(per_merchant, current, k, len(keys)) if keys else {}
    # A merchant with no grid today is newly assigned, not moved.
    moved = np.array([c is not None and mapping.get(int(g)) != c
                      for g, c in zip(per_merchant, current, strict=True)])
    grids = []
    lon0, lat0 = np.mean([m.lon for m in merchants]), np.mean([m.lat for m in merchants])
    lat_scale = EARTH_M_PER_DEG * math.cos(math.radians(lat0))
    for g in range(k):
        rows = np.flatnonzero(per_merchant == g)
        xy = units.xy[rows]
        centre = xy.mean(axis=0) if len(rows) else np.zeros(2)
        grids.append(GridSummary(
            index=g, replaces=keys[mapping[g]] if g in mapping else None, merchants=len(rows),
            workload=float(state.work[g]), potential=float(state.pot[g]),
            moves_in=int(moved[rows].sum()) if keys else 0,
            centre=(float(lon0 + centre[0] / lat_scale), float(lat0 + centre[1] / EARTH_M_PER_DEG)),
            mean_distance_m=float(np.linalg.norm(xy - centre, axis=1).mean()) if len(rows) else 0.0,
            units=len(state.regions[g]),
        ))
    w_ratio, p_ratio = max_min_ratio(state.work), max_min_ratio(state.pot)
    limit = 1.0 + tolerance + 1e-9
    p_ok = p_ratio <= limit or state.pot.sum() == 0
    contiguous = all(len(components(sorted(r), units.neighbours)) == 1 for r in state.regions)
    return GridPlan(
        k=k, tolerance=tolerance,
        assignment={m.id: int(g) for m, g in zip(merchants, per_merchant, strict=True)},
        grids=grids, workload_ratio=w_ratio, potential_ratio=p_ratio,
        moves=int(moved.sum()) if keys else 0, within_tolerance=bool(w_ratio <= limit and p_ok),
        contiguous=contiguous, cell_size_m=units.cell_size_m, units=len(units.members),
        seconds=seconds, unit_of={m.id: int(u) for m, u in zip(merchants, units.unit_of,
                                                                  strict=True)},
    )
