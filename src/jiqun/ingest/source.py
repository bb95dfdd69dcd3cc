"""Read an import file (CSV in UTF-8 / UTF-16 / GBK / GB18030, or XLSX) into DuckDB as text.

The result is a view ``src`` with ``_row`` (the row number a spreadsheet shows: the header is row
1, blank lines count) and one VARCHAR column per canonical column of the format, trimmed, empty →
NULL, and its twin ``src_stream``, the same rows without their numbers (``_row`` NULL), which
DuckDB reads in parallel. Columns the file does not have are NULL, so the validation SQL can name
every column.

A CSV is read in one of two ways, with the same result:

* **fast**: DuckDB's ``read_csv`` in strict mode, nothing sniffed, for a well-formed file
  without blank lines (DuckDB skips them, which would shift the row numbers after them) and
  without line breaks inside cells (see ``_quoted_break``). Nothing of the file is copied:
  each query reads the file again, streamed; one read checks the whole file and counts what
  the kind asks for (:class:`Groups`). Millions of rows in bounded memory.
* **tolerant**: Python's :mod:`csv` module, record by record, streamed into a DuckDB table a
  batch at a time, when DuckDB refuses the file
  (a ragged row, a stray quote) or the file has blank lines, line breaks in cells or
  undecodable bytes. Every record
  that cannot become a row of cells — too few or too many fields, a quote opened and never
  closed, bytes that are not text in the file's encoding — is kept as a reject of its own
  (:attr:`Source.unreadable`) with its true row number; every other row is imported.

Why the standard library and not DuckDB's ``store_rejects`` or pyarrow's
``invalid_row_handler`` for the tolerant path: both count physical lines and skip blank lines,
so their row numbers are not the spreadsheet's once a file has a blank line or a quoted line
break, and both let an unclosed quote swallow every following row. ``csv.reader`` reports how
many physical lines each record used (``line_num``), so a record that ran across lines and came
out with the wrong number of fields can be recognised as a stray quote and read again from the
next line, and it yields blank lines as empty records, so numbering follows the spreadsheet.
"""

from __future__ import annotations

import codecs
import collections
import concurrent.futures
import csv
import datetime as dt
import functools
import itertools
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import duckdb
import numpy as np
import pyarrow as pa
import xxhash
from cachetools import LRUCache

from jiqun.ingest.columns import Format
from jiqun.ingest.report import ImportFileError, Reject

EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"}
_SAMPLE_BYTES = 1 << 20
_SHOWN_CHARS = 200  # of an unreadable row in the reject report
_DELIMITERS = ",\t;|"
# Signatures of files that are not text, whatever their name says.
_SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


@dataclass
class Source:
    """An import file loaded into ``con`` as the views ``src`` and ``src_stream``."""

    con: duckdb.DuckDBPyConnection
    headers: dict[str, str]  # canonical column → header as written in the file
    total: int  # readable data rows, i.e. the rows of ``src`` (blank rows not counted)
    # Rows that could not be split into cells (ragged, a stray quote, bad bytes): one reject each,
    # in row order. They are rows of the file too: a report counts them as rejected.
    unreadable: list[Reject] = field(default_factory=list)

    def header(self, column: str) -> str:
        return self.headers.get(column, column)

    @property
    def present(self) -> set[str]:
        return set(self.headers)


@dataclass(frozen=True)
class Groups:
    """What a kind counts in the read that checks the file, in that same pass (the table
    ``file_groups``): the hashes of ``repeated`` values that occur more than once (``_key``,
    ``_g_key`` 0: candidates, since two values may share a hash), the distinct combinations of
    ``distinct`` (``_g_values`` 0), and the whole file (both 1); ``_n`` is the rows of each.

    A 64-bit hash groups ten million waybill numbers at a fraction of the cost of the text."""

    repeated: str | None = None
    distinct: tuple[str, ...] = ()

    def sql(self, rows: str, breaks: str) -> str:
        key = f"hash({self.repeated})" if self.repeated else None
        sets = ["(_key)"] if key else []
        sets += [f"({', '.join(self.distinct)})"] if self.distinct else []
        columns = "".join(f"{c}, " for c in (*(["_key"] if key else []), *self.distinct))
        g_key = "GROUPING(_key)" if key else "1"
        g_values = f"GROUPING({self.distinct[0]})" if self.distinct else "1"
        grouped = f"GROUP BY GROUPING SETS ({', '.join([*sets, '()'])})" if sets else ""
        keep = f"HAVING {g_key} = 1 OR count(*) > 1" if key else ""
        hashed = (f"(SELECT *, CASE WHEN {self.repeated} IS NOT NULL THEN {key} END AS _key "
                  f"FROM {rows})") if key else rows
        return (f"SELECT {columns}{g_key} AS _g_key, {g_values} AS _g_values, count(*) AS _n, "
                f"{breaks} AS _breaks FROM {hashed} WHERE NOT _blank {grouped} {keep}")


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


