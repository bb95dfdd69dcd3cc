"""The demo's tracking events: journeys in order, and the injected incidents with their truth."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from jiqun.demo import build_demo
from jiqun.demo.incidents import LATE_LINE_HOURS, STALL_HOURS, read_truth
from jiqun.store import Store

UNTIL = dt.date(2026, 11, 26)
END = dt.datetime(2026, 11, 27)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("events")
    build_demo(Store(f"sqlite:///{root}/store.db"), root / "lake", scale="tiny", seed=7,
               until=UNTIL, progress=False)
    return root / "lake"


def _sql(lake, query: str):
    con = duckdb.connect()
    con.sql(f"CREATE VIEW e AS SELECT * FROM read_parquet('{lake}/events/*/*.parquet')")
    con.sql(f"CREATE VIEW w AS SELECT * FROM read_parquet('{lake}/waybills/*/*.parquet')")
    con.sql(f"CREATE VIEW t AS SELECT * FROM read_parquet('{lake}/_demo/incidents.parquet')")
    return con.sql(query).fetchall()


MILESTONES = """
SELECT waybill_no,
  min(event_time) FILTER (event_code = 'picked_up') AS p,
  min(event_time) FILTER (event_code = 'departed') AS d,
  min(event_time) FILTER (event_code = 'arrived') AS a,
  min(event_time) FILTER (event_code = 'out_for_delivery') AS o,
  max(event_time) FILTER (event_code = 'delivered') AS v,
  min(event_time) FILTER (event_code = 'failed_attempt') AS f,
  max(event_time) FILTER (event_code = 'out_for_delivery') AS o2,
  min(event_time) FILTER (event_code = 'in_locker') AS l
FROM e GROUP BY waybill_no
"""


def test_scans_follow_the_journey(lake):
    (wrong,) = _sql(lake, f"SELECT count(*) FROM ({MILESTONES}) "
                          "WHERE d < p OR a < d OR o < a OR v < o OR d IS NULL AND a IS NOT NULL")[0]
    assert wrong == 0
    # a failed attempt is tried again later; a locker comes before the collection
    assert _sql(lake, f"SELECT count(*) FROM ({MILESTONES}) WHERE f IS NOT NULL AND v IS NOT NULL "
                      "AND NOT (o2 > f AND v > o2)")[0][0] == 0
    assert _sql(lake, f"SELECT count(*) FROM ({MILESTONES}) WHERE l IS NOT NULL AND v < l")[0][0] == 0
    kinds = {code for (code,) in _sql(lake, "SELECT DISTINCT event_code FROM e")}
    assert {"failed_attempt", "in_locker", "exception", "returned"} <= kinds
    assert max(at for (at,) in _sql(lake, "SELECT max(event_time) FROM e")) < END


def test_a_delivered_waybill_has_its_delivery_scan(lake):
    rows = _sql(lake, f"""SELECT count(*), count(*) FILTER (m.v = w.delivered_time)
        FROM w JOIN ({MILESTONES}) m USING (waybill_no) WHERE w.status = 'delivered'""")
    total, same = rows[0]
    assert total > 0 and same == total


def test_the_truth_names_parcels_of_the_lake_as_they_look_at_the_end(lake):
    truth = read_truth(lake).to_pylist()
    incidents = {t["incident"] for t in truth}
    assert {"stall", "lost_bag", "late_line", "return", "exception_scan"} <= incidents
    numbers = {n for (n,) in _sql(lake, "SELECT waybill_no FROM w")}
    assert {t["waybill_no"] for t in truth} <= numbers
    # the lost bag: one departure (facility, hour), no scan after it
    bag = _sql(lake, """SELECT count(DISTINCT (e.facility_id, date_trunc('hour', e.event_time))),
                               count(*) FILTER (e.event_code NOT IN ('picked_up', 'departed'))
                        FROM t JOIN e USING (waybill_no) WHERE t.incident = 'lost_bag'
                          AND e.event_code IN ('departed', 'arrived', 'out_for_delivery',
                                               'delivered', 'exception', 'returned')""")
    assert bag == [(1, 0)]
    # stalled parcels sit at the centre: picked up, never departed by the end
    stalled = _sql(lake, """SELECT count(*), count(*) FILTER (e.event_code = 'departed')
                            FROM t JOIN e USING (waybill_no) WHERE t.incident = 'stall'""")
    assert stalled[0][0] > 0 and stalled[0][1] == 0
    # the late line's parcels left LATE_LINE_HOURS after their truck's slot (4 h after pickup
    # at most): their wait at the origin is beyond any ordinary one
    waits = _sql(lake, """SELECT date_diff('minute', min(event_time) FILTER (event_code = 'picked_up'),
                                 min(event_time) FILTER (event_code = 'departed')) / 60.0
                          FROM t JOIN e USING (waybill_no) WHERE t.incident = 'late_line'
                          GROUP BY waybill_no""")
    assert waits and all(w is None or w >= LATE_LINE_HOURS for (w,) in waits)
    assert STALL_HOURS > 24
    assert all(t["began_at"] <= END for t in truth)


def test_the_truth_is_deterministic_by_seed(lake, tmp_path):
    build_demo(Store(f"sqlite:///{tmp_path}/store.db"), tmp_path / "lake", scale="tiny", seed=7,
               until=UNTIL, progress=False)
    assert read_truth(tmp_path / "lake").equals(read_truth(lake))
