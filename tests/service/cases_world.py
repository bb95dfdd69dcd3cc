"""A hand-made world for the service queue: Huzhou with two customer-service agents and a city
manager, Hangzhou with one agent, a province manager, merchants in Zhili and Xihu, and a helper
that writes parcel exceptions as the detector would."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from jiqun.accounts import add_user
from jiqun.store.models import (
    Customer,
    ExceptionKind,
    LifecycleStage,
    ParcelException,
    Responsibility,
    Role,
)
from tests.conftest import Org, build_org

PASSWORD = "pw-123456789"
TUESDAY_5PM = dt.datetime(2026, 11, 24, 17, 0)  # a working Tuesday, an hour before closing


@dataclass
class World:
    store: object
    org: Org
    users: dict[str, int] = field(default_factory=dict)
    customers: dict[str, int] = field(default_factory=dict)
    n: int = 0

    def exception(self, customer: str | None, kind: ExceptionKind = ExceptionKind.LATE, *,
                  unit: int | None = None, bag: str | None = None,
                  detected_at: dt.datetime = TUESDAY_5PM, reason: str | None = None) -> int:
        self.n += 1
        unit = unit or (self.org.xihu.id if customer and customer.startswith("X")
                        else self.org.zhili_outlet.id)
        with self.store.transaction() as s:
            e = ParcelException(
                waybill_no=f"9800{self.n:06d}", org_unit_id=unit,
                customer_id=self.customers[customer] if customer else None, kind=kind,
                responsibility=Responsibility.CARRIER, reason=reason, bag_key=bag,
                detected_at=detected_at, promised_at=detected_at + dt.timedelta(hours=20))
            s.add(e)
            s.flush()
            return e.id


def build_world(store) -> World:
    org = build_org(store)
    world = World(store, org)
    with store.transaction() as s:
        for name, unit, role in [
            ("hz-cs1", org.huzhou, Role.CUSTOMER_SERVICE),
            ("hz-cs2", org.huzhou, Role.CUSTOMER_SERVICE),
            ("hz-manager", org.huzhou, Role.CITY_MANAGER),
            ("hgz-cs1", org.hangzhou, Role.CUSTOMER_SERVICE),
            ("zj-manager", org.zhejiang, Role.PROVINCIAL_MANAGER),
            ("zl-marketer", org.zhili_outlet, Role.MARKETER),
            ("zl-am", org.zhili_outlet, Role.ACCOUNT_MANAGER),
        ]:
            world.users[name] = add_user(s, name, PASSWORD, unit, role, name).id
        for code, unit in [("Z1", org.zhili_outlet), ("Z2", org.zhili_outlet),
                           ("Z3", org.zhili_outlet), ("X1", org.xihu)]:
            c = Customer(code=code, name=f"商户{code}", org_unit_id=unit.id,
                         lifecycle_stage=LifecycleStage.COOPERATING)
            s.add(c)
            s.flush()
            world.customers[code] = c.id
    return world
