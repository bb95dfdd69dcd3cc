"""``jiqun import …`` exit codes: 0 all accepted, 1 some rejected, 2 file-level error."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from jiqun.cli import app
from jiqun.config import get_settings
from jiqun.store import Store
from tests.conftest import build_org
from tests.ingest.helpers import TEMPLATES, lake_rows, read_rejects, write_csv

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("JIQUN_STORE_URL", url)
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(tmp_path / "lake"))
    monkeypatch.delenv("JIQUN_LOCALE", raising=False)
    get_settings.cache_clear()
    store = Store(url)
    store.upgrade()
    build_org(store)
    store.engine.dispose()
    yield tmp_path
    get_settings.cache_clear()


def _import(*args: str, user: str = "system"):
    return runner.invoke(app, ["import", *args, "--user", user])


def test_exit_codes(env):
    for kind in ("markets", "customers", "waybills"):
        result = _import(kind, str(TEMPLATES / f"{kind}.csv"))
        assert result.exit_code == 0, result.output
    assert len(lake_rows(env / "lake")) == 5

    bad = write_csv(env / "bad.csv", ["运单号", "客户编码", "产品", "寄件时间", "目的省", "重量", "资费"],
                    [["C1", "ZL-000001", "快包", "2024-06-18 09:00", "广东", "1", "5"],
                     ["C2", "ZL-000001", "飞机", "2024-06-18 09:00", "广东", "1", "5"]])
    result = _import("waybills", str(bad), "--rejects", str(env / "r.csv"))
    assert result.exit_code == 1, result.output
    assert read_rejects(env / "r.csv")[1] == ["3", "产品", "飞机", "产品无法识别（特快/快包/标快）"]
    assert len(lake_rows(env / "lake")) == 6

    missing = write_csv(env / "missing.csv", ["运单号", "产品"], [["C3", "快包"]])
    result = _import("waybills", str(missing))
    assert result.exit_code == 2
    assert "缺少必填列" in result.output
    assert len(lake_rows(env / "lake")) == 6


def test_dry_run_and_english(env):
    result = _import("markets", str(TEMPLATES / "markets.xlsx"), "--dry-run", "--locale", "en")
    assert result.exit_code == 0, result.output
    assert "dry run" in result.output
    result = _import("customers", str(TEMPLATES / "customers.csv"), "--locale", "en")
    assert result.exit_code == 1  # their markets were not imported: the dry run wrote nothing
    assert "unknown market code" in result.output


def test_a_short_row_no_longer_refuses_the_file(env):
    """The reproduction through the command line: "文件未导入: 无法按 CSV 读取文件 … Error when
    sniffing file" for one short row, and none of the good rows imported."""
    for kind in ("markets", "customers"):
        assert _import(kind, str(TEMPLATES / f"{kind}.csv")).exit_code == 0
    rows = [[f"S{i:03d}", "ZL-000001", "快包", "2024-06-18 09:00", "广东", "1", "5"]
            for i in range(305)]
    path = write_csv(env / "ragged.csv", ["运单号", "客户编码", "产品", "寄件时间", "目的省", "重量", "资费"],
                     rows)
    text = path.read_text(encoding="utf-8").replace("S100,ZL-000001,快包,2024-06-18 09:00,广东,1,5",
                                                    "S100,ZL-000001,快包")
    path.write_text(text, encoding="utf-8")

    result = _import("waybills", str(path))

    assert result.exit_code == 1, result.output
    assert "文件未导入" not in result.output
    assert len(lake_rows(env / "lake")) == 304
    assert read_rejects(path.with_name("ragged.csv.rejects.csv"))[1][0::3] == [
        "102", "该行的单元格少于表头（缺列）"]
