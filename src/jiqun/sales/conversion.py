"""Conversion probability (转化概率) of a prospect, learned from the visit history.

The question a marketer asks each morning is "whom should I see today?". The value of a visit to
a prospect is its potential volume times the chance that it signs soon. That chance is learned
here from the archive itself: every past day ``t`` gives a *snapshot* of the prospects of that
day (archived, not yet converted), with what was known of each on ``t`` (features) and whether it
converted within the next ``horizon`` days (label).

The model is an L2-regularised logistic regression (逻辑回归) fitted with Newton's method in numpy
(a few dozen features, a few thousand rows: exact, deterministic, no extra dependency). Features
(all known on ``t``):

* the outcome of the latest visit (none / interested / follow-up / trial / no interest / lost) —
  the stage the visits put the merchant in;
* the method of the latest visit (名片, 名录, 地毯式, 转介, …);
* log(1 + number of visits), days since the latest visit (/30, capped at a year), and whether it
  was within 30 days;
* a follow-up date agreed and due by ``t``;
* the platform segment (淘系 / 拼系 / 直播, multi-hot) and the tier (特级 … 小微).

Volume is deliberately *not* a feature: the score multiplies by it, and the held-out evaluation
(:func:`evaluate`) compares "value × probability" with "volume alone" ("visit the biggest
first"). A merchant *converts* on the earliest of: a visit with outcome ``signed``, a recorded
stage change to cooperating, or its first waybill when it did become a customer.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.sales.visits import METHODS
from jiqun.store.models import Customer, CustomerTier, LifecycleStage, StageChange, Visit

CONVERTED_STAGES = (LifecycleStage.COOPERATING, LifecycleStage.GROWING, LifecycleStage.VIP,
                    LifecycleStage.CHURNED)
LAST_OUTCOMES = ("none", "interested", "follow_up", "trial", "no_interest", "lost")
PLATFORMS = ("taobao", "pdd", "live")
TIERS = tuple(t.value for t in CustomerTier)
DAYS_CAP = 365


@dataclass(frozen=True)
class MerchantFacts:
    """What the archive says of one merchant, independent of the day (建档资料)."""

    id: int
    tier: str | None
    platforms: tuple[str, ...]
    volume: float  # estimated daily volume (潜在日均件量)
    archived_on: dt.date | None
    converted_on: dt.date | None  # None: never became a customer
    grid_id: int | None = None
    owner_id: int | None = None


@dataclass(frozen=True)
class VisitFact:
    day: dt.date
    method: str
    outcome: str
    next_visit_on: dt.date | None


@dataclass
class History:
    """Merchants and their visits (oldest first), the input of training and evaluation."""

    merchants: dict[int, MerchantFacts]
    visits: dict[int, list[VisitFact]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for facts in self.visits.values():
            facts.sort(key=lambda v: v.day)
        self._days = {cid: [v.day for v in vs] for cid, vs in self.visits.items()}

    def visits_before(self, customer_id: int, day: dt.date) -> list[VisitFact]:
        """The visits on or before ``day`` (what was known that evening)."""
        days = self._days.get(customer_id, [])
        return self.visits.get(customer_id, [])[: bisect.bisect_right(days, day)]

    def first_day(self) -> dt.date | None:
        days = [d[0] for d in self._days.values() if d]
        return min(days) if days else None


def load_history(session: Session) -> History:
    """The scoped session's merchants and visits (the caller's scope applies)."""
    signed: dict[int, dt.date] = {}
    visits: dict[int, list[VisitFact]] = defaultdict(list)
    query = select(Visit.customer_id, Visit.visited_at, Visit.method, Visit.outcome,
                   Visit.next_visit_on)
    for cid, at, method, outcome, next_on in session.execute(query):
        visits[cid].append(VisitFact(at.date(), method, outcome, next_on))
        if outcome == "signed":
            signed[cid] = min(signed.get(cid, at.date()), at.date())
    query = select(StageChange.customer_id, StageChange.at).where(
        StageChange.to_stage == LifecycleStage.COOPERATING)
    for cid, at in session.execute(query):
        signed[cid] = min(signed.get(cid, at.date()), at.date())
    merchants = {}
    for c in session.scalars(select(Customer)):
        converted = signed.get(c.id)
        if c.lifecycle_stage in CONVERTED_STAGES and c.first_shipped_on is not None:
            converted = min(converted or c.first_shipped_on, c.first_shipped_on)
        merchants[c.id] = MerchantFacts(
            id=c.id, tier=c.tier.value if c.tier else None, platforms=tuple(c.platforms or ()),
            volume=float(c.est_daily_volume or 0.0), archived_on=c.archived_on,
            converted_on=converted, grid_id=c.grid_id, owner_id=c.owner_id)
    return History(merchants, dict(visits))


# -- features ---------------------------------------------------------------------------------
FEATURES: tuple[str, ...] = (
    *(f"last_outcome={o}" for o in LAST_OUTCOMES),
    *(f"last_method={m}" for m in METHODS),
    "log_visits", "days_since_last_30", "visited_within_30", "follow_up_due",
    *(f"platform={p}" for p in PLATFORMS),
    *(f"tier={t}" for t in TIERS),
)
_INDEX = {name: i for i, name in enumerate(FEATURES)}


def is_prospect(m: MerchantFacts, day: dt.date) -> bool:
    """Archived by ``day`` and not converted by then: someone a visit could still win."""
    archived = m.archived_on is None or m.archived_on <= day
    return archived and (m.converted_on is None or m.converted_on > day)


def features(history: History, m: MerchantFacts, day: dt.date) -> np.ndarray:
    """The feature vector of merchant ``m`` as known on ``day``."""
    x = np.zeros(len(FEATURES))
    past = history.visits_before(m.id, day)
    last = past[-1] if past else None
    x[_INDEX[f"last_outcome={last.outcome if last and last.outcome in LAST_OUTCOMES else 'none'}"]] = 1
    if last is not None and f"last_method={last.method}" in _INDEX:
        x[_INDEX[f"last_method={last.method}"]] = 1
    x[_INDEX["log_visits"]] = math.log1p(len(past))
    since = last.day if last else (m.archived_on or day - dt.timedelta(days=DAYS_CAP))
    days = min(max((day - since).days, 0), DAYS_CAP)
    x[_INDEX["days_since_last_30"]] = days / 30
    x[_INDEX["visited_within_30"]] = float(last is not None and days <= 30)
    x[_INDEX["follow_up_due"]] = float(
        last is not None and last.next_visit_on is not None and last.next_visit_on <= day)
    for p in m.platforms:
        if f"platform={p}" in _INDEX:
            x[_INDEX[f"platform={p}"]] = 1
    if m.tier:
        x[_INDEX[f"tier={m.tier}"]] = 1
    return x


@dataclass
class Snapshot:
    day: dt.date
    ids: list[int]
    X: np.ndarray
    y: np.ndarray  # 1: converted within (day, day + horizon]


def snapshot(history: History, day: dt.date, horizon: int) -> Snapshot:
    """The prospects of ``day``, their features and whether they converted within ``horizon``."""
    ids, rows, labels = [], [], []
    end = day + dt.timedelta(days=horizon)
    for m in history.merchants.values():
        if not is_prospect(m, day):
            continue
        ids.append(m.id)
        rows.append(features(history, m, day))
        labels.append(float(m.converted_on is not None and day < m.converted_on <= end))
    X = np.array(rows) if rows else np.zeros((0, len(FEATURES)))
    return Snapshot(day, ids, X, np.array(labels))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))


# -- the model --------------------------------------------------------------------------------
@dataclass
class ConversionModel:
    """Logistic regression: P(convert within ``horizon`` days | features)."""

    weights: np.ndarray
    intercept: float
    horizon: int
    rows: int = 0
    positives: int = 0

    def probability(self, X: np.ndarray) -> np.ndarray:
        return _sigmoid(X @ self.weights + self.intercept)

    def coefficients(self) -> dict[str, float]:
        return {name: round(float(w), 3) for name, w in zip(FEATURES, self.weights, strict=True)}


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1.0, horizon: int = 30,
                 iterations: int = 50) -> ConversionModel:
    """Newton–Raphson (IRLS) on the L2-penalised log-likelihood; the intercept is not penalised.

    With no positive (or no negative) example the model is the smoothed base rate
    ``(positives + 1) / (rows + 2)`` and every weight is 0."""
    n, k = X.shape
    positives = int(y.sum())
    base = (positives + 1) / (n + 2)
    if positives == 0 or positives == n:
        return ConversionModel(np.zeros(k), math.log(base / (1 - base)), horizon, n, positives)
    A = np.hstack([np.ones((n, 1)), X])
    beta = np.zeros(k + 1)
    beta[0] = math.log(base / (1 - base))
    penalty = np.eye(k + 1) * l2
    penalty[0, 0] = 1e-6  # the intercept is (all but) free

    def objective(b: np.ndarray) -> float:  # penalised log-likelihood, overflow-safe
        z = A @ b
        return float(y @ z - np.logaddexp(0.0, z).sum() - 0.5 * b @ penalty @ b)

    current = objective(beta)
    for _ in range(iterations):
        p = _sigmoid(A @ beta)
        gradient = A.T @ (y - p) - penalty @ beta
        hessian = (A * (p * (1 - p))[:, None]).T @ A + penalty
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while size > 1e-4 and objective(beta + size * step) < current:
            size /= 2  # damped Newton: never step downhill
        beta = beta + size * step
        previous, current = current, objective(beta)
        if abs(current - previous) < 1e-9 * max(1.0, abs(current)):
            break
    return ConversionModel(beta[1:], float(beta[0]), horizon, n, positives)


def snapshot_days(first: dt.date, last: dt.date, every: int) -> list[dt.date]:
    """Every ``every`` days from ``last`` back to ``first`` (oldest first)."""
    days, day = [], last
    while day >= first:
        days.append(day)
        day -= dt.timedelta(days=every)
    return days[::-1]


def train(history: History, as_of: dt.date, horizon: int = 30, every: int = 14,
          span: int = 540, l2: float = 1.0) -> ConversionModel:
    """Fit on the snapshots of the ``span`` days before ``as_of`` whose labels were known on
    ``as_of`` (snapshot day + horizon ≤ as_of): nothing of the future leaks in."""
    last = as_of - dt.timedelta(days=horizon)
    days = snapshot_days(last - dt.timedelta(days=span), last, every)
    shots = [snapshot(history, d, horizon) for d in days]
    X = np.vstack([s.X for s in shots]) if shots else np.zeros((0, len(FEATURES)))
    y = np.concatenate([s.y for s in shots]) if shots else np.zeros(0)
    return fit_logistic(X, y, l2=l2, horizon=horizon)


# -- held-out evaluation ----------------------------------------------------------------------
@dataclass(frozen=True)
class Evaluation:
    """Model vs "visit the biggest first" on held-out snapshots: what the top ``k`` prospects
    of each grid (one marketer's day) would have captured."""

    split: dt.date
    snapshots: int
    k: int
    conversions: int  # all conversions in the held-out windows
    model_conversions: int
    biggest_conversions: int
    model_volume: float  # potential volume of the converted merchants captured in the top k
    biggest_volume: float
    train_rows: int
    train_positives: int


def _top_k(ids: list[int], score: np.ndarray, k: int) -> list[int]:
    order = sorted(range(len(ids)), key=lambda i: (-score[i], ids[i]))  # ties by id: stable
    return [ids[i] for i in order[:k]]


def evaluate(history: History, split: dt.date, end: dt.date, horizon: int = 30, every: int = 14,
             k: int = 10) -> Evaluation:
    """Train on what was known on ``split``, then rank the prospects of each grid on held-out
    snapshot days in (split, end − horizon] by expected value (volume × probability) and by
    volume alone; count the conversions (and their volume) that fell in each top ``k``."""
    model = train(history, split, horizon=horizon, every=every)
    days = [d for d in snapshot_days(split + dt.timedelta(days=1), end - dt.timedelta(days=horizon),
                                     every) if d > split]
    total = model_hits = big_hits = 0
    model_vol = big_vol = 0.0
    for day in days:
        shot = snapshot(history, day, horizon)
        if not shot.ids:
            continue
        p = model.probability(shot.X)
        volume = np.array([history.merchants[i].volume for i in shot.ids])
        by_grid: dict[int | None, list[int]] = defaultdict(list)
        for pos, cid in enumerate(shot.ids):
            by_grid[history.merchants[cid].grid_id].append(pos)
        for positions in by_grid.values():
            ids = [shot.ids[i] for i in positions]
            won = {shot.ids[i] for i in positions if shot.y[i] == 1}
            total += len(won)
            for pick, score in ((True, volume[positions] * p[positions]),
                                (False, volume[positions])):
                chosen = set(_top_k(ids, score, k)) & won
                vol = sum(history.merchants[c].volume for c in chosen)
                if pick:
                    model_hits, model_vol = model_hits + len(chosen), model_vol + vol
                else:
                    big_hits, big_vol = big_hits + len(chosen), big_vol + vol
    return Evaluation(split, len(days), k, total, model_hits, big_hits, round(model_vol, 4),
                      round(big_vol, 4), model.rows, model.positives)
