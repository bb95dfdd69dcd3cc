"""Helpers of the importer tests: a store with the org tree, the templates, lake readers."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb

from jiqun.ingest import import_file
from jiqun.store.models import Role, User

TEMPLATES = Path(__file__).resolve().parents[2] / "docs" / "templates"


def import_templates(store, lake: Path, kinds=("markets", "customers"), ext: str = "csv") -> None:
    """Import the templates of ``kinds`` (in order) and insist that each is clean."""
    for kind in kinds:
        report = import_file(kind, TEMPLATES / f"{kind}.{ext}", store, lake)
        assert report.rejected == 0, (kind, report.reasons)


def lake_rows(lake: Path, dataset: str = "waybills") -> list[tuple]:
    """Every row of a lake dataset, sorted, so that two states of the lake compare exactly."""
    files = sorted((lake / dataset).glob("month=*/*.parquet"))
    if not files:
        return []
    listing = ", ".join(f"'{f}'" for f in files)
    return duckdb.sql(f"SELECT * FROM read_parquet([{listing}], hive_partitioning = false) ORDER BY ALL").fetchall()


def read_rejects(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def add_user(store, name: str, role: Role, unit) -> None:
    """A user of ``role`` at the org unit ``unit`` (no usable password: tests act as them)."""
    with store.transaction() as s:
        s.add(User(username=name, display_name=name, password_hash="x", role=role,
                   org_unit_id=unit.id))
