"""How merchants answer a price (价格弹性): a share model fitted from our own data, its check on
held-out months, and the what-if and advice built on it (P1: "if we cut ¥0.10 for zone Y in
market X…").

**The model.** A merchant ships ``total`` parcels a month with all carriers and gives us
``ours`` of them. The share we get follows a logit in the price gap it sees::

    logit(ours / total) = α_merchant + γ_merchant · month + δ_month + β · gap

where ``gap`` is our price minus the competitor price the merchant sees (yuan, first weight),
``α`` the merchant's loyalty (service, habit, relationships) with its own trend (a growing
merchant, a growing market), ``δ`` what moves every merchant in a month (season, a competitor's
campaign), and ``β`` (< 0) the price sensitivity: a ¥1
higher gap multiplies the odds of a parcel coming to us by ``exp(β)``.

**Why this model.** We observe shares of a merchant's parcels, not each parcel's choice, and
merchants differ far more in loyalty than in price sensitivity. A grouped binomial logit is the
standard model for such share data; it is fitted by maximum likelihood (iteratively reweighted
least squares, started from Berkson's minimum chi-square fit on empirical logits), which stays
unbiased for the small monthly counts of small merchants where the empirical logit's smoothing
would flatten the response. The fixed effects take out loyalty and season, so ``β`` is
identified from the *changes* in gap within a merchant over time against merchants whose gap
did not change (a difference in differences). A share stays
in (0, 1) whatever price is asked, unlike a linear volume model, and the fit is closed-form (no
solver, no tuning). Its limit: one ``β`` for all merchants of the fit's scope; fit per segment
(platform, market) when they answer differently.

**The interval.** ``β`` carries a standard error clustered by merchant (a merchant's months are
not independent); what-if figures are given at ``β`` and at the ends of its 95 % interval.

**The check.** :func:`validate` fits on all but the last months and predicts the held-out
months' parcels, against the no-response baseline (the same model with ``β = 0``); the
weighted absolute error of both is reported, and the model must beat the baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

Z95 = 1.959963984540054
SMOOTH = 0.5  # empirical-logit correction: shares of 0 or 1 keep a finite logit
MAX_SWEEPS = 500  # alternating projections for the two-way fixed effects
TOLERANCE = 1e-10


@dataclass(frozen=True)
class Panel:
    """Merchant × month observations (one row each)."""

    merchant: np.ndarray  # int index of the merchant
    month: np.ndarray  # int index of the month (0 = first)
    gap: np.ndarray  # our price − the competitor price seen, yuan
    ours: np.ndarray  # parcels with us
    total: np.ndarray  # parcels with all carriers

    def __post_init__(self) -> None:
        n = len(self.merchant)
        if not all(len(a) == n for a in (self.month, self.gap, self.ours, self.total)):
            raise ValueError("every column of a panel has one value per row")
        if n and (np.any(self.total <= 0) or np.any(self.ours < 0)
                  or np.any(self.ours > self.total)):
            raise ValueError("parcels with us must lie between 0 and the merchant's total")

    def __len__(self) -> int:
        return len(self.merchant)

    def where(self, keep: np.ndarray) -> Panel:
        return Panel(self.merchant[keep], self.month[keep], self.gap[keep], self.ours[keep],
                     self.total[keep])


@dataclass(frozen=True)
class ResponseFit:
    """The fitted price response: ``beta`` per yuan of gap, its clustered standard error and
    what the fit rests on."""

    beta: float
    se: float
    rows: int
    merchants: int
    months: int
    gap_spread: float  # within-merchant standard deviation of the gap: the fit's lever
    effects: Effects | None = field(repr=False, default=None)

    @property
    def interval(self) -> tuple[float, float]:
        return (self.beta - Z95 * self.se, self.beta + Z95 * self.se)

    @property
    def identified(self) -> bool:
        """Whether the data moved the gap at all (otherwise there is nothing to learn)."""
        return self.gap_spread > 1e-9 and math.isfinite(self.se)

    def odds_factor(self, change: float) -> float:
        """How a gap change of ``change`` yuan multiplies the odds of a parcel coming to us."""
        return math.exp(self.beta * change)


def empirical_logit(ours: np.ndarray, total: np.ndarray) -> np.ndarray:
    return np.log((ours + SMOOTH) / (total - ours + SMOOTH))


def _weights(ours: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Inverse variance of an empirical logit: ``n·s·(1−s)`` (with the same smoothing)."""
    share = (ours + SMOOTH) / (total + 2 * SMOOTH)
    return total * share * (1 - share)


