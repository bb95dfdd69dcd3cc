"""Imperfect CSV files: every bad row is reported with its spreadsheet row, the good rows land.

Row numbers are those a spreadsheet shows: the header is row 1 and blank lines count.
"""

from __future__ import annotations

import codecs
import shutil

import duckdb
import pytest
from typer.testing import CliRunner

from jiqun.ingest import ImportFileError, import_file, source
from jiqun.ingest.columns import WAYBILLS
from tests.ingest.helpers import TEMPLATES, lake_rows, read_rejects

HEADER = "运单号,客户编码,产品,平台,寄件时间,目的省,目的市,目的区县,收件地址,重量,资费"
HEADER_NAMES = ["waybill_no", "customer_code", "product", "platform", "ship_time", "dest_province",
                "dest_city", "dest_county", "dest_address", "weight_kg", "fee"]


def good(n: int) -> str:
    return f"W{n:04d},ZL-000001,快包,淘系,2024-06-18 10:00:00,广东省,广州市,天河区,,0.5,4.5"


def write_lines(path, lines: list[str], encoding: str = "utf-8", newline: str = "\n"):
    path.write_bytes(newline.join(lines).encode(encoding) + newline.encode(encoding))
    return path




def numbers(lake) -> list[str]:
    return sorted(r[0] for r in lake_rows(lake))


def test_305_rows_with_a_short_one_import_their_300_good_rows(archived, lake, tmp_path):
    """The reproduction: one short row used to refuse the whole file ("Error when sniffing")."""
    lines = [HEADER]
    for row in range(2, 307):  # 305 data rows, the header is row 1
        lines.append(good(row))
    lines[50 - 1] = "W0050,ZL-000001,快包,淘系,2024-06-18 10:00:00,广东省,广州市"  # short
    lines[100 - 1] = good(100) + ",多余"  # one cell too many
    lines[150 - 1] = 'W0150,ZL-000001,快包,淘系,2024-06-18 10:00:00,"广东省,广州市,天河区,,0.5,4.5'
    lines[200 - 1] = good(200).replace(",0.5,", ",1e39,")
    lines[250 - 1] = good(250).replace("2024-06-18", "2099-01-01")
    path = write_lines(tmp_path / "waybills.csv", lines)

    report = import_file("waybills", path, archived, lake)

    assert (report.total, report.accepted, report.rejected, report.written) == (305, 300, 5, 300)
    assert read_rejects(report.rejects_path)[1:] == [
        ["50", "", "W0050,ZL-000001,快包,淘系,2024-06-18 10:00:00,广东省,广州市",
         "该行的单元格少于表头（缺列）"],
        ["100", "", good(100) + ",多余", "该行的单元格多于表头（多了分隔符？）"],
        ["150", "", lines[149], "该行有未闭合的引号（\"）"],
        ["200", "重量", "1e39", "超过 1,000 千克：不是单件包裹的重量"],
        ["250", "寄件时间", "2099-01-01 10:00:00", "晚于导入时间一天以上：是未来的时间"],
    ]
    assert numbers(lake) == [f"W{n:04d}" for n in range(2, 307) if n not in (50, 100, 150, 200, 250)]


def test_blank_lines_and_quoted_line_breaks_keep_spreadsheet_row_numbers(archived, lake, tmp_path):
    path = write_lines(tmp_path / "w.csv", [
        "",                                                            # 1 (blank above the header)
        HEADER,                                                        # 2
        good(3),                                                       # 3
        "",                                                            # 4
        good(5).replace("快包", "飞机"),                                # 5: bad product
        'W0006,ZL-000001,快包,淘系,2024-06-18 10:00:00,,,,"北京市朝阳区\n建国路1号",0.3,3',  # 6
        good(7).replace(",0.5,", ",-1,"),                              # 7: bad weight
        ",,,,,,,,,,",                                                  # 8: empty cells only
        "W0009,ZL-000001",                                             # 9: short
        good(10),                                                      # 10
    ], newline="\r\n")

    report = import_file("waybills", path, archived, lake)

    assert [line[:2] + line[3:] for line in read_rejects(report.rejects_path)[1:]] == [
        ["5", "产品", "产品无法识别（特快/快包/标快）"],
        ["7", "重量", "必须大于零"],
        ["9", "", "该行的单元格少于表头（缺列）"],
    ]
    assert (report.total, report.accepted) == (6, 3)
    assert numbers(lake) == ["W0003", "W0006", "W0010"]
    address_row = next(r for r in lake_rows(lake) if r[0] == "W0006")
    assert address_row[10:13] == ("110000", "110100", "110105")  # the address across two lines


def test_a_quoted_line_break_in_a_well_formed_file_keeps_row_numbers(archived, lake, tmp_path):
    """No blank line, no ragged row: rows are records, not lines."""
    path = write_lines(tmp_path / "w.csv", [
        HEADER,
        'W0002,ZL-000001,快包,淘系,2024-06-18 10:00:00,,,,"北京市朝阳区\n\n建国路1号",0.3,3',
        good(3).replace(",4.5", ",1e23"),
    ])
    report = import_file("waybills", path, archived, lake)
    assert [r[:2] + r[3:] for r in read_rejects(report.rejects_path)[1:]] == [
        ["3", "资费", "超过 ¥100,000：不是单张运单的资费"]]
    assert numbers(lake) == ["W0002"]


