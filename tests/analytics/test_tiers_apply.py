"""`jiqun tiers apply` on the demo: tiers and owners written, audited, scoped, idempotent."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from jiqun.cli import app
from jiqun.config import get_settings
from jiqun.demo import build_demo
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


def test_apply_writes_tiers_and_owners_of_the_right_role(demo, monkeypatch):
    store, root = demo
    with store.session() as s:
        outside = {c.id: (c.tier, c.owner_id) for c in s.scalars(
            select(Customer).join(Market).where(~Market.code.startswith("HA-")))}
        audits_before = s.scalar(select(func.count()).select_from(AuditEntry))
    preview = _invoke(monkeypatch, root, "--scope", "HA-SQ", "--dry-run")
    assert preview, "the demo's archive tiers differ from its shipped volumes"
    changes = _invoke(monkeypatch, root, "--scope", "HA-SQ")
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
    assert [c for c in _invoke(monkeypatch, root, "--scope", "HA-SQ")
            if c["new_owner_id"] is not None] == []  # applying again changes nothing
