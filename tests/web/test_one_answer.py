"""Same figure, same answer on the tests/web world: the share trend of /api/share and of the
weekly bulletin, and the market estimate in force read from the store."""

from __future__ import annotations

import datetime as dt

import pytest

from jiqun.kpi import share
from jiqun.kpi.weeks import IsoWeek
from jiqun.reports.weekly import weekly_bulletin
from jiqun.store import Store
from jiqun.store.estimates import estimates_in_force, market_volume, market_volumes
from jiqun.store.models import ALL_CARRIERS
from tests.web.conftest import DATA_DATE, signed_in
from tests.web.test_kpi_pages import picture_of


def _page_points(api: dict) -> dict[tuple[int, str], tuple]:
    return {(m["market_id"], p["period"]): (p["parcels"], p["market_total"], p["share"])
            for m in api["markets"] for p in m["points"]}


@pytest.mark.parametrize("week", [IsoWeek.last_complete_by(DATA_DATE), IsoWeek.of(DATA_DATE)])
def test_the_bulletins_share_weeks_are_the_pages_weeks(app, world, week):
    """The last complete week and the week still running (counted to the data date in both)."""
    api = signed_in(app, "hz-city").get("/api/share").json()
    page = _page_points(api)
    with picture_of(world, "hz-city") as picture:
        bulletin = weekly_bulletin(picture, week)
    weeks = [p.week for p in bulletin.share_total.points]
    assert len(weeks) == share.BULLETIN_WEEKS and weeks[-1] == week.monday
    assert {str(w) for w in weeks} <= set(api["weeks"])  # a quarter of the page's half year
    compared = 0
    for series in bulletin.share_markets:
        for p in series.points:
            parcels, total, ratio = page[(series.market_id, str(p.week))]
            assert p.parcels == parcels and p.market_total == total, (series.name, p.week)
            assert p.share == pytest.approx(ratio)
            compared += p.share is not None
    assert compared >= 8  # weeks with an estimate and parcels were compared, not only blanks
    if week.week == 24:  # the running week: its estimate counts Monday to the data date only
        zhili = next(s for s in bulletin.share_markets if s.market_id == world.ids["zhili"])
        assert zhili.points[-1].market_total == 50.0 * 6


def test_the_estimate_in_force_from_the_store(world):
    """Zhili: the whole market 40 from 1 Jan, 50 from 1 Jun, 99 from 1 Sep; 中通 20 from 1 May."""
    zhili, xihu = world.ids["zhili"], world.ids["xihu"]
    store = Store(world.settings.store_url)
    try:
        with store.session() as s:
            assert market_volume(s, zhili, dt.date(2024, 5, 31)) == 40.0
            assert market_volume(s, zhili, dt.date(2024, 6, 1)) == 50.0
            assert market_volume(s, zhili) == 99.0  # no date: the latest
            assert market_volume(s, zhili, dt.date(2023, 12, 31)) is None
            assert market_volumes(s, DATA_DATE) == {zhili: 50.0, xihu: 100.0}
            named = estimates_in_force(s, DATA_DATE, market_ids=[zhili], carrier=None)
            assert {k: e.daily_volume for k, e in named.items()} == {
                (zhili, ALL_CARRIERS): 50.0, (zhili, "中通"): 20.0}
            assert estimates_in_force(s, dt.date(2024, 4, 30), carrier="中通") == {}
    finally:
        store.engine.dispose()