# -- encodings and binary files -----------------------------------------------------------------
def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 text without a byte-order mark: ASCII characters leave a zero byte every other byte."""
    sample = head[:4096]
    half = len(sample) // 2
    if half < 8:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > half * 0.3 and even == 0:
        return "utf-16-le"
    if even > half * 0.3 and odd == 0:
        return "utf-16-be"
    return None


def _refuse_binary(head: bytes) -> None:
    """A spreadsheet, picture or archive renamed ``.csv`` is a file-level error, not a traceback."""
    if head.startswith(_SPREADSHEET_MAGIC):
        raise ImportFileError("the file is an Excel workbook, not a CSV: give it the .xlsx (or "
                              ".xls) extension, or save it as CSV")
    if b"\x00" in head:
        raise ImportFileError("the file is not a CSV text file (it contains binary data)")


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM), UTF-16 (BOM or not), else GB18030 (a superset of GBK).

    Judged on the first MiB; a later byte that contradicts it is handled by the reader. Raises
    :class:`ImportFileError` for a file that is not text at all.
    """
    with open(path, "rb") as fh:
        head = fh.read(_SAMPLE_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    utf16 = _utf16_without_bom(head)
    if utf16:
        return utf16
    _refuse_binary(head)
    return "utf-8" if _mostly_utf8(head) else "gb18030"


def _mostly_utf8(head: bytes) -> bool:
    """UTF-8 unless its bad sequences are common: GBK's two-byte characters are almost never
    valid UTF-8, while a UTF-8 file with one stray byte is still UTF-8 (that row is rejected)."""
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(head, final=False)
    bad = text.count("\ufffd")
    if not bad:
        return True
    wide = sum(1 for ch in text if ord(ch) > 127) - bad
    return wide >= 10 * bad


def _decodes(path: Path, encoding: str) -> bool:
    """Whether the whole file is valid text in ``encoding`` (streamed, 4 MiB at a time)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 22):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _ascii_head(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(_SAMPLE_BYTES).isascii()


def _transcode_to_utf8(path: Path, encoding: str, folder: Path) -> Path | None:
    """DuckDB reads UTF-8 only: stream the file into a UTF-8 copy (None: not valid ``encoding``)."""
    target = folder / (path.stem + ".utf8.csv")
    try:
        with open(path, encoding=encoding, newline="") as src, \
                open(target, "w", encoding="utf-8", newline="") as dst:
            while chunk := src.read(1 << 22):
                dst.write(chunk)
    except UnicodeDecodeError:
        target.unlink(missing_ok=True)
        return None
    return target


def _has_blank_lines(path: Path) -> bool:
    """A blank line before the last line of data (DuckDB would skip it and shift row numbers)."""
    return _blank_line_in(*_version(path))


def _has_quote(path: Path) -> bool:
    return _marks_in(*_version(path)).quote


def _has_padding(path: Path) -> bool:
    """Whether a cell may begin or end with a space to trim (meaningful without a quote)."""
    return _marks_in(*_version(path)).padding


def file_digest(path: Path) -> str:
    """A digest of every byte of the file, for the fingerprint of an import's outcome: XXH3-128
    of the file's size and of the XXH3-128 of each of its blocks. A CSV read as it is was hashed
    by the read that looked for quotes and padding (:func:`_marks_in`); any other file (a
    spreadsheet, a GBK CSV, which is read transcoded) is read for it alone. (SHA-256 in a read
    of its own took 0.8 s of CPU a GB.) It tells a changed file from the one a dry run read;
    it is no defence against an uploader, who could upload the other file anyway."""
    version = _version(path)
    with _DIGESTS_LOCK:
        known = _DIGESTS.get(version)
    return known or _scan(version, marks=False).digest


def quote_free(path: Path) -> bool:
    """Whether no byte of the file is a quote: then no cell can hold a line break, and every
    record is one line (DuckDB skips blank lines, as the import does)."""
    return not _has_quote(path)


def _version(path: Path) -> tuple[Path, int, int]:
    """The file and its size and modification time: the key of what a scan of it found."""
    stat = path.stat()
    return path.resolve(), stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=8)
def _blank_line_in(path: Path, size: int, mtime: int) -> bool:
    """A blank line before the end of the data, in one read of the file.

    Read a block at a time (not mapped: the pages of a mapped 3 GB file would count as this
    process's memory) and looked for with NumPy (``bytes.find`` of a two-byte pattern runs at a
    tenth of the speed): a line break right after another, or after another and a ``\\r``."""
    with open(path, "rb") as fh:
        end = _end_of_data(fh)
        fh.seek(0)
        blank = end > 0 and fh.read(1) in (b"\r", b"\n")
        fh.seek(0)
        carry, done = b"", 0
        while done < end and not blank:
            block = fh.read(min(_BLOCK, end - done))
            done += len(block)
            data = carry + block  # with the end of the last block: a pattern across the seam
            blank = _blank_in(np.frombuffer(data, dtype=np.uint8), b"\r" in data)
            carry = data[-2:]
    return blank


_BLOCK = 1 << 24

# Bytes beside a cell's edge: a delimiter (any the header may have) or a line break.
_EDGE_BYTES = np.zeros(256, dtype=bool)
_EDGE_BYTES[list(_DELIMITERS.encode() + b"\n\r")] = True


class _Marks(NamedTuple):
    quote: bool  # a quote anywhere in the file
    padding: bool  # a cell that trim would change; True whenever ``quote`` (not looked for)
    digest: str  # of every byte (file_digest)


@functools.lru_cache(maxsize=8)
def _marks_in(path: Path, size: int, mtime: int) -> _Marks:
    """What decides how the file is read, in one read of it: whether it holds a quote, and,
    when it does not, whether a cell may begin or end with a space that DuckDB's ``trim``
    removes: an ASCII space beside a delimiter or a line break (or at either end of the file),
    or any other Unicode space (category Zs, which ``trim`` removes too) anywhere. Without
    one, trimming every cell changes nothing, and a one-read import leaves it out (it costs
    about as much as reading the cells). And the file's digest (:func:`file_digest`)."""
    return _scan((path, size, mtime), marks=True)


# The digests of the last files scanned (by version), for file_digest.
_DIGESTS: LRUCache[tuple[Path, int, int], str] = LRUCache(maxsize=8)
_DIGESTS_LOCK = threading.Lock()


def _scan(version: tuple[Path, int, int], marks: bool) -> _Marks:
    """The file's digest and, with ``marks``, :func:`_marks_in`'s marks (else False, False).

    Blocks are looked at on up to four cores (``memchr`` for the quote, then NumPy, both
    letting go of the GIL; a block in flight holds ~50 MB), each read with the two bytes
    before it in one ``os.pread`` (no shared file offset) and hashed without them. After a
    quote the blocks are only hashed: such a file is read the strict way, which trims anyway."""
    quoted, padded = threading.Event(), threading.Event()
    with open(version[0], "rb") as fh, \
            concurrent.futures.ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        end = os.fstat(fh.fileno()).st_size

        def look(start: int) -> bytes:
            seam = min(start, _SEAM)  # the file's start: a line break before it
            block = os.pread(fh.fileno(), _BLOCK + seam, start - seam)
            digest = xxhash.xxh3_128_digest(memoryview(block)[seam:])
            if not marks or quoted.is_set():
                return digest
            if block.find(b'"', seam) >= 0:
                quoted.set()
            elif not padded.is_set():
                last = start + _BLOCK >= end
                if seam < _SEAM or last:  # the file's ends are cells' edges
                    block = b"\n" * (_SEAM - seam) + block + (b"\n" * _SEAM if last else b"")
                if _padding_within(block):
                    padded.set()
            return digest

        blocks = list(pool.map(look, range(0, max(end, 1), _BLOCK)))
    digest = xxhash.xxh3_128_hexdigest(end.to_bytes(8, "little") + b"".join(blocks))
    with _DIGESTS_LOCK:
        _DIGESTS[version] = digest
    return _Marks(quoted.is_set(), quoted.is_set() or padded.is_set(), digest)


_SEAM = 2  # bytes of the block before: a space's left neighbour, a character's lead


def _padding_within(block: bytes) -> bool:
    """:func:`_marks_in`'s padding for a block with the two bytes before it: a space from the second
    byte to the one before last (it has both neighbours), a character from the first byte to
    the third from last (it has its continuation); the others are judged with the next block,
    and the last block ends with two line breaks."""
    data = np.frombuffer(block, dtype=np.uint8)
    spaces = np.flatnonzero(data[1:-1] == 32) + 1
    if (_EDGE_BYTES[data[spaces - 1]] | _EDGE_BYTES[data[spaces + 1]]).any():
        return True
    # Every other Zs character starts with C2, E1, E2 or E3, bytes rare in Chinese text (whose
    # ideographs start with E4–E9): ``memchr`` for each (a quarter of NumPy's time for one
    # range test), then NumPy at those alone.
    if not any(lead in block for lead in _SPACE_LEADS):
        return False
    leads = np.flatnonzero(np.subtract(data[:-2], 0xC2, dtype=np.uint8) <= 0xE3 - 0xC2)
    return any(np.logical_and.reduce([data[leads + k] == b for k, b in enumerate(space)]).any()
               for space in _OTHER_SPACES)


# The Unicode spaces (Zs) but the ASCII one, in UTF-8: what ``trim`` removes besides it.
_OTHER_SPACES = tuple(chr(c).encode() for c in (0xA0, 0x1680, *range(0x2000, 0x200B), 0x202F,
                                                0x205F, 0x3000))
_SPACE_LEADS = tuple(sorted({space[:1] for space in _OTHER_SPACES}))


def _end_of_data(fh) -> int:
    """Where the file's data ends: blank lines and spaces at the very end are harmless."""
    end = fh.seek(0, 2)
    while end:
        start = max(0, end - (1 << 16))
        fh.seek(start)
        kept = fh.read(end - start).rstrip(b"\r\n \t")
        end = start + len(kept)
        if kept:
            break
    return end


def _blank_in(block: np.ndarray, returns: bool) -> bool:
    """``\\n\\n``, or (when the file has a ``\\r``) ``\\n\\r\\n`` or ``\\r\\r``, in ``block``."""
    breaks = np.flatnonzero(block == 10)
    gaps = np.diff(breaks)
    if np.any(gaps == 1):
        return True
    if not returns:
        return False
    if np.any(block[breaks[:-1][gaps == 2] + 1] == 13):
        return True
    return bool(np.any(np.diff(np.flatnonzero(block == 13)) == 1))


# -- the header ---------------------------------------------------------------------------------
def _delimiter(line: str) -> str:
    return max(_DELIMITERS, key=line.count)


def _read_header(path: Path, encoding: str) -> tuple[list[str], str] | None:
    """The first line's cells and delimiter; None when the first line is blank."""
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        first = fh.readline()
    if not first.strip("\r\n\ufeff \t"):
        return None
    delimiter = _delimiter(first)
    cells = next(csv.reader([first], delimiter=delimiter))
    return [cells[0].lstrip("\ufeff"), *cells[1:]], delimiter


def _sql_text(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _sql_path(path: Path) -> str:
    return _sql_text(str(path))


# -- the fast path: DuckDB ----------------------------------------------------------------------
def _read_with_duckdb(con: duckdb.DuckDBPyConnection, readable: Path, delimiter: str,
                      names: list[str], fmt: Format | None = None) -> bool:
    """Whether DuckDB reads ``readable`` as a well-formed UTF-8 CSV (:func:`_duckdb_rows`)."""
    return _duckdb_rows(con, readable, delimiter, names, fmt) is not None


def _duckdb_rows(con: duckdb.DuckDBPyConnection, readable: Path, delimiter: str,
                 names: list[str], fmt: Format | None = None, groups: Groups = Groups()
                 ) -> int | None:
    """Define the view ``raw`` (:func:`_clean_query`) over the file read by DuckDB and check the
    whole file once, counting ``groups`` in the same pass (the table ``file_groups``): its rows
    of data, or None when DuckDB finds it is not a well-formed CSV.

    Nothing is sniffed (``auto_detect=false``): the dialect is the header line's, every column is
    text, and strict mode refuses any record with the wrong number of fields — left to the
    sniffer, a file with a ragged row can come back with no rows and no error. Nothing of the
    file is kept: every later query reads the file again, in parallel, trimming the cells as it
    goes, so a file of any size is checked in bounded memory (docs/formats.md, "Large files").
    """
    # A line break inside a cell needs a quote: without one in the file, there is none to look for.
    breaks = _has_quote(readable)
    cells = " OR ".join(f"contains(\"{n}\", chr(10)) OR contains(\"{n}\", chr(13))" for n in names)
    csv_rows = _strict_csv(readable, names, delimiter)
    breaks_sql = f", coalesce({cells}, false) AS _break" if breaks else ""
    con.execute("CREATE OR REPLACE TEMP VIEW raw AS "
                + _clean_query(fmt, _present(names), csv_rows, breaks_sql))
    found = "coalesce(bool_or(_break), false)" if breaks else "false"
    try:
        rows, line_breaks = _count_groups(con, groups, found)
    except (duckdb.InvalidInputException, duckdb.ConversionException):
        line_breaks = True  # a ragged row, a stray quote, a bad byte: the tolerant reader says which
    # A line break in a cell: legitimate (an address over two lines) or a stray quote that
    # closed further down with the right number of cells, which a strict reader cannot tell
    # apart: the tolerant reader looks at the lines themselves (``_quoted_break``).
    if line_breaks:
        con.execute("DROP VIEW raw")
        return None
    return rows


def _strict_csv(readable: Path, names: list[str], delimiter: str) -> str:
    """DuckDB's strict read of the file: the header line's dialect, every column text, any
    record with the wrong number of fields refused (:func:`_duckdb_rows`)."""
    columns = "{" + ", ".join(f"{_sql_text(n)}: 'VARCHAR'" for n in names) + "}"
    return (f"read_csv({_sql_path(readable)}, auto_detect=false, header=true, "
            f"columns={columns}, delim={_sql_text(delimiter)}, quote='\"', escape='\"', "
            "strict_mode=true, null_padding=false)")


def _present_headers(names: list[str], header: list) -> dict[str, str]:
    """The file's own header of each column it has (by the format's name)."""
    return {n: str(h).replace("\ufeff", "").strip() for n, h in zip(names, header, strict=False)
            if not n.startswith("_")}


def _stream_view(con: duckdb.DuckDBPyConnection, fmt: Format) -> None:
    """``src_stream``: the rows of ``raw`` without their numbers, read in parallel."""
    columns = ", ".join(chr(34) + c.name + chr(34) for c in fmt.columns)
    con.execute(f"CREATE OR REPLACE TEMP VIEW src_stream AS SELECT NULL::BIGINT AS _row, "
                f"{columns} FROM raw WHERE NOT _blank")


def stream(con: duckdb.DuckDBPyConnection, path: Path, fmt: Format) -> Source | None:
    """The views ``raw`` and ``src_stream`` over a UTF-8 CSV without a quote
    (:func:`quote_free`), with nothing read yet. None for any other file (read by :func:`load`).

    For an import that writes the file in one read, stopping at the first bad row
    (``jiqun.ingest.at_once``): its ``total`` is then the rows written; a file DuckDB refuses
    raises as it is read."""
    path = Path(path)
    if not path.is_file() or path.suffix.lower() in EXCEL_SUFFIXES:
        return None
    if detect_encoding(path) not in ("utf-8", "utf-8-sig") or not quote_free(path):
        return None
    first = _read_header(path, "utf-8")
    if first is None:
        return None
    header, delimiter = first
    names = map_headers(header, fmt)
    con.execute("CREATE OR REPLACE TEMP VIEW raw AS "
                + _clean_query(fmt, _present(names), _strict_csv(path, names, delimiter),
                               trim=_has_padding(path)))
    _stream_view(con, fmt)
    return Source(con=con, headers=_present_headers(names, header), total=0)


def _count_groups(con: duckdb.DuckDBPyConnection, groups: Groups, breaks: str = "false"
                  ) -> tuple[int, bool]:
    """``file_groups`` of ``raw`` (:class:`Groups`); the file's rows of data, and whether a cell
    holds a line break."""
    con.execute("CREATE OR REPLACE TEMP TABLE file_groups AS " + groups.sql("raw", breaks))
    rows, line_breaks = con.execute("SELECT _n, _breaks FROM file_groups "
                                    "WHERE _g_key = 1 AND _g_values = 1").fetchall()[0]
    return rows, bool(line_breaks)


def _present(names: list[str]) -> set[str]:
    return {n for n in names if not n.startswith("_")}


def _clean_query(fmt: Format | None, present: set[str], rows: str, extra: str = "",
                 trim: bool = True) -> str:
    """SELECT every column of the format (default: the file's) from ``rows``, trimmed, empty →
    NULL (NULL where the file has none), and ``_blank``: whether the row has no value at all
    (",,,," is no row of data), judged on the trimmed cells (each cell is trimmed once).

    ``trim`` False: ``rows`` are a file without a quote whose cells have no space to trim
    (:func:`_marks_in`), whose empty cells DuckDB reads as NULL already; taken as they are."""
    wanted = fmt.names if fmt else sorted(present)
    cell = "nullif(trim(\"{c}\"), '')" if trim else "\"{c}\""
    columns = ", ".join(f"{cell.format(c=c)} AS \"{c}\"" if c in present
                        else f"NULL::VARCHAR AS \"{c}\"" for c in wanted)
    any_value = ", ".join(f'"{n}"' for n in sorted(present)) or "NULL"
    return (f"SELECT *, coalesce({any_value}) IS NULL AS _blank "
            f"FROM (SELECT {columns}{extra} FROM {rows})")


def _needed(names: list[str]) -> int:
    """Cells a row must have: up to the header's last non-blank cell."""
    return max((i + 1 for i, n in enumerate(names) if not n.startswith("_blank_")), default=0)


# -- the tolerant path: Python's csv module -----------------------------------------------------
class _Dialect(csv.Dialect):
    delimiter = ","
    quotechar = '"'
    doublequote = True
    skipinitialspace = False
    lineterminator = "\n"
    quoting = csv.QUOTE_MINIMAL
    strict = False  # a quote inside a field ("5"") is a character, as spreadsheets read it


class _Lines:
    """The file's lines, read once, as ``csv.reader`` takes them; the lines of the record being
    read are kept (``taken``) until it ends, and lines can be handed back to be read again."""

    def __init__(self, lines: Iterator[str]):
        self.source = lines
        self.again: collections.deque[str] = collections.deque()
        self.taken: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.again.popleft() if self.again else next(self.source)
        self.taken.append(line)
        return line

    def record(self) -> list[str]:
        """The lines of the record just read (csv.reader reads no line ahead of its record)."""
        taken, self.taken = self.taken, []
        return taken


def _records(lines: Iterator[str], dialect: type[csv.Dialect], needed: int, width: int
             ) -> Iterator[tuple[str, list[str] | None]]:
    """(first physical line, cells) per record; cells None for a line with an unclosed quote.

    A record that ran over several physical lines is a quoted line break when it has a sane
    number of fields and none of the lines it took in looks like a row of its own; otherwise a
    quote opened on its first line swallowed the lines after it: that first line is reported
    alone and reading starts again on the next line. Only the lines of one record are held
    (bounded by csv's field size limit), so a file of any size streams through.
    """
    feed = _Lines(lines)
    while True:
        reader = csv.reader(feed, dialect)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error:  # a field beyond csv.field_size_limit(), a NUL character
                cells = None
            taken = feed.record()
            if not taken:
                return
            if cells is not None and (len(taken) <= 1 or _quoted_break(
                    cells, taken[1:], dialect.delimiter, needed, width)):
                yield taken[0], cells
                continue
            yield taken[0], None
            # Read again from the line after: the swallowed lines, then the rest of the file.
            feed.again.extendleft(reversed(taken[1:]))
            break


def _quoted_break(cells: list[str], taken: list[str], delimiter: str, needed: int,
                  width: int) -> bool:
    """Whether a record over several lines is one row with a line break inside quotes: the
    right number of cells, and no line taken in holds half a row's separators or more (the
    second line of an address does not; a row swallowed by a stray quote does)."""
    if _cell_count(cells, needed, width) is not None:
        return False
    many = max(2, (needed - 1) // 2)
    return needed < 3 or not any(line.count(delimiter) >= many for line in taken)


def _shown(text: str) -> str:
    text = text.rstrip("\r\n")
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"


def _cell_count(cells: list[str], needed: int, width: int) -> str | None:
    """Why a record cannot be a row of this header's cells (None: it can)."""
    if len(cells) < needed:
        return "too_few_fields"
    if len(cells) > width and any(c.strip() for c in cells[width:]):
        return "too_many_fields"  # trailing empty cells (",,") are what Excel leaves: harmless
    return None


def _row_problem(cells: list[str], needed: int, width: int) -> str | None:
    if problem := _cell_count(cells, needed, width):
        return problem
    if any("\ufffd" in c for c in cells):
        return "bad_encoding"
    return None


_TOLERANT_BATCH = 50_000  # rows turned into one Arrow batch at a time


def _read_tolerantly(con: duckdb.DuckDBPyConnection, path: Path, encoding: str, fmt: Format
                     ) -> tuple[list[str], list[str], list[Reject]]:
    """Load any CSV as ``raw_rows``, record by record, a batch of rows at a time into a DuckDB
    table (held within its memory limit, like the rest); rows that cannot be cells become
    rejects."""
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        lines = iter(fh)
        header_at = 0
        for line in lines:
            if line.strip("\r\n\ufeff \t"):
                break
            header_at += 1
        else:
            raise ImportFileError("the file is empty")
        dialect = type("FileDialect", (_Dialect,), {"delimiter": _delimiter(line)})
        header = next(csv.reader([line.lstrip("\ufeff")], dialect))
        names = map_headers(header, fmt)
        table = _RowTable(con, "raw_tolerant", [n for n in names if not n.startswith("_")])
        unreadable = _read_records(lines, dialect, names, header_at + 1, table)
        table.flush()
    con.execute("CREATE OR REPLACE TEMP VIEW raw_rows AS SELECT * FROM raw_tolerant")
    return names, header, unreadable


def _read_records(lines: Iterator[str], dialect: type[csv.Dialect], names: list[str],
                  ordinal: int, table: _RowTable) -> list[Reject]:
    """Add the rows of ``lines`` (after the header, row ``ordinal``) to ``table``; the rows that
    cannot be cells of this header, as rejects."""
    width, needed = len(names), _needed(names)
    keep = [i for i, n in enumerate(names) if not n.startswith("_")]
    unreadable: list[Reject] = []
    for first, cells in _records(lines, dialect, needed, width):
        ordinal += 1
        if cells is None:
            unreadable.append(Reject(ordinal, "", _shown(first), "unbalanced_quote"))
            continue
        if not any(c.strip() for c in cells):
            continue  # a blank line or a row of empty cells is not a row of data
        problem = _row_problem(cells, needed, width)
        if problem:
            unreadable.append(Reject(ordinal, "", _shown(dialect.delimiter.join(cells)), problem))
            continue
        table.add(ordinal, [cells[i] if i < len(cells) else None for i in keep])
    return unreadable


class _RowTable:
    """A DuckDB table ``name(_row, columns…)`` of text, filled a batch of rows at a time."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, columns: list[str]):
        self.con, self.name, self.columns = con, name, columns
        self.schema = pa.schema([("_row", pa.int64()), *((c, pa.string()) for c in columns)])
        cells = "".join(f', "{c}" VARCHAR' for c in columns)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} (_row BIGINT{cells})")
        self.rows: list[int] = []
        self.cells: list[list[str | None]] = []

    def add(self, row: int, cells: list[str | None]) -> None:
        self.rows.append(row)
        self.cells.append(cells)
        if len(self.rows) >= _TOLERANT_BATCH:
            self.flush()

    def flush(self) -> None:
        columns = [pa.array(self.rows, pa.int64()),
                   *(pa.array([r[i] for r in self.cells], pa.string())
                     for i in range(len(self.columns)))]
        batch = pa.Table.from_arrays(columns, schema=self.schema)
        self.con.register("_row_batch", batch)
        self.con.execute(f"INSERT INTO {self.name} SELECT * FROM _row_batch")
        self.con.unregister("_row_batch")
        self.rows, self.cells = [], []


def _load_csv(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: Format, work: Path, groups: Groups
) -> tuple[list[str], list[str], list[Reject], int | None]:
    """The file's column names, header and unreadable rows, and its rows of data when DuckDB
    reads it (the view ``raw``; None: read by the tolerant reader into ``raw_rows``)."""
    encoding = detect_encoding(path)
    first = _read_header(path, encoding)
    if first is not None:
        header, delimiter = first
        names = map_headers(header, fmt)
        if encoding in ("utf-8", "utf-8-sig"):
            if (rows := _fast(con, path, delimiter, names, fmt, groups)) is not None:
                return names, header, [], rows
            if _ascii_head(path) and not _decodes(path, encoding) and _decodes(path, "gb18030"):
                # The sample was plain ASCII and later bytes are not UTF-8: GBK with ASCII on top.
                # (Chinese text that is valid UTF-8 for a whole sample is UTF-8: a stray bad byte
                # further down rejects its own row, not the file's encoding.)
                encoding = "gb18030"
        if encoding not in ("utf-8", "utf-8-sig"):
            readable = _transcode_to_utf8(path, encoding, work)
            if readable is not None and (
                    rows := _fast(con, readable, delimiter, names, fmt, groups)) is not None:
                return names, header, [], rows
    return (*_read_tolerantly(con, path, encoding, fmt), None)


def _fast(con: duckdb.DuckDBPyConnection, readable: Path, delimiter: str, names: list[str],
          fmt: Format, groups: Groups) -> int | None:
    if _has_blank_lines(readable):
        return None
    return _duckdb_rows(con, readable, delimiter, names, fmt, groups)


# -- spreadsheets -------------------------------------------------------------------------------
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


_XLSX_BATCH = 50_000  # spreadsheet rows turned into one Arrow batch at a time


def _load_xlsx(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: Format
) -> tuple[list[str], list[str], list[Reject]]:
    """Load the first sheet as ``raw_rows``, a batch of rows at a time: a sheet's million rows
    never become one list of Python cells."""
    from python_calamine import CalamineWorkbook

    try:
        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
        # Rows from the sheet's first row; cells from its first used column (padded back to A,
        # as the sheet shows them).
        pad = [""] * (sheet.start[1] if sheet.start else 0)
        rows = (pad + row for row in sheet.iter_rows())
        first = next(rows, None)
    except Exception as exc:  # calamine raises its own error types per format problem
        raise ImportFileError("the file cannot be read as a spreadsheet: {error}", error=str(exc)) from exc
    if first is None or not any(_cell_text(v) for v in first):
        raise ImportFileError("the file is empty")
    header = [_cell_text(v) or "" for v in first]
    names = map_headers(header, fmt)
    schema = pa.schema([("_row", pa.int64()), *((n, pa.string()) for n in names)])
    cells = ", ".join(f'"{n}" VARCHAR' for n in names)
    con.execute(f"CREATE OR REPLACE TEMP TABLE raw_sheet (_row BIGINT, {cells})")
    number = 2
    while batch := list(itertools.islice(rows, _XLSX_BATCH)):
        columns = [[_cell_text(r[i]) if i < len(r) else None for r in batch]
                   for i in range(len(names))]
        chunk = pa.Table.from_arrays(
            [pa.array(range(number, number + len(batch)), pa.int64()),
             *(pa.array(c, pa.string()) for c in columns)], schema=schema)
        con.register("sheet_batch", chunk)
        con.execute("INSERT INTO raw_sheet SELECT * FROM sheet_batch")
        con.unregister("sheet_batch")
        number += len(batch)
    con.execute("CREATE OR REPLACE TEMP VIEW raw_rows AS SELECT * FROM raw_sheet")
    return names, header, []


def read_header(path: Path) -> list[str] | None:
    """The header cells of a CSV or spreadsheet (its first row), None when it has none or
    cannot be read: to tell which kind of file someone gave (``jiqun.ingest.uploads``)."""
    path = Path(path)
    try:
        if path.suffix.lower() in EXCEL_SUFFIXES:
            from python_calamine import CalamineWorkbook

            rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).iter_rows()
            first = next(rows, None)
            return [_cell_text(v) or "" for v in first] if first else None
        found = _read_header(path, detect_encoding(path))
    except Exception:  # noqa: BLE001 — any unreadable file simply has no header to compare
        return None
    return found[0] if found else None


def load(con: duckdb.DuckDBPyConnection, path: Path, fmt: Format, work: Path | None = None,
         groups: Groups = Groups()) -> Source:
    """Load ``path`` into ``con`` as the views ``src`` and ``src_stream`` (module docstring),
    with ``groups`` counted as the file is checked (the table ``file_groups``)."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError("file not found: {path}", path=str(path))
    work = work or Path(tempfile.mkdtemp(prefix="jiqun-import-"))
    total = None
    if path.suffix.lower() in EXCEL_SUFFIXES:
        names, header, unreadable = _load_xlsx(con, path, fmt)
    else:
        names, header, unreadable, total = _load_csv(con, path, fmt, work, groups)
    present = _present_headers(names, header)
    columns = ", ".join(chr(34) + c.name + chr(34) for c in fmt.columns)
    if total is None:  # read in Python (tolerant CSV, spreadsheet): clean it once, into a table
        con.execute("CREATE OR REPLACE TEMP TABLE raw AS "
                    + _clean_query(fmt, set(present), "raw_rows", ", _row"))
        con.execute(f"CREATE OR REPLACE TEMP VIEW src AS SELECT _row, {columns} FROM raw "
                    "WHERE NOT _blank")
        con.execute("CREATE OR REPLACE TEMP VIEW src_stream AS SELECT * FROM src")
        total, _ = _count_groups(con, groups)
    else:
        # DuckDB reads the file on every query. ``src`` numbers its rows (the header is row 1):
        # ``row_number() OVER ()`` keeps the file's order, which holds one thread to the scan;
        # ``src_stream`` reads in parallel without numbers, for whatever needs none.
        con.execute("CREATE OR REPLACE TEMP VIEW src AS SELECT _row, "
                    f"{columns} FROM (SELECT row_number() OVER () + 1 AS _row, * FROM raw) "
                    "WHERE NOT _blank")
        _stream_view(con, fmt)
    # Rows of empty cells are no rows of data (their numbers stay taken).
    return Source(con=con, headers=present, total=total, unreadable=unreadable)