@dataclass(frozen=True)
class Effects:
    """The fixed effects' fit: per merchant a level and a trend (its own growth), per month
    an effect shared by every merchant (season, campaigns) with no trend of its own."""

    level: np.ndarray  # merchant → intercept
    slope: np.ndarray  # merchant → per month
    month: np.ndarray  # month → effect

    def of(self, merchant: np.ndarray, month: np.ndarray) -> np.ndarray:
        return self.level[merchant] + self.slope[merchant] * month + self.month[month]


def _merchant_lines(values, panel: Panel, w) -> tuple[np.ndarray, np.ndarray]:
    """Per merchant, the weighted least-squares line of ``values`` over the month index."""
    m, t = panel.merchant, panel.month.astype(float)
    size = int(m.max()) + 1
    s0, s1, s2 = (np.bincount(m, weights=w * t ** k, minlength=size) for k in (0, 1, 2))
    sy = np.bincount(m, weights=w * values, minlength=size)
    sty = np.bincount(m, weights=w * t * values, minlength=size)
    det = s0 * s2 - s1 * s1
    flat = det <= 1e-12 * np.maximum(s0 * s2, 1e-300)  # a single month: no trend to fit
    safe = np.where(flat, 1.0, det)
    slope = np.where(flat, 0.0, (s0 * sty - s1 * sy) / safe)
    level = np.where(flat, sy / np.where(s0 > 0, s0, 1), (sy - slope * s1) / np.where(s0 > 0, s0, 1))
    return level, slope


def fixed_effects(values: np.ndarray, panel: Panel, w: np.ndarray) -> Effects:
    """The weighted fit of ``values`` on merchant levels and trends and month effects
    (alternating projections); the month effects' own trend is moved into the merchants'."""
    values = values.astype(float)
    months = int(panel.month.max()) + 1
    month = np.zeros(months)
    level = slope = None
    for _ in range(MAX_SWEEPS):
        level, slope = _merchant_lines(values - month[panel.month], panel, w)
        rest = values - level[panel.merchant] - slope[panel.merchant] * panel.month
        mass = np.bincount(panel.month, weights=w, minlength=months)
        new = np.bincount(panel.month, weights=w * rest, minlength=months) / np.where(
            mass > 0, mass, 1)
        done = np.max(np.abs(new - month)) < TOLERANCE
        month = new
        if done:
            break
    # No trend in the month effects: a common trend belongs to every merchant's own.
    mass = np.bincount(panel.month, minlength=months).astype(float)
    t = np.arange(months, dtype=float)
    if np.count_nonzero(mass) >= 2:
        b, a = np.polyfit(t[mass > 0], month[mass > 0], 1, w=np.sqrt(mass[mass > 0]))
        month = month - (a + b * t)
        level, slope = level + a, slope + b
    return Effects(level, slope, month)


def _demean(values: np.ndarray, panel: Panel, w: np.ndarray) -> np.ndarray:
    """``values`` minus their fixed effects' fit."""
    return values - fixed_effects(values, panel, w).of(panel.merchant, panel.month)


