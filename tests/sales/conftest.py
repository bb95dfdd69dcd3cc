"""Hand-made fixtures for customer development: an outlet in Zhili with its people, customers
whose waybills follow a written pattern, and helpers to put waybills in the lake."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pytest

from jiqun.accounts import add_user
from jiqun.lake import WAYBILL_DATASET, append
from jiqun.store.models import Customer, LifecycleStage, Role
from tests.conftest import Org, build_org

AS_OF = dt.date(2024, 6, 30)  # the data date of the lifecycle fixtures


def days_back(n: int) -> dt.date:
    return AS_OF - dt.timedelta(days=n)


def waybills(customer_id: int, org_unit_id: int, parcels_on: Callable[[dt.date], int],
             first: dt.date, last: dt.date) -> list[dict]:
    """One waybill row per parcel, ``parcels_on(day)`` parcels each day from first to last."""
    rows, day = [], first
    while day <= last:
        for n in range(parcels_on(day)):
            rows.append({
                "waybill_no": f"C{customer_id}-{day:%Y%m%d}-{n}", "org_unit_id": org_unit_id,
                "customer_id": customer_id, "market_id": None, "grid_id": None,
                "product": "parcel", "platform": "taobao",
                "ship_time": dt.datetime.combine(day, dt.time(10, n % 60)),
                "dest_province": "440000", "weight_kg": 0.5, "fee": 4.0, "status": "delivered",
            })
        day += dt.timedelta(days=1)
    return rows


def put_waybills(lake, rows: list[dict]) -> None:
    append(lake, WAYBILL_DATASET, pa.Table.from_pylist(rows))


@dataclass
class Outlet:
    """The Zhili outlet (织里揽投部) with a marketer, a second marketer, a department head in the
    county, and a Hangzhou marketer outside it."""

    org: Org
    users: dict[str, int] = field(default_factory=dict)


@pytest.fixture
def outlet(store) -> Outlet:
    org = build_org(store)
    out = Outlet(org)
    with store.transaction() as s:
        for name, unit, role in [
            ("zl-marketer", org.zhili_outlet, Role.MARKETER),
            ("zl-marketer2", org.zhili_outlet, Role.MARKETER),
            ("wx-head", org.wuxing, Role.DEPARTMENT_HEAD),
            ("xh-marketer", org.xihu, Role.MARKETER),
        ]:
            out.users[name] = add_user(s, name, "pw-123456789", unit, role, name).id
    return out


def add_customer(store, org_unit_id: int, code: str, stage: LifecycleStage, **extra) -> int:
    with store.transaction() as s:
        c = Customer(code=code, name=f"商户{code}", org_unit_id=org_unit_id, lifecycle_stage=stage,
                     **extra)
        s.add(c)
        s.flush()
        return c.id
