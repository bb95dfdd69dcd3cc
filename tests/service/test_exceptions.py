"""Exception detection (S1): hand timelines of every kind, idempotent store rows, clearing,
scope, and the figures against the tiny demo's injected truth."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from sqlalchemy import select

from jiqun.demo import build_demo
from jiqun.demo.incidents import read_truth
from jiqun.lake import connect
from jiqun.service.exceptions import detect, run_detection
from jiqun.store import Store
from jiqun.store.models import OrgLevel, OrgUnit, ParcelException, Responsibility
from jiqun.store.scope import Scope
from tests.service import hand_lake

UNTIL = dt.date(2026, 11, 26)
END = dt.datetime(2026, 11, 27)


@pytest.fixture(scope="module")
def found(tmp_path_factory):
    lake = hand_lake.build(tmp_path_factory.mktemp("exceptions") / "lake")
    kinds = defaultdict(set)
    rows = detect(connect(engine="duckdb"), lake, Scope.WHOLE, hand_lake.AS_OF)
    for d in rows:
        kinds[d.waybill_no].add(d.kind.value)
    return kinds, {(d.waybill_no, d.kind.value): d for d in rows}


@pytest.mark.parametrize("number", sorted(hand_lake.CASES))
def test_each_hand_timeline_shows_its_kinds(found, number):
    kinds, _ = found
    assert kinds.get(number, set()) == hand_lake.CASES[number][1]


def test_no_ordinary_parcel_of_the_history_is_flagged(found):
    kinds, _ = found
    assert set(kinds) <= set(hand_lake.CASES)


def test_findings_carry_reason_bag_and_promise(found):
    _, rows = found
    failed = rows[("FAILED", "failed_delivery")]
    assert (failed.reason, failed.responsibility) == ("unreachable", Responsibility.RECIPIENT)
    returned = rows[("RETURNED", "returned")]
    assert (returned.reason, returned.responsibility) == ("refused", Responsibility.RECIPIENT)
    stalled = rows[("STALLED", "stalled")]
    assert stalled.leg == "picked_up→departed" and stalled.reason == "held_at_hub"
    assert stalled.details["threshold_h"] <= 5.0 < stalled.details["elapsed_h"]
    assert stalled.promised_at == hand_lake.AS_OF - 20 * hand_lake.H + 48 * hand_lake.H
    bags = {rows[(f"BAG-{k}", "lost")].bag_key for k in range(3)}
    assert len(bags) == 1 and bags.pop().startswith(f"F{hand_lake.FACILITY}>{hand_lake.DEST_CITY}@")
    late = rows[("LATE", "late")]
    assert late.details["missed"] is True


# -- the tiny demo: store rows, and the figures against the truth -----------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("exc-demo")
    store = Store(f"sqlite:///{root}/store.db")
    build_demo(store, root / "lake", scale="tiny", seed=7, until=UNTIL, progress=False)
    return store, root / "lake"


def _rows(store, scope=None):
    with store.session(scope=scope) as s:
        return {(r.waybill_no, r.kind.value): (r.org_unit_id, r.cleared_at)
                for r in s.scalars(select(ParcelException))}


def test_run_detection_is_idempotent_and_clears_what_moved_on(demo):
    store, lake = demo
    con = connect(engine="duckdb")
    with store.transaction() as s:
        first = run_detection(s, con, lake, END - dt.timedelta(hours=12))
    assert first["found"] == first["new"] > 0
    with store.transaction() as s:
        again = run_detection(s, con, lake, END - dt.timedelta(hours=12))
    assert again == {"found": first["found"], "new": 0, "cleared": 0}
    before = _rows(store)
    with store.transaction() as s:
        later = run_detection(s, con, lake, END)
    after = _rows(store)
    assert later["cleared"] > 0
    now = {key for key in detect(con, lake, Scope.WHOLE, END) for key in [(key.waybill_no, key.kind.value)]}
    cleared = {key for key, (_, at) in after.items() if at is not None}
    assert cleared == set(before) - now
    assert all(after[key][1] == END for key in cleared)
    assert {key for key, (_, at) in after.items() if at is None} == now


def test_a_city_sees_its_own_parcels_only(demo):
    store, lake = demo
    con = connect(engine="duckdb")
    with store.session() as s:
        city = s.scalars(select(OrgUnit).where(OrgUnit.level == OrgLevel.CITY,
                                               OrgUnit.code == "HA-SQ")).one()
        scope = Scope.for_unit(s, city)
    everything = detect(con, lake, Scope.WHOLE, END)
    mine = detect(con, lake, scope, END)
    assert mine and len(mine) < len(everything)
    assert all(scope.allows(d.org_unit_id) for d in mine)
    assert {(d.waybill_no, d.kind) for d in mine} <= {(d.waybill_no, d.kind) for d in everything}


DELAY = {"late", "stalled"}


def figures(found, truth) -> tuple[float, dict[str, float]]:
    """Recall over the truth (a delay found as stalled or late counts for either) and
    precision per detected kind (a finding on a parcel of the truth is right)."""
    kinds = defaultdict(set)
    for d in found:
        kinds[d.waybill_no].add(d.kind.value)
    hits = [k in kinds[w] or (k in DELAY and bool(kinds[w] & DELAY))
            for w, k in zip(truth["waybill_no"], truth["kind"], strict=True)]
    truthful = set(truth["waybill_no"])
    flagged = defaultdict(list)
    for d in found:
        flagged[d.kind.value].append(d.waybill_no in truthful)
    return sum(hits) / len(hits), {k: sum(v) / len(v) for k, v in flagged.items()}


def test_detection_meets_its_targets_on_the_tiny_demo(demo):
    _, lake = demo
    truth = read_truth(lake).to_pydict()
    assert set(truth["incident"]) >= {"stall", "lost_bag", "return", "exception_scan"}
    recall, precision = figures(detect(connect(engine="duckdb"), lake, Scope.WHOLE, END), truth)
    assert recall >= 0.9
    assert all(p >= 0.8 for p in precision.values()), precision


def test_a_group_with_too_few_parcels_falls_back_to_a_coarser_one(tmp_path):
    from jiqun.service.legs import LegRules

    lake = hand_lake.build(tmp_path / "lake")
    con = connect(engine="duckdb")

    def stalled(rules):
        rows = detect(con, lake, Scope.WHOLE, hand_lake.AS_OF, legs=rules)
        return next(d for d in rows if d.waybill_no == "STALLED" and d.kind.value == "stalled")

    assert stalled(LegRules(min_parcels=50)).details["group_level"] == 0  # lane × product × weekday
    assert stalled(LegRules(min_parcels=200)).details["group_level"] == 1  # lane × product
    none = detect(con, lake, Scope.WHOLE, hand_lake.AS_OF, legs=LegRules(min_parcels=10_000))
    assert "stalled" not in {d.kind.value for d in none}  # no group knows the leg: no guess


def test_the_promise_table_is_overridden_by_the_rules_file(tmp_path):
    from jiqun.service.promise import PromiseRules

    rules = tmp_path / "rules.toml"
    rules.write_text("[service.promise]\nparcel = [12, 72, 84, 120]\n", encoding="utf-8")
    promise = PromiseRules.from_file(rules)
    assert promise.hours("parcel", "same") == 12 and promise.hours("express", "same") == 36
    lake = hand_lake.build(tmp_path / "lake")
    rows = detect(connect(engine="duckdb"), lake, Scope.WHOLE, hand_lake.AS_OF, promise=promise)
    stalled = {d.kind.value for d in rows if d.waybill_no == "STALLED"}
    assert stalled == {"stalled", "late"}  # 20 h at the outlet is past a 12 h promise
