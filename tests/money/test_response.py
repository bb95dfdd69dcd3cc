"""The price-response model against panels drawn from a known truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jiqun.money.response import Panel, Segment, advise, fit, validate, what_if

TRUE_BETA = -1.2  # per yuan of gap


def _panel(rng, merchants=600, months=24, beta=TRUE_BETA, moved=0.5, cut=0.4, at=18,
           size=(200, 3000)) -> Panel:
    """Merchants with their own loyalty, a season every merchant shares, and in half of
    them (the moved markets) our price cut by ``cut`` yuan from month ``at`` on."""
    m = np.repeat(np.arange(merchants), months)
    t = np.tile(np.arange(months), merchants)
    alpha = rng.normal(-1.0, 1.0, merchants)
    season = 0.3 * np.sin(np.arange(months) / 12 * 2 * np.pi)
    gap0 = rng.uniform(-0.2, 0.4, merchants)
    moved_m = rng.random(merchants) < moved
    gap = gap0[m] - cut * (moved_m[m] & (t >= at)) + rng.normal(0, 0.02, len(m))
    total = rng.integers(*size, merchants)[m] * (1 + 0.1 * season[t])
    total = np.round(total).astype(float)
    share = 1 / (1 + np.exp(-(alpha[m] + season[t] + beta * gap)))
    ours = rng.binomial(total.astype(int), share).astype(float)
    return Panel(m, t, gap, ours, total)


def test_the_fit_recovers_the_true_sensitivity():
    model = fit(_panel(np.random.default_rng(1)))
    lo, hi = model.interval
    assert lo < TRUE_BETA < hi
    assert abs(model.beta - TRUE_BETA) < 0.1
    assert model.identified and model.merchants == 600 and model.months == 24


def test_the_interval_covers_the_truth_in_most_draws():
    intervals = [fit(_panel(np.random.default_rng(seed), merchants=200)).interval
                 for seed in range(20)]
    covered = sum(lo < TRUE_BETA < hi for lo, hi in intervals)
    assert covered >= 16  # a 95 % interval misses about one draw in twenty


def test_no_gap_change_means_nothing_is_learned():
    panel = _panel(np.random.default_rng(2), moved=0.0)
    flat = Panel(panel.merchant, panel.month, np.full(len(panel), 0.3), panel.ours, panel.total)
    model = fit(flat)
    assert not model.identified
    with pytest.raises(ValueError):
        what_if(model, Segment(1000, 300, 5.0, 3.0), -0.1)


def test_held_out_months_are_predicted_better_than_without_a_response():
    check = validate(_panel(np.random.default_rng(3), at=21), holdout_months=3)
    assert check.beats_baseline
    assert check.model_error < 0.8 * check.baseline_error
    assert check.interval[0] < TRUE_BETA < check.interval[1]


def test_what_if_follows_the_logit_and_brackets_with_the_interval():
    model = fit(_panel(np.random.default_rng(4)))
    segment = Segment(total=10_000, ours=2_500, price=4.0, cost=3.0)
    out = what_if(model, segment, -0.10)
    odds = (0.25 / 0.75) * math.exp(model.beta * -0.10)
    assert out.share[1] == pytest.approx(odds / (1 + odds))
    assert out.parcels[1] == pytest.approx(10_000 * out.share[1])
    assert out.revenue[1] == pytest.approx(out.parcels[1] * 3.90)
    assert out.margin[1] == pytest.approx(out.parcels[1] * 0.90)
    assert out.parcels[0] <= out.parcels[1] <= out.parcels[2]
    assert out.parcels[1] > 2_500  # a cut wins parcels
    assert what_if(model, segment, 0.0).parcels == (2_500, 2_500, 2_500)


def test_advice_maximises_margin_and_never_goes_below_cost():
    model = fit(_panel(np.random.default_rng(5)))
    segment = Segment(total=10_000, ours=2_000, price=3.2, cost=3.0)
    best, tried = advise(model, segment, step=0.05, widest=1.0)
    assert not best.below_cost and best.price >= segment.cost
    assert best.margin[1] == max(o.margin[1] for o in tried if not o.below_cost)
    # Brute force over a fine grid of allowed prices agrees with the 5-fen answer.
    fine = [what_if(model, segment, c / 1000) for c in range(-200, 1001)]
    brute = max((o for o in fine if not o.below_cost), key=lambda o: o.margin[1])
    assert abs(brute.change - best.change) <= 0.05
