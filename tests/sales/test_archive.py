"""Bulk archive (批量建档): exact duplicates merged or skipped, likely duplicates reviewed,
re-running harmless, rejects in the user's language, the scope respected."""

from __future__ import annotations

import csv
import datetime as dt

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from jiqun.cli import app as cli_app
from jiqun.config import get_settings
from jiqun.ingest.report import ImportFileError
from jiqun.sales import archive
from jiqun.store.models import (
    AuditEntry,
    Customer,
    DuplicateCandidate,
    DuplicateStatus,
    Visit,
)
from jiqun.store.scope import Scope
from tests.ingest.helpers import TEMPLATES, import_templates

HEADER = "客户名称,联系人,电话,地址,市场编码,机构编码\n"
TODAY = dt.date(2026, 11, 27)


@pytest.fixture
def archive_world(store, org, tmp_path):
    """The org tree with the market and customer templates imported (织里, 虞城)."""
    import_templates(store, tmp_path / "lake")
    return org


def write(tmp_path, name: str, rows: list[str]):
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def run(store, path, scope=None, **kw) -> archive.ArchiveReport:
    with store.session(scope=scope, source="cli") as s:
        return archive.archive_file(s, path, today=TODAY, **kw)


def customer_count(store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Customer))


def test_normalisation_ignores_spaces_width_country_code_and_division_prefix():
    assert archive.normalise_text("织里 童装 A 店") == archive.normalise_text("织里童装Ａ店。") \
        == "织里童装a店"
    assert archive.normalise_phone("+86 138-0000-0001") == "13800000001"
    assert archive.normalise_phone("0086 13800000001") == "13800000001"
    assert archive.normalise_address("浙江省湖州市吴兴区织里镇珍贝路18号") == \
        archive.normalise_address("织里镇 珍贝路18号") == "织里镇珍贝路18号"
    # A street name that merely contains 市 is not a division prefix.
    assert archive.normalise_address("织里童装市场3号") == "织里童装市场3号"


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_template_archives_then_rerun_changes_nothing(store, archive_world, ext):
    before = customer_count(store)
    report = run(store, TEMPLATES / f"archive.{ext}")

    assert (report.total, report.rejected, report.inserted) == (4, 0, 3)
    # Row 5 has the phone of ZL-000001 written as +86 138 0000 0001: the same merchant.
    assert [(e.row, e.existing_code, e.matched_on, e.filled) for e in report.exact] == [
        (5, "ZL-000001", "phone", ())]
    assert [(p.row, p.other_name, p.reason) for p in report.likely] == [
        (3, "织里童装A店", "same_name")]
    assert customer_count(store) == before + 3
    with store.session() as s:
        audits = s.scalar(select(func.count()).select_from(AuditEntry))
        new = s.scalars(select(Customer).where(Customer.code.like("AR%"))).all()
        assert {c.archived_on for c in new} == {TODAY}
        assert {c.code for c in new} == {p.code for p in report.likely} | {
            p.other_code for p in report.likely} | {
            c.code for c in new if c.name == "湖州乐乐童鞋"}

    again = run(store, TEMPLATES / f"archive.{ext}")
    assert (again.inserted, again.merged, again.skipped, len(again.likely)) == (0, 0, 4, 0)
    assert customer_count(store) == before + 3
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == audits
        assert s.scalar(select(func.count()).select_from(DuplicateCandidate)) == 1


def test_exact_duplicate_fills_what_the_archive_lacks(store, archive_world, tmp_path):
    path = write(tmp_path, "a.csv", [
        "织里星星童装,,13800000077,织里镇珍贝路1号,ZJ-HUZ-ZLTZ,",
    ])
    run(store, path)
    path = write(tmp_path, "b.csv", [
        "织里星星童装,赵敏,138 0000 0077,,ZJ-HUZ-ZLTZ,",  # the same phone, now with a contact
        "织里星星童装,赵敏,13800000077,织里镇珍贝路1号,ZJ-HUZ-ZLTZ,",  # the same row again
    ])
    report = run(store, path)
    assert [(e.row, e.matched_on, e.filled) for e in report.exact] == [
        (2, "phone", ("contact",)), (3, "code", ())]  # its derived code: archived before
    assert (report.merged, report.skipped, report.inserted) == (1, 1, 0)
    with store.session() as s:
        star = s.scalars(select(Customer).where(Customer.name == "织里星星童装")).one()
        assert star.contact == "赵敏"


