"""Vectorised validation: rules as SQL conditions over the whole file at once (DuckDB).

A :class:`Check` is one rule: the column it reports against, a reason code and an SQL condition
that is true for a bad row of the ``parsed`` table. The good rows are those that break no
rule; every broken rule of the others is one reject line per (row, column, reason).
The importer (:mod:`jiqun.ingest.api`) evaluates them chunk by chunk (:func:`bad_sql`) and lists
the reject lines of the bad rows it kept (:func:`reject_lines_sql`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from jiqun.bounds import FIRST_DATE, LAST_DATE

# Physical limits of one waybill (docs/formats.md). A postal parcel weighs at most 50 kg and a
# freight-class (快运) consignment rarely a tonne; a fee above ¥100,000 is a typo, or a unit
# mix-up (fen for yuan). Values beyond these are rejected per row, before they reach the lake.
MAX_WEIGHT_KG = 1_000
MAX_FEE_YUAN = 100_000
# A time more than this after the import is in the future (a typed 2099): it would otherwise
# become "the data date" of every dashboard. A day covers clocks in other time zones.
FUTURE_TOLERANCE = dt.timedelta(days=1)

# Accepted date-time spellings beyond ISO (which a plain cast reads): Excel's and people's.
DATETIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d",
    "%Y-%m-%d %H:%M", "%Y.%m.%d %H:%M:%S", "%Y.%m.%d %H:%M", "%Y.%m.%d",
    "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日", "%Y%m%d%H%M%S", "%Y%m%d",
)


def timestamp_sql(column: str) -> str:
    """SQL that reads a text column as a timestamp to the second, NULL when unreadable."""
    formats = "[" + ", ".join(f"'{f}'" for f in DATETIME_FORMATS) + "]"
    return (
        f"date_trunc('second', coalesce(try_cast({column} AS TIMESTAMP), "
        f"try_strptime({column}, {formats})))"
    )


def number_sql(column: str) -> str:
    """SQL that reads a number, accepting thousands separators (1,234.5)."""
    return f"coalesce(try_cast({column} AS DOUBLE), try_cast(replace({column}, ',', '') AS DOUBLE))"


def latest_time(now: dt.datetime | None = None) -> dt.datetime:
    """The latest plausible event time of an import made ``now`` (local time)."""
    return (now or dt.datetime.now()).replace(microsecond=0) + FUTURE_TOLERANCE


def time_checks(column: str, value: str, now: dt.datetime | None = None) -> list[Check]:
    """A parsed time outside ``jiqun.bounds`` (a typed 1970), or later than :func:`latest_time`."""
    first, after_last = FIRST_DATE.isoformat(), (LAST_DATE + dt.timedelta(days=1)).isoformat()
    outside = f"({value} < TIMESTAMP '{first}' OR {value} >= TIMESTAMP '{after_last}')"
    return [
        Check(column, "date_out_of_range", outside),
        Check(column, "in_the_future",
              f"NOT {outside} AND {value} > TIMESTAMP '{latest_time(now):%Y-%m-%d %H:%M:%S}'"),
    ]


def amount_checks(column: str, value: str, maximum: float, too_high: str,
                  positive: bool) -> list[Check]:
    """A parsed number that is NaN or infinite, not positive (or negative), or above ``maximum``."""
    low = ("not_positive", f"{value} <= 0") if positive else ("negative", f"{value} < 0")
    return [
        Check(column, "not_finite", f"NOT isfinite({value})"),
        Check(column, low[0], f"isfinite({value}) AND {low[1]}"),
        Check(column, too_high, f"isfinite({value}) AND {value} > {maximum}"),
    ]


@dataclass(frozen=True)
class Check:
    column: str  # canonical column reported in the reject line
    reason: str  # reason code (jiqun.ingest.report.REASONS)
    condition: str  # SQL over ``parsed``: true when the row breaks the rule
    value: str | None = None  # SQL of the value shown; default: the raw column


def register_vocab(con: duckdb.DuckDBPyConnection, name: str, vocab: dict[str, str]) -> None:
    """A lookup table ``name(key, value)`` of accepted spellings → stored value."""
    con.register(name, pa.table({"key": list(vocab), "value": list(vocab.values())}))


def quote(text: str) -> str:
    """An SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def bad_sql(checks: list[Check]) -> str:
    """SQL over ``parsed``: true when a row breaks one of ``checks`` or more."""
    return " OR ".join(f"coalesce({c.condition}, false)" for c in checks)


def reject_lines_sql(checks: list[Check], headers: dict[str, str], rows: str = "bad_rows") -> str:
    """SQL of the reject lines of the bad rows in ``rows`` (shaped like ``parsed``): one line
    ``row, column, value, reason`` per broken rule, ordered by row and then by rule;
    ``column`` is the header as the file wrote it."""
    parts = [
        f"SELECT _row, {quote(headers.get(c.column, c.column))} AS col, "
        f"CAST({c.value or c.column} AS VARCHAR) AS value, '{c.reason}' AS reason, {i} AS _rule "
        f"FROM {rows} WHERE coalesce({c.condition}, false)"
        for i, c in enumerate(checks)
    ]
    return ("SELECT _row AS row, col AS column, value, reason FROM ("
            + " UNION ALL ".join(parts) + ") ORDER BY _row, _rule")
