"""The KPIs of :mod:`jiqun.kpi` written by hand in DuckDB SQL: the baseline of
``benchmarks/kpi.py``. Same inputs (the waybills, the store's dimensions as Arrow tables), same
results; no Ibis."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

AGGREGATE = """
COPY (
  SELECT CAST(ship_time AS DATE) AS day, org_unit_id, customer_id, market_id, grid_id, outlet_id,
         product, platform, count(*) AS parcels, sum(fee) AS revenue,
         sum(weight_kg) AS weight_kg,
         count(*) FILTER (WHERE dest_province = left(origin_adcode, 2) || '0000')
           AS in_province_parcels,
         count(*) FILTER (WHERE line_id IS NOT NULL) AS line_parcels
  FROM read_parquet('{lake}/waybills/*/*.parquet') GROUP BY ALL
) TO '{out}/daily.parquet' (FORMAT parquet, COMPRESSION zstd);
COPY (
  SELECT CAST(ship_time AS DATE) AS day, left(origin_adcode, 2) || '0000' AS origin_province,
         org_unit_id, market_id, outlet_id, product, dest_province, dest_city, line_id,
         count(*) AS parcels, sum(fee) AS revenue, sum(weight_kg) AS weight_kg
  FROM read_parquet('{lake}/waybills/*/*.parquet') GROUP BY ALL
) TO '{out}/lanes.parquet' (FORMAT parquet, COMPRESSION zstd);
"""

FRAME = """
CREATE OR REPLACE VIEW frame AS
SELECT d.*, g.team_id, o.owner_id
FROM read_parquet('{out}/daily.parquet') d
LEFT JOIN grids g ON d.grid_id = g.grid_id
LEFT JOIN owners o ON d.customer_id = o.customer_id;
"""

VOLUME = """
WITH t AS (
  SELECT {key} AS key, date_trunc('{unit}', day) AS period, sum(parcels) AS parcels,
         sum(revenue) AS revenue
  FROM {frame} WHERE day BETWEEN DATE '{reach}' AND DATE '{end}' GROUP BY ALL),
cur AS (
  SELECT {key} AS key, date_trunc('{unit}', day) AS period, sum(parcels) AS parcels,
         sum(revenue) AS revenue
  FROM {frame} WHERE day BETWEEN DATE '{start}' AND DATE '{end}' GROUP BY ALL)
SELECT c.key, c.period, c.parcels, c.revenue, coalesce(p.parcels, 0) AS parcels_prev,
       coalesce(l.parcels, 0) AS parcels_ly,
       CASE WHEN p.parcels > 0 THEN (c.parcels - p.parcels) / p.parcels END AS mom,
       CASE WHEN l.parcels > 0 THEN (c.parcels - l.parcels) / l.parcels END AS yoy
FROM cur c
LEFT JOIN t p ON p.key = c.key AND p.period = c.period - INTERVAL 1 {unit}
LEFT JOIN t l ON l.key = c.key AND l.period = c.period - INTERVAL {ly}
ORDER BY c.period, c.key
"""

SHARE = """
WITH cal AS (
  SELECT e.market_id, d.day, arg_max(e.daily_volume, e.valid_from) AS volume
  FROM (SELECT unnest(generate_series(DATE '{start}', DATE '{end}', INTERVAL 1 DAY))::DATE AS day) d
  JOIN estimates e ON e.carrier = '*' AND e.valid_from <= d.day
  GROUP BY e.market_id, d.day),
tot AS (SELECT market_id, date_trunc('month', day) AS period, sum(volume) AS market_total
        FROM cal GROUP BY ALL),
ours AS (SELECT market_id, date_trunc('month', day) AS period, sum(parcels) AS parcels
         FROM frame WHERE market_id IS NOT NULL AND day BETWEEN DATE '{start}' AND DATE '{end}'
         GROUP BY ALL)
SELECT coalesce(t.market_id, o.market_id) AS market_id, coalesce(t.period, o.period) AS period,
       coalesce(o.parcels, 0) AS parcels, t.market_total,
       CASE WHEN t.market_total > 0 THEN coalesce(o.parcels, 0) / t.market_total END AS share
FROM tot t FULL JOIN ours o ON t.market_id = o.market_id AND t.period = o.period
ORDER BY 1, 2
"""

CUSTOMERS = """
WITH days AS (
  SELECT customer_id, day, sum(parcels) AS parcels, arg_max(grid_id, day) AS grid_id
  FROM frame WHERE customer_id IS NOT NULL AND day BETWEEN DATE '{reach}' AND DATE '{end}'
  GROUP BY customer_id, day),
marked AS (
  SELECT *, lag(day) OVER (PARTITION BY customer_id ORDER BY day) AS prev_day FROM days),
starts AS (
  SELECT *, prev_day IS NULL OR day - prev_day >= {silent} AS is_start FROM marked),
per AS (
  SELECT customer_id, max(day) AS last_day, arg_max(grid_id, day) AS grid_id,
         bool_or(is_start AND day BETWEEN DATE '{start}' AND DATE '{end}') AS activated,
         max(day) FILTER (WHERE is_start) AS activated_on
  FROM starts GROUP BY customer_id),
since AS (
  SELECT s.customer_id, sum(s.parcels) AS parcels_since
  FROM days s JOIN per p USING (customer_id) WHERE s.day >= p.activated_on GROUP BY 1)
