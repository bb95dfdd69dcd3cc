"""Figures per level (分级看板): HQ sees its provinces, a province its cities, a city (and any
unit below) its markets and grids — month-to-date parcels and revenue, plan progress, market
share and active customers of each row.

Org-unit rows come from grouping the daily aggregates by ``org_unit_id`` and mapping every unit
to its ancestor one level below the viewer (the materialised path says which). Plan progress and
share of an org unit add up its markets' figures from :mod:`jiqun.kpi.progress` and
:mod:`jiqun.kpi.share`, so a row agrees with the market rows below it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import ibis
import pyarrow as pa
from ibis.expr.types import Table

from jiqun.kpi.frame import between, revenue_sum
from jiqun.kpi.rules import KpiRules
from jiqun.store.models import OrgLevel

# The rows a viewer at each level sees; cities and everything below see markets and grids.
ORG_CHILD_LEVEL = {OrgLevel.HQ: OrgLevel.PROVINCE, OrgLevel.PROVINCE: OrgLevel.CITY}
UNIT_MAP = pa.schema([("org_unit_id", pa.int32()), ("row_id", pa.int64())])


@dataclass(frozen=True)
class Unit:
    """An org unit as the level table needs it (read from the store by the caller)."""

    id: int
    code: str
    name: str
    level: OrgLevel
    path: str  # materialised path, e.g. ``/1/4/9/``

    @property
    def lineage(self) -> list[int]:
        """Ids from the root down to this unit."""
        return [int(i) for i in self.path.strip("/").split("/") if i]


def row_level(viewer: OrgLevel) -> str:
    """What the viewer's table lists: ``province``, ``city`` or ``market`` (with grids)."""
    child = ORG_CHILD_LEVEL.get(viewer)
    return child.value if child else "market"


def rows_of_units(root: Unit, units: Iterable[Unit]) -> dict[int, int]:
    """Each unit of ``root``'s subtree → its ancestor one level below ``root`` (the row it adds
    to). Parcels booked on ``root`` itself stay on ``root`` (shown as the viewer's own row)."""
    depth = len(root.lineage)
    mapping = {}
    for unit in units:
        lineage = unit.lineage
        if lineage[:depth] != root.lineage:
            continue  # outside the subtree
        mapping[unit.id] = lineage[depth] if len(lineage) > depth else root.id
    return mapping


def activity(frame: Table, key: str, as_of: dt.date, rules: KpiRules) -> Table:
    """Per ``key``: month-to-date ``parcels`` and ``revenue`` and ``active_customers`` (活跃客户:
    customers that shipped within the last ``active_days`` up to ``as_of``)."""
    month = as_of.replace(day=1)
    active_from = as_of - dt.timedelta(days=rules.active_days - 1)
    rows = between(frame, min(month, active_from), as_of)
    in_month = rows.day >= month
    return rows.group_by(rows[key].name("row_id")).aggregate(
        parcels=in_month.ifelse(rows.parcels, 0).sum().cast("int64"),
        revenue=revenue_sum(in_month.ifelse(rows.revenue, 0.0)),
        active_customers=rows.customer_id.nunique(
            where=(rows.day >= active_from) & rows.customer_id.notnull()
        ).cast("int64"),
    )


def unit_activity(frame: Table, unit_rows: dict[int, int], as_of: dt.date,
                  rules: KpiRules) -> Table:
    """:func:`activity` per org-unit row: daily aggregates mapped to the row of their unit."""
    mapping = ibis.memtable(pa.Table.from_pylist(
        [{"org_unit_id": u, "row_id": r} for u, r in unit_rows.items()], UNIT_MAP))
    joined = frame.inner_join(mapping, frame.org_unit_id == mapping.org_unit_id)
    return activity(joined, "row_id", as_of, rules)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def roll_up(markets: list[dict], plan: list[dict], share: list[dict],
            market_row: dict[int, int]) -> dict[int, dict]:
    """Plan and share of each org-unit row from its markets' figures.

    ``progress`` = Σ market parcels / Σ prorated market targets (markets with a target);
    ``share`` = Σ our parcels / Σ estimated market totals (markets with an estimate).
    """
    sums: dict[int, dict] = {}
    for market in markets:
        row = market_row.get(market["id"])
        if row is None:
            continue
        s = sums.setdefault(row, {"target_parcels": 0.0, "expected_parcels": 0.0,
                                  "plan_parcels": 0, "share_parcels": 0, "market_total": 0.0})
        p = next((r for r in plan if r["market_id"] == market["id"]), None)
        if p and p["target_parcels"]:
            s["target_parcels"] += p["target_parcels"]
            s["expected_parcels"] += p["expected_parcels"]
            s["plan_parcels"] += p["parcels"]
        for r in share:
            if r["market_id"] == market["id"] and r["market_total"]:
                s["share_parcels"] += r["parcels"]
                s["market_total"] += r["market_total"]
    return {row: {"target_parcels": s["target_parcels"],
                  "progress": _ratio(s["plan_parcels"], s["expected_parcels"]),
                  "share": _ratio(s["share_parcels"], s["market_total"])}
            for row, s in sums.items()}


def level_records(
    *,
    level: str,
    names: list[dict],
    figures: list[dict],
    plan: dict[int, dict],
) -> list[dict]:
    """Flat records of one level: every named row (``id``, ``code``, ``name`` and optional
    ``parent_id``), with zeros where it had no parcels, largest first."""
    found = {r["row_id"]: r for r in figures}
    out = []
    for row in names:
        f = found.get(row["id"], {})
        p = plan.get(row["id"], {})
        out.append({
            "level": level, "id": row["id"], "code": row["code"], "name": row["name"],
            "parent_id": row.get("parent_id"),
            "parcels": int(f.get("parcels") or 0), "revenue": float(f.get("revenue") or 0.0),
            "target_parcels": p.get("target_parcels"), "progress": p.get("progress"),
            "share": p.get("share"), "active_customers": int(f.get("active_customers") or 0),
        })
    return sorted(out, key=lambda r: (-r["parcels"], r["code"]))
