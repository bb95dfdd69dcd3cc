"""Waybills and tracking events → the lake, validated in DuckDB (never row by row).

Each kind defines ``parsed`` (the file's rows with every value read and looked up), its checks
and the SQL of its lake rows; the importer (:mod:`jiqun.ingest.api`) runs them over the file
chunk by chunk, so a file of any size is checked and written in bounded memory. Store dimensions (customers, facilities, lines, org units) join in as Arrow tables; places are
resolved once per distinct (province, city, county) triple or address, not once per row.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlalchemy.orm import Session

from jiqun.geo import all_divisions
from jiqun.geo.address import parse_addresses, resolve_names, resolve_place
from jiqun.geo.divisions import Division
from jiqun.ingest import dimensions
from jiqun.ingest.checks import (
    MAX_FEE_YUAN,
    MAX_WEIGHT_KG,
    Check,
    amount_checks,
    number_sql,
    register_vocab,
    time_checks,
    timestamp_sql,
)
from jiqun.ingest.columns import (
    EVENT_CODES,
    PLATFORMS,
    PRODUCTS,
    WAYBILL_STATUSES,
    common_spellings,
)
from jiqun.ingest.source import Groups, Source
from jiqun.lake.schemas import EVENT_DATASET, WAYBILL_DATASET, Dataset


@dataclass
class Validated:
    """How to check and store the rows of one lake import, once ``parsed`` is defined."""

    dataset: Dataset
    checks: list[Check]  # a row breaking none is good (jiqun.ingest.checks)
    # SELECT of the dataset's columns, ``_row`` and ``_bad`` FROM {rows}: rows of ``parsed``
    # with ``_bad`` (whether the row breaks a check), one chunk of the file at a time.
    output: str
    # Whether the good rows of a file never repeat a key (waybills: a repeat is rejected as
    # duplicate_in_file), so that the good rows need no de-duplication among themselves.
    unique: bool = False
    # Whether the checks need the rows' numbers (a key repeated in the file: its first row
    # counts): then the rows are read from ``parsed``, else from ``parsed_stream``, in parallel.
    numbered: bool = True


def _codes(d: Division | None) -> tuple[str | None, str | None, str | None]:
    if d is None:
        return None, None, None
    return (
        d.province or d.adcode,
        (d.city or None) if d.level == "county" else (d.adcode if d.level == "city" else None),
        d.adcode if d.level == "county" else None,
    )


_PLACE_SCHEMA = {"p": pa.string(), "c": pa.string(), "k": pa.string()}


_DEST_NAMES = ("dest_province", "dest_city", "dest_county")


def _register_destinations(con: duckdb.DuckDBPyConnection, present: set[str]) -> None:
    """``dest_names``: distinct (province, city, county) → codes (counted as the file was
    checked: ``file_groups``); ``dest_addresses``: distinct addresses of rows without usable
    names → codes (one cpca call for the batch; a read of the file when it has addresses)."""
    triples = con.execute(
        "SELECT DISTINCT coalesce(dest_province, ''), coalesce(dest_city, ''), "
        "coalesce(dest_county, '') FROM file_groups WHERE _g_values = 0 "
        "AND coalesce(dest_province, dest_city, dest_county) IS NOT NULL"
    ).fetchall()
    resolved = [resolve_names(*t) or (None, None, None) for t in triples]
    con.register("dest_names", pa.table({
        "province": [t[0] for t in triples], "city": [t[1] for t in triples],
        "county": [t[2] for t in triples],
        **{k: pa.array([r[i] for r in resolved], t) for i, (k, t) in enumerate(_PLACE_SCHEMA.items())},
    }))
    addresses = [a for (a,) in con.execute(
        "SELECT DISTINCT s.dest_address FROM src_stream s LEFT JOIN dest_names n "
        "ON n.province = coalesce(s.dest_province, '') AND n.city = coalesce(s.dest_city, '') "
        "AND n.county = coalesce(s.dest_county, '') "
        "WHERE s.dest_address IS NOT NULL AND n.p IS NULL"
    ).fetchall()] if "dest_address" in present else []
    parsed = [_codes(d) for d in parse_addresses(addresses)]
    con.register("dest_addresses", pa.table({
        "address": pa.array(addresses, pa.string()),
        **{k: pa.array([r[i] for r in parsed], t) for i, (k, t) in enumerate(_PLACE_SCHEMA.items())},
    }))


def _register_store_dimensions(con: duckdb.DuckDBPyConnection, session: Session) -> None:
    con.register("customers_dim", dimensions.customers(session))
    con.register("facilities_dim", dimensions.facilities(session))
    con.register("lines_dim", dimensions.lines(session))
    con.register("org_dim", dimensions.org_units(session))


def _register_first_rows(con: duckdb.DuckDBPyConnection, key: str) -> bool:
    """``repeats(key, first_row)``: keys that occur more than once, with their first row.

    The hashes of repeated keys were counted as the file was checked (``file_groups``); only
    when some repeat are the rows read again, in order (``src``), for those keys' first row
    numbers (and to tell a repeat from two keys of one hash). True when there are repeats."""
    con.execute("CREATE TEMP TABLE repeated AS SELECT _key FROM file_groups "
                "WHERE _g_key = 0 AND _key IS NOT NULL")
    any_repeat = con.execute("SELECT count(*) FROM repeated").fetchall()[0][0] > 0
    rows = "src" if any_repeat else "(SELECT * FROM src_stream WHERE false)"
    con.execute(f"CREATE TEMP TABLE repeats AS SELECT s.{key} AS key, min(s._row) AS first_row "
                f"FROM {rows} s SEMI JOIN repeated r ON r._key = hash(s.{key}) "
                f"WHERE s.{key} IS NOT NULL GROUP BY s.{key} HAVING count(*) > 1")
    return con.execute("SELECT count(*) FROM repeats").fetchall()[0][0] > 0


# What ``parsed`` looks up, per column of the file: the looked-up columns (typed NULLs when the
# file lacks the column, so that no join is made for it) and the join, a vocabulary's by the
# cell as spelt (``{spelt}``: its lower case, or as it is). The looked-up text is coded
# (:func:`_register_coded`).
_LOOKUPS = (
    ("product", ["pv.value AS product_v"], ["NULL::product_code AS product_v"],
     "LEFT JOIN product_coded pv ON pv.key = {spelt}"),
    ("platform", ["plv.value AS platform_v"], ["NULL::platform_code AS platform_v"],
     "LEFT JOIN platform_coded plv ON plv.key = {spelt}"),
    ("status", ["stv.value AS status_v"], ["NULL::status_code AS status_v"],
     "LEFT JOIN status_coded stv ON stv.key = {spelt}"),
    ("customer_code",
     ["cu.customer_id", "cu.market_id", "cu.grid_id", "cu.org_unit_id AS customer_org",
      "cu.adcode AS customer_adcode"],
     ["NULL::BIGINT AS customer_id", "NULL::INTEGER AS market_id", "NULL::INTEGER AS grid_id",
      "NULL::INTEGER AS customer_org", "NULL::adcode_code AS customer_adcode"],
     "LEFT JOIN customers_coded cu ON cu.code = s.customer_code"),
    ("outlet_code",
     ["fa.facility_id AS outlet_id", "fa.org_unit_id AS outlet_org", "fa.adcode AS outlet_adcode"],
     ["NULL::INTEGER AS outlet_id", "NULL::INTEGER AS outlet_org",
      "NULL::adcode_code AS outlet_adcode"],
     "LEFT JOIN facilities_coded fa ON fa.code = s.outlet_code"),
    ("line_code", ["li.line_id"], ["NULL::INTEGER AS line_id"],
     "LEFT JOIN lines_dim li ON li.code = s.line_code"),
)

# The lookups whose text values are coded, and those values' columns.
_CODED_ADCODES = {"customers_dim": ("adcode",), "facilities_dim": ("adcode",),
                  "org_dim": ("adcode",), "dest_names": ("p", "c", "k"),
                  "dest_addresses": ("p", "c", "k")}
_CODED_VOCABS = {"product": "product_vocab", "platform": "platform_vocab",
                 "status": "status_vocab"}


def _register_coded(con: duckdb.DuckDBPyConnection) -> None:
    """The lookups as ``<name>_coded`` tables whose text values are ENUMs: ``adcode_code`` (every
    adcode a lookup can give) and one type per vocabulary.

    DuckDB writes an ENUM column as Parquet dictionary pages straight from its codes, about a
    sixth of the cost of a text column (whose every value is hashed into the page's dictionary:
    2M rows of 7 such columns, 0.18 s of CPU against 1.06 s); the files hold plain strings, as
    every reader expects (``jiqun.lake.writer`` keeps the ENUMs as they are)."""
    for name, vocab in _CODED_VOCABS.items():
        con.execute(f"DROP TYPE IF EXISTS {name}_code")
        con.execute(f"CREATE TYPE {name}_code AS ENUM "
                    f"(SELECT DISTINCT value FROM {vocab} ORDER BY 1)")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_coded AS "
                    f"SELECT key, value::{name}_code AS value FROM {vocab}")
    adcodes = " UNION ".join(f"SELECT {c} AS a FROM {t}"
                             for t, columns in _CODED_ADCODES.items() for c in columns)
    con.execute("DROP TYPE IF EXISTS adcode_code")
    con.execute("CREATE TYPE adcode_code AS ENUM "
                f"(SELECT a FROM ({adcodes}) WHERE a IS NOT NULL ORDER BY 1)")
    for table, columns in _CODED_ADCODES.items():
        coded = ", ".join(f"{c}::adcode_code AS {c}" for c in columns)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table.removesuffix('_dim')}_coded AS "
                    f"SELECT * REPLACE ({coded}) FROM {table}")


def _waybill_parsed(name: str, src: str, present: set[str], repeats: bool,
                    exact: bool = False) -> str:
    """A view ``name`` over the file's rows (``src``) with every value read and looked up.

    Nothing of the file is copied: each query that reads the view reads (and parses) the file
    again, in a stream. Lookups of columns the file does not have are left out (each join costs
    about as much as reading the file's text), as is the join of repeats when there are none.
    ``exact``: a vocabulary's word is found as the cell spells it, among the common spellings
    (:func:`jiqun.ingest.columns.common_spellings`), not in any case: half the join's cost (10M
    rows: 0.16 s a column), for an import that tries the common spellings first
    (:func:`validate_waybills_at_once`)."""
    columns = [
        "r.first_row AS _first_row" if repeats else "NULL::BIGINT AS _first_row",
        f"{timestamp_sql('s.ship_time')} AS ship_time_v",
        f"{timestamp_sql('s.delivered_time')} AS delivered_time_v"
        if "delivered_time" in present else "NULL::TIMESTAMP AS delivered_time_v",
        f"{number_sql('s.weight_kg')} AS weight_v", f"{number_sql('s.fee')} AS fee_v",
    ]
    joins = ["LEFT JOIN repeats r ON r.key = s.waybill_no"] if repeats else []
    for column, looked_up, absent, join in _LOOKUPS:
        columns += looked_up if column in present else absent
        spelt = f"s.{column}" if exact else f"lower(s.{column})"
        joins += [join.format(spelt=spelt)] if column in present else []
    by_name = any(c in present for c in _DEST_NAMES)
    by_address = "dest_address" in present
    if by_name:
        joins.append("LEFT JOIN dest_names_coded dn ON dn.province = coalesce(s.dest_province, '') "
                     "AND dn.city = coalesce(s.dest_city, '') "
                     "AND dn.county = coalesce(s.dest_county, '')")
    if by_address:
        joins.append("LEFT JOIN dest_addresses_coded da ON da.address = s.dest_address"
                     + (" AND dn.p IS NULL" if by_name else ""))
    found = [f"{t}.{{code}}" for t, used in (("dn", by_name), ("da", by_address)) if used]
    for code, column in (("p", "dest_province_v"), ("c", "dest_city_v"), ("k", "dest_county_v")):
        if not found:
            columns.append(f"NULL::adcode_code AS {column}")
        elif len(found) == 1:
            columns.append(f"{found[0].format(code=code)} AS {column}")
        else:  # the names when they resolve, else the address
            columns.append(f"CASE WHEN dn.p IS NOT NULL THEN dn.{code} ELSE da.{code} END "
                           f"AS {column}")
    return (f"CREATE TEMP VIEW {name} AS SELECT s.*, {', '.join(columns)} FROM {src} s "
            + " ".join(joins))


_ANY_DEST = "coalesce(dest_province, dest_city, dest_county, dest_address)"
_DEST_TEXT = "concat_ws(' ', dest_province, dest_city, dest_county, dest_address)"

def waybill_checks(now: dt.datetime | None = None) -> list[Check]:
    """Every rule of a waybill row, in the order its reject lines are listed."""
    return [
        Check("waybill_no", "required", "waybill_no IS NULL"),
        Check("waybill_no", "duplicate_in_file", "_first_row IS NOT NULL AND _row > _first_row"),
        Check("customer_code", "unknown_customer", "customer_code IS NOT NULL AND customer_id IS NULL"),
        Check("outlet_code", "unknown_outlet", "outlet_code IS NOT NULL AND outlet_id IS NULL"),
        Check("customer_code", "no_org_unit", "customer_code IS NULL AND outlet_code IS NULL"),
        Check("product", "required", "product IS NULL"),
        Check("product", "unknown_product", "product IS NOT NULL AND product_v IS NULL"),
        Check("platform", "unknown_platform", "platform IS NOT NULL AND platform_v IS NULL"),
        Check("ship_time", "required", "ship_time IS NULL"),
        Check("ship_time", "bad_datetime", "ship_time IS NOT NULL AND ship_time_v IS NULL"),
        *time_checks("ship_time", "ship_time_v", now),
        Check("dest_province", "missing_destination", f"{_ANY_DEST} IS NULL", _DEST_TEXT),
        Check("dest_province", "unknown_destination",
              f"{_ANY_DEST} IS NOT NULL AND dest_province_v IS NULL", _DEST_TEXT),
        Check("weight_kg", "required", "weight_kg IS NULL"),
        Check("weight_kg", "not_a_number", "weight_kg IS NOT NULL AND weight_v IS NULL"),
        *amount_checks("weight_kg", "weight_v", MAX_WEIGHT_KG, "weight_too_high", positive=True),
        Check("fee", "required", "fee IS NULL"),
        Check("fee", "not_a_number", "fee IS NOT NULL AND fee_v IS NULL"),
        *amount_checks("fee", "fee_v", MAX_FEE_YUAN, "fee_too_high", positive=False),
        Check("line_code", "unknown_line", "line_code IS NOT NULL AND line_id IS NULL"),
        Check("status", "unknown_status", "status IS NOT NULL AND status_v IS NULL"),
        Check("delivered_time", "bad_datetime",
              "delivered_time IS NOT NULL AND delivered_time_v IS NULL"),
        *time_checks("delivered_time", "delivered_time_v", now),
        Check("delivered_time", "delivered_before_shipped", "delivered_time_v < ship_time_v"),
    ]


WAYBILL_OUTPUT = """
SELECT p.waybill_no,
  CAST(coalesce(p.customer_org, p.outlet_org) AS INTEGER) AS org_unit_id,
  p.customer_id, CAST(p.market_id AS INTEGER) AS market_id, CAST(p.grid_id AS INTEGER) AS grid_id,
  p.outlet_id,
  p.product_v AS product, p.platform_v AS platform, CAST(p.ship_time_v AS TIMESTAMP_S) AS ship_time,
  coalesce(p.outlet_adcode, p.customer_adcode, o.adcode) AS origin_adcode,
  p.dest_province_v AS dest_province, p.dest_city_v AS dest_city, p.dest_county_v AS dest_county,
  TRY_CAST(p.weight_v AS FLOAT) AS weight_kg, p.fee_v AS fee, p.line_id, -- bad rows too (1e39 kg)
  coalesce(p.status_v, CASE WHEN p.delivered_time_v IS NULL THEN 'created'::status_code
    ELSE 'delivered'::status_code END) AS status,
  CAST(p.delivered_time_v AS TIMESTAMP_S) AS delivered_time, p._row, p._bad