def test_trailing_empty_cells_are_not_too_many(archived, lake, tmp_path):
    path = write_lines(tmp_path / "w.csv", [HEADER + ",,", good(2) + ",,", good(3) + ",", "W0004"])
    report = import_file("waybills", path, archived, lake)
    assert report.reasons == {"too_few_fields": 1}
    assert numbers(lake) == ["W0002", "W0003"]


@pytest.mark.parametrize("encoding, delimiter, bom", [
    ("utf-8", ",", codecs.BOM_UTF8),
    ("gbk", ",", b""),
    ("gb18030", ";", b""),
    ("utf-16-le", "\t", codecs.BOM_UTF16_LE),  # what Excel's "Unicode text" saves
    ("utf-16-be", ",", codecs.BOM_UTF16_BE),
    ("utf-16-le", ",", b""),  # no byte-order mark at all
])
def test_encodings_with_a_ragged_row(archived, lake, tmp_path, encoding, delimiter, bom):
    lines = [HEADER, good(2), good(3).rsplit(",", 2)[0], good(4) + ",x"]
    text = "\r\n".join(line.replace(",", delimiter) for line in lines) + "\r\n"
    path = tmp_path / "w.csv"
    path.write_bytes(bom + text.encode(encoding))

    report = import_file("waybills", path, archived, lake, locale="en")

    assert [r[0] + ":" + r[3] for r in read_rejects(report.rejects_path)[1:]] == [
        "3:the row has fewer cells than the header (a short row)",
        "4:the row has more cells than the header (a stray separator?)"]
    (row,) = lake_rows(lake)
    assert row[0] == "W0002" and row[10:13] == ("440000", "440100", "440106")  # 广东省 read right


@pytest.mark.parametrize("broken", [False, True], ids=["well-formed", "with-a-short-row"])
def test_gbk_whose_first_bytes_look_like_utf8(archived, lake, tmp_path, monkeypatch, broken):
    """Only the first bytes are sampled; a GBK character further down still decides."""
    monkeypatch.setattr(source, "_SAMPLE_BYTES", len(HEADER.encode("gbk")))
    ascii_header = ("waybill_no,customer_code,product,platform,ship_time,dest_province,dest_city,"
                    "dest_county,dest_address,weight_kg,fee")
    lines = [ascii_header, good(2), *(["W0003,ZL-000001"] if broken else [])]
    path = write_lines(tmp_path / "w.csv", lines, encoding="gbk")
    report = import_file("waybills", path, archived, lake)
    assert report.reasons == ({"too_few_fields": 1} if broken else {})
    assert lake_rows(lake)[0][10] == "440000"


def test_bytes_that_are_not_text_reject_their_row_only(archived, lake, tmp_path):
    path = tmp_path / "w.csv"
    path.write_bytes("\n".join([HEADER, good(2), good(3)]).encode() + b"\n"
                     + good(4).encode().replace(b"W0004", b"W\xff\xfe04") + b"\n")
    report = import_file("waybills", path, archived, lake)
    assert report.reasons == {"bad_encoding": 1}
    assert read_rejects(report.rejects_path)[1][0] == "4"
    assert numbers(lake) == ["W0002", "W0003"]


def test_a_binary_file_named_csv_is_a_clear_file_error(archived, lake, tmp_path):
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    with pytest.raises(ImportFileError) as error:
        import_file("waybills", binary, archived, lake)
    assert error.value.message("zh-CN") == "该文件不是 CSV 文本文件（含有二进制数据）"

    workbook = shutil.copy(TEMPLATES / "waybills.xlsx", tmp_path / "waybills.csv")
    with pytest.raises(ImportFileError) as error:
        import_file("waybills", workbook, archived, lake)
    assert error.value.message("en").startswith("the file is an Excel workbook, not a CSV")
    assert lake_rows(lake) == []