def fit(panel: Panel, iterations: int = 25) -> ResponseFit:
    """Fit ``β`` with merchant and month fixed effects by maximum likelihood (a binomial logit,
    iteratively reweighted least squares from the minimum chi-square start) and its standard
    error clustered by merchant.

    Merchants that never or always shipped with us in the panel carry no information about
    price (their loyalty would be infinite) and are left out."""
    panel = _informative(panel)
    if len(panel) < 3:
        raise ValueError("too few merchant-months to fit a price response")
    x = panel.gap.astype(float)
    eta = empirical_logit(panel.ours, panel.total)  # Berkson's start
    w = _weights(panel.ours, panel.total)
    z = eta
    beta = 0.0
    for _ in range(iterations):
        x_t = _demean(x, panel, w)
        z_t = _demean(z, panel, w)
        sxx = float(np.sum(w * x_t * x_t))
        if sxx <= 1e-12:
            return ResponseFit(0.0, math.inf, len(panel), len(np.unique(panel.merchant)),
                               len(np.unique(panel.month)), 0.0)
        new_beta = float(np.sum(w * x_t * z_t) / sxx)
        eta = z - (z_t - new_beta * x_t)  # fixed effects' fit + β·gap
        p = np.clip(1.0 / (1.0 + np.exp(-eta)), 1e-12, 1 - 1e-12)
        w = panel.total * p * (1 - p)
        z = eta + (panel.ours - panel.total * p) / w
        converged = abs(new_beta - beta) < 1e-8
        beta = new_beta
        if converged:
            break
    x_t = _demean(x, panel, w)
    z_t = _demean(z, panel, w)
    sxx = float(np.sum(w * x_t * x_t))
    resid = z_t - beta * x_t
    spread = math.sqrt(sxx / float(np.sum(w)))
    # Cluster-robust (by merchant) variance of β: Σ_g (Σ_i w x̃ e)² / (Σ w x̃²)².
    score = np.bincount(panel.merchant, weights=w * x_t * resid)
    clusters = int(np.count_nonzero(np.bincount(panel.merchant)))
    correction = clusters / max(clusters - 1, 1)
    se = math.sqrt(correction * float(np.sum(score ** 2))) / sxx
    return ResponseFit(beta, se, len(panel), clusters, len(np.unique(panel.month)), spread,
                       fixed_effects(eta - beta * x, panel, w))


def _informative(panel: Panel) -> Panel:
    """The rows of merchants who shipped with us in some months and not all their parcels in
    all of them."""
    ours = np.bincount(panel.merchant, weights=panel.ours)
    total = np.bincount(panel.merchant, weights=panel.total)
    keep = (ours > 0) & (ours < total)
    return panel.where(keep[panel.merchant])


def predicted_share(model: ResponseFit, merchant: np.ndarray, month: np.ndarray,
                    gap: np.ndarray, beta: float | None = None) -> np.ndarray:
    """The model's share for fitted merchants in ``month`` at ``gap``. A month after the fit's
    last takes the mean effect of its last three months, and each merchant's trend goes on."""
    b = model.beta if beta is None else beta
    fx = model.effects
    known = len(fx.month)
    recent = float(np.mean(fx.month[-3:]))
    month_effect = np.where(month < known, fx.month[np.minimum(month, known - 1)], recent)
    logit = fx.level[merchant] + fx.slope[merchant] * month + month_effect + b * gap
    return 1.0 / (1.0 + np.exp(-logit))


@dataclass(frozen=True)
class Validation:
    """A fit on the earlier months judged on the held-out last ones."""

    holdout_months: int
    rows: int
    parcels: float  # parcels with us in the held-out merchant-months
    model_error: float  # weighted mean absolute error of parcels with us, as a share of parcels
    baseline_error: float  # the same for the no-response baseline (β = 0)
    beta: float
    interval: tuple[float, float]

    @property
    def beats_baseline(self) -> bool:
        return self.model_error < self.baseline_error