FROM {rows} p LEFT JOIN org_coded o ON o.org_unit_id = coalesce(p.customer_org, p.outlet_org)
"""


# Counted as a waybill file is checked: repeated waybill numbers, the distinct destinations.
WAYBILL_GROUPS = Groups(repeated="waybill_no", distinct=_DEST_NAMES)


def _register_waybill_lookups(con: duckdb.DuckDBPyConnection, session: Session) -> None:
    """The store dimensions and vocabularies every waybill row is looked up in. A vocabulary
    holds each word's common spellings too: the usual import looks the cell up lower-cased
    (and so finds the lower-case one), the one read as it is spelt (:func:`_waybill_parsed`)."""
    _register_store_dimensions(con, session)
    register_vocab(con, "product_vocab", common_spellings(PRODUCTS))
    register_vocab(con, "platform_vocab", common_spellings(PLATFORMS))
    register_vocab(con, "status_vocab", common_spellings(WAYBILL_STATUSES))


def validate_waybills(con: duckdb.DuckDBPyConnection, source: Source, session: Session,
                      lake: Path | None = None, now: dt.datetime | None = None) -> Validated:
    """Define ``parsed`` for every waybill row; the good rows become ``WAYBILLS``-shaped rows.

    ``now`` (default: the clock) is the import time that bounds plausible ship times; the lake
    is not read (a waybill already there is dropped by the append, not rejected)."""
    _register_waybill_lookups(con, session)
    repeats = _register_first_rows(con, "waybill_no")
    _register_destinations(con, source.present)
    _register_coded(con)
    con.execute(_waybill_parsed("parsed", "src", source.present, repeats))
    con.execute(_waybill_parsed("parsed_stream", "src_stream", source.present, repeats))
    return Validated(WAYBILL_DATASET, waybill_checks(now), WAYBILL_OUTPUT, unique=True,
                     numbered=repeats)


@functools.lru_cache(maxsize=1)
def _division_names() -> pa.Table:
    """``dest_names`` for a file not read yet: (province, city, county) as the divisions
    themselves are named (a county's, a city's, a province's own names, the levels below left
    empty) → their codes, the codes :func:`resolve_names` gives such a triple
    (``tests/ingest/test_at_once.py`` asks it for every one: 2 s, too slow for each import).
    A triple of names shared by two divisions is left out."""
    triples: dict[tuple[str, str, str], tuple] = {}
    shared: set[tuple[str, str, str]] = set()
    divisions = all_divisions()
    for d in divisions.values():
        names, codes = _own_names(d, divisions)
        if names is None:
            continue
        if names in triples and triples[names] != codes:
            shared.add(names)
        triples[names] = codes
    kept = [(t, c) for t, c in triples.items() if t not in shared]
    return pa.table({
        "province": [t[0] for t, _ in kept], "city": [t[1] for t, _ in kept],
        "county": [t[2] for t, _ in kept],
        **{k: pa.array([c[i] for _, c in kept], t)
           for i, (k, t) in enumerate(_PLACE_SCHEMA.items())},
    })


def _own_names(d: Division, divisions: dict[str, Division]
               ) -> tuple[tuple[str, str, str] | None, tuple]:
    """A division's (province, city, county) names and codes; None for another level."""
    province = divisions.get(d.province) if d.province and d.level != "province" else None
    city = divisions.get(d.city) if d.city and d.level == "county" else None
    if d.level == "province":
        return (d.name, "", ""), (d.adcode, None, None)
    if d.level == "city" and province:
        return (province.name, d.name, ""), (province.adcode, d.adcode, None)
    if d.level == "county" and province:
        return ((province.name, city.name if city else "", d.name),
                (province.adcode, city.adcode if city else None, d.adcode))
    return None, ()


