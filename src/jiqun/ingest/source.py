"""Read an import file (CSV in UTF-8 / GBK / GB18030, or XLSX) into DuckDB as all-text columns.

The result is a view ``src`` with ``_row`` (the row number a spreadsheet shows: the header is row
1) and one VARCHAR column per canonical column of the format, trimmed, empty → NULL. Columns the
file does not have are NULL, so the validation SQL can name every column.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from jiqun.ingest.columns import Format
from jiqun.ingest.report import ImportFileError

EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"}
_SAMPLE_BYTES = 1 << 20


@dataclass
class Source:
    """An import file loaded into ``con`` as the view ``src``."""

    con: duckdb.DuckDBPyConnection
    headers: dict[str, str]  # canonical column → header as written in the file
    total: int  # data rows (blank rows not counted)

    def header(self, column: str) -> str:
        return self.headers.get(column, column)

    @property
    def present(self) -> set[str]:
        return set(self.headers)


def normalise_header(text: str) -> str:
    """Compare headers without case, spaces, BOM or full-width brackets: ``重量 (KG)`` = ``重量(kg)``."""
    text = str(text or "").replace("\ufeff", "").strip().lower()
    text = text.replace("（", "(").replace("）", ")")
    return re.sub(r"\s+", "", text)


def map_headers(header: list[str], fmt: Format) -> list[str]:
    """Canonical names for the file's header cells; file-level errors for unknown/missing ones."""
    lookup = {normalise_header(h): c.name for c in fmt.columns for h in c.headers}
    names, unknown, seen = [], [], set()
    for i, cell in enumerate(header):
        key = normalise_header(cell)
        if not key:
            names.append(f"_blank_{i}")  # Excel leaves empty header cells after the data
            continue
        name = lookup.get(key)
        if name is None:
            unknown.append(str(cell).strip())
            names.append(f"_unknown_{i}")
        elif name in seen:
            raise ImportFileError("column {column} appears twice", column=str(cell).strip())
        else:
            seen.add(name)
            names.append(name)
    if unknown:
        raise ImportFileError("unknown columns: {columns}", columns=", ".join(unknown))
    missing = [c.zh + "/" + c.name for c in fmt.columns if c.required and c.name not in seen]
    if missing:
        raise ImportFileError("missing required columns: {columns}", columns=", ".join(missing))
    for group in fmt.one_of:
        if not seen.intersection(group):
            labels = [fmt.column(n).zh + "/" + n for n in group]
            raise ImportFileError("one of these columns is required: {columns}", columns=", ".join(labels))
    return names


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (a superset of GBK)."""
    with open(path, "rb") as fh:
        head = fh.read(_SAMPLE_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def _transcode_to_utf8(path: Path, encoding: str, folder: Path) -> Path:
    """DuckDB reads UTF-8 only: stream the file into a UTF-8 copy."""
    target = folder / (path.stem + ".utf8.csv")
    with open(path, encoding=encoding, newline="") as src, open(target, "w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(1 << 22):
            dst.write(chunk)
    return target


def _read_header(path: Path, encoding: str) -> tuple[list[str], str]:
    with open(path, encoding=encoding, newline="") as fh:
        first = fh.readline()
    if not first.strip():
        raise ImportFileError("the file is empty")
    delimiter = max(",\t;|", key=first.count)
    return next(csv.reader(io.StringIO(first), delimiter=delimiter)), delimiter


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _load_csv(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: Format, work: Path
) -> tuple[list[str], list[str]]:
    encoding = detect_encoding(path)
    header, delimiter = _read_header(path, encoding)
    names = map_headers(header, fmt)
    readable = path if encoding in ("utf-8", "utf-8-sig") else _transcode_to_utf8(path, encoding, work)
    query = (
        f"CREATE TEMP TABLE raw AS SELECT * FROM read_csv('{str(readable).replace(chr(39), chr(39) * 2)}', "
        f"header=true, all_varchar=true, delim='{delimiter}', quote='\"', escape='\"', "
        f"names={_sql_list(names)})"
    )
    try:
        con.execute(query)
    except duckdb.InvalidInputException as exc:
        if "unicode" in str(exc).lower() and readable == path:
            # The sample looked like UTF-8 but later bytes are not: a GBK file with ASCII at the top.
            con.execute(query.replace(str(path), str(_transcode_to_utf8(path, "gb18030", work))))
        else:
            raise ImportFileError("the file cannot be read as CSV: {error}", error=str(exc).splitlines()[0]) from exc
    con.execute("CREATE TEMP VIEW raw_rows AS SELECT rowid + 2 AS _row, * FROM raw")
    return names, header


def _cell_text(value) -> str | None:
    """An Excel cell as the text a person sees: 330502.0 → ``330502``, dates ISO."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    return str(value)


def _load_xlsx(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: Format
) -> tuple[list[str], list[str]]:
    from python_calamine import CalamineWorkbook

    try:
        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
        rows = sheet.to_python(skip_empty_area=False)
    except Exception as exc:  # calamine raises its own error types per format problem
        raise ImportFileError("the file cannot be read as a spreadsheet: {error}", error=str(exc)) from exc
    if not rows or not any(_cell_text(v) for v in rows[0]):
        raise ImportFileError("the file is empty")
    header = [_cell_text(v) or "" for v in rows[0]]
    names = map_headers(header, fmt)
    columns = {n: [] for n in names}
    for row in rows[1:]:
        for i, name in enumerate(names):
            columns[name].append(_cell_text(row[i]) if i < len(row) else None)
    table = pa.table(
        {"_row": pa.array(range(2, len(rows) + 1), pa.int64()),
         **{n: pa.array(v, pa.string()) for n, v in columns.items()}}
    )
    con.register("raw_arrow", table)
    con.execute("CREATE TEMP VIEW raw_rows AS SELECT * FROM raw_arrow")
    return names, header


def load(con: duckdb.DuckDBPyConnection, path: Path, fmt: Format, work: Path | None = None) -> Source:
    """Load ``path`` into ``con`` as the view ``src`` (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError("file not found: {path}", path=str(path))
    work = work or Path(tempfile.mkdtemp(prefix="jiqun-import-"))
    if path.suffix.lower() in EXCEL_SUFFIXES:
        names, header = _load_xlsx(con, path, fmt)
    else:
        names, header = _load_csv(con, path, fmt, work)
    present = {n: str(h).replace("\ufeff", "").strip() for n, h in zip(names, header, strict=False)
               if not n.startswith("_")}
    select = ", ".join(
        f"nullif(trim(\"{c.name}\"), '') AS \"{c.name}\"" if c.name in present
        else f"NULL::VARCHAR AS \"{c.name}\""
        for c in fmt.columns
    )
    # Empty cells are NULL already; a row of empty cells (",,,,") is not a row of data.
    not_blank = "coalesce(" + ", ".join(f'"{n}"' for n in present) + ") IS NOT NULL"
    # A view, not a copy: each pass trims only the columns it reads.
    con.execute(f"CREATE TEMP VIEW src AS SELECT _row, {select} FROM raw_rows WHERE {not_blank}")
    total = con.execute("SELECT count(*) FROM src").fetchall()[0][0]
    return Source(con=con, headers=present, total=total)
