"""A small two-city world for the web tests: Huzhou (湖州) and Hangzhou (杭州) in Zhejiang.

Waybills run from 2024-04-01 to 2024-06-15 (the data date). Each customer ships ``base`` parcels
a day in April, twice that in May and three times in June, at 5 yuan each, so every figure the
pages show can be worked out by hand from ``daily_parcels``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from jiqun.accounts import add_user
from jiqun.config import Settings
from jiqun.lake import WAYBILL_DATASET, append
from jiqun.store import Store
from jiqun.store.models import (
    Customer,
    CustomerCarrier,
    CustomerTier,
    Grid,
    LifecycleStage,
    Market,
    MarketType,
    MarketVolumeEstimate,
    Role,
    Visit,
)
from jiqun.web.app import create_app
from tests.conftest import build_org

PASSWORD = "correct-horse-9"
FEE = 5.0
FIRST_DAY = dt.date(2024, 4, 1)
DATA_DATE = dt.date(2024, 6, 15)
MONTH_FACTOR = {4: 1, 5: 2, 6: 3}


def daily_parcels(base: int, day: dt.date) -> int:
    return base * MONTH_FACTOR[day.month]


@dataclass
class World:
    settings: Settings
    ids: dict[str, int] = field(default_factory=dict)
    bases: dict[str, int] = field(default_factory=dict)  # customer key → base parcels a day
    huzhou_customers: tuple[str, ...] = ("zl_big", "zl_small", "hz_park")
    hangzhou_customers: tuple[str, ...] = ("xh_live",)

    def parcels(self, keys, start: dt.date, end: dt.date) -> int:
        days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        return sum(daily_parcels(self.bases[k], d) for k in keys for d in days
                   if FIRST_DAY <= d <= DATA_DATE)


def _waybills(world: World, org_of: dict[str, int], market_of: dict[str, int],
              grid_of: dict[str, int | None]) -> pa.Table:
    rows = []
    day = FIRST_DAY
    while day <= DATA_DATE:
        for key, base in world.bases.items():
            for n in range(daily_parcels(base, day)):
                rows.append({
                    "waybill_no": f"{key}-{day:%Y%m%d}-{n}",
                    "org_unit_id": org_of[key], "customer_id": world.ids[key],
                    "market_id": market_of[key], "grid_id": grid_of[key],
                    "product": "parcel", "platform": "taobao",
                    "ship_time": dt.datetime.combine(day, dt.time(10, n % 60)),
                    "dest_province": "440000", "weight_kg": 0.5, "fee": FEE,
                    "status": "delivered",
                })
        day += dt.timedelta(days=1)
    return pa.Table.from_pylist(rows)


def build_world(store, lake_path) -> World:
    org = build_org(store)
    settings = Settings(store_url=store.url, lake_path=lake_path, environment="test",
                        secret_key="test-secret-key", locale="zh-CN")
    world = World(settings)
    with store.transaction() as s:
        for username, unit, role, name in [
            ("hz-city", org.huzhou, Role.CITY_MANAGER, "湖州经理"),
            ("hgz-city", org.hangzhou, Role.CITY_MANAGER, "杭州经理"),
            ("zj-prov", org.zhejiang, Role.PROVINCIAL_MANAGER, "浙江经理"),
            ("zl-marketer", org.zhili_outlet, Role.MARKETER, "织里营销员"),
        ]:
            world.ids[username] = add_user(s, username, PASSWORD, unit, role, name).id
        markets = {
            "zhili": Market(code="M-ZL", name="织里童装产业带", type=MarketType.INDUSTRIAL_CLUSTER,
                            industry="童装", org_unit_id=org.wuxing.id, key_area=True, tier="A"),
            "hzpark": Market(code="M-HZP", name="湖州电商园", type=MarketType.ECOMMERCE_PARK,
                             industry="综合", org_unit_id=org.huzhou.id, key_area=False),
            "xihu": Market(code="M-XH", name="西湖直播基地", type=MarketType.LIVESTREAM_BASE,
                           industry="服装", org_unit_id=org.xihu.id, key_area=True),
        }
        s.add_all(markets.values())
        s.flush()
        world.ids.update({k: m.id for k, m in markets.items()})
        s.add_all([
            MarketVolumeEstimate(market_id=markets["zhili"].id, org_unit_id=org.wuxing.id,
                                 carrier="*", valid_from=dt.date(2024, 1, 1), daily_volume=40.0),
            MarketVolumeEstimate(market_id=markets["zhili"].id, org_unit_id=org.wuxing.id,
                                 carrier="*", valid_from=dt.date(2024, 6, 1), daily_volume=50.0),
            MarketVolumeEstimate(market_id=markets["zhili"].id, org_unit_id=org.wuxing.id,
                                 carrier="*", valid_from=dt.date(2024, 9, 1), daily_volume=99.0),
            MarketVolumeEstimate(market_id=markets["zhili"].id, org_unit_id=org.wuxing.id,
                                 carrier="中通", valid_from=dt.date(2024, 5, 1), daily_volume=20.0),
            MarketVolumeEstimate(market_id=markets["xihu"].id, org_unit_id=org.xihu.id,
                                 carrier="*", valid_from=dt.date(2024, 1, 1), daily_volume=100.0),
        ])
        grid = Grid(market_id=markets["zhili"].id, code="G-ZL-1", name="织里一网格",
                    org_unit_id=org.zhili_outlet.id)
        s.add(grid)
        s.flush()
        world.ids["grid"] = grid.id
        customers = {
            "zl_big": Customer(code="C-ZL-1", name="童趣服饰", phone="13800000001",
                               market_id=markets["zhili"].id, grid_id=grid.id,
                               org_unit_id=org.zhili_outlet.id, est_daily_volume=300,
                               lifecycle_stage=LifecycleStage.VIP, tier=CustomerTier.FIRST,
                               vip=True, owner_id=world.ids["zl-marketer"],
                               platforms=["taobao", "live"], categories=["童装"]),
            "zl_small": Customer(code="C-ZL-2", name="小熊童装", phone="13800000002",
                                 market_id=markets["zhili"].id, org_unit_id=org.zhili_outlet.id,
                                 est_daily_volume=40, lifecycle_stage=LifecycleStage.TRIAL,
                                 tier=CustomerTier.THIRD),
            "hz_park": Customer(code="C-HZ-1", name="园区优选", phone="13800000003",
                                market_id=markets["hzpark"].id, org_unit_id=org.huzhou.id,
                                est_daily_volume=20, lifecycle_stage=LifecycleStage.COOPERATING,
                                tier=CustomerTier.MICRO),
            "xh_live": Customer(code="C-XH-1", name="西湖主播甄选", phone="13900000009",
                                market_id=markets["xihu"].id, org_unit_id=org.xihu.id,
                                est_daily_volume=500, lifecycle_stage=LifecycleStage.GROWING,
                                tier=CustomerTier.SPECIAL),
            "zl_archived": Customer(code="C-ZL-3", name="童话屋", market_id=markets["zhili"].id,
                                    org_unit_id=org.zhili_outlet.id,
                                    lifecycle_stage=LifecycleStage.ARCHIVED),
        }
        s.add_all(customers.values())
        s.flush()
        world.ids.update({k: c.id for k, c in customers.items()})
        s.add_all([
            CustomerCarrier(customer_id=customers["zl_big"].id, org_unit_id=org.zhili_outlet.id,
                            carrier="中通", share=0.6, price_first_kg=2.8),
            Visit(customer_id=customers["zl_big"].id, org_unit_id=org.zhili_outlet.id,
                  user_id=world.ids["zl-marketer"], visited_at=dt.datetime(2024, 5, 3, 10),
                  method="sweep", outcome="signed", next_step="Quote express"),
        ])
    world.bases = {"zl_big": 3, "zl_small": 1, "hz_park": 2, "xh_live": 5}
    org_of = {"zl_big": org.zhili_outlet.id, "zl_small": org.zhili_outlet.id,
              "hz_park": org.huzhou.id, "xh_live": org.xihu.id}
    market_of = {"zl_big": world.ids["zhili"], "zl_small": world.ids["zhili"],
                 "hz_park": world.ids["hzpark"], "xh_live": world.ids["xihu"]}
    grid_of = {"zl_big": grid.id, "zl_small": None, "hz_park": None, "xh_live": None}
    append(lake_path, WAYBILL_DATASET, _waybills(world, org_of, market_of, grid_of))
    return world


def fresh_world(tmp_path) -> World:
    """A world of one's own for a test that writes; its store is ``world.store``."""
    store = Store(f"sqlite:///{tmp_path}/store.db")
    store.upgrade()
    built = build_world(store, tmp_path / "lake")
    built.store = store
    return built


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    """Built once per test module: the web tests only read it (sign-ins change no rows)."""
    tmp = tmp_path_factory.mktemp("world")
    store = Store(f"sqlite:///{tmp}/store.db")
    store.upgrade()
    yield build_world(store, tmp / "lake")
    store.engine.dispose()


@pytest.fixture
def app(world):
    return create_app(world.settings)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client: TestClient, path: str = "/login") -> str:
    return CSRF_INPUT.search(client.get(path).text).group(1)


def login(client: TestClient, username: str, password: str = PASSWORD, **extra):
    token = csrf_of(client)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token, **extra}, follow_redirects=False)


def signed_in(app, username: str) -> TestClient:
    client = TestClient(app)
    response = login(client, username)
    assert response.status_code == 303, response.text
    return client


def bearer(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# The matrix tests' world (tests/web/matrix.py): one world and one app per test module.
@pytest.fixture(scope="module")
def mworld(tmp_path_factory, request):
    from tests.web.matrix import build_matrix_world

    world = build_matrix_world(tmp_path_factory.mktemp(request.module.__name__.rsplit(".")[-1]))
    yield world
    world.store.engine.dispose()


@pytest.fixture(scope="module")
def mclient(mworld):
    with TestClient(create_app(mworld.settings), raise_server_exceptions=False) as c:
        yield c
