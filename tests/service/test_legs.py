"""Leg times learned from history: percentiles by lane × product × weekday, with fallbacks."""

from __future__ import annotations

import pytest

from jiqun.lake import connect
from jiqun.service.legs import LEGS, LegRules, learn
from jiqun.store.scope import Scope
from tests.service import hand_lake


@pytest.fixture(scope="module")
def stats(tmp_path_factory):
    lake = hand_lake.build(tmp_path_factory.mktemp("legs") / "lake")
    return learn(connect(engine="duckdb"), lake, Scope.WHOLE, hand_lake.AS_OF).to_pylist()


def _row(stats, leg, level, **keys):
    rows = [r for r in stats if r["leg"] == leg and r["level"] == level
            and all(r[k] == v for k, v in keys.items())]
    assert len(rows) == 1, rows
    return rows[0]


def test_every_leg_has_percentiles_that_rise(stats):
    for leg in LEGS:
        row = _row(stats, leg, 4)
        assert row["parcels"] == hand_lake.HISTORY_DAYS * hand_lake.PER_DAY
        assert row["p50"] <= row["p90"] <= row["p95"] <= row["p99"]


def test_percentiles_are_the_hours_of_the_history(stats):
    # origin dwell cycles 3, 3.5, 4, 4.5, 5 h: the median 4 h, p99 just under 5 h
    dwell = _row(stats, "origin_dwell", 4)
    assert dwell["p50"] == pytest.approx(4.0)
    assert 4.9 < dwell["p99"] <= 5.0
    by_weekday = [r for r in stats if r["leg"] == "linehaul" and r["level"] == 0]
    assert len(by_weekday) == 7  # one group per weekday of the departure
    assert all(r["market_id"] == 1 and r["product"] == "parcel" for r in by_weekday)
    assert sum(r["parcels"] for r in by_weekday) == hand_lake.HISTORY_DAYS * hand_lake.PER_DAY
    assert _row(stats, "linehaul", 4)["p50"] == pytest.approx(10.0, abs=0.5)


def test_recent_legs_are_not_learned_from(tmp_path):
    lake = hand_lake.build(tmp_path / "lake")
    settled = learn(connect(engine="duckdb"), lake, Scope.WHOLE, hand_lake.AS_OF,
                    LegRules(settle_days=10)).to_pylist()
    # the history picks up on days 9 … 29 before AS_OF; only days 11 … 29 started 10 days ago
    assert _row(settled, "origin_dwell", 4)["parcels"] == 19 * hand_lake.PER_DAY


def test_a_scope_without_parcels_learns_nothing(tmp_path):
    lake = hand_lake.build(tmp_path / "lake")
    nobody = Scope(root_id=999, root_path="/999/", org_ids=frozenset({999}))
    assert learn(connect(engine="duckdb"), lake, nobody, hand_lake.AS_OF).num_rows == 0
