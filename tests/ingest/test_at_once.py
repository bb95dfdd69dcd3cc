"""A plain waybill CSV written in one read (jiqun.ingest.at_once) ends exactly as the usual
import of the same file: the same lake rows, aggregates, report and fingerprint; and any file
whose outcome is not "every row new and good" falls back to the usual import, with nothing of
the first try kept."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jiqun.geo.address import resolve_names
from jiqun.ingest import at_once, import_file, source
from jiqun.ingest.lake_kinds import _division_names
from jiqun.ingest.report import ImportFileError
from jiqun.lake import WAYBILL_DATASET
from jiqun.lake.writer import STAGING, dataset_files
from tests.ingest.helpers import import_templates, write_csv
from tests.ingest.importer_process import NOW
from tests.ingest.test_import_atomic import HEADER, _rows, _seen


def test_division_names_give_the_codes_resolve_names_gives():
    table = _division_names().to_pylist()
    assert len(table) > 3000
    wrong = [r for r in table
             if resolve_names(r["province"], r["city"], r["county"]) != (r["p"], r["c"], r["k"])]
    assert wrong == []


@pytest.fixture
def imported(store, org, tmp_path, monkeypatch):
    """import(name, rows, usual): the import of a file of ``rows`` into the lake ``name``, the
    usual way or not; the report and whether the one read was kept."""
    import_templates(store, tmp_path / "templates-lake")
    kept: list[bool] = []
    first_try = at_once.import_at_once

    def spy(*args):
        kept.append(first_try(*args))
        return kept[-1]

    def run(name: str, rows: list[list[str]], usual: bool, header=HEADER):
        path = write_csv(tmp_path / f"{name}-{len(kept)}.csv", header, rows)
        kept.clear()
        with monkeypatch.context() as m:
            m.setattr(at_once, "import_at_once", spy)
            if usual:
                m.setattr(source, "quote_free", lambda _path: False)
            report = import_file("waybills", path, store, tmp_path / name, now=NOW,
                                 rejects=tmp_path / f"{name}.rejects.csv")
        return report, kept[:]

    return run


def _outcome(report) -> tuple:
    return (report.total, report.accepted, report.rejected, report.inserted, report.duplicates,
            report.written, report.reasons, report.reject_lines, report.fingerprint)


def test_a_plain_file_in_one_read_ends_as_the_usual_import(imported, tmp_path):
    rows = _rows(0, 500)
    fast, kept = imported("fast", rows, usual=False)
    usual, tried = imported("usual", rows, usual=True)
    assert kept == [True] and tried == []
    assert fast.written == 500 and fast.rejected == 0
    assert _outcome(fast) == _outcome(usual)
    assert _seen(tmp_path / "fast") == _seen(tmp_path / "usual")  # waybills, daily, lanes
    assert not list((tmp_path / "fast" / STAGING).glob("*/*"))
    # The coded columns are written as plain strings, as the lake's schema has them.
    for f in dataset_files(tmp_path / "fast", WAYBILL_DATASET):
        schema = pq.read_schema(f)
        strings = [f.name for f in WAYBILL_DATASET.schema if f.type == pa.string()]
        assert len(strings) >= 8
        assert all(schema.field(name).type == pa.string() for name in strings)


@pytest.mark.parametrize("change", ["repeat", "bad_fee", "short_province", "product_case"])
def test_a_file_not_all_good_falls_back_to_the_usual_import(imported, tmp_path, change):
    rows = _rows(0, 200)
    if change == "repeat":
        rows[150][0] = rows[20][0]
    elif change == "bad_fee":
        rows[30][7] = "abc"
    elif change == "short_province":  # resolved by the usual import's resolver, not by name
        rows[40][4] = "广东"
    elif change == "product_case":  # a vocabulary's word in an odd case: the usual import's
        rows[60][2] = "eMS"  # case-insensitive lookup, not the one read's common spellings
    fast, kept = imported("fast", rows, usual=False)
    usual, _ = imported("usual", rows, usual=True)
    assert kept == [False]
    assert _outcome(fast) == _outcome(usual)
    assert _seen(tmp_path / "fast") == _seen(tmp_path / "usual")
    expected = {"repeat": 1, "bad_fee": 1, "short_province": 0, "product_case": 0}[change]
    assert fast.rejected == expected


def test_the_common_spellings_of_a_vocabulary_word_stay_in_one_read(imported, tmp_path):
    rows = _rows(0, 120)
    for i, spelt in enumerate(["EMS", "Ems", "ems", "特快", "Parcel", "PARCEL"]):
        rows[i * 20][2] = spelt
    fast, kept = imported("fast", rows, usual=False)
    usual, _ = imported("usual", rows, usual=True)
    assert kept == [True]
    assert fast.rejected == 0
    assert _outcome(fast) == _outcome(usual)
    assert _seen(tmp_path / "fast") == _seen(tmp_path / "usual")


@pytest.mark.parametrize("blank", [[""] * len(HEADER), []], ids=["row_without_a_value",
                                                                  "empty_line"])
def test_blank_rows_are_skipped_in_one_read_as_the_usual_import_skips_them(imported, tmp_path,
                                                                           blank):
    rows = _rows(0, 200)
    rows[60:60] = [blank, blank]
    rows.append(blank)
    fast, kept = imported("fast", rows, usual=False)
    usual, _ = imported("usual", rows, usual=True)
    assert kept == [True]
    assert fast.total == fast.written == 200 and fast.rejected == 0
    assert _outcome(fast) == _outcome(usual)
    assert _seen(tmp_path / "fast") == _seen(tmp_path / "usual")


@pytest.mark.parametrize("pad", [" {}", "{} ", "\u3000{}", "{}\u00a0", "\u2003{}\u3000"])
def test_padded_cells_are_trimmed_in_one_read_as_the_usual_import_trims_them(imported, tmp_path,
                                                                              pad):
    rows = _rows(0, 200)
    rows[77] = [pad.format(cell) for cell in rows[77]]
    rows[150][2] = pad.format(rows[150][2])
    fast, kept = imported("fast", rows, usual=False)
    usual, _ = imported("usual", rows, usual=True)
    assert kept == [True]
    assert fast.written == 200 and fast.rejected == 0
    assert _outcome(fast) == _outcome(usual)
    assert _seen(tmp_path / "fast") == _seen(tmp_path / "usual")


_BYTES = ['"', "a", "织", "、", " ", ",", "\t", ";", "|", "\n", "\r", "\u3000", "\u00a0", "\u2009",
          "\u200b", "\u205f", "\u1680", "é"]


def _padded_reference(text: str) -> bool:
    """A cell that trim would change: a space at a cell's edge, or another Zs space anywhere."""
    spaces = "".join(sorted(s.decode() for s in source._OTHER_SPACES))
    return bool(re.search(f"(^|[,\t;|\n\r]) | ($|[,\t;|\n\r])|[{spaces}]", text))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_BYTES), max_size=30), st.integers(1, 9))