def validate_waybills_at_once(con: duckdb.DuckDBPyConnection, source: Source, session: Session,
                              now: dt.datetime | None = None) -> Validated:
    """``parsed_stream`` of a waybill file not read yet (:func:`jiqun.ingest.source.stream`),
    checked as :func:`validate_waybills` checks it but for what needs the whole file first: no
    repeats are known (the import looks for them among the rows it wrote), and destinations
    are found by the divisions' own names (:func:`_division_names`) and a product, platform or
    status by its common spellings ("EMS", "ems", "Ems"), so a row that spells them otherwise
    ("eMS") is not written. Either makes the import read the file again the usual way
    (``jiqun.ingest.at_once``)."""
    _register_waybill_lookups(con, session)
    con.register("dest_names", _division_names())
    con.register("dest_addresses", pa.table({"address": pa.array([], pa.string()),
                                             **{k: pa.array([], t) for k, t in _PLACE_SCHEMA.items()}}))
    _register_coded(con)
    con.execute(_waybill_parsed("parsed_stream", "src_stream", source.present, False,
                                exact=True))
    return Validated(WAYBILL_DATASET, waybill_checks(now), WAYBILL_OUTPUT, unique=True,
                     numbered=False)


def _register_locations(con: duckdb.DuckDBPyConnection) -> None:
    """``locations(location, adcode)`` for the distinct place texts of the file."""
    texts = [t for (t,) in con.execute(  # counted as the file was checked (EVENT_GROUPS)
        "SELECT DISTINCT location FROM file_groups WHERE _g_values = 0 "
        "AND location IS NOT NULL").fetchall()]
    found = {t: resolve_place(t) for t in texts}
    unresolved = [t for t, d in found.items() if d is None]
    found.update(zip(unresolved, parse_addresses(unresolved), strict=True))
    con.register("locations", pa.table({
        "location": pa.array(texts, pa.string()),
        "adcode": pa.array([found[t].adcode if found[t] else None for t in texts], pa.string()),
    }))


