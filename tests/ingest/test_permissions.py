"""Who may import: waybills, events and markets need data.import, customers customer.archive —
asked inside import_file, so the CLI (--user) and the Python API give the same answer."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from jiqun.cli import app
from jiqun.config import get_settings
from jiqun.errors import NotAllowed
from jiqun.ingest import import_file
from jiqun.permissions import Action, allowed
from jiqun.store.models import Role
from tests.ingest.helpers import TEMPLATES, add_user, import_templates, lake_rows, write_csv

HEADER = ["运单号", "客户编码", "产品", "寄件时间", "目的省", "重量", "资费"]


@pytest.fixture
def people(store, org):
    add_user(store, "marketer", Role.MARKETER, org.zhili_outlet)
    add_user(store, "courier", Role.COURIER, org.zhili_outlet)
    add_user(store, "huzhou", Role.CITY_MANAGER, org.huzhou)
    add_user(store, "hangzhou", Role.CITY_MANAGER, org.hangzhou)
    return store


@pytest.mark.parametrize("kind, user, may", [
    ("waybills", "marketer", False), ("events", "marketer", False),
    ("markets", "marketer", False), ("customers", "marketer", True),
    ("customers", "courier", False), ("waybills", "huzhou", True), ("markets", "huzhou", True),
])
def test_each_kind_asks_its_action(people, tmp_path, kind, user, may):
    actor = people.actor(user)
    assert allowed(actor, Action.DATA_IMPORT if kind != "customers"
                   else Action.CUSTOMER_ARCHIVE) is may
    lake = tmp_path / "lake"
    if may:
        import_file(kind, TEMPLATES / f"{kind}.csv", people, lake, actor=actor, dry_run=True)
    else:
        with pytest.raises(NotAllowed):
            import_file(kind, TEMPLATES / f"{kind}.csv", people, lake, actor=actor)
        assert lake_rows(lake) == []


def test_a_city_manager_imports_only_waybills_of_their_city(people, org, tmp_path):
    lake = tmp_path / "lake"
    import_templates(people, lake)  # ZL-* customers are Huzhou's, YC-000001 HQ's (Yucheng)
    path = write_csv(tmp_path / "w.csv", HEADER, [
        ["H1", "ZL-000001", "快包", "2024-06-18 10:00", "广东", "1", "5"],
        ["H2", "YC-000001", "快包", "2024-06-18 10:00", "广东", "1", "5"]])

    hangzhou = import_file("waybills", path, people, lake, actor=people.actor("hangzhou"))
    huzhou = import_file("waybills", path, people, lake, actor=people.actor("huzhou"))

    assert (hangzhou.written, hangzhou.reasons) == (0, {"unknown_customer": 2})
    assert (huzhou.written, huzhou.reasons) == (1, {"unknown_customer": 1})
    assert [r[0] for r in lake_rows(lake)] == ["H1"]


def test_markets_outside_the_subtree_are_unknown_org_units(people, tmp_path):
    lake = tmp_path / "lake"
    report = import_file("markets", TEMPLATES / "markets.csv", people, lake,
                         actor=people.actor("hangzhou"))
    assert (report.written, report.reasons) == (0, {"unknown_org_unit": 3})


@pytest.fixture
def cli_env(people, tmp_path, monkeypatch):
    monkeypatch.setenv("JIQUN_STORE_URL", people.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(tmp_path / "lake"))
    monkeypatch.delenv("JIQUN_LOCALE", raising=False)
    monkeypatch.delenv("JIQUN_USER", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _cli(*args):
    return CliRunner().invoke(app, ["import", *args])


def test_the_command_line_acts_as_the_user(cli_env):
    waybills = str(TEMPLATES / "waybills.csv")
    no_user = _cli("waybills", waybills)
    assert no_user.exit_code == 2 and "--user" in no_user.output

    refused = _cli("waybills", waybills, "--user", "marketer")
    assert refused.exit_code == 2
    assert "您的角色无权执行此操作" in refused.output
    assert lake_rows(cli_env / "lake") == []

    assert _cli("markets", str(TEMPLATES / "markets.csv"), "--user", "system").exit_code == 0
    customers = _cli("customers", str(TEMPLATES / "customers.csv"), "--user", "marketer")
    assert customers.exit_code == 1, customers.output  # archived: only the outlet's own rows
    assert _cli("customers", str(TEMPLATES / "customers.csv"), "--user", "courier").exit_code == 2
