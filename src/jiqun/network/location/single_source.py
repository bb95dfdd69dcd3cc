"""Single-source capacitated location 单源容量选址 — SSCFLP and the capacitated p-median 容量限制p-中位 —
by Lagrangian relaxation, reduced-cost fixing and a reduced MIP.

Every client is served by exactly one site (a merchant ships through one consolidation centre).
Relaxing "every client served once" with multipliers λ_j splits the problem per site into a 0-1
knapsack (which clients site i would take at reduced cost c_ij − λ_j within its capacity Q_i),
solved exactly by dynamic programming over integer capacity, plus the choice of sites: exactly p
of least value (p-median), or the exact covering knapsack Σ Q_i y_i ≥ Σ d_j (SSCFLP, from
`cflp_bnb`). Subgradient ascent of λ gives a bound above the strong LP (Holmberg, Rönnqvist &
Yuan 1999; Díaz & Fernández 2002 for the capacitated p-median).

The same tables price every assignment: forcing client j onto site i costs at least
c_ij − λ_j + K_i(Q_i − d_j) − K_i(Q_i) in its knapsack, plus what opening site i costs the choice of
sites. Pairs and sites whose forced bound exceeds the incumbent cannot be in any better plan and
leave the model (reduced-cost fixing 检验固定); HiGHS then proves the strong MIP on what is left,
with the incumbent as its start and a node limit as the work limit (the wall clock is a guard).

Incumbents: the Lagrangian site sets, clients assigned greedily by regret, then shift and swap
moves between open sites (局部搜索), and site close / open / swap moves for the SSCFLP.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from jiqun.network.location.cflp_bnb import FREE, OPEN, CoverKnapsack, site_knapsacks
from jiqun.network.location.highs import MipModel
from jiqun.network.location.result import LocationResult, SolveOptions, SolveStatus

ASCENT_ITERATIONS = 600  # subgradient steps (a work limit: the same input gives the same bound)
ASCENT_PATIENCE = 15  # steps without improvement before the step size halves
HEURISTIC_EVERY = 10  # a primal heuristic from the Lagrangian sites every this many steps
MIP_NODES = 20_000  # HiGHS node limit of the reduced MIP
CORE_MARGINS = (0.004, 0.012)  # relative widths of the Lagrangian core, tried in turn
CORE_NODES = 200  # HiGHS node limit inside a core
POLISH_NODES = 100  # HiGHS node limit of an assignment problem in the polish
POLISH_SECONDS = 5.0  # a guard on each of those
CORE_SHARE = 0.3  # a guard: the most of the time left that one core may take
ASCENT_SHARE = 0.5  # a guard: the most of the time limit the ascent may take
LARGEST_TABLE = 4_000_000  # sites × capacity units of the knapsack tables
MIP_OPTIONS: dict = {}  # extra HiGHS options of the core and reduced MIPs (defaults measured best)


@dataclass
class Plan:
    """A single-source plan: the site of every client and its cost."""

    site: np.ndarray  # per client
    value: float


def applicable(capacity: np.ndarray, demand: np.ndarray) -> bool:
    """The knapsack tables need integral demands and capacities of modest size."""
    integral = np.all(demand == np.round(demand)) and np.all(capacity == np.round(capacity))
    return bool(integral and np.all(demand > 0)
                and capacity.size * (min(capacity.max(), demand.sum()) + 1) <= LARGEST_TABLE)


class SingleSource:
    """One SSCFLP / capacitated p-median instance and its solver state."""

    def __init__(self, cost, fixed, capacity, demand, p: int | None, deadline: float) -> None:
        self.cost = np.asarray(cost, dtype=np.float64)
        self.fixed = np.asarray(fixed, dtype=np.float64)
        self.demand = np.asarray(demand, dtype=np.float64)
        self.weight = np.round(self.demand).astype(np.int64)
        cap = np.minimum(np.asarray(capacity, dtype=np.float64), self.demand.sum())
        self.cap = np.floor(cap + 1e-9).astype(np.int64)
        self.capacity = np.asarray(capacity, dtype=np.float64)
        self.p = p
        self.deadline = deadline
        self.ascent_deadline = deadline  # a guard: the ascent may take this much of the time
        self.m, self.n = self.cost.shape
        self.need = float(self.demand.sum())
        self.allowed = self.weight[None, :] <= self.cap[:, None]  # a client too big never fits
        self.cover = CoverKnapsack(self.capacity, self.need) if p is None else None
        self.integral = bool(np.all(self.cost == np.round(self.cost))
                             and np.all(self.fixed == np.round(self.fixed)))
        self.best: Plan | None = None
        self.iterations = 0
        self.tried: set[bytes] = set()  # site sets the heuristic has assigned already
        # The caller's fixings: existing centres kept open (and paid), sites barred.
        self.closed = np.zeros(self.m, bool)
        self.must_open = np.zeros(self.m, bool)

    # ------------------------------------------------------------------ the Lagrangian
    def knapsacks(self, lam: np.ndarray, keep_tables: bool = False, rows=None):
        """Per site (of `rows`, default all) the exact 0-1 knapsack over the clients of negative
        reduced cost; sites outside `rows` get value 0 and take nothing.

        Returns (K: value per site, take: m × n bool, table m × (Q+1) or None, reduced costs):
        table[i, c] is the least reduced cost site i reaches within capacity c."""
        red = np.where(self.allowed, self.cost - lam[None, :], np.inf)
        sub = np.arange(self.m) if rows is None else np.asarray(rows)
        r_red = red[sub]
        neg = r_red < 0
        count = neg.sum(axis=1)
        cap = self.cap[sub]
        k = sub.size
        qmax = int(cap.max()) if k else 0
        dp = np.zeros((k, qmax + 1))
        cols = np.arange(qmax + 1)
        order = np.argsort(np.where(neg, r_red / self.demand[None, :], np.inf), axis=1,
                           kind="stable")
        steps = int(count.max()) if k else 0
        took = np.zeros((steps, k, qmax + 1), bool)
        local = np.arange(k)
        flat_base = (local * (qmax + 1))[:, None]
        for r in range(steps):
            j = order[:, r]
            live = r < count
            w = np.where(live, self.weight[j], qmax + 1)
            v = np.where(live, r_red[local, j], 0.0)
            src = cols[None, :] - w[:, None]
            cand = np.where(src >= 0, dp.ravel()[flat_base + np.maximum(src, 0)] + v[:, None],
                            np.inf)
            better = cand < dp
            took[r] = better
            dp = np.where(better, cand, dp)
        # Capacities differ by site: read each site's table at its own capacity.
        value = np.zeros(self.m)
        value[sub] = dp[local, cap]
        take = np.zeros((self.m, self.n), bool)
        c = cap.copy()
        for r in range(steps - 1, -1, -1):
            hit = took[r, local, c]
            if hit.any():
                j = order[hit, r]
                take[sub[hit], j] = True
                c[hit] -= self.weight[j]
        table = None
        if keep_tables:
            table = np.zeros((self.m, int(self.cap.max()) + 1))
            table[sub, : qmax + 1] = dp
            table[sub, qmax + 1 :] = dp[:, -1:]
        return value, take, table, red

    def choose_sites(self, values: np.ndarray, state: np.ndarray):
        """Least Σ v_i y_i: exactly p sites, or a cover of the demand (inf when impossible)."""
        if self.p is None:
            return self.cover.solve(values, state)
        y = state == OPEN
        free = np.flatnonzero(state == FREE)
        short = self.p - int(y.sum())
        if short < 0 or short > free.size:
            return math.inf, y
        y[free[np.argsort(values[free], kind="stable")[:short]]] = True
        return float(values[y].sum()), y

    def site_flips(self, values: np.ndarray, state: np.ndarray):
        """Site choice's value with each free site forced open / forced closed (nan elsewhere)."""
        if self.p is None:
            return self.cover.flips(values, state)
        up = np.full(self.m, math.inf)
        down = np.full(self.m, math.inf)
        base, y = self.choose_sites(values, state)
        if math.isfinite(base):
            chosen = np.flatnonzero(y & (state == FREE))
            rest = np.flatnonzero(~y & (state == FREE))
            worst_in = values[chosen].max() if chosen.size else math.inf
            best_out = values[rest].min() if rest.size else math.inf
            up[y] = base
            up[~y] = base - worst_in + values[~y]
            down[~y] = base
            down[y] = base - values[y] + best_out
        up[state != FREE] = np.nan
        down[state != FREE] = np.nan
        return up, down

    def site_values(self, lam: np.ndarray, state: np.ndarray):
        """v_i(λ) = f_i + K_i(λ): exact for every site that can matter to the choice of sites.

        With p sites out of many, only the p least values count: each site's continuous
        knapsack (a lower bound on its 0-1 one) screens it, and the exact table runs only on
        sites whose screen falls below the p-th least exact value. Where a site is not computed
        its screen stands in, so the bound stays valid either way."""
        if self.p is None or self.m <= 3 * self.p:
            k, take, _, _ = self.knapsacks(lam)
            return self.fixed + k, take
        screen = site_knapsacks(self.cost, self.fixed, self.capacity, self.demand, lam,
                                np.arange(self.m))[0]
        screen[state == 0] = math.inf
        done = np.zeros(self.m, bool)
        values = screen.copy()
        take = np.zeros((self.m, self.n), bool)
        todo = np.argsort(screen, kind="stable")[: 2 * self.p]
        while todo.size:
            k, t, _, _ = self.knapsacks(lam, rows=todo)
            values[todo] = self.fixed[todo] + k[todo]
            take[todo] = t[todo]
            done[todo] = True
            live = np.flatnonzero(state != 0)
            pth = np.sort(values[live])[min(self.p, live.size) - 1]
            todo = np.flatnonzero(~done & (screen < pth - 1e-12) & (state != 0))
        return values, take

    def bound_at(self, lam: np.ndarray, state: np.ndarray):
        values, take = self.site_values(lam, state)
        kval, y = self.choose_sites(values, state)
        return float(lam.sum()) + kval, values, take, y

    def ascend(self, state: np.ndarray, iterations: int = ASCENT_ITERATIONS):
        """Subgradient ascent with Polyak steps towards the incumbent."""
        lam = self._start_multipliers()
        best, best_lam = -math.inf, lam.copy()
        theta, stall = 2.0, 0
        stop = self.ascent_deadline
        for it in range(iterations):
            if time.perf_counter() > stop:
                break
            self.iterations += 1
            bound, values, take, y = self.bound_at(lam, state)
            if not math.isfinite(bound):
                return math.inf, lam
            if bound > best + 1e-9 * abs(bound):
                best, best_lam, stall = bound, lam.copy(), 0
            else:
                stall += 1
                if stall >= ASCENT_PATIENCE:
                    theta, stall = theta / 2, 0
                    lam = best_lam.copy()
                    if theta < 5e-4:
                        break
                    continue
            if it % HEURISTIC_EVERY == 0:
                self.heuristic(y, take)
            if self.best is not None and best > self.best.value - self._tolerance():
                break
            g = 1.0 - (take & y[:, None]).sum(axis=0)
            norm = float(g @ g)
            if norm == 0:  # the Lagrangian plan serves everyone once: it is optimal
                self.consider(np.argmax(take & y[:, None], axis=0))
                break
            target = self.best.value if self.best is not None else abs(bound) * 1.05 + 1.0
            lam = lam + theta * max(target - bound, 1e-9 * abs(target) + 1e-9) / norm * g
        _, _, take, y = self.bound_at(best_lam, state)
        self.heuristic(y, take, deep=True)
        return best, best_lam

    def _start_multipliers(self) -> np.ndarray:
        """λ_j at the cost of j's k-th cheapest site (k = the share of sites a client sees)."""
        ranked = np.sort(np.where(self.allowed, self.cost, np.inf), axis=0)
        k = 1 if self.p is None else max(1, min(self.m - 1, round(self.m / max(self.p, 1) / 4)))
        lam = ranked[min(k, self.m - 1)]
        return np.where(np.isfinite(lam), lam, ranked[0]).astype(np.float64)

    def _tolerance(self) -> float:
        """What a better plan must beat the incumbent by: one unit when the costs are integral."""
        if self.integral:
            return 1.0 - 1e-6
        return 1e-9 * max(1.0, abs(self.best.value)) if self.best else 0.0

    # ------------------------------------------------------------------ primal side
    def consider(self, site: np.ndarray) -> None:
        """Keep a complete feasible assignment if it beats the incumbent."""
        load = np.bincount(site, weights=self.demand, minlength=self.m)
        if np.any(load > self.capacity + 1e-9) or np.any(~self.allowed[site, np.arange(self.n)]):
            return
        opened = self.must_open.copy()
        opened[site] = True
        if np.any(opened & self.closed) or (self.p is not None and opened.sum() > self.p):
            return
        value = float(self.cost[site, np.arange(self.n)].sum() + self.fixed[opened].sum())
        if self.best is None or value < self.best.value - 1e-9 * max(1.0, abs(value)):
            self.best = Plan(site.copy(), value)

    def heuristic(self, y: np.ndarray, take: np.ndarray | None = None, deep: bool = False) -> None:
        """Assign the clients to the Lagrangian sites (topped up to cover the demand): where a
        chosen site's knapsack took a client it keeps it (the cheapest such site), the rest by
        regret; then client moves, cluster relocation and, for the SSCFLP, site moves."""
        opened = (y | self.must_open) & ~self.closed
        if self.p is not None and opened.sum() < self.p:
            extra = np.argsort(self.cost[:, :].sum(axis=1), kind="stable")
            for i in extra[~self.closed[extra]]:
                if opened.sum() >= self.p:
                    break
                opened[i] = True
        elif self.p is None:
            ranked = np.argsort(self.fixed / np.maximum(self.capacity, 1e-9), kind="stable")
            for i in ranked[~self.closed[ranked]]:
                if self.capacity[opened].sum() >= 1.1 * self.need:
                    break
                opened[i] = True
        key = np.packbits(opened).tobytes() + (np.packbits(take).tobytes() if take is not None
                                                else b"")
        if key in self.tried:
            return
        self.tried.add(key)
        site = self.assign(opened, self._lagrangian_start(opened, take))
        if site is None:
            return
        site = self.relocate(self.improve(site))
        self.consider(site)
        if deep and self.best is not None:
            # The Lagrangian's own sites, assigned exactly, then relocated.
            exact = self.exact_assignment(opened)
            if exact is not None:
                self.consider(exact)
                self.consider(self.relocate(exact))
            self.polish()
        if deep and self.p is None and self.best is not None:
            self.consider(self.site_moves(self.best.site))

    def polish(self, rounds: int = 3) -> None:
        """Location–allocation with exact allocations: the incumbent's sites get the assignment
        problem solved by HiGHS (each client among its nearest open sites), clusters move to
        their best sites, and again — where greedy moves stall under tight capacities."""
        for _ in range(rounds):
            start = self.best.value
            opened = np.zeros(self.m, bool)
            opened[self.best.site] = True
            site = self.exact_assignment(opened | self.must_open)
            if site is None:
                return
            self.consider(site)
            self.consider(self.relocate(self.best.site))
            if self.best.value >= start - 1e-9:
                return

    def exact_assignment(self, opened: np.ndarray, nearest: int = 8) -> np.ndarray | None:
        """The generalised assignment problem on the open sites (分配问题), each client limited to
        its `nearest` cheapest open sites plus its incumbent site, under a node limit."""
        sites = np.flatnonzero(opened)
        cost = np.where(self.allowed[sites], self.cost[sites], np.inf)
        rank = np.argsort(np.argsort(cost, axis=0, kind="stable"), axis=0, kind="stable")
        keep = (rank < nearest) & np.isfinite(cost)
        pos = np.minimum(np.searchsorted(sites, self.best.site), sites.size - 1)
        inside = sites[pos] == self.best.site
        keep[pos[inside], np.flatnonzero(inside)] = True
        kk, jj = np.nonzero(keep)
        model = MipModel()
        x = model.add_columns(cost[kk, jj], 0.0, 1.0, integer=True)
        model.add_rows(jj, x, 1.0, 1.0, 1.0, self.n)
        model.add_rows(kk, x, self.demand[jj], -np.inf, self.capacity[sites], sites.size)
        start = None
        if inside.all():
            start = (kk == pos[jj]).astype(np.float64)
        left = min(POLISH_SECONDS, self.deadline - time.perf_counter())
        if left <= 0.1:
            return None
        out = model.solve(time_limit=left, start=start,
                          options={"mip_max_nodes": POLISH_NODES, **MIP_OPTIONS})
        if out.values is None:
            return None
        chosen = out.values > 0.5
        site = np.full(self.n, -1)
        site[jj[chosen]] = sites[kk[chosen]]
        return site if np.all(site >= 0) else None

    def relocate(self, site: np.ndarray, rounds: int = 20) -> np.ndarray:
        """Move each cluster to the site that serves it most cheaply (its capacity permitting),
        then improve the assignment again — location-allocation until nothing moves."""
        for _ in range(rounds):
            moved = False
            for o in np.unique(site):
                members = site == o
                load = self.demand[members].sum()
                opened = np.zeros(self.m, bool)
                opened[site] = True
                serve = self.cost[:, members].sum(axis=1) + self.fixed
                ok = (self.capacity >= load - 1e-9) & (~opened | (np.arange(self.m) == o)) & \
                    self.allowed[:, members].all(axis=1) & ~self.closed
                serve = np.where(ok, serve, np.inf)
                k = int(np.argmin(serve))
                if serve[k] < serve[o] - 1e-9:
                    site = np.where(members, k, site)
                    moved = True
            if not moved:
                break
            site = self.improve(site)
        return site

    def _lagrangian_start(self, opened: np.ndarray, take: np.ndarray | None):
        """Clients the open sites' knapsacks took, each on the cheapest site that took it."""
        if take is None:
            return None
        held = take & opened[:, None]
        cost = np.where(held, self.cost, np.inf)
        site = np.argmin(cost, axis=0)
        return np.where(held.any(axis=0), site, -1)

    def assign(self, opened: np.ndarray, start: np.ndarray | None = None) -> np.ndarray | None:
        """Greedy by regret: the client losing most if it missed its cheapest site goes first.
        `start` holds clients already placed (−1 for the rest), within the sites' capacities."""
        sites = np.flatnonzero(opened)
        if sites.size == 0:
            return None
        cost = np.where(self.allowed[sites], self.cost[sites], np.inf)
        left = self.capacity[sites].astype(np.float64).copy()
        site = np.full(self.n, -1)
        todo = np.ones(self.n, bool)
        if start is not None:
            placed = start >= 0
            site[placed] = start[placed]
            todo[placed] = False
            left -= np.bincount(np.searchsorted(sites, start[placed]),
                                weights=self.demand[placed], minlength=sites.size)
        while todo.any():
            fits = (self.demand[None, :] <= left[:, None] + 1e-9) & todo[None, :]
            c = np.where(fits, cost, np.inf)
            part = np.sort(c, axis=0)[: min(2, sites.size)]
            first = part[0]
            if not np.isfinite(first[todo]).all():
                return None
            second = part[1] if sites.size > 1 else first
            gap = np.where(np.isfinite(second), second - np.where(np.isfinite(first), first, 0), 1e18)
            regret = np.where(todo, gap, -1.0)
            j = int(np.argmax(regret))
            k = int(np.argmin(c[:, j]))
            site[j] = sites[k]
            left[k] -= self.demand[j]
            todo[j] = False
        return site

    def improve(self, site: np.ndarray, rounds: int = 200) -> np.ndarray:
        """Best-improvement shift (one client to another open site) and swap (two clients
        exchange sites) moves until neither improves."""
        site = site.copy()
        opened = np.unique(site)
        cost = np.where(self.allowed[opened], self.cost[opened], np.inf)  # k × n
        pos = np.searchsorted(opened, site)
        cap = self.capacity[opened]
        clients = np.arange(self.n)
        for _ in range(rounds):
            load = np.bincount(pos, weights=self.demand, minlength=opened.size)
            now = cost[pos, clients]
            shift = cost - now[None, :]
            room = (load[:, None] + self.demand[None, :] <= cap[:, None] + 1e-9)
            shift = np.where(room, shift, np.inf)
            shift[pos, clients] = np.inf
            k_s, j_s = np.unravel_index(np.argmin(shift), shift.shape)
            best_shift = shift[k_s, j_s]
            # swap j ↔ l: j moves to l's site and l to j's.
            cj = cost[pos[None, :], clients[:, None]]  # cj[l, j] = cost of j at l's site
            delta = cj + cj.T - now[None, :] - now[:, None]
            dj = self.demand
            ok_a = load[pos][:, None] - dj[:, None] + dj[None, :] <= cap[pos][:, None] + 1e-9
            feasible = ok_a & ok_a.T & (pos[:, None] != pos[None, :])
            delta = np.where(feasible, delta, np.inf)
            a, b = np.unravel_index(np.argmin(delta), delta.shape)
            best_swap = delta[a, b]
            if min(best_shift, best_swap) >= -1e-9:
                break
            if best_shift <= best_swap:
                pos[j_s] = k_s
            else:
                pos[a], pos[b] = pos[b], pos[a]
        return opened[pos]

    def site_moves(self, site: np.ndarray, width: int = 6) -> np.ndarray:
        """SSCFLP: close one open site, open one of the `width` most promising closed sites, or
        swap the two, each priced by regret assignment and client moves; first improvement."""
        best = site
        best_value = self._value(site)
        for _ in range(3):
            if time.perf_counter() > self.deadline:
                break
            opened = self.must_open.copy()
            opened[best] = True
            closed = np.flatnonzero(~opened & ~self.closed)
            near = closed[np.argsort(self.cost[closed].min(axis=1) + self.fixed[closed] / 10,
                                     kind="stable")[:width]]
            shut = np.flatnonzero(opened & ~self.must_open)
            moves = [(i, None) for i in shut] + [(None, j) for j in near]
            moves += [(i, j) for i in shut for j in near[:3]]
            improved = False
            for i, j in moves:
                trial = opened.copy()
                if i is not None:
                    trial[i] = False
                if j is not None:
                    trial[j] = True
                if self.capacity[trial].sum() < self.need:
                    continue
                cand = self.assign(trial)
                if cand is None:
                    continue
                cand = self.improve(cand, rounds=50)
                value = self._value(cand)
                if value < best_value - 1e-9:
                    best, best_value, improved = cand, value, True
                    break
            if not improved:
                break
        return best

    def _value(self, site: np.ndarray) -> float:
        opened = self.must_open.copy()
        opened[site] = True
        return float(self.cost[site, np.arange(self.n)].sum() + self.fixed[opened].sum())

    # ------------------------------------------------------------------ fixing and the MIP
    def forced_bounds(self, lam: np.ndarray, state: np.ndarray):
        """(bound per site forced open, per site forced closed, per pair forced on), all ≥ the
        Lagrangian bound at λ."""
        k, take, dp, red = self.knapsacks(lam, keep_tables=True)
        values = self.fixed + k
        up, down = self.site_flips(values, state)
        lam_sum = float(lam.sum())
        up = np.where(np.isnan(up), lam_sum + self.choose_sites(values, state)[0], lam_sum + up)
        down = np.where(np.isnan(down), math.inf, lam_sum + down)
        # Forcing j onto i: its reduced cost plus the knapsack with d_j less room (a lower bound
        # on the knapsack without j), minus the knapsack's own optimum; zero where j is taken.
        rest = self.cap[:, None] - self.weight[None, :]
        room = np.take_along_axis(dp, np.maximum(rest, 0), axis=1)
        extra = np.where(take, 0.0, np.maximum(0.0, red + room - k[:, None]))
        extra = np.where(self.allowed & (rest >= 0), extra, np.inf)
        pair = up[:, None] + extra
        return up, down, pair

    def reduced_mip(self, keep: np.ndarray, site_open: np.ndarray, site_closed: np.ndarray,
                    opts: SolveOptions, nodes: int, seconds: float = math.inf):
        """The strong MIP over the pairs in `keep`, started from the incumbent."""
        ii, jj = np.nonzero(keep)
        model = MipModel()
        y = model.add_columns(self.fixed, 0.0, 1.0, integer=True)
        x = model.add_columns(self.cost[ii, jj], 0.0, 1.0, integer=True)
        k = ii.size
        model.add_rows(jj, x, 1.0, 1.0, 1.0, self.n)
        model.add_rows(np.concatenate([ii, np.arange(self.m)]), np.concatenate([x, y]),
                       np.concatenate([self.demand[jj], -self.capacity]), -np.inf, 0.0, self.m)
        model.add_rows(np.concatenate([np.arange(k), np.arange(k)]), np.concatenate([x, y[ii]]),
                       np.concatenate([np.ones(k), -np.ones(k)]), -np.inf, 0.0, k)
        model.add_rows(np.zeros(self.m), y, self.capacity, self.need, np.inf, 1)
        if self.p is not None:
            model.add_rows(np.zeros(self.m), y, 1.0, self.p, self.p, 1)
        if site_open.any():
            model.set_bounds(y[site_open], lb=1.0)
        if site_closed.any():
            model.set_bounds(y[site_closed], ub=0.0)
        start = None
        if self.best is not None and keep[self.best.site, np.arange(self.n)].all():
            start = np.zeros(self.m + k)
            start[np.unique(self.best.site)] = 1.0
            chosen = np.zeros_like(keep)
            chosen[self.best.site, np.arange(self.n)] = True
            start[self.m:] = chosen[ii, jj]
        left = max(0.5, min(seconds, self.deadline - time.perf_counter()))
        out = model.solve(time_limit=left, gap=opts.gap, threads=opts.threads, start=start,
                          verbose=opts.verbose,
                          options={"mip_max_nodes": int(nodes), "mip_feasibility_tolerance": 1e-7,
                                   **MIP_OPTIONS})
        if out.values is not None:
            xs = out.values[self.m:] > 0.5
            site = np.full(self.n, -1)
            site[jj[xs]] = ii[xs]
            if np.all(site >= 0):
                self.consider(site)
        return out