def test_rejects_are_reported_by_row_in_the_users_language(store, archive_world, tmp_path):
    path = write(tmp_path, "bad.csv", [
        "好运五金,李四,12-34,稍岗镇,HA-SQ-YCWJ,",  # not a phone
        ",王五,13900000123,稍岗镇,HA-SQ-YCWJ,",  # no name
        "新开五金,王五,13900000124,稍岗镇,NO-SUCH,",  # unknown market
        "稍岗工具城,赵六,13900000125,稍岗镇,HA-SQ-YCWJ,",  # good
    ])
    report = run(store, path, locale="zh-CN")
    assert (report.total, report.rejected, report.inserted) == (4, 3, 1)
    assert report.reasons == {"bad_phone": 1, "required": 1, "unknown_market": 1}
    with open(report.rejects_path, encoding="utf-8-sig") as fh:
        lines = list(csv.reader(fh))
    assert lines[0] == ["行号", "列", "值", "原因"]
    assert [(r[0], r[1]) for r in lines[1:]] == [("2", "电话"), ("3", "客户名称"), ("4", "市场编码")]
    assert lines[1][3] == "不是电话号码（7 到 12 位数字）"

    english = run(store, path, locale="en", rejects=tmp_path / "en.csv")
    with open(english.rejects_path, encoding="utf-8-sig") as fh:
        assert list(csv.reader(fh))[1][3] == "not a phone number (7 to 12 digits)"
    assert english.inserted == 0  # the good row is in the archive already


def test_a_ragged_row_is_rejected_with_its_row_and_the_others_are_archived(
        store, archive_world, tmp_path):
    path = write(tmp_path, "ragged.csv", [
        "好运五金,李四,13900000121,稍岗镇,HA-SQ-YCWJ,",
        "短行五金,王五",  # too few cells
        "稍岗工具城,赵六,13900000125,稍岗镇,HA-SQ-YCWJ,",
    ])
    report = run(store, path, locale="zh-CN")
    assert (report.total, report.rejected, report.inserted) == (3, 1, 2)
    with open(report.rejects_path, encoding="utf-8-sig") as fh:
        assert [r[0] for r in list(csv.reader(fh))[1:]] == ["3"]


def test_dry_run_and_file_errors_write_nothing(store, archive_world, tmp_path):
    before = customer_count(store)
    report = run(store, TEMPLATES / "archive.csv", dry_run=True)
    assert (report.inserted, len(report.likely), report.written) == (3, 1, 0)
    assert customer_count(store) == before
    bad = tmp_path / "x.csv"
    bad.write_text("名字,电话\n甲,1\n", encoding="utf-8")
    with pytest.raises(ImportFileError):
        run(store, bad)
    assert customer_count(store) == before


def test_a_failure_half_way_applies_nothing(store, archive_world, monkeypatch):
    before = customer_count(store)

    def explode(session, *args, **kwargs):
        session.add(Customer(code="HALF", name="半条", org_unit_id=archive_world.zhili_outlet.id))
        session.flush()
        raise RuntimeError("disk full")

    monkeypatch.setattr(archive, "archive_rows", explode)
    with pytest.raises(RuntimeError):
        run(store, TEMPLATES / "archive.csv")
    assert customer_count(store) == before


def _likely_pair(store) -> DuplicateCandidate:
    run(store, TEMPLATES / "archive.csv")
    with store.session() as s:
        return s.scalars(select(DuplicateCandidate)).one()