SELECT grid_id,
       count(*) FILTER (WHERE last_day > DATE '{end}' - {active}) AS active_customers,
       count(*) FILTER (WHERE activated) AS activated_customers,
       count(*) FILTER (WHERE activated AND parcels_since / (DATE '{end}' - activated_on + 1)
                        >= {effective}) AS new_effective_customers,
       count(*) FILTER (WHERE last_day + {active} BETWEEN DATE '{start}' AND DATE '{end}')
         AS churned_customers
FROM per JOIN since USING (customer_id) GROUP BY grid_id ORDER BY grid_id
"""

DEVELOPMENT = """
WITH shippers AS (SELECT DISTINCT customer_id FROM frame
                  WHERE day BETWEEN DATE '{end}' - {active} + 1 AND DATE '{end}')
SELECT a.grid_id, count(*) AS archived, count(s.customer_id) AS cooperating,
       count(s.customer_id) / count(*) AS development_rate
FROM archive a LEFT JOIN shippers s USING (customer_id)
WHERE a.grid_id IS NOT NULL GROUP BY a.grid_id ORDER BY 1
"""

PLAN = """
WITH actual AS (SELECT grid_id AS key, sum(parcels) AS parcels, sum(revenue) AS revenue
                FROM frame WHERE day BETWEEN DATE '{month}' AND DATE '{end}' GROUP BY 1),
t AS (SELECT scope_id AS key, volume, revenue FROM targets
      WHERE scope_type = 'grid' AND month = DATE '{month}')
SELECT coalesce(a.key, t.key) AS grid_id, coalesce(t.volume, 0) AS target_parcels,
       coalesce(a.parcels, 0) AS parcels,
       CASE WHEN t.volume > 0 THEN coalesce(a.parcels, 0) / (t.volume * {done}) END AS progress,
       coalesce(a.parcels, 0) * {total} / {elapsed} AS forecast_parcels
FROM actual a FULL JOIN t ON a.key = t.key ORDER BY 1
"""

NETWORK = """
SELECT grid_id, sum(parcels) AS parcels, sum(in_province_parcels) AS in_province_parcels,
       sum(in_province_parcels) / sum(parcels) AS in_province_share,
       sum(line_parcels) / {days} AS line_daily_average
FROM frame WHERE day BETWEEN DATE '{month}' AND DATE '{end}' GROUP BY 1 ORDER BY 1
"""

TIERS = """
WITH v AS (SELECT customer_id, sum(parcels) AS parcels FROM frame
           WHERE day BETWEEN DATE '{end}' - {window} + 1 AND DATE '{end}' GROUP BY 1)
SELECT a.customer_id, coalesce(v.parcels, 0) / {window} AS daily_parcels,
       CASE WHEN coalesce(v.parcels, 0) / {window} >= {special} THEN 'special'
            WHEN coalesce(v.parcels, 0) / {window} >= {first} THEN 'first'
            WHEN coalesce(v.parcels, 0) / {window} >= {second} THEN 'second'
            WHEN coalesce(v.parcels, 0) / {window} >= {third} THEN 'third'
            ELSE 'micro' END AS tier
FROM archive a LEFT JOIN v USING (customer_id) ORDER BY 1
"""


def run_all(lake: Path, out: Path, load_dims, as_of: dt.date, rules) -> dict:
    """Rebuild the aggregates, then read the store's dimensions and compute every KPI; returns
    the seconds of each part and the row count of each KPI."""
    import calendar
    import time

    began = time.perf_counter()
    con = duckdb.connect()
    con.execute(AGGREGATE.format(lake=lake, out=out))
    aggregated = time.perf_counter()
    for name, table in load_dims().items():
        con.register(name, table)
    con.execute(FRAME.format(out=out))
    month = as_of.replace(day=1)
    total = calendar.monthrange(as_of.year, as_of.month)[1]
    elapsed = as_of.day
    year_ago = as_of.replace(year=as_of.year - 1, day=1)
    lanes = f"read_parquet('{out}/lanes.parquet')"
    t = rules.tier_thresholds
    queries = {
        "volume_market_month": VOLUME.format(key="market_id", unit="month", ly="1 YEAR",
                                            frame="frame", reach=year_ago - dt.timedelta(days=400),
                                            start=year_ago, end=as_of),
        "volume_team_week": VOLUME.format(key="team_id", unit="week", ly="52 WEEK", frame="frame",
                                         reach=as_of - dt.timedelta(days=84 + 400),
                                         start=as_of - dt.timedelta(days=83), end=as_of),
        "volume_province_month": VOLUME.format(key="dest_province", unit="month", ly="1 YEAR",
                                              frame=lanes, reach=year_ago - dt.timedelta(days=400),
                                              start=year_ago, end=as_of),
        "share_month": SHARE.format(start=year_ago, end=as_of),
        "customers_grid": CUSTOMERS.format(reach=as_of - dt.timedelta(days=800), start=month,
                                           end=as_of, silent=rules.silent_days,
                                           active=rules.active_days,
                                           effective=rules.new_effective_daily_parcels),
        "development_rate": DEVELOPMENT.format(end=as_of, active=rules.active_days),
        "plan_grid": PLAN.format(month=month, end=as_of, done=elapsed / total, total=total,
                                 elapsed=elapsed),
        "network_grid": NETWORK.format(month=month, end=as_of, days=elapsed),
        "tiers": TIERS.format(end=as_of, window=rules.tier_window_days, special=t.special,
                              first=t.first, second=t.second, third=t.third),
    }
    rows = {name: len(con.sql(sql).to_arrow_table()) for name, sql in queries.items()}
    done = time.perf_counter()
    return {"aggregate_seconds": aggregated - began, "kpi_seconds": done - aggregated,
            "seconds": done - began, "rows": rows}