def solve_single_source(cost, fixed, capacity, demand, p: int | None,
                        opts: SolveOptions) -> LocationResult:
    """Minimise fixed + assignment cost, each client on one site (p sites when `p` is set)."""
    t0 = time.perf_counter()
    solver = SingleSource(cost, fixed, capacity, demand, p, deadline=t0 + opts.time_limit)
    m, n = solver.m, solver.n
    state = np.full(m, FREE, np.int8)
    state[list(opts.fixed_closed)] = 0
    state[list(opts.fixed_open)] = OPEN
    solver.closed, solver.must_open = state == 0, state == OPEN
    solver.ascent_deadline = t0 + ASCENT_SHARE * opts.time_limit
    details = {"method": "lagrangian_fixing_mip"}
    if (~solver.allowed[state != 0]).all(axis=0).any() or (
            solver.capacity[state != 0].sum() < solver.need - 1e-9):
        return _result(math.inf, math.inf, solver, t0, SolveStatus.INFEASIBLE, details)
    if p is not None and (p > int((state != 0).sum()) or int((state == OPEN).sum()) > p):
        return _result(math.inf, math.inf, solver, t0, SolveStatus.INFEASIBLE, details)
    lower, lam = solver.ascend(state)
    details["lagrangian_bound"] = lower
    details["iterations"] = solver.iterations
    details["ascent_seconds"] = time.perf_counter() - t0
    details["heuristic_value"] = solver.best.value if solver.best else math.inf
    if solver.best is None:
        solver.heuristic(state != 0 if p is None else state == OPEN)
    if solver.best is None:  # no plan found: the caller's MIP over every pair decides
        return _result(math.inf, lower, solver, t0, SolveStatus.TIME_LIMIT, details)
    if lower >= solver.best.value - solver._tolerance():
        return _result(solver.best.value, solver.best.value, solver, t0, SolveStatus.OPTIMAL,
                       details)
    up, down, pair = solver.forced_bounds(lam, state)
    _core_search(solver, lower, up, pair, state, opts)
    details["core_value"] = solver.best.value
    upper = solver.best.value
    cut = upper - solver._tolerance()
    site_closed = (up > cut) | (state == 0)
    site_open = ((down > cut) & ~site_closed) | (state == OPEN)
    keep = (pair <= cut) & ~site_closed[:, None] & solver.allowed
    keep[solver.best.site, np.arange(n)] = True  # the incumbent stays in the model
    site_closed[solver.best.site] = False
    # Plans using what was fixed away cost at least this much.
    fixed_floor = min(np.min(pair[~keep & solver.allowed], initial=math.inf),
                      np.min(up[site_closed & (state != 0)], initial=math.inf),
                      np.min(down[site_open & (state != OPEN)], initial=math.inf))
    details.update(pairs_kept=int(keep.sum()), pairs=int(m * n),
                   sites_closed=int(site_closed.sum()), sites_open=int(site_open.sum()))
    nodes = MIP_NODES if opts.node_limit is None else opts.node_limit
    out = solver.reduced_mip(keep, site_open, site_closed, opts, nodes)
    details["nodes"] = out.nodes
    objective = solver.best.value
    mip_bound = out.bound if math.isfinite(out.bound) else lower
    bound = min(objective, max(lower, min(mip_bound, fixed_floor)))
    if solver.integral:  # integral costs: the optimum is an integer too
        bound = min(objective, math.ceil(bound - 1e-6))
    proven = objective - bound <= max(1e-6, 1e-6 * abs(objective))
    status = SolveStatus.OPTIMAL if proven else SolveStatus.FEASIBLE
    return _result(objective, bound, solver, t0, status, details)