# A view over the file's rows (``{src}``), like the waybills' (:func:`_waybill_parsed`).
EVENT_PARSED = f"""
CREATE TEMP VIEW {{name}} AS
SELECT s.*,
  {timestamp_sql('s.event_time')} AS event_time_v,
  ev.value AS event_code_v,
  fa.facility_id, fa.org_unit_id AS facility_org, fa.adcode AS facility_adcode,
  lw.org_unit_id AS waybill_org,
  lo.adcode AS location_v
FROM {{src}} s
LEFT JOIN event_vocab ev ON ev.key = lower(s.event_code)
LEFT JOIN facilities_dim fa ON fa.code = s.facility_code
LEFT JOIN event_waybills lw ON lw.waybill_no = s.waybill_no
LEFT JOIN locations lo ON lo.location = s.location
"""

def event_checks(now: dt.datetime | None = None) -> list[Check]:
    """Every rule of a tracking-event row, in the order its reject lines are listed."""
    return [
        Check("waybill_no", "required", "waybill_no IS NULL"),
        Check("event_time", "required", "event_time IS NULL"),
        Check("event_time", "bad_datetime", "event_time IS NOT NULL AND event_time_v IS NULL"),
        *time_checks("event_time", "event_time_v", now),
        Check("event_code", "required", "event_code IS NULL"),
        Check("event_code", "unknown_event", "event_code IS NOT NULL AND event_code_v IS NULL"),
        Check("facility_code", "unknown_facility",
              "facility_code IS NOT NULL AND facility_id IS NULL"),
        Check("location", "unknown_place", "location IS NOT NULL AND location_v IS NULL"),
        Check("waybill_no", "unknown_waybill",
              "waybill_no IS NOT NULL AND waybill_org IS NULL AND facility_org IS NULL "
              "AND facility_code IS NULL"),
    ]


