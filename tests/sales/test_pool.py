"""The pool (公海): which prospects return, who is reminded when, and the audited return."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from jiqun.errors import NotAllowed, NotFound
from jiqun.sales import pool
from jiqun.sales.rules import SalesRules
from jiqun.store.models import AuditEntry, Customer, Grid, LifecycleStage, Market, MarketType, Visit
from jiqun.store.scope import Scope
from tests.sales.conftest import add_customer

S = LifecycleStage
TODAY = dt.date(2024, 6, 30)
RULES = SalesRules(pool_days=30, owner_reminder_days=3, manager_reminder_days=5)


def _ago(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


def _prospects(store, outlet) -> dict[str, int]:
    """Owned prospects whose last follow-up was the number of days their code says; a
    cooperating customer and an unowned prospect that the clock must ignore."""
    org = outlet.org.zhili_outlet.id
    me = outlet.users["zl-marketer"]
    ids = {}
    for silent in (40, 30, 29, 27, 26, 25, 24, 10):
        ids[f"P{silent}"] = add_customer(store, org, f"P{silent}", S.NURTURING, owner_id=me,
                                         archived_on=_ago(200))
    ids["OWNED_RECENTLY"] = add_customer(store, org, "OWNED_RECENTLY", S.ARCHIVED, owner_id=me,
                                         archived_on=_ago(300), owned_since=_ago(2))
    ids["COOP"] = add_customer(store, org, "COOP", S.COOPERATING, owner_id=me,
                               archived_on=_ago(300))
    ids["UNOWNED"] = add_customer(store, org, "UNOWNED", S.ARCHIVED, archived_on=_ago(300))
    with store.transaction() as s:
        for silent in (40, 30, 29, 27, 26, 25, 24, 10):
            s.add(Visit(customer_id=ids[f"P{silent}"], user_id=me, org_unit_id=org,
                        visited_at=dt.datetime.combine(_ago(silent), dt.time(10)),
                        method="card", outcome="follow_up"))
        # An older visit does not restart the clock of P40.
        s.add(Visit(customer_id=ids["P40"], user_id=me, org_unit_id=org,
                    visited_at=dt.datetime.combine(_ago(90), dt.time(10)), method="card",
                    outcome="interested"))
    return ids


def test_clock_returns_and_reminds_the_right_prospects(store, outlet):
    _prospects(store, outlet)
    with store.session() as s:
        entries = pool.pool_clock(s, TODAY, RULES)
    got = {e.code: (e.days_silent, e.days_left, e.action) for e in entries}
    assert got == {
        "P40": (40, -10, "return"), "P30": (30, 0, "return"),
        "P29": (29, 1, "remind_owner"), "P27": (27, 3, "remind_owner"),
        "P26": (26, 4, "remind_manager"), "P25": (25, 5, "remind_manager"),
        "P24": (24, 6, "watch"), "P10": (10, 20, "watch"),
        "OWNED_RECENTLY": (2, 28, "watch"),
    }
    head = outlet.users["wx-head"]  # no grid: the county's department head is the manager
    assert {e.manager_id for e in entries} == {head}
    reminders = pool.reminders(entries, RULES)
    assert sorted((r.code, r.as_role, r.to_user_id) for r in reminders) == sorted([
        ("P29", "manager", head), ("P29", "owner", outlet.users["zl-marketer"]),
        ("P27", "manager", head), ("P27", "owner", outlet.users["zl-marketer"]),
        ("P26", "manager", head), ("P25", "manager", head),
    ])


def test_grid_manager_is_reminded_before_the_department_head(store, outlet):
    ids = _prospects(store, outlet)
    org = outlet.org.zhili_outlet.id
    with store.transaction() as s:
        market = Market(code="M", name="织里", type=MarketType.INDUSTRIAL_CLUSTER, industry="童装",
                        org_unit_id=org)
        s.add(market)
        s.flush()
        grid = Grid(market_id=market.id, code="G1", name="一网格", org_unit_id=org,
                    manager_id=outlet.users["zl-marketer2"])
        s.add(grid)
        s.flush()
        s.get(Customer, ids["P26"]).grid_id = grid.id
    with store.session() as s:
        entries = {e.code: e for e in pool.pool_clock(s, TODAY, RULES)}
    assert entries["P26"].manager_id == outlet.users["zl-marketer2"]
    assert entries["P25"].manager_id == outlet.users["wx-head"]


def test_return_clears_the_owner_audited_and_the_pool_lists_them(store, outlet):
    ids = _prospects(store, outlet)
    me = outlet.users["zl-marketer"]
    with store.session() as s:
        scope = Scope.for_unit(s, outlet.org.zhili_outlet.id)
    # Recycling the pool is the daily job's (reminders.run), not a marketer's.
    with store.session(scope=scope, user_id=me) as s, pytest.raises(NotAllowed):
        pool.return_to_pool(s, pool.pool_clock(s, TODAY, RULES))
    with store.transaction(scope=scope, source="cli") as s:  # the system account
        returned = pool.return_to_pool(s, pool.pool_clock(s, TODAY, RULES))
    assert returned == 2
    with store.session() as s:
        owners = dict(s.execute(select(Customer.code, Customer.owner_id)).all())
        assert owners["P40"] is None and owners["P30"] is None and owners["P29"] == me
        assert [c.code for c in pool.pool_customers(s)] == ["P30", "P40", "UNOWNED"]
        audits = s.execute(select(AuditEntry.entity_id, AuditEntry.changes)
                           .where(AuditEntry.username == "system",
                                  AuditEntry.entity == "customers",
                                  AuditEntry.action == "update")).all()
    assert sorted(int(a.entity_id) for a in audits) == sorted([ids["P40"], ids["P30"]])
    assert all(a.changes["owner_id"] == [me, None] for a in audits)


def test_claim_takes_a_prospect_from_the_pool(store, outlet):
    ids = _prospects(store, outlet)
    other = outlet.users["zl-marketer2"]
    with store.transaction(user_id=other) as s:
        assert pool.claim(s, ids["UNOWNED"], other, TODAY).owner_id == other
        with pytest.raises(pool.ClaimedAlready):  # owned: not in the pool (409)
            pool.claim(s, ids["P10"], other, TODAY)
        with pytest.raises(NotFound):  # shipping already: not a prospect
            pool.claim(s, ids["COOP"], other, TODAY)
    with store.session() as s:
        claimed = s.get(Customer, ids["UNOWNED"])
        assert (claimed.owner_id, claimed.owned_since) == (other, TODAY)
        entry = next(e for e in pool.pool_clock(s, TODAY, RULES) if e.code == "UNOWNED")
        assert entry.days_left == RULES.pool_days


def test_due_and_coming_split_at_the_boundaries(store, outlet):
    """Issue 13: the page showed "days left -10"; a prospect is due back from the day its
    silence reaches pool_days (overdue by 0 days: today), else it returns in N ≥ 1 days."""
    _prospects(store, outlet)
    with store.session() as s:
        entries = pool.pool_clock(s, TODAY, RULES)
    got = {e.code: (e.due, e.overdue_days, e.returns_in_days) for e in entries}
    assert got["P40"] == (True, 10, None) and got["P30"] == (True, 0, None)
    assert got["P29"] == (False, None, 1) and got["P25"] == (False, None, 5)
    assert [e.code for e in pool.clock_split(entries, pool.DUE)] == ["P40", "P30"]
    assert [e.code for e in pool.clock_split(entries, pool.SOON)] == ["P29", "P27", "P26", "P25"]
    assert [e.code for e in pool.clock_split(entries)] == [
        "P40", "P30", "P29", "P27", "P26", "P25"]  # P24 and P10 need nobody yet


def test_each_role_gets_only_the_actions_it_may_take(store, outlet):
    from jiqun.permissions import Actor
    from jiqun.store.models import OrgLevel, Role

    _prospects(store, outlet)
    with store.session() as s:
        entry = next(e for e in pool.pool_clock(s, TODAY, RULES) if e.code == "P29")
    me, head = outlet.users["zl-marketer"], outlet.users["wx-head"]
    owner = Actor(me, "zl-marketer", Role.MARKETER, OrgLevel.OUTLET, 1)
    colleague = Actor(outlet.users["zl-marketer2"], "zl-marketer2", Role.MARKETER,
                      OrgLevel.OUTLET, 1)
    department = Actor(head, "wx-head", Role.DEPARTMENT_HEAD, OrgLevel.COUNTY, 1)
    province = Actor(99, "prov", Role.PROVINCIAL_MANAGER, OrgLevel.PROVINCE, 1)
    city = Actor(98, "city", Role.CITY_MANAGER, OrgLevel.CITY, 1)
    assert pool.clock_actions(entry, owner, me) == [pool.FOLLOW_UP]
    assert pool.clock_actions(entry, colleague, colleague.user_id) == [pool.LOG_VISIT]
    assert pool.clock_actions(entry, department, head) == [pool.LOG_VISIT]
    assert pool.clock_actions(entry, province, 99) == []  # may not log visits
    assert pool.pool_actions(owner) == [pool.CLAIM] and pool.pool_actions(department) == [
        pool.CLAIM]
    assert pool.pool_actions(city) == [] and pool.pool_actions(province) == []


def test_pool_page_and_api_agree_and_page_through_the_clock(store, outlet, tmp_path):
    """The page and /api/pool list the same prospects with the same wording of when they
    return; the clock pages (20 a page) and downloads every row."""
    import csv
    import io

    from fastapi.testclient import TestClient

    from jiqun.config import Settings
    from jiqun.web.app import create_app
    from tests.web.conftest import login

    org = outlet.org.zhili_outlet.id
    me = outlet.users["zl-marketer"]
    today = dt.date.today()
    silent = [40, 31, 30, 29, 26] + [27] * 20  # 3 due, 22 returning soon
    with store.transaction() as s:
        for k, days in enumerate(silent):
            s.add(Customer(code=f"Q{k:02d}", name=f"商户Q{k:02d}", org_unit_id=org,
                           lifecycle_stage=S.NURTURING, owner_id=me,
                           archived_on=today - dt.timedelta(days=days)))
        s.add(Customer(code="FREE", name="公海商户", org_unit_id=org,
                       lifecycle_stage=S.ARCHIVED, archived_on=today))
    settings = Settings(store_url=store.url, lake_path=tmp_path / "lake", environment="test",
                        secret_key="test-secret-key", locale="zh-CN")
    client = TestClient(create_app(settings))
    assert login(client, "zl-marketer", "pw-123456789").status_code == 303
    api = client.get("/api/pool").json()
    assert [(e["code"], e["overdue_days"], e["returns_in_days"]) for e in api["clock"][:5]] == [
        ("Q00", 10, None), ("Q01", 1, None), ("Q02", 0, None), ("Q03", None, 1),
        ("Q05", None, 3)]
    assert all(e["actions"] == ["follow_up"] for e in api["clock"])
    assert [c["code"] for c in api["pool"]] == ["FREE"] and api["pool"][0]["actions"] == ["claim"]
    due = client.get("/api/pool?when=due").json()["clock"]
    assert [e["code"] for e in due] == ["Q00", "Q01", "Q02"]

    page = client.get("/pool").text
    assert "已到期：超期 10 天" in page and "今日退回公海" in page and "1 天后退回公海" in page
    assert not re.search(r"-\d+ 天", page) and "已到期 (3)" in page and "即将退回 (22)" in page
    listed = re.findall(r'data-testid="clock-(\d+)"', page)
    assert len(listed) == 20 and page.count('data-testid="follow-up"') == 20
    assert [int(i) for i in listed] == [e["customer_id"] for e in api["clock"][:20]]
    second = re.findall(r'data-testid="clock-(\d+)"', client.get("/pool?page=2").text)
    assert [int(i) for i in second] == [e["customer_id"] for e in api["clock"][20:]]
    assert 'data-testid="claim"' in page
    soon = client.get("/pool?when=soon").text
    assert "已到期：" not in soon and "今日退回公海" not in soon

    download = client.get("/pool?format=csv&table=clock")
    assert download.status_code == 200
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["编码", "客户"] and len(rows) == 1 + len(api["clock"])
    assert rows[1][0] == "Q00" and rows[1][6:8] == ["10", ""]

    head = TestClient(create_app(settings))  # the county department head: logs visits
    assert login(head, "wx-head", "pw-123456789").status_code == 303
    head_api = head.get("/api/pool").json()
    assert all(e["actions"] == ["log_visit"] for e in head_api["clock"])
    head_page = head.get("/pool").text
    assert 'data-testid="log-visit"' in head_page and 'data-testid="follow-up"' not in head_page
