"""Merchants (商家) of every demo market as numpy arrays: size, stage, tier, our share, dates.

One row per merchant, all markets together; ``market`` holds the market's index in
:data:`jiqun.demo.places.MARKETS`. Volumes here are real (unscaled) parcels per day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from jiqun.demo.places import MARKETS
from jiqun.geo import division

STAGES = ("archived", "nurturing", "trial", "cooperating", "growing", "vip", "churned")
ARCHIVED, NURTURING, TRIAL, COOPERATING, GROWING, VIP, CHURNED = range(7)
_STAGE_P = np.array([0.22, 0.17, 0.05, 0.38, 0.10, 0.0, 0.08])  # vip is promoted afterwards

# Size classes of the generator on the merchant's total daily parcels (all carriers, real):
# the two largest are the head customers the generator makes VIPs of. The archive's *tier* is
# the KPI rules' tier of the parcels the merchant sends us (ArchiveBuilder.rule_tiers).
SIZE_THRESHOLDS = (2500.0, 800.0, 300.0, 80.0)

TRIAL_SHARE = 0.05  # a merchant on trial sends us this share of its parcels
WEIGHT_MULT_SIGMA = 0.3  # merchants of a market differ in parcel weight (lognormal σ)
ARCHIVE_COVERAGE = 0.85  # the archive holds merchants making 85% of a market's parcels
SHIPPING = (TRIAL, COOPERATING, GROWING, VIP)  # stages that ship with us now
OLD_P, OLD_HEAD_P = 0.55, 0.8
NEVER = np.datetime64("2999-12-31", "D")


@dataclass
class Merchants:
    market: np.ndarray  # int, index into MARKETS
    volume: np.ndarray  # merchant's total daily parcels, all carriers (real)
    stage: np.ndarray  # index into STAGES
    size_class: np.ndarray  # index into SIZE_THRESHOLDS (0: largest); not the archive's tier
    our_share: np.ndarray  # share of the merchant's parcels we carry (at the end)
    first_shipped: np.ndarray  # datetime64[D]; NEVER when never shipped with us
    churned_on: np.ndarray  # datetime64[D]; NEVER when not churned
    archived_on: np.ndarray  # datetime64[D]
    platform_p: np.ndarray  # (n, 3) probabilities taobao / pdd / live
    weight_mult: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    grid: np.ndarray  # grid number inside the market (0-based)
    in_campaign: np.ndarray  # bool: reached by the spring campaign (春耕计划)

    def __len__(self) -> int:
        return len(self.market)

    def rate_now(self) -> np.ndarray:
        """Our real daily parcels from each merchant on the last day, before season and trend."""
        return self.volume * self.our_share

    def growing_ramp(self, days: np.ndarray, rows: np.ndarray, until: dt.date) -> np.ndarray:
        """(rows × days) factor: growing merchants climb from half to full share."""
        ramp = np.ones((len(rows), len(days)))
        growing = self.stage[rows] == GROWING
        if growing.any():
            first = self.first_shipped[rows][growing]
            span = np.maximum((np.datetime64(until, "D") - first).astype(int), 1)
            done = (days[None, :] - first[:, None]).astype(int) / span[:, None]
            ramp[growing] = 0.5 + 0.5 * np.clip(done, 0.0, 1.0)
        return ramp

    def active(self, days: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(rows × days) bool: the merchant ships with us on that day."""
        first = self.first_shipped[rows][:, None]
        churned = self.churned_on[rows][:, None]
        return (days[None, :] >= first) & (days[None, :] < churned)


def campaign_window(until: dt.date) -> tuple[dt.date, dt.date]:
    """The latest spring drive (春耕计划, March–April) finished before ``until``."""
    year = until.year if until >= dt.date(until.year, 4, 30) else until.year - 1
    return dt.date(year, 3, 1), dt.date(year, 4, 30)


def _size_classes(volume: np.ndarray) -> np.ndarray:
    return np.searchsorted(-np.array(SIZE_THRESHOLDS), -volume, side="right")


def _platform_mix(rng: np.random.Generator, n: int, market_mix: tuple) -> np.ndarray:
    """Each merchant sells mostly on one platform, some on two or three (淘系/拼系/直播)."""
    primary = rng.choice(3, size=n, p=np.array(market_mix) / sum(market_mix))
    p = np.zeros((n, 3))
    p[np.arange(n), primary] = 1.0
    extra = rng.random(n)
    second = (primary + rng.integers(1, 3, n)) % 3
    two = extra < 0.40
    p[two, primary[two]] = 0.7
    p[two, second[two]] = 0.3
    three = extra > 0.85
    p[three] = [0.2, 0.2, 0.2]
    p[three, primary[three]] = 0.6
    return p


