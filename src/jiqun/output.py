"""Output of analytic CLI commands: ``--format table|json|csv`` for lists of flat records."""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
import math
import sys

from rich.console import Console
from rich.table import Table

from jiqun.cells import spreadsheet_safe


class Format(str, enum.Enum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def _plain(value):
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(_plain(value))


def render(rows: list[dict], fmt: Format, title: str | None = None) -> str:
    """The records as text in ``fmt``; JSON is a list of flat objects with snake_case keys."""
    rows = [{k: _plain(v) for k, v in r.items()} for r in rows]
    if fmt is Format.JSON:
        return json.dumps(rows, ensure_ascii=False, indent=1)
    if fmt is Format.CSV:
        buf = io.StringIO()
        if rows:
            writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows({k: spreadsheet_safe(v) for k, v in r.items()} for r in rows)
        return buf.getvalue()
    table = Table(*(rows[0] if rows else ["(no rows)"]), title=title)
    for r in rows:
        table.add_row(*(_cell(v) for v in r.values()))
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(table)
    return console.export_text()


def emit(rows: list[dict], fmt: Format, title: str | None = None) -> None:
    sys.stdout.write(render(rows, fmt, title))
    if fmt is not Format.CSV:
        sys.stdout.write("\n")
