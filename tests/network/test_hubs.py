"""Consolidation centres: models against brute force on a tiny instance, and on the demo."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from jiqun.lake import connect
from jiqun.network.hubs import Merchants, Site, candidate_sites, merchant_demand, plan_hubs
from jiqun.network.params import PlanningParams
from jiqun.store import Scope
from jiqun.store.org import unit_by_code
from tests.network.demo_province import demo_province


@pytest.fixture
def eight_merchants():
    """8 merchants in two clumps 0.3° apart and 4 candidate sites (1 existing centre)."""
    rng = np.random.default_rng(3)
    lon = np.r_[115.6 + rng.uniform(0, 0.05, 4), 115.9 + rng.uniform(0, 0.05, 4)]
    lat = 34.4 + rng.uniform(0, 0.05, 8)
    merchants = Merchants(np.arange(8), [f"m{i}" for i in range(8)], lon, lat,
                          rng.integers(1, 20, 8).astype(float))
    sites = [Site("west", 115.62, 34.42, "outlet"), Site("east", 115.92, 34.42, "outlet"),
             Site("middle", 115.76, 34.42, "added"),
             Site("old", 115.60, 34.40, "consolidation_centre", 1000, existing=True)]
    return merchants, sites


def test_pmedian_matches_brute_force(eight_merchants):
    merchants, sites = eight_merchants
    params = PlanningParams()
    plan = plan_hubs(merchants, sites, params, "pmedian", p=2, keep_existing=False)
    from jiqun.network.hubs import travel_minutes
    minutes = travel_minutes(merchants, sites, params)
    best = min(float(merchants.parcels @ minutes[:, list(c)].min(axis=1))
               for c in itertools.combinations(range(4), 2))
    assert plan.objective == pytest.approx(best)
    assert plan.bound == pytest.approx(best) and plan.gap == pytest.approx(0, abs=1e-9)
    assert sum(c["parcels_per_day"] for c in plan.centres) == pytest.approx(
        merchants.parcels.sum(), abs=0.05)


def test_cover_radius_and_existing_centre(eight_merchants):
    merchants, sites = eight_merchants
    params = PlanningParams()
    wide = plan_hubs(merchants, sites, params, "cover", radius=60)
    narrow = plan_hubs(merchants, sites, params, "cover", radius=15)
    assert wide.objective == 1 and narrow.objective == 2
    assert narrow.covered_parcels == pytest.approx(narrow.parcels)
    kept = plan_hubs(merchants, sites, params, "pmedian", p=2)
    assert "old" in {c["site"] for c in kept.centres}


def test_demo_shangqiu_half_hour_cover():
    demo = demo_province()
    with demo.store.session() as s:
        scope = Scope.for_unit(s, unit_by_code(s, "HA-SQ"))
    with demo.store.session(scope=scope) as s:
        merchants = merchant_demand(s, connect(engine="duckdb"), demo.lake, scope)
        sites = candidate_sites(s)
    plan = plan_hubs(merchants, sites, demo.params, "cover")
    assert plan.status == "optimal" and plan.gap == 0
    assert plan.covered_parcels == pytest.approx(plan.parcels)
    assert 1 <= plan.objective <= len(sites)
    cflp = plan_hubs(merchants, sites, demo.params, "cflp")
    assert cflp.gap <= 1e-6 and cflp.bound <= cflp.objective + 1e-6


def test_hq_solves_every_province_of_its_scope_or_one():
    """HQ's merchants lie in three provinces (分省测算): the what-if takes them all, or one;
    the provinces' merchants add up to all of them, and one province's sites are its own."""
    from jiqun.network.hubs import scope_provinces

    demo = demo_province()
    con = connect(engine="duckdb")
    with demo.store.session(scope=Scope.WHOLE) as s:
        provinces = scope_provinces(s)
        everyone = merchant_demand(s, con, demo.lake, Scope.WHOLE)
        each = {code: merchant_demand(s, con, demo.lake, Scope.WHOLE, province=code)
                for code, _ in provinces}
        henan_sites = candidate_sites(s, province="410000")
        all_sites = candidate_sites(s)
    assert provinces == [("330000", "浙江省"), ("410000", "河南省"), ("440000", "广东省")]
    assert sum(m.ids.size for m in each.values()) == everyone.ids.size
    henan = each["410000"]
    assert 0 < henan.ids.size < everyone.ids.size
    assert (henan.lon > 110.3).all() and (henan.lon < 116.7).all()  # Henan's box
    assert (henan.lat > 31.3).all() and (henan.lat < 36.4).all()
    assert henan_sites and all(site.code.startswith("F-HA") for site in henan_sites)
    assert len(henan_sites) < len(all_sites)
    plan = plan_hubs(henan, henan_sites, demo.params, "cover")
    assert plan.merchants == henan.ids.size and plan.covered_parcels == pytest.approx(plan.parcels)