def _dates(rng, n, start, until, stage, head) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First shipment, churn and archive dates consistent with each merchant's stage."""
    s, u = np.datetime64(start, "D"), np.datetime64(until, "D")
    history = int((u - s).astype(int))
    first = np.full(n, NEVER)
    churned = np.full(n, NEVER)
    # Most of today's customers shipped with us before the history; head customers nearly all.
    old = rng.random(n) < np.where(head, OLD_HEAD_P, OLD_P)
    before = s - rng.integers(30, 700, n).astype("timedelta64[D]")
    during = s + rng.integers(0, history - 45, n).astype("timedelta64[D]")
    regular = np.isin(stage, (COOPERATING, GROWING, VIP))
    first[regular] = np.where(old, before, during)[regular]
    trial = stage == TRIAL
    first[trial] = u - rng.integers(3, 28, trial.sum()).astype("timedelta64[D]")
    gone = stage == CHURNED
    c_first = s - rng.integers(-200, 400, gone.sum()).astype("timedelta64[D]")
    first[gone] = c_first
    c_end = c_first + rng.integers(60, 420, gone.sum()).astype("timedelta64[D]")
    churned[gone] = np.clip(c_end, s + np.timedelta64(30, "D"), u - np.timedelta64(60, "D"))
    lead = rng.integers(20, 200, n).astype("timedelta64[D]")
    archived = np.where(first < NEVER, first - lead, u - rng.integers(1, 600, n).astype("timedelta64[D]"))
    return first, churned, archived


def _calibrate_share(volume, share, shipping, target) -> np.ndarray:
    """Scale shares so today's shipping merchants give the market share of the seed figures."""
    share = share.copy()
    for _ in range(20):
        current = (volume * share)[shipping].sum()
        if current <= 0 or abs(current - target) / target < 1e-6:
            break
        share[shipping] = np.minimum(share[shipping] * target / current, 1.0)
    return share


def generate_merchants(rng: np.random.Generator, start: dt.date, until: dt.date) -> Merchants:
    """All merchants of all demo markets, deterministic for a given ``rng`` state."""
    parts: list[dict[str, np.ndarray]] = []
    camp_from, camp_to = campaign_window(until)
    for m, spec in enumerate(MARKETS):
        n = spec.merchants
        raw = rng.lognormal(0.0, 1.5, n)
        volume = raw / raw.sum() * ARCHIVE_COVERAGE * spec.market_volume
        stage = rng.choice(len(STAGES), size=n, p=_STAGE_P / _STAGE_P.sum())
        size_class = _size_classes(volume)
        head = np.isin(stage, (COOPERATING, GROWING)) & (size_class <= 1)
        stage[head & (rng.random(n) < 0.6)] = VIP
        if not (stage == VIP).any():  # every key market has at least one VIP account
            candidates = np.flatnonzero(np.isin(stage, (COOPERATING, GROWING)))
            stage[candidates[np.argmax(volume[candidates])]] = VIP
        share = np.select(
            [stage == COOPERATING, stage == GROWING, stage == VIP, stage == TRIAL, stage == CHURNED],
            [rng.uniform(0.3, 0.8, n), rng.uniform(0.5, 0.9, n), rng.uniform(0.7, 1.0, n),
             np.full(n, TRIAL_SHARE), rng.uniform(0.2, 0.6, n)],
            0.0,
        )
        shipping = np.isin(stage, SHIPPING)
        share = _calibrate_share(volume, share, shipping, spec.our_share * spec.market_volume)
        head_rank = volume >= np.quantile(volume, 0.9)
        first, churned, archived = _dates(rng, n, start, until, stage, head_rank)
        in_campaign = np.zeros(n, bool)
        if spec.code == "ZJ-ZL":  # the spring drive converted a good part of Zhili's newcomers
            newcomer = np.isin(stage, (COOPERATING, GROWING)) & (first >= np.datetime64(start, "D"))
            moved = newcomer & (rng.random(n) < 0.4)
            window = (camp_to - camp_from).days
            first[moved] = np.datetime64(camp_from, "D") + rng.integers(0, window, moved.sum()).astype("timedelta64[D]")
            in_campaign = moved | (np.isin(stage, (NURTURING, TRIAL, ARCHIVED)) & (rng.random(n) < 0.3))
        place = division(spec_adcode(spec))
        lon = place.lon + rng.uniform(-0.04, 0.04, n)
        lat = place.lat + rng.uniform(-0.03, 0.03, n)
        grid = (np.argsort(np.argsort(lon)) * spec.grids) // n
        parts.append(dict(
            market=np.full(n, m), volume=volume, stage=stage, size_class=size_class,
            our_share=share,
            first_shipped=first, churned_on=churned, archived_on=archived,
            platform_p=_platform_mix(rng, n, spec.platforms),
            weight_mult=rng.lognormal(0.0, WEIGHT_MULT_SIGMA, n), lon=lon, lat=lat, grid=grid,
            in_campaign=in_campaign,
        ))
    return Merchants(**{k: np.concatenate([p[k] for p in parts]) for k in parts[0]})


def spec_adcode(spec) -> str:
    """The county adcode of a market: its outlet's adcode in the org tree."""
    from jiqun.demo.places import ORG_TREE

    def walk(node):
        if node.code == spec.outlet_code:
            return node.adcode
        for child in node.children:
            found = walk(child)
            if found:
                return found
        return None

    return walk(ORG_TREE)