EVENT_OUTPUT = """
SELECT waybill_no, CAST(coalesce(waybill_org, facility_org) AS INTEGER) AS org_unit_id,
  CAST(event_time_v AS TIMESTAMP_S) AS event_time, event_code_v AS event_code,
  coalesce(location_v, facility_adcode) AS location_adcode, facility_id, note, _row, _bad
FROM {rows}
"""


# Counted as an event file is checked: the distinct places.
EVENT_GROUPS = Groups(distinct=("location",))


def validate_events(
    con: duckdb.DuckDBPyConnection, source: Source, session: Session, lake: Path,
    now: dt.datetime | None = None,
) -> Validated:
    """Check every event row at once; an event belongs to its waybill's org unit (or, for a
    waybill not in the lake yet, to the facility that recorded it).

    Scans come in any order and a file may repeat them. Order is no error: the lake keeps
    each scan's own time and the tracking state machine reads scans by time
    (:func:`jiqun.service.tracking.parcel_state`). A repeat of the key (waybill, time, code),
    in the file or already in the lake, is no error either: it is counted under
    "duplicates" and dropped by the append (:mod:`jiqun.lake.writer`), so re-importing a file
    changes nothing. A near repeat (the same code minutes later at the same place, a double
    read) is a different key and is stored; the state machine drops it. An unknown event code
    is a reject with its row and reason."""
    _register_store_dimensions(con, session)
    register_vocab(con, "event_vocab", EVENT_CODES)
    dimensions.register_lake_waybills(con, lake)
    _register_locations(con)
    # The lake's waybills that the file names (a semi-join built on the file's), not the lake.
    con.execute("CREATE TEMP TABLE event_waybills AS SELECT lw.* FROM lake_waybills lw "
                "SEMI JOIN (SELECT DISTINCT waybill_no FROM src_stream) f USING (waybill_no)")
    con.execute(EVENT_PARSED.format(name="parsed", src="src"))
    con.execute(EVENT_PARSED.format(name="parsed_stream", src="src_stream"))
    return Validated(EVENT_DATASET, event_checks(now), EVENT_OUTPUT, numbered=False)


@dataclass(frozen=True)
class LakeKind:
    """An import kind that appends to the lake: how its rows are checked (the registry,
    :mod:`jiqun.ingest.kinds`, holds one per kind)."""

    validate: Callable[..., Validated]  # (con, source, session, lake, now) -> Validated
    # What is counted as the file is checked, in that same read (jiqun.ingest.source.Groups).
    groups: Groups = Groups()
    # (con, source, session, now) -> Validated: the checks of a plain CSV not read yet, for an
    # import written in one read and checked after (jiqun.ingest.at_once); None: never so.
    at_once: Callable[..., Validated] | None = None
