"""Customer KPIs against a plain-Python reference, with the edge cases named in the issue."""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa
import pytest

from jiqun.kpi.customers import ARCHIVE, customer_counts, customer_status, development_rate
from jiqun.kpi.frame import Dimensions, kpi_frame
from jiqun.kpi.rules import KpiRules
from jiqun.lake.aggregates import DAILY
from tests.kpi.fixtures import daily_table, random_daily

D = dt.date
RULES = KpiRules(active_days=30, silent_days=30, new_effective_daily_parcels=5)


def _frame(table):
    return kpi_frame(ibis.memtable(table), Dimensions.empty())


def reference_status(rows, start, end, rules):
    by_customer: dict[int, dict[dt.date, int]] = {}
    for r in rows:
        if r["day"] <= end:
            days = by_customer.setdefault(r["customer_id"], {})
            days[r["day"]] = days.get(r["day"], 0) + r["parcels"]
    out = {}
    for c, days in by_customer.items():
        ordered = sorted(days)
        starts = [d for i, d in enumerate(ordered)
                  if i == 0 or (d - ordered[i - 1]).days >= rules.silent_days]
        last, since = ordered[-1], starts[-1]
        span = (end - since).days + 1
        since_parcels = sum(p for d, p in days.items() if d >= since)
        activated = any(start <= d <= end for d in starts)
        silent_from = last + dt.timedelta(days=rules.active_days)
        out[c] = {
            "active": (end - last).days < rules.active_days,
            "activated": activated,
            "new_effective": activated and since_parcels / span >= rules.new_effective_daily_parcels,
            "churned": start <= silent_from <= end,
        }
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("start, end", [(D(2024, 2, 1), D(2024, 2, 29)),
                                        (D(2024, 3, 1), D(2024, 3, 31))])
def test_status_matches_the_reference(seed, start, end, run):
    # sparse shipping (few customers, long gaps) so every flag occurs in some case
    table = random_daily(seed=seed, start=D(2023, 11, 1), days=160, customers=8)
    keep = [r for r in table.to_pylist() if (r["day"].toordinal() * 7 + r["customer_id"]) % 9 == 0]
    table = pa.Table.from_pylist(keep, DAILY)
    got = run(customer_status(_frame(table), start, end, RULES)).set_index("customer_id")
    expected = reference_status(keep, start, end, RULES)
    assert set(got.index) == set(expected)
    for c, flags in expected.items():
        assert {k: bool(got.loc[c, k]) for k in flags} == flags, c


def _rows(spec):
    return daily_table(
        [{"customer_id": c, "grid_id": g, "day": d, "parcels": p} for c, g, d, p in spec])


def test_named_cases_across_a_month_boundary(run):
    table = _rows([
        (1, 10, D(2026, 1, 5), 100),  # shipped in January only: churns in February (Feb 4)
        (2, 10, D(2026, 1, 31), 3), (2, 10, D(2026, 2, 1), 3),  # steady across the boundary
        (3, 11, D(2026, 2, 10), 400),  # brand new in February, big: new effective
        (4, 11, D(2025, 10, 1), 50), (4, 11, D(2026, 2, 20), 1),  # back after silence: activated
    ])
    got = run(customer_status(_frame(table), D(2026, 2, 1), D(2026, 2, 28), RULES))
    got = got.set_index("customer_id")
    assert got.loc[1, "churned"] and not got.loc[1, "active"]
    assert got.loc[2, "active"] and not got.loc[2, "activated"] and not got.loc[2, "churned"]
    assert got.loc[3, "activated"] and got.loc[3, "new_effective"]  # 400 / 19 days ≥ 5
    assert got.loc[4, "activated"] and not got.loc[4, "new_effective"]
    counts = customer_counts(_frame(table), "grid", D(2026, 2, 1), D(2026, 2, 28), RULES)
    counts = run(counts).set_index("grid_id")
    assert counts.loc[10].tolist() == [1, 0, 0, 1]  # active, activated, new effective, churned
    assert counts.loc[11].tolist() == [2, 2, 1, 0]


def test_development_rate_per_grid_counts_customers_with_no_shipments(run):
    table = _rows([(1, 10, D(2026, 2, 27), 5), (2, 10, D(2025, 12, 1), 5),
                   (3, 11, D(2026, 2, 28), 1)])
    archive = pa.Table.from_pylist([
        {"customer_id": 1, "grid_id": 10, "market_id": 1},
        {"customer_id": 2, "grid_id": 10, "market_id": 1},  # shipped, but not recently
        {"customer_id": 5, "grid_id": 10, "market_id": 1},  # archived, never shipped
        {"customer_id": 3, "grid_id": 11, "market_id": 1},
    ], ARCHIVE)
    got = run(development_rate(_frame(table), archive, D(2026, 2, 28), RULES))
    got = got.set_index("grid_id")
    assert got.loc[10, "archived"] == 3 and got.loc[10, "cooperating"] == 1
    assert got.loc[10, "development_rate"] == pytest.approx(1 / 3)
    assert not got.loc[10, "meets_target"] and got.loc[11, "meets_target"]
