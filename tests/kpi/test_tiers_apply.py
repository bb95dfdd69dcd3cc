"""`jiqun tiers apply` on the demo: tiers and owners written, audited, scoped, idempotent."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from jiqun.cli import app
from jiqun.config import get_settings
from jiqun.demo import build_demo
from jiqun.demo.scale import SCALES, demo_kpi_rules
from jiqun.store import Store
from jiqun.store.models import AuditEntry, Customer, Market, User


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiers")
    store = Store(f"sqlite:///{root}/jiqun.db")
    build_demo(store, root / "lake", scale="tiny", seed=7, progress=False)
    return store, root


def _invoke(monkeypatch, root, *args):
    monkeypatch.setenv("JIQUN_STORE_URL", f"sqlite:///{root}/jiqun.db")
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(root / "lake"))
    monkeypatch.setenv("JIQUN_RULES_FILE", str(root / "none.toml"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["tiers", "apply", *args, "--format", "json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[: result.stdout.rindex("]") + 1])


def _run(monkeypatch, root, *args) -> tuple[int, str]:
    monkeypatch.setenv("JIQUN_STORE_URL", f"sqlite:///{root}/jiqun.db")
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(root / "lake"))
    monkeypatch.setenv("JIQUN_RULES_FILE", str(root / "none.toml"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["tiers", "apply", *args])
    finally:
        get_settings.cache_clear()
    return result.exit_code, result.output


def _archive(store) -> dict[int, tuple]:
    with store.session() as s:
        return {c.id: (c.tier, c.owner_id) for c in s.scalars(select(Customer))}


def test_the_marketer_is_listed_the_citys_changes_for_the_same_customers(demo, monkeypatch):
    """Reproduction of issue 9: the demo marketer's list held changes "no one of the required
    role in your area" where the city manager's list proposed an owner above the outlet."""
    store, root = demo
    rules = root / "scaled-rules.toml"  # the demo's own rules, its archive not reconciled
    rules.write_text(demo_kpi_rules(SCALES["tiny"].volume_factor).to_toml(), encoding="utf-8")
    marketer = _invoke(monkeypatch, root, "--user", "demo-marketer", "--dry-run",
                       "--rules", str(rules))
    city = {c["customer_id"]: c for c in _invoke(monkeypatch, root, "--user", "demo-city",
                                                  "--dry-run", "--rules", str(rules))}
    assert marketer and len(city) > len(marketer)
    assert [city[c["customer_id"]] for c in marketer] == marketer
    assert any(c["new_owner_id"] is not None and c["required_role"] != "account_manager"
               for c in marketer)  # owners above the marketer's outlet are proposed to them too


def test_a_marketer_may_not_apply_tiers(demo, monkeypatch):
    store, root = demo
    before = _archive(store)
    code, out = _run(monkeypatch, root, "--user", "demo-marketer")
    assert code == 2 and "无权" in out and "应用客户分级与负责人" in out
    code, out = _run(monkeypatch, root, "--scope", "HA-SQ")
    assert code == 2 and "--user" in out  # nobody acts unnamed
    assert _archive(store) == before


def test_apply_only_the_list_that_was_seen(demo, monkeypatch):
    store, root = demo
    before = _archive(store)
    code, out = _run(monkeypatch, root, "--user", "demo-city", "--dry-run")
    listed = out.rsplit("列表指纹 ", 1)[1].split()[0]
    code, out = _run(monkeypatch, root, "--user", "demo-city", "--expect", "0" * 16)
    assert code == 2 and "请重新查看" in out
    assert _archive(store) == before
    code, out = _run(monkeypatch, root, "--user", "demo-city", "--expect", listed,
                     "--scope", "HA-SQ-SY-YJ", "--dry-run")
    assert code == 2  # the marketer's outlet alone is another list than the city's


def test_apply_writes_tiers_and_owners_of_the_right_role(demo, monkeypatch):
    store, root = demo
    with store.session() as s:
        outside = {c.id: (c.tier, c.owner_id) for c in s.scalars(
            select(Customer).join(Market).where(~Market.code.startswith("HA-")))}
        audits_before = s.scalar(select(func.count()).select_from(AuditEntry))
    preview = _invoke(monkeypatch, root, "--user", "system", "--scope", "HA-SQ", "--dry-run")
    assert preview, "the demo's archive tiers differ from its shipped volumes"
    changes = _invoke(monkeypatch, root, "--user", "system", "--scope", "HA-SQ")
    assert changes == preview
    with store.session() as s:
        roles = dict(s.execute(select(User.id, User.role)).all())
        for change in changes:
            customer = s.get(Customer, change["customer_id"])
            assert customer.tier.value == change["new_tier"]
            if change["new_owner_id"] is not None:
                assert roles[customer.owner_id].value == change["required_role"]
        audited = s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity == "customers", AuditEntry.action == "update"))
        assert audited == len(changes)
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == audits_before + audited
        after = {c.id: (c.tier, c.owner_id) for c in s.scalars(
            select(Customer).where(Customer.id.in_(outside)))}
    assert after == outside  # other provinces untouched
    assert [c for c in _invoke(monkeypatch, root, "--user", "system", "--scope", "HA-SQ")
            if c["new_owner_id"] is not None] == []  # applying again changes nothing


def _kpi(monkeypatch, root, *args):
    monkeypatch.setenv("JIQUN_STORE_URL", f"sqlite:///{root}/jiqun.db")
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(root / "lake"))
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, ["kpi", *args])
    finally:
        get_settings.cache_clear()


def test_kpi_commands_act_as_the_user_in_their_subtree(demo, monkeypatch):
    _, root = demo
    mine = _kpi(monkeypatch, root, "volume", "--by", "market", "--user", "demo-city",
                "--format", "json")
    assert mine.exit_code == 0, mine.output
    system = _kpi(monkeypatch, root, "volume", "--by", "market", "--user", "system",
                  "--scope", "HA-SQ", "--format", "json")
    everything = _kpi(monkeypatch, root, "volume", "--by", "market", "--user", "system",
                      "--format", "json")
    assert json.loads(mine.output) == json.loads(system.output)
    assert len(json.loads(everything.output)) > len(json.loads(mine.output)) > 0
    unnamed = _kpi(monkeypatch, root, "volume", "--scope", "HA-SQ")
    assert unnamed.exit_code == 2 and "--user" in unnamed.output