def test_a_binary_file_named_csv_through_the_command_line(tmp_path, monkeypatch):
    from jiqun.cli import app
    from jiqun.config import get_settings

    monkeypatch.setenv("JIQUN_STORE_URL", f"sqlite:///{tmp_path}/s.db")
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(tmp_path / "lake"))
    monkeypatch.delenv("JIQUN_LOCALE", raising=False)
    get_settings.cache_clear()
    from jiqun.store import Store

    Store(f"sqlite:///{tmp_path}/s.db").upgrade()
    binary = tmp_path / "x.csv"
    binary.write_bytes(bytes(range(256)) * 64)
    try:
        result = CliRunner().invoke(app, ["import", "waybills", str(binary), "--user", "system"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "文件未导入" in result.output and "二进制数据" in result.output
    assert "Traceback" not in result.output and result.exception.__class__.__name__ == "SystemExit"


def _src_rows(path, tolerant: bool, monkeypatch) -> tuple[list[tuple], list]:
    with monkeypatch.context() as m:
        if tolerant:
            m.setattr(source, "_has_blank_lines", lambda _path: True)
        con = duckdb.connect()
        loaded = source.load(con, path, WAYBILLS)
        rows = con.execute("SELECT * FROM src ORDER BY _row").fetchall()
        con.close()
    return rows, loaded.unreadable


def test_the_fast_and_the_tolerant_reader_agree_on_a_well_formed_file(tmp_path, monkeypatch):
    path = write_lines(tmp_path / "w.csv", [
        HEADER, good(2), 'W0003,"ZL-000001",快包,淘系,2024-06-18,"广东省","广州市",,"x ",1,"1,5"',
        'W0004,ZL-1,快包,淘系,2024-06-18,,,,"a ""quoted"" address, with comma\nand a break",1,2',
        ",,,,,,,,,,", good(6),
    ])
    fast, _ = _src_rows(path, tolerant=False, monkeypatch=monkeypatch)
    tolerant, unreadable = _src_rows(path, tolerant=True, monkeypatch=monkeypatch)
    assert fast == tolerant and unreadable == []
    assert [r[0] for r in fast] == [2, 3, 4, 6]
    assert fast[2][10] == 'a "quoted" address, with comma\nand a break'


def test_many_stray_quotes_each_reject_only_their_own_row(archived, lake, tmp_path):
    """A quote left open is closed by the next quote of the file, or swallows lines up to the
    csv field size limit: either way only its own row is lost, and every stray quote costs only
    the lines it swallowed (no re-reading of the file from the top)."""
    lines = [HEADER]
    for n in range(2, 1202):
        if n % 10 == 3:
            lines.append(good(n).replace(",广东省,", ',"广东省,'))  # opened, never closed
        elif n % 10 == 4:
            lines.append(good(n).replace(",,", ',"",'))  # a quoted empty cell: closes it
        else:
            lines.append(good(n))
    path = write_lines(tmp_path / "w.csv", lines)

    report = import_file("waybills", path, archived, lake)

    assert report.reasons == {"unbalanced_quote": 120}
    assert [int(r[0]) for r in read_rejects(report.rejects_path)[1:]] == list(range(3, 1202, 10))
    assert len(numbers(lake)) == 1200 - 120


def test_a_stray_quote_swallowing_past_the_field_size_limit(archived, lake, tmp_path):
    filler = "x" * 1000
    lines = [HEADER, good(2).replace(",广东省,", ',"广东省,')]
    lines += [good(n).replace(",,", f",{filler},") for n in range(3, 300)]
    path = write_lines(tmp_path / "w.csv", lines)
    report = import_file("waybills", path, archived, lake)
    assert report.reasons == {"unbalanced_quote": 1}
    assert len(numbers(lake)) == 297


def test_a_stray_quote_that_closes_with_the_right_cell_count_is_still_found(archived, lake,
                                                                           tmp_path):
    """Strict readers accept this file: the quote opened in row 2 closes in row 3 and the merged
    record has 11 cells. Its lines hold whole rows, so it is a stray quote, not a line break."""
    path = write_lines(tmp_path / "w.csv", [
        HEADER,
        'W0002,ZL-000001,快包,淘系,2024-06-18 10:00:00,广东省,广州市,天河区,"x,0.5,4.5',
        'W0003,ZL-000001,快包,淘系,2024-06-18 10:00:00,广东省,广州市,天河区",0.5,4.5',
        good(4),
    ])
    con = duckdb.connect()
    fields = [f.name for f in WAYBILLS.columns if f.name in HEADER_NAMES]
    assert source._read_with_duckdb(con, path, ",", fields) is False  # strict, yet not fooled
    report = import_file("waybills", path, archived, lake)
    # row 3 on its own is a short row, whose quote closed row 2's
    assert report.reasons == {"unbalanced_quote": 1, "too_few_fields": 1}
    assert numbers(lake) == ["W0004"]


def test_the_tolerant_reader_streams_its_rows_in_batches(tmp_path, monkeypatch):
    """Rows after a stray quote and a short row, over many batches, keep their row numbers."""
    lines = [HEADER, *(good(n) for n in range(2, 12)), 'W0012,"ZL-000001,快包', *(
        good(n) for n in range(13, 20)), "W0020,ZL-000001", "", *(good(n) for n in range(22, 40))]
    path = write_lines(tmp_path / "w.csv", lines)
    monkeypatch.setattr(source, "_TOLERANT_BATCH", 4)
    rows, unreadable = _src_rows(path, tolerant=False, monkeypatch=monkeypatch)
    assert [(r.row, r.reason) for r in unreadable] == [(12, "unbalanced_quote"),
                                                     (20, "too_few_fields")]
    assert [r[0] for r in rows] == [n for n in range(2, 40) if n not in (12, 20, 21)]
    assert all(r[1] == f"W{r[0]:04d}" for r in rows)  # each row's cells beside its number
