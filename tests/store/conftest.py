"""Two cities with a row of every kind the scope must keep apart (Huzhou: Wuxing, Zhili; and
Hangzhou: Xihu), on each database the tests can reach."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from jiqun.store import Scope, Store
from jiqun.store.models import (
    Campaign,
    CampaignCustomer,
    Customer,
    Market,
    MarketType,
    Role,
    Team,
    TeamMember,
    User,
)
from tests.conftest import Org, build_org


@dataclass
class Cities:
    store: Store
    org: Org
    ids: dict[str, int]  # by code: markets M-*, customers C-*, teams T-*, users U-*, campaigns K-*

    def scope(self, unit) -> Scope:
        with self.store.session() as s:
            return Scope.for_unit(s, unit.id)

    def session(self, unit):
        return self.store.session(scope=self.scope(unit))

    def transaction(self, unit):
        return self.store.transaction(scope=self.scope(unit))


def _market(unit, code):
    return Market(code=code, name=code, type=MarketType.INDUSTRIAL_CLUSTER, industry="童装",
                  org_unit_id=unit.id)


def populate(store: Store) -> Cities:
    org = build_org(store)
    with store.transaction() as s:
        s.add_all([_market(org.zhili_outlet, "M-ZL"), _market(org.xihu, "M-XH")])
        s.add_all([User(username=f"U-{u.code}", display_name=u.name, password_hash="x",
                        role=Role.MARKETER, org_unit_id=u.id)
                   for u in (org.zhili_outlet, org.xihu)])
        s.flush()
        ids = {m.code: m.id for m in s.scalars(select(Market))}
        ids |= {u.username: u.id for u in s.scalars(select(User))}
        s.add_all([
            Customer(code="C-ZL", name="织里童装一号", market_id=ids["M-ZL"],
                     org_unit_id=org.wuxing.id),
            Customer(code="C-XH", name="西湖商家", market_id=ids["M-XH"], org_unit_id=org.xihu.id),
            Team(name="T-ZL", market_id=ids["M-ZL"], org_unit_id=org.zhili_outlet.id),
            Team(name="T-XH", market_id=ids["M-XH"], org_unit_id=org.xihu.id),
            Campaign(name="K-ZJ", starts_on=dt.date(2026, 3, 1), ends_on=dt.date(2026, 3, 31),
                     org_unit_id=org.zhejiang.id),
        ])
        s.flush()
        ids |= {c.code: c.id for c in s.scalars(select(Customer))}
        ids |= {t.name: t.id for t in s.scalars(select(Team))}
        ids |= {c.name: c.id for c in s.scalars(select(Campaign))}
        s.add_all([
            TeamMember(team_id=ids["T-ZL"], user_id=ids["U-ZJ-HUZ-WX-ZL"], role="leader"),
            TeamMember(team_id=ids["T-XH"], user_id=ids["U-ZJ-HGZ-XH"], role="leader"),
            CampaignCustomer(campaign_id=ids["K-ZJ"], customer_id=ids["C-ZL"]),
            CampaignCustomer(campaign_id=ids["K-ZJ"], customer_id=ids["C-XH"]),
        ])
    return Cities(store, org, ids)


@pytest.fixture
def cities(any_store) -> Cities:
    return populate(any_store)
