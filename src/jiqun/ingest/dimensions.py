"""Store dimensions as Arrow tables for the vectorised validation (customer codes → ids, …).

DuckDB's sqlite/postgres scanners download at run time, so store rows travel as Arrow instead.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.lake.schemas import WAYBILL_DATASET
from jiqun.lake.writer import dataset_files
from jiqun.store.models import Customer, DedicatedLine, Facility, OrgUnit


def _arrow(session: Session, statement, schema: pa.Schema) -> pa.Table:
    rows = session.execute(statement).all()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    return pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)],
                                schema=schema)


def customers(session: Session) -> pa.Table:
    """Customer code → id, market, grid, owning org unit and place."""
    return _arrow(
        session,
        select(Customer.code, Customer.id, Customer.market_id, Customer.grid_id,
               Customer.org_unit_id, Customer.adcode),
        pa.schema([("code", pa.string()), ("customer_id", pa.int64()), ("market_id", pa.int32()),
                   ("grid_id", pa.int32()), ("org_unit_id", pa.int32()), ("adcode", pa.string())]),
    )


def facilities(session: Session) -> pa.Table:
    """Facility (outlet, centre) code → id, owning org unit and place."""
    return _arrow(
        session,
        select(Facility.code, Facility.id, Facility.org_unit_id, Facility.adcode),
        pa.schema([("code", pa.string()), ("facility_id", pa.int32()),
                   ("org_unit_id", pa.int32()), ("adcode", pa.string())]),
    )


def lines(session: Session) -> pa.Table:
    """Dedicated line code → id."""
    return _arrow(
        session,
        select(DedicatedLine.code, DedicatedLine.id),
        pa.schema([("code", pa.string()), ("line_id", pa.int32())]),
    )


def org_units(session: Session) -> pa.Table:
    """Org unit id → its admin-division code (the origin of last resort)."""
    return _arrow(
        session,
        select(OrgUnit.id, OrgUnit.adcode),
        pa.schema([("org_unit_id", pa.int32()), ("adcode", pa.string())]),
    )


def register_lake_waybills(con: duckdb.DuckDBPyConnection, lake: Path) -> None:
    """``lake_waybills(waybill_no, org_unit_id)``: the waybills already in the lake."""
    files = dataset_files(Path(lake), WAYBILL_DATASET)
    if files:
        listing = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
        con.execute(
            "CREATE TEMP VIEW lake_waybills AS "
            f"SELECT waybill_no, org_unit_id FROM read_parquet([{listing}])"
        )
    else:
        con.execute(
            "CREATE TEMP VIEW lake_waybills AS "
            "SELECT NULL::VARCHAR AS waybill_no, NULL::INTEGER AS org_unit_id WHERE false"
        )
