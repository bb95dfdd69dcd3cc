"""Uploads (jiqun.ingest.uploads): a dry run changes nothing, the commit applies exactly what it
showed (or nothing, 409), uploads are the uploader's, limited, and used once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from jiqun.cli import app as cli_app
from jiqun.config import get_settings
from jiqun.errors import NotAllowed
from jiqun.ingest import import_file, uploads
from jiqun.ingest.kinds import IMPORT_KINDS
from jiqun.ingest.report import ImportChanged, ImportFileError
from jiqun.store.models import AuditEntry, Customer, Market, MarketVolumeEstimate, Role
from tests.ingest.helpers import TEMPLATES, add_user, import_templates, lake_rows

WAYBILL_HEADER = "运单号,客户编码,产品,寄件时间,目的省,重量,资费\n"


@pytest.fixture
def people(store, org):
    add_user(store, "huzhou", Role.CITY_MANAGER, org.huzhou)
    add_user(store, "hangzhou", Role.CITY_MANAGER, org.hangzhou)
    add_user(store, "marketer", Role.MARKETER, org.zhili_outlet)
    add_user(store, "admin", Role.ADMIN, org.hq)
    return store


@pytest.fixture
def shelf(tmp_path):
    return uploads.UploadShelf(tmp_path / "uploads")


def _store_counts(store) -> tuple[int, ...]:
    with store.session() as s:
        return tuple(s.scalar(select(func.count()).select_from(m))
                     for m in (Market, Customer, MarketVolumeEstimate, AuditEntry))


def _lake_files(lake) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(lake)), p.stat().st_size) for p in lake.rglob("*")
                  if p.is_file()) if lake.exists() else []


def _check(shelf, store, lake, kind: str, data: bytes | str, user: str = "admin",
           name: str = "f.csv") -> uploads.UploadOutcome:
    raw = data.encode() if isinstance(data, str) else data
    return uploads.check_upload(shelf, io.BytesIO(raw), name, kind, store, lake,
                                actor=store.actor(user), scope=None, locale="zh-CN")


def _commit(shelf, store, lake, token: str, user: str = "admin") -> uploads.UploadOutcome:
    return uploads.commit_upload(shelf, token, store, lake, actor=store.actor(user), scope=None,
                                 locale="zh-CN")


def _waybills(*rows: str) -> str:
    return WAYBILL_HEADER + "".join(r + "\n" for r in rows)


GOOD = "W1,ZL-000001,快包,2024-06-18 10:00,广东,1,5"
GOOD2 = "W2,ZL-000002,快包,2024-06-18 11:00,江苏,2,6"
BAD_PRODUCT = "W3,ZL-000001,飞机,2024-06-18 10:00,广东,1,5"


def test_a_dry_run_changes_nothing_in_store_or_lake(people, shelf, lake):
    import_templates(people, lake)
    before = (_store_counts(people), _lake_files(lake))

    markets = _check(shelf, people, lake, "markets", (TEMPLATES / "markets.csv").read_bytes())
    waybills = _check(shelf, people, lake, "waybills", _waybills(GOOD, GOOD2, BAD_PRODUCT))

    assert (markets.dry_run, markets.added, markets.changed, markets.unchanged) == (True, 0, 0, 3)
    assert (waybills.added, waybills.unchanged, waybills.rejected) == (2, 0, 1)
    assert (_store_counts(people), _lake_files(lake)) == before


def test_the_commit_does_what_the_dry_run_showed_and_a_second_upload_nothing(people, shelf,
                                                                             lake):
    import_templates(people, lake)
    text = _waybills(GOOD, GOOD2, BAD_PRODUCT)
    dry = _check(shelf, people, lake, "waybills", text)
    done = _commit(shelf, people, lake, dry.token)

    assert (done.dry_run, done.added, done.unchanged, done.rejected, done.written) == (
        False, dry.added, dry.unchanged, dry.rejected, dry.added)
    assert done.fingerprint == dry.fingerprint
    assert sorted(r[0] for r in lake_rows(lake)) == ["W1", "W2"]

    files = _lake_files(lake)
    again = _check(shelf, people, lake, "waybills", text)
    assert (again.added, again.unchanged, again.rejected) == (0, 2, 1)
    assert _commit(shelf, people, lake, again.token).written == 0
    assert _lake_files(lake) == files


def test_store_kinds_count_added_changed_and_unchanged(people, shelf, lake):
    import_templates(people, lake, kinds=("markets",))
    text = (TEMPLATES / "markets.csv").read_text(encoding="utf-8-sig")
    text = text.replace("织里童装直播基地", "织里童装直播基地二期")  # one market changes
    text += "ZJ-HUZ-NEW,湖州新市场,,专业市场,箱包,ZJ-HUZ,330500,,,,,,,,,,,\n"
    dry = _check(shelf, people, lake, "markets", text)
    assert (dry.added, dry.changed, dry.unchanged, dry.rejected) == (1, 1, 2, 0)

    done = _commit(shelf, people, lake, dry.token)
    assert (done.added, done.changed, done.unchanged, done.written) == (1, 1, 2, 2)
    with people.session() as s:
        assert s.scalar(select(Market.name).where(Market.code == "ZJ-HUZ-ZLZB")) == \
            "织里童装直播基地二期"


def test_reject_rows_are_spreadsheet_rows_header_first(people, shelf, lake):
    import_templates(people, lake)
    # Row 1 the header, row 2 good, row 3 blank, row 4 a bad product, row 5 a short row.
    text = WAYBILL_HEADER + GOOD + "\n\n" + BAD_PRODUCT + "\nW9,ZL-000001,快包\n"
    dry = _check(shelf, people, lake, "waybills", text)
    assert [(r[0], r[1], r[3]) for r in dry.rejects] == [
        (4, "产品", "unknown_product"), (5, "", "too_few_fields")]
    assert (dry.total, dry.added, dry.rejected) == (3, 1, 2)  # the ragged row is one reject

    cli = import_file("waybills", _saved(lake.parent / "same.csv", text), people, lake,
                      dry_run=True)  # the command line numbers the rows the same way
    assert [(r[0], r[3]) for r in cli.reject_lines] == [(4, "unknown_product"),
                                                         (5, "too_few_fields")]


def _saved(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_a_commit_refuses_when_the_data_changed_since_the_dry_run(people, shelf, lake):
    import_templates(people, lake)
    text = _waybills(GOOD, GOOD2)
    dry = _check(shelf, people, lake, "waybills", text)
    # Meanwhile someone else imports W1: the upload would now add one waybill, not two.
    import_file("waybills", _saved(lake.parent / "other.csv", _waybills(GOOD)), people, lake)
    files = _lake_files(lake)

    with pytest.raises(ImportChanged) as refused:
        _commit(shelf, people, lake, dry.token)
    assert (refused.value.outcome.added, refused.value.outcome.unchanged) == (1, 1)
    assert _lake_files(lake) == files  # nothing applied

    # The upload waits with the fresh dry run: committing it now applies that.
    done = _commit(shelf, people, lake, dry.token)
    assert (done.added, done.unchanged, done.written) == (1, 1, 1)
    assert sorted(r[0] for r in lake_rows(lake)) == ["W1", "W2"]


def test_a_store_commit_refuses_a_changed_outcome_and_rolls_back(people, shelf, lake):
    text = (TEMPLATES / "markets.csv").read_bytes()
    dry = _check(shelf, people, lake, "markets", text)
    assert dry.added == 3
    import_file("markets", TEMPLATES / "markets.csv", people, lake)  # someone was quicker
    before = _store_counts(people)
    with pytest.raises(ImportChanged):
        _commit(shelf, people, lake, dry.token)
    assert _store_counts(people) == before


def test_a_marketer_may_not_upload(people, shelf, lake):
    with pytest.raises(NotAllowed):
        _check(shelf, people, lake, "customers", (TEMPLATES / "customers.csv").read_bytes(),
               user="marketer")
    assert not shelf.root.exists() or list(shelf.root.iterdir()) == []


def test_rows_outside_the_users_subtree_are_rejects_with_a_reason(people, shelf, lake):
    import_templates(people, lake)  # ZL-* are Huzhou's customers
    text = "客户编码,客户名称,机构编码\nZL-000001,改名,ZJ-HGZ-XH\nHZ-NEW,新客户,ZJ-HGZ-XH\n" \
           "HZ-NEW2,湖州的,ZJ-HUZ\n"
    dry = _check(shelf, people, lake, "customers", text, user="hangzhou")
    assert [(r[0], r[3]) for r in dry.rejects] == [(2, "code_outside_scope"),
                                                   (4, "unknown_org_unit")]
    done = _commit(shelf, people, lake, dry.token, user="hangzhou")
    assert (done.added, done.rejected) == (1, 2)
    with people.session() as s:
        assert s.scalar(select(Customer.name).where(Customer.code == "ZL-000001")) != "改名"

    waybills = _check(shelf, people, lake, "waybills", _waybills(GOOD), user="hangzhou")
    assert [r[3] for r in waybills.rejects] == ["unknown_customer"]  # not Hangzhou's


def test_a_code_outside_the_subtree_through_the_plain_importer_is_a_reject(people, lake):
    """It used to be an IntegrityError (the code is unique across the organisation)."""
    import_templates(people, lake)
    path = _saved(lake.parent / "c.csv", "客户编码,客户名称,机构编码\nZL-000001,x,ZJ-HGZ-XH\n")
    report = import_file("customers", path, people, lake, actor=people.actor("hangzhou"))
    assert (report.written, report.reasons) == (0, {"code_outside_scope": 1})


def test_xlsx_uploads_import_like_csv(people, shelf, lake):
    for kind in ("markets", "customers", "waybills", "events"):
        dry = _check(shelf, people, lake, kind, (TEMPLATES / f"{kind}.xlsx").read_bytes(),
                     name=f"{kind}.xlsx")
        assert (dry.rejected, dry.added) == (0, dry.total), kind
        assert _commit(shelf, people, lake, dry.token).written == dry.total
    assert len(lake_rows(lake)) == 5 and len(lake_rows(lake, "events")) == 4


@pytest.mark.parametrize("data, name, message", [
    (b"", "f.csv", "the file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "f.png", "upload a CSV or XLSX file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00binary", "f.csv", "the file is not a CSV text file"),
    (b"not a workbook", "f.xlsx", "the file cannot be read as a spreadsheet"),
    ("市场编码,市场名称,市场类型,行业,机构编码\n".encode(), "f.csv",
     "the file has a header but no rows of data"),
    (WAYBILL_HEADER.encode() + GOOD.encode(), "f.csv", "these are the columns of a file of"),
    ("市場編碼,市場名稱,市場類型,行業,機構編碼\n".encode("big5"), "f.csv", "check the kind"),
])
def test_bad_files_are_file_level_errors_and_nothing_is_kept(people, shelf, lake, data, name,
                                                              message):
    with pytest.raises(ImportFileError) as refused:
        _check(shelf, people, lake, "markets", data, name=name)
    assert refused.value.message("en").startswith(message) or message in \
        refused.value.message("en")
    assert refused.value.message("zh-CN") != refused.value.message("en")  # translated
    assert list(shelf.root.iterdir()) == [] if shelf.root.exists() else True


def test_size_and_row_limits(people, shelf, lake, monkeypatch):
    markets = IMPORT_KINDS["markets"]
    monkeypatch.setitem(IMPORT_KINDS, "markets",
                        dataclasses.replace(markets, max_upload_bytes=100))
    with pytest.raises(uploads.UploadTooLarge):
        _check(shelf, people, lake, "markets", (TEMPLATES / "markets.csv").read_bytes())
    monkeypatch.setitem(IMPORT_KINDS, "markets", dataclasses.replace(markets, max_upload_rows=2))
    with pytest.raises(ImportFileError) as refused:
        _check(shelf, people, lake, "markets", (TEMPLATES / "markets.csv").read_bytes())
    assert refused.value.values == {"rows": 3, "limit": 2}
    assert list(shelf.root.iterdir()) == []


def test_a_workbook_has_a_lower_limit_than_a_csv(people, shelf, lake, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_WORKBOOK_BYTES", 1000)  # the templates are ~6 kB
    with pytest.raises(uploads.UploadTooLarge) as refused:
        _check(shelf, people, lake, "markets", (TEMPLATES / "markets.xlsx").read_bytes(),
               name="markets.xlsx")
    assert "save it as CSV" in refused.value.message("en")
    assert _check(shelf, people, lake, "markets", (TEMPLATES / "markets.csv").read_bytes()).total


def test_an_upload_is_its_uploaders_used_once_and_expires(people, lake, tmp_path):
    now = [dt.datetime(2024, 6, 18, 9, tzinfo=dt.UTC)]
    shelf = uploads.UploadShelf(tmp_path / "uploads", clock=lambda: now[0])
    dry = _check(shelf, people, lake, "markets", (TEMPLATES / "markets.csv").read_bytes())
    other = people.actor("huzhou")
    with pytest.raises(uploads.UploadGone):
        uploads.commit_upload(shelf, dry.token, people, lake, actor=other, scope=None,
                              locale="en")
    for token in ("", "../../etc", "x" * 43, dry.token[:-1]):
        with pytest.raises(uploads.UploadGone):
            _commit(shelf, people, lake, token)

    _commit(shelf, people, lake, dry.token)
    with pytest.raises(uploads.UploadGone):  # a second click finds nothing to commit
        _commit(shelf, people, lake, dry.token)

    late = _check(shelf, people, lake, "markets", (TEMPLATES / "markets.csv").read_bytes())
    now[0] += uploads.UPLOAD_TTL + dt.timedelta(seconds=1)
    with pytest.raises(uploads.UploadGone):
        _commit(shelf, people, lake, late.token)
    _check(shelf, people, lake, "markets", (TEMPLATES / "markets.csv").read_bytes())
    assert not (shelf.root / late.token).exists()  # expired uploads go on the next upload


def test_a_user_keeps_only_the_latest_uploads(people, shelf, lake):
    tokens = [_check(shelf, people, lake, "markets",
                     (TEMPLATES / "markets.csv").read_bytes()).token
              for _ in range(uploads.UPLOADS_PER_USER + 2)]
    kept = {p.name for p in shelf.root.iterdir()}
    assert kept == set(tokens[-uploads.UPLOADS_PER_USER:])


def test_the_api_twin_refuses_a_changed_fingerprint(people, lake):
    import_templates(people, lake)
    text = _waybills(GOOD, GOOD2).encode()

    def run(dry_run, expect=None):
        return uploads.import_upload(io.BytesIO(text), "w.csv", "waybills", people, lake,
                                     actor=people.actor("admin"), scope=None, locale="en",
                                     dry_run=dry_run, expect=expect)

    dry = run(True)
    with pytest.raises(ImportChanged):
        run(False, expect="0" * 32)
    assert lake_rows(lake) == []
    assert run(False, expect=dry.fingerprint).written == 2


# -- the command line -----------------------------------------------------------------------------
@pytest.fixture
def cli_env(people, tmp_path, monkeypatch):
    monkeypatch.setenv("JIQUN_STORE_URL", people.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("JIQUN_LOCALE", "en")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_the_command_line_dry_run_prints_the_fingerprint_that_expect_checks(cli_env):
    markets = str(TEMPLATES / "markets.csv")
    runner = CliRunner()
    dry = runner.invoke(cli_app, ["import", "markets", markets, "--dry-run", "--user", "admin"])
    assert dry.exit_code == 0, dry.output
    assert "would be inserted" in dry.output
    fingerprint = next(line.split()[-2] for line in dry.output.splitlines()
                       if "fingerprint" in line)
    refused = runner.invoke(cli_app, ["import", "markets", markets, "--expect", "0" * 32,
                                      "--user", "admin"])
    assert refused.exit_code == 2 and "changed since the dry run" in refused.output
    done = runner.invoke(cli_app, ["import", "markets", markets, "--expect", fingerprint,
                                   "--user", "admin"])
    assert done.exit_code == 0, done.output


class _Endless(io.RawIOBase):
    """A stream that never ends, and remembers the largest read it was asked for."""

    def __init__(self):
        self.largest, self.given = 0, 0

    def read(self, size: int = -1) -> bytes:
        assert size > 0, "an upload must be read in chunks, never whole"
        self.largest = max(self.largest, size)
        self.given += size
        return b"x" * size


def test_an_upload_is_read_in_chunks_and_stops_at_its_limit(people, shelf, lake):
    stream = _Endless()
    with pytest.raises(uploads.UploadTooLarge):
        uploads.check_upload(shelf, stream, "w.csv", "markets", people, lake,
                             actor=people.actor("admin"), scope=None, locale="en")
    limit = IMPORT_KINDS["markets"].max_upload_bytes
    assert stream.largest == uploads.CHUNK
    assert limit < stream.given <= limit + uploads.CHUNK
    assert list(shelf.root.iterdir()) == []  # the partial file is gone


def test_every_import_kind_has_a_format_and_every_format_a_kind():
    """``jiqun import`` offers the formats' kinds (its help loads no DuckDB): the two lists
    must be the same, in the same order."""
    from jiqun.ingest.columns import KINDS

    assert list(IMPORT_KINDS) == list(KINDS)
    assert all(IMPORT_KINDS[k].format.kind == k for k in KINDS)
