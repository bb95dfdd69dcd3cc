"""The SQL that windowed and joined KPIs compile to, kept as snapshot files per dialect: a silent
change of a window frame or a join shows up in review (set JIQUN_UPDATE_SNAPSHOTS=1 to rewrite).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import ibis
import pytest

from jiqun.kpi.customers import customer_status
from jiqun.kpi.rules import KpiRules
from jiqun.kpi.volume import volume
from jiqun.lake.aggregates import DAILY

SNAPSHOTS = Path(__file__).parent / "snapshots"
START, END = dt.date(2026, 2, 1), dt.date(2026, 2, 28)


def _daily():
    frame = ibis.table(ibis.schema(DAILY), name="daily")
    return frame.mutate(team_id=ibis.null("int32"), owner_id=ibis.null("int32"))


CASES = {
    "customer_status": lambda: customer_status(_daily(), START, END, KpiRules()),
    "volume_grid_month": lambda: volume(_daily(), "grid", "month", START, END),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_sql_matches_the_snapshot(case, dialect="duckdb"):
    sql = ibis.to_sql(CASES[case](), dialect=dialect).strip() + "\n"
    path = SNAPSHOTS / dialect / f"{case}.sql"
    if os.environ.get("JIQUN_UPDATE_SNAPSHOTS") or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql, encoding="utf-8")
    assert sql == path.read_text(encoding="utf-8")


def test_the_activation_window_does_not_scan_following_rows():
    sql = ibis.to_sql(CASES["customer_status"](), dialect="duckdb")
    assert "LAG(" in sql and "FOLLOWING" not in sql