def test_merge_folds_the_newer_record_and_a_rerun_recognises_it(store, archive_world, tmp_path):
    pair = _likely_pair(store)
    with store.transaction() as s:
        s.add(Visit(customer_id=pair.other_id, org_unit_id=archive_world.zhili_outlet.id,
                    user_id=None or _any_user(s, archive_world), visited_at=dt.datetime(2026, 11, 1),
                    method="sweep", outcome="interested"))
    count = customer_count(store)
    with store.transaction(user_id=None, source="web") as s:
        merged = archive.merge_pair(s, pair.id, None)
        assert merged.status == DuplicateStatus.MERGED
    with store.session() as s:
        assert s.get(Customer, pair.other_id) is None
        assert s.scalars(select(Visit.customer_id)).all() == [pair.customer_id]
        deleted = s.scalars(select(AuditEntry).where(
            AuditEntry.entity == "customers", AuditEntry.action == "delete")).one()
        assert deleted.changes["code"] == pair.other_code
    assert customer_count(store) == count - 1

    again = run(store, TEMPLATES / "archive.csv")
    assert again.inserted == 0
    assert {e.matched_on for e in again.exact if e.row == 3} == {"merged"}
    assert customer_count(store) == count - 1
    with store.session() as s, pytest.raises(archive.PairDecided):  # decided once: 409
        archive.merge_pair(s, pair.id, None)


def _any_user(session, org) -> int:
    from jiqun.accounts import add_user
    from jiqun.store.models import Role

    return add_user(session, "zl-sweeper", "pw-123456789", org.zhili_outlet, Role.MARKETER,
                    "扫楼员").id


def test_keep_closes_the_pair_for_good(store, archive_world):
    pair = _likely_pair(store)
    with store.transaction() as s:
        assert archive.keep_pair(s, pair.id, None).status == DuplicateStatus.KEPT
    assert archive.pairs(store.session(), "open") == []
    again = run(store, TEMPLATES / "archive.csv")
    assert (again.inserted, len(again.likely)) == (0, 0)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(DuplicateCandidate)) == 1


def test_similar_names_in_one_market_pair_up(store, archive_world, tmp_path):
    path = write(tmp_path, "sim.csv", [
        "织里小萌童装,王丽,13800000991,织里镇珍贝路99号,ZJ-HUZ-ZLTZ,",
        "虞城小萌童装,王丽,13800000992,稍岗镇,HA-SQ-YCWJ,",  # another market: no pair
    ])
    report = run(store, path)
    assert [(p.row, p.other_code, p.reason) for p in report.likely] == [
        (2, "ZL-000001", "similar_name")]
    assert report.likely[0].score >= archive.SIMILAR_NAME


def test_scope_rejects_rows_of_other_units_and_hides_their_pairs(store, archive_world):
    with store.session() as s:
        hangzhou = Scope.for_unit(s, archive_world.hangzhou.id)
    before = customer_count(store)
    report = run(store, TEMPLATES / "archive.csv", scope=hangzhou)
    # Zhili's market is invisible from Hangzhou and its org unit is outside the scope.
    assert report.inserted == 0 and report.rejected == 4
    assert customer_count(store) == before
    run(store, TEMPLATES / "archive.csv")
    with store.session(scope=hangzhou) as s:
        assert archive.pairs(s) == []
        with pytest.raises(archive.PairNotOpen):
            archive.keep_pair(s, 1, None)


def test_cli_archive_and_duplicates(store, archive_world, monkeypatch):
    monkeypatch.setenv("JIQUN_STORE_URL", store.url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        dry = runner.invoke(cli_app, ["sales", "archive", str(TEMPLATES / "archive.csv"),
                                      "--user", "system", "--dry-run", "--format", "json"])
        assert dry.exit_code == 0, dry.output
        assert "\"inserted\": 3" in dry.output and customer_count(store) == 3
        done = runner.invoke(cli_app, ["sales", "archive", str(TEMPLATES / "archive.csv"),
                                       "--user", "system", "--scope", "ZJ-HUZ"])
        assert done.exit_code == 0, done.output
        listed = runner.invoke(cli_app, ["sales", "duplicates", "list", "--user", "system",
                                         "--format", "csv"])
        assert listed.exit_code == 0 and "织里 童装 A 店" in listed.output
        pair_id = listed.output.splitlines()[1].split(",")[0]
        merged = runner.invoke(cli_app, ["sales", "duplicates", "merge", pair_id,
                                         "--user", "system"])
        assert merged.exit_code == 0, merged.output
        again = runner.invoke(cli_app, ["sales", "duplicates", "keep", pair_id,
                                        "--user", "system"])
        assert again.exit_code == 2 and "已处理" in again.output  # decided once
    finally:
        get_settings.cache_clear()
    assert customer_count(store) == 5  # 3 + 3 archived − 1 merged