def _core_search(solver: SingleSource, lower, up, pair, state, opts: SolveOptions) -> None:
    """A better incumbent from the Lagrangian core: the MIP over the pairs and sites whose
    forced bound lies within a small margin of the bound (widened when that core holds no
    plan better than the incumbent), under a small node limit (局部最优核心)."""
    for margin in CORE_MARGINS:
        if time.perf_counter() > solver.deadline:
            return
        reach = lower + margin * max(1.0, abs(lower))
        if reach >= solver.best.value - solver._tolerance():
            return  # the core would be the whole model: the exact MIP follows anyway
        closed = (up > reach) | (state == 0)
        core = (pair <= reach) & ~closed[:, None] & solver.allowed
        # The incumbent stays inside: the core is then a neighbourhood search from it.
        core[solver.best.site, np.arange(solver.n)] = True
        closed[solver.best.site] = False
        before = solver.best.value
        budget = CORE_SHARE * max(0.0, solver.deadline - time.perf_counter())
        solver.reduced_mip(core, state == OPEN, closed, opts, CORE_NODES, seconds=budget)
        if solver.best.value < before - solver._tolerance() / 2:
            return


def _result(objective, bound, solver: SingleSource, t0, status, details) -> LocationResult:
    seconds = time.perf_counter() - t0
    details = {**details, "seconds": seconds}
    if solver.best is None or status == SolveStatus.INFEASIBLE:
        return LocationResult(math.inf if status != SolveStatus.INFEASIBLE else math.inf, bound,
                              seconds, status, np.zeros(0, np.int64), np.full(solver.n, -1),
                              details=details)
    site = solver.best.site
    shares = np.zeros((solver.m, solver.n))
    shares[site, np.arange(solver.n)] = 1.0
    return LocationResult(objective, bound, seconds, status, np.unique(site), site.copy(),
                          shares=shares, details=details)