def test_the_file_scan_agrees_with_a_cell_by_cell_reference(tmp_path_factory, chars, block):
    text = "".join(chars)
    path = tmp_path_factory.mktemp("pad") / "f.csv"
    path.write_bytes(text.encode())
    with pytest.MonkeyPatch.context() as m:
        m.setattr(source, "_BLOCK", block)  # seams inside spaces' neighbours and characters
        found = source._marks_in.__wrapped__(path, 0, 0)
    assert found.quote == ('"' in text)
    # padding is looked for only in a file without a quote (a quoted one is trimmed anyway)
    assert found.padding == (found.quote or _padded_reference(text))


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=40), st.integers(0, 39), st.integers(1, 9))
def test_the_file_digest_tells_every_changed_byte_whatever_the_blocks(tmp_path_factory, data,
                                                                       at, block):
    folder = tmp_path_factory.mktemp("digest")
    at %= len(data)
    changed = data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]
    files = {name: folder / name for name in ("a", "copy", "changed", "longer", "shorter")}
    for name, content in (("a", data), ("copy", data), ("changed", changed),
                          ("longer", data + b"\n"), ("shorter", data[:-1])):
        files[name].write_bytes(content)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(source, "_BLOCK", block)  # a change before, on and after a block's seam
        digests = {name: source._marks_in.__wrapped__(path, 0, 0).digest
                   for name, path in files.items()}
        hashed_only = source._scan((files["a"], 1, 1), marks=False).digest
    assert digests["a"] == digests["copy"] == hashed_only  # whether or not marks were looked for
    assert len({digests[n] for n in ("a", "changed", "longer", "shorter")}) == 4


def test_the_first_bad_row_stops_the_one_read_and_nothing_is_staged(imported, tmp_path):
    rows = _rows(0, 300)
    rows[5][7] = "abc"  # early: the rest of the file is not read by the one-read attempt
    fast, kept = imported("fast", rows, usual=False)
    assert kept == [False] and fast.rejected == 1 and fast.written == 299
    assert not list((tmp_path / "fast" / STAGING).glob("*/*"))


def test_a_rerun_and_an_overlap_with_the_lake_fall_back(imported, tmp_path):
    first, kept = imported("lake", _rows(0, 100), usual=False)
    assert kept == [True] and first.written == 100
    again, kept = imported("lake", _rows(0, 100), usual=False)
    assert kept == [False] and again.written == 0 and again.duplicates == 100
    overlap, kept = imported("lake", _rows(50, 100), usual=False)
    assert kept == [False] and overlap.written == 50 and overlap.duplicates == 50
    assert len(_seen(tmp_path / "lake")[0]) == 150


def test_an_upload_over_its_row_limit_is_refused_after_the_one_read_with_nothing_kept(
        store, org, tmp_path):
    import_templates(store, tmp_path / "templates-lake")
    path = write_csv(tmp_path / "big.csv", HEADER, _rows(0, 120))
    with pytest.raises(ImportFileError, match="120"):
        import_file("waybills", path, store, tmp_path / "lake", now=NOW, max_rows=100)
    assert not dataset_files(tmp_path / "lake", WAYBILL_DATASET)
    assert not list((tmp_path / "lake" / STAGING).glob("*/*"))