def validate(panel: Panel, holdout_months: int = 3) -> Validation:
    """Fit on all months but the last ``holdout_months``, predict those months' parcels with
    us from their gaps (month effect: the mean of the fit's last three months), and compare with
    the no-response baseline fitted the same way with ``β = 0``."""
    last = int(panel.month.max())
    train = panel.where(panel.month <= last - holdout_months)
    test = panel.where(panel.month > last - holdout_months)
    test = test.where(np.isin(test.merchant, np.unique(_informative(train).merchant)))
    if len(train) < 3 or len(test) == 0:
        raise ValueError("too few months to hold some out")
    model = fit(train)
    baseline = _fit_without_response(train)
    ours = test.ours.astype(float)
    model_parcels = test.total * predicted_share(model, test.merchant, test.month, test.gap)
    base_parcels = test.total * predicted_share(baseline, test.merchant, test.month, test.gap)
    parcels = float(ours.sum())
    return Validation(
        holdout_months, len(test), parcels,
        float(np.abs(model_parcels - ours).sum() / parcels),
        float(np.abs(base_parcels - ours).sum() / parcels),
        model.beta, model.interval,
    )


def _fit_without_response(panel: Panel) -> ResponseFit:
    """The baseline: the same fixed effects, no price response (β = 0), by the same maximum
    likelihood."""
    panel = _informative(panel)
    z = empirical_logit(panel.ours, panel.total)
    w = _weights(panel.ours, panel.total)
    for _ in range(25):
        eta = fixed_effects(z, panel, w).of(panel.merchant, panel.month)
        p = np.clip(1.0 / (1.0 + np.exp(-eta)), 1e-12, 1 - 1e-12)
        w = panel.total * p * (1 - p)
        z = eta + (panel.ours - panel.total * p) / w
    return ResponseFit(0.0, 0.0, len(panel), len(np.unique(panel.merchant)),
                       len(np.unique(panel.month)), 0.0, fixed_effects(z, panel, w))


@dataclass(frozen=True)
class Segment:
    """What a what-if changes: the parcels of one market × zone (× product) today."""

    total: float  # parcels a month with all carriers
    ours: float  # parcels a month with us
    price: float  # our price per parcel now, yuan
    cost: float  # our cost per parcel, yuan

    @property
    def share(self) -> float:
        return self.ours / self.total if self.total else 0.0


@dataclass(frozen=True)
class Outcome:
    """A month at a price change: parcels, share, revenue and margin, each at ``β`` and at the
    two ends of its 95 % interval (``low`` ≤ ``value`` ≤ ``high``)."""

    change: float
    price: float
    parcels: tuple[float, float, float]  # low, value, high
    share: tuple[float, float, float]
    revenue: tuple[float, float, float]
    margin: tuple[float, float, float]
    below_cost: bool


def what_if(model: ResponseFit, segment: Segment, change: float) -> Outcome:
    """The month of ``segment`` if our price moves by ``change`` yuan (a cut is negative)."""
    if not model.identified:
        raise ValueError("the data never moved the price gap: no response to build on")
    price = segment.price + change
    results = []
    for beta in (*model.interval, model.beta):
        share = _shifted_share(segment.share, beta * change)
        parcels = segment.total * share
        results.append((parcels, share, parcels * price, parcels * (price - segment.cost)))
    lo_hi_mid = list(zip(*results, strict=True))

    def band(values) -> tuple[float, float, float]:
        return (min(values), values[2], max(values))

    parcels, share, revenue, margin = (band(v) for v in lo_hi_mid)
    return Outcome(change, price, parcels, share, revenue, margin, price < segment.cost)


def _shifted_share(share: float, logit_change: float) -> float:
    share = min(max(share, 1e-9), 1 - 1e-9)
    logit = math.log(share / (1 - share)) + logit_change
    return 1.0 / (1.0 + math.exp(-logit))


def advise(model: ResponseFit, segment: Segment, step: float = 0.05,
           widest: float = 1.0) -> tuple[Outcome, list[Outcome]]:
    """The price change in ``step``s within ``±widest`` yuan that earns the most margin a month,
    never a price below cost; returns it and every change tried (the margin curve)."""
    steps = int(round(widest / step))
    tried = [what_if(model, segment, round(k * step, 10)) for k in range(-steps, steps + 1)]
    allowed = [o for o in tried if not o.below_cost] or [what_if(model, segment, 0.0)]
    best = max(allowed, key=lambda o: (round(o.margin[1], 6), -abs(o.change)))
    return best, tried
