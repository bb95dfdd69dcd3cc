"""Flows 流量流向 (N1): parcels by origin (market or outlet) × destination (province or city),
by day, week or month and product, and the peak windows (旺季窗口) found in the data.

Reads the ``lanes`` aggregate of the lake (never raw waybills), limited to the caller's scope.
Origins get names and coordinates from the store; destinations from :mod:`jiqun.geo`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import ibis
import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.geo import division
from jiqun.lake import lanes
from jiqun.network.params import PlanningParams
from jiqun.store.models import Facility, FacilityKind, Market
from jiqun.store.scope import Scope

OriginKind = Literal["market", "outlet"]
DestLevel = Literal["province", "city"]
Period = Literal["day", "week", "month", "all"]
ORIGIN_COLUMN = {"market": "market_id", "outlet": "outlet_id"}
DEST_COLUMN = {"province": "dest_province", "city": "dest_city"}
# The flows' default window: the last day with data and the 364 days before it (a year).
TRAILING_DAYS = 364


@dataclass(frozen=True)
class Origin:
    """Where parcels start: a market (集群市场) or the outlet (揽投部) serving it."""

    id: int
    kind: str
    code: str
    name: str
    lon: float | None
    lat: float | None
    adcode: str | None
    industry: str | None
    org_unit_id: int


def origins(session: Session, kind: OriginKind) -> dict[int, Origin]:
    """Markets or outlets visible in the (scoped) session, by id."""
    markets = list(session.scalars(select(Market)))
    if kind == "market":
        return {m.id: Origin(m.id, kind, m.code, m.name, m.lon, m.lat, m.adcode, m.industry,
                             m.org_unit_id) for m in markets}
    industry = {m.org_unit_id: m.industry for m in markets}
    outlets = session.scalars(select(Facility).where(Facility.kind == FacilityKind.OUTLET))
    return {f.id: Origin(f.id, kind, f.code, f.name, f.lon, f.lat, f.adcode,
                         industry.get(f.org_unit_id), f.org_unit_id) for f in outlets}


def place_name(adcode: str | None) -> str:
    d = division(adcode) if adcode else None
    return d.name if d else (adcode or "—")


def data_window(con, lake: Path, scope: Scope | None) -> tuple[dt.date, dt.date] | None:
    """First and last day with flows in scope."""
    t = lanes(con, lake, scope)
    row = t.aggregate(first=t.day.min(), last=t.day.max()).to_pyarrow().to_pylist()[0]
    return None if row["last"] is None else (row["first"], row["last"])


def flow_window(con, lake: Path, scope: Scope | None, start: dt.date | None = None,
                end: dt.date | None = None) -> tuple[dt.date, dt.date] | None:
    """The days the flows cover: ``start``..``end`` clipped to the data, by default the
    trailing year (:data:`TRAILING_DAYS` before the last day with data). None without data or
    when the days asked for hold none. The page, ``/api/flows`` and ``jiqun flows`` all use it."""
    window = data_window(con, lake, scope)
    if window is None:
        return None
    end = min(end or window[1], window[1])
    start = max(start or end - dt.timedelta(days=TRAILING_DAYS), window[0])
    return (start, end) if start <= end else None


def _period_start(day: ibis.Value, period: Period):
    if period == "day":
        return day
    if period == "week":
        return day.truncate("W")
    if period == "month":
        return day.truncate("M")
    return ibis.literal(None, type="date")


def flow_table(con, lake: Path, scope: Scope | None, *, by: OriginKind = "market",
               to: DestLevel = "city", period: Period = "all", product: str | None = None,
               start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
    """Parcels, revenue and weight per period × origin × destination (× product when one is
    asked for), with the average parcels per day of data in the period."""
    t = lanes(con, lake, scope)
    if start is not None:
        t = t.filter(t.day >= start)
    if end is not None:
        t = t.filter(t.day <= end)
    if product:
        t = t.filter(t["product"] == product)
    t = t.filter(t[ORIGIN_COLUMN[by]].notnull() & t[DEST_COLUMN[to]].notnull())
    t = t.mutate(period_start=_period_start(t.day, period))
    grouped = t.group_by([
        "period_start", t[ORIGIN_COLUMN[by]].name("origin_id"), t[DEST_COLUMN[to]].name("dest")
    ]).aggregate(
        parcels=t.parcels.sum().cast("int64"), revenue=t.revenue.sum(),
        weight_kg=t.weight_kg.sum(), days=t.day.nunique().cast("int64"),
        line_parcels=t.parcels.sum(where=t.line_id.notnull()).cast("int64"),
    )
    df = grouped.to_pyarrow().to_pandas()
    if df.empty:
        return df
    days_in = _days_in_period(df, period, start, end, con, lake, scope)
    df["daily_parcels"] = df["parcels"] / days_in
    df["line_parcels"] = df["line_parcels"].fillna(0).astype("int64")
    return df


def _days_in_period(df, period, start, end, con, lake, scope) -> pd.Series | float:
    """Calendar days of each period that the data covers (a lane silent on a day counts 0)."""
    window = data_window(con, lake, scope)
    first = max(start, window[0]) if start else window[0]
    last = min(end, window[1]) if end else window[1]
    if period == "all":
        return float((last - first).days + 1)
    if period == "day":
        return 1.0
    length = 7 if period == "week" else None
    out = []
    for p in pd.to_datetime(df["period_start"]).dt.date:
        p_end = p + dt.timedelta(days=length - 1) if length else (
            (p.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1))
        out.append((min(p_end, last) - max(p, first)).days + 1)
    return pd.Series(out, index=df.index).clip(lower=1)


def flow_records(session: Session, con, lake: Path, scope: Scope | None, *,
                 by: OriginKind = "market", to: DestLevel = "city", period: Period = "all",
                 product: str | None = None, start: dt.date | None = None,
                 end: dt.date | None = None, limit: int | None = None) -> list[dict]:
    """Flows as flat records, biggest first within each period: what the CLI and pages show,
    over :func:`flow_window` (the trailing year unless ``start``/``end`` say otherwise)."""
    window = flow_window(con, lake, scope, start, end)
    if window is None:
        return []
    start, end = window
    df = flow_table(con, lake, scope, by=by, to=to, period=period, product=product,
                    start=start, end=end)
    if df.empty:
        return []
    names = origins(session, by)
    # Ties broken by origin and destination: the database returns groups in any order, and
    # the page, the API and the CLI must list the same rows in the same order.
    df = df.sort_values(["period_start", "parcels", "origin_id", "dest"],
                        ascending=[True, False, True, True], kind="stable")
    rows = []
    for r in df.itertuples(index=False):
        o = names.get(int(r.origin_id))
        rows.append({
            "period": r.period_start if period != "all" else None,
            "origin_id": int(r.origin_id), "origin": o.name if o else str(r.origin_id),
            "dest_code": r.dest, "dest": place_name(r.dest),
            "product": product or "all", "parcels": int(r.parcels),
            "daily_parcels": round(float(r.daily_parcels), 2),
            "revenue": round(float(r.revenue), 2), "weight_kg": round(float(r.weight_kg), 1),
            "line_share": round(r.line_parcels / r.parcels, 4) if r.parcels else 0.0,
        })
    if period == "all":
        for r in rows:
            r.pop("period")
    return rows[:limit] if limit else rows


# --- peak windows 旺季窗口 -------------------------------------------------------------------

@dataclass(frozen=True)
class PeakWindow:
    """Consecutive peak days (gaps of at most ``peak_gap_days``), named after the promotion
    they fall in when they meet one (618, Double 11, Double 12)."""

    start: dt.date
    end: dt.date
    name: str
    peak_parcels: int
    peak_ratio: float  # the highest day's parcels / its trailing median

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def as_row(self) -> dict:
        return {"name": self.name, "start": self.start, "end": self.end, "days": self.days,
                "peak_parcels": self.peak_parcels, "peak_ratio": round(self.peak_ratio, 2)}


# Promotions by (month, first day, last day): the calendar the trade works to.
PROMOTIONS = (("618", 6, 1, 20), ("Double 11", 10, 25, 20), ("Double 12", 12, 8, 15))


def promotion_name(start: dt.date, end: dt.date) -> str:
    for name, month, first, last in PROMOTIONS:
        lo_month = month if name != "Double 11" else 10
        lo = dt.date(start.year, lo_month, first)
        hi = dt.date(start.year, month if name != "Double 11" else 11, last)
        if start <= hi and end >= lo:
            return name
    return "promotion"


def daily_totals(con, lake: Path, scope: Scope | None) -> pd.Series:
    """Parcels per calendar day in scope (days without parcels are 0)."""
    t = lanes(con, lake, scope)
    df = t.group_by("day").aggregate(parcels=t.parcels.sum().cast("int64")).to_pyarrow() \
        .to_pandas()
    if df.empty:
        return pd.Series(dtype="int64")
    s = df.set_index(pd.to_datetime(df["day"]))["parcels"].sort_index()
    return s.asfreq("D", fill_value=0)


def peak_windows(series: pd.Series, params: PlanningParams) -> list[PeakWindow]:
    """Windows of days whose parcels reach ``peak_ratio`` × the trailing median (the larger of
    the medians of the ``peak_median_days`` and of the three times longer span before the day;
    the first weeks without a full window are skipped)."""
    if series.empty:
        return []
    n = params.peak_median_days
    before = series.shift(1)
    # The longer median keeps the rebound after the Spring Festival trough from looking like a
    # promotion: the short one alone has sunk with the trough.
    median = np.maximum(before.rolling(n, min_periods=n).median(),
                        before.rolling(3 * n, min_periods=n).median())
    ratio = series / median.replace(0, np.nan)
    peaks = ratio[ratio >= params.peak_ratio].dropna()
    peaks.index = peaks.index.date
    windows: list[PeakWindow] = []
    group: list[pd.Timestamp] = []
    for day in peaks.index:
        if group and (day - group[-1]).days > params.peak_gap_days:
            windows.append(_window(group, series, ratio))
            group = []
        group.append(day)
    if group:
        windows.append(_window(group, series, ratio))
    # A lone strong Monday is the week's rhythm, not a promotion.
    return [w for w in windows if len(peaks[w.start:w.end]) >= params.peak_min_days]


def _window(days: list[dt.date], series: pd.Series, ratio: pd.Series) -> PeakWindow:
    start, end = days[0], days[-1]
    span = slice(pd.Timestamp(start), pd.Timestamp(end))
    return PeakWindow(start, end, promotion_name(start, end), int(series[span].max()),
                      float(ratio[span].max()))


def scope_peak_windows(con, lake: Path, scope: Scope | None,
                       params: PlanningParams) -> list[PeakWindow]:
    return peak_windows(daily_totals(con, lake, scope), params)
