"""A hand-sized world for the cost model and the ledger: Zhejiang with two cities.

Huzhou (湖州) ships four parcels of customer C1 (market M1, grid G1) in November: three on the
2nd (two 快包 and one 特快, to Hangzhou: same province) and one on the 3rd (to Guangzhou: far),
¥5, ¥5, ¥5, ¥10; C1 had one visit. Hangzhou (杭州) ships two ¥1 parcels of C2 (market M2) on
the 2nd to Hangzhou. An October parcel is outside the month.

Rates of Zhejiang from January: visit ¥3, stop ¥2, pickup piece ¥0.5, processing piece ¥0.3
with ¥10 a month fixed by pieces, last mile same-province ¥1.0 and other zones ¥1.5. Hangzhou's
own processing rate is ¥0.6 (and ¥0.9 only from December). So, by hand:

* Huzhou: stops 2 (mixed collection) → pickup 2×2 + 4×0.5 = 6; processing 4×0.3 = 1.2 + the
  fixed ¥10 (Zhejiang's processing row governs Huzhou alone); last mile 3×1.0 + 1.5 = 4.5;
  marketing 1 visit × 3 = 3 → cost 24.7, revenue 25, profit 0.3.
* Hangzhou: stop 1 → pickup 2 + 1 = 3; processing 2×0.6 = 1.2; last mile 2×1.0 → cost 6.2,
  revenue 2, profit −4.2 (a loss Zhejiang covers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa

from jiqun.lake import WAYBILL_DATASET, WAYBILLS, append
from jiqun.store import models as m
from jiqun.store.org import add_unit

NOV = dt.date(2026, 11, 1)


@dataclass
class World:
    ids: dict[str, int]
    lake: object


def waybill(no, unit, customer, market, grid, product, day, dest, fee, weight=1.0, line=None):
    return {"waybill_no": no, "org_unit_id": unit, "customer_id": customer, "market_id": market,
            "grid_id": grid, "outlet_id": None, "product": product, "platform": "taobao",
            "ship_time": dt.datetime.combine(day, dt.time(10)), "origin_adcode": None,
            "dest_province": dest[:2] + "0000", "dest_city": dest[:4] + "00",
            "dest_county": None, "weight_kg": weight, "fee": fee, "line_id": line,
            "status": "delivered", "delivered_time": None}


def build_world(store, tmp_path) -> World:
    P, D = m.CostPool, m.CostDriver
    with store.transaction() as s:
        hq = add_unit(s, None, "HQ", "集团总部", adcode="100000")
        zj = add_unit(s, hq, "ZJ", "浙江省分公司", adcode="330000")
        hz = add_unit(s, zj, "ZJ-HUZ", "湖州市分公司", adcode="330500")
        hgz = add_unit(s, zj, "ZJ-HGZ", "杭州市分公司", adcode="330100")
        wx = add_unit(s, hz, "ZJ-HUZ-WX", "吴兴区分公司", adcode="330502")
        zl = add_unit(s, wx, "ZJ-HUZ-WX-ZL", "织里揽投部", adcode="330502")
        xh = add_unit(s, hgz, "ZJ-HGZ-XH", "西湖区分公司", adcode="330106")
        xo = add_unit(s, xh, "ZJ-HGZ-XH-O", "西湖揽投部", adcode="330106")
        s.flush()
        m1 = m.Market(code="M1", name="织里童装", type=m.MarketType.INDUSTRIAL_CLUSTER,
                      industry="童装", org_unit_id=zl.id)
        m2 = m.Market(code="M2", name="西湖茶叶", type=m.MarketType.INDUSTRIAL_CLUSTER,
                      industry="茶叶", org_unit_id=xo.id)
        s.add_all([m1, m2])
        s.flush()
        g1 = m.Grid(market_id=m1.id, code="G1", name="一号网格", org_unit_id=zl.id)
        s.add(g1)
        c1 = m.Customer(code="C1", name="童装一号", org_unit_id=zl.id, market_id=m1.id)
        c2 = m.Customer(code="C2", name="茶叶一号", org_unit_id=xo.id, market_id=m2.id)
        s.add_all([c1, c2])
        leader = m.User(username="zl-leader", display_name="王组长", password_hash="x",
                        role=m.Role.MARKETER, org_unit_id=zl.id)
        s.add(leader)
        s.flush()
        c1.grid_id = g1.id
        team = m.Team(name="织里一组", market_id=m1.id, status=m.TeamStatus.APPROVED,
                      org_unit_id=zl.id)
        s.add(team)
        s.flush()
        s.add(m.TeamMember(team_id=team.id, user_id=leader.id, role="leader"))
        s.add(m.Visit(customer_id=c1.id, user_id=leader.id, visited_at=dt.datetime(2026, 11, 5),
                      method="card", outcome="interested", org_unit_id=zl.id))
        jan = dt.date(2026, 1, 1)
        for unit, pool, driver, zone, rate, fixed, since in (
            (zj, P.MARKETING, D.VISITS, "*", 3.0, 0.0, jan),
            (zj, P.PICKUP, D.STOPS, "*", 2.0, 0.0, jan),
            (zj, P.PICKUP, D.PIECES, "*", 0.5, 0.0, jan),
            (zj, P.PROCESSING, D.PIECES, "*", 0.3, 10.0, jan),
            (zj, P.LAST_MILE, D.PIECES, "same", 1.0, 0.0, jan),
            (zj, P.LAST_MILE, D.PIECES, "*", 1.5, 0.0, jan),
            (hgz, P.PROCESSING, D.PIECES, "*", 0.6, 0.0, jan),
            (hgz, P.PROCESSING, D.PIECES, "*", 0.9, 0.0, dt.date(2026, 12, 1)),
        ):
            s.add(m.CostParameter(org_unit_id=unit.id, pool=pool, driver=driver, zone=zone,
                                  rate=rate, fixed_per_month=fixed, allocation_key="pieces",
                                  valid_from=since))
        ids = {u.code: u.id for u in (hq, zj, hz, hgz, wx, zl, xh, xo)}
        ids.update(M1=m1.id, M2=m2.id, G1=g1.id, C1=c1.id, C2=c2.id, team=team.id,
                   leader=leader.id)
    lake = tmp_path / "lake"
    n2, n3 = dt.date(2026, 11, 2), dt.date(2026, 11, 3)
    rows = [
        waybill("W1", ids["ZJ-HUZ-WX-ZL"], ids["C1"], ids["M1"], ids["G1"], "parcel", n2,
                "330100", 5.0),
        waybill("W2", ids["ZJ-HUZ-WX-ZL"], ids["C1"], ids["M1"], ids["G1"], "parcel", n2,
                "330100", 5.0),
        waybill("W3", ids["ZJ-HUZ-WX-ZL"], ids["C1"], ids["M1"], ids["G1"], "express", n2,
                "330100", 5.0),
        waybill("W4", ids["ZJ-HUZ-WX-ZL"], ids["C1"], ids["M1"], ids["G1"], "parcel", n3,
                "440100", 10.0),
        waybill("W5", ids["ZJ-HGZ-XH-O"], ids["C2"], ids["M2"], None, "parcel", n2,
                "330100", 1.0),
        waybill("W6", ids["ZJ-HGZ-XH-O"], ids["C2"], ids["M2"], None, "parcel", n2,
                "330100", 1.0),
        waybill("W0", ids["ZJ-HUZ-WX-ZL"], ids["C1"], ids["M1"], ids["G1"], "parcel",
                dt.date(2026, 10, 30), "330100", 99.0),
    ]
    append(lake, WAYBILL_DATASET, pa.Table.from_pylist(rows, WAYBILLS))
    return World(ids, lake)


def add_target(store, ids, market: str, revenue: float, month=NOV) -> None:
    with store.transaction() as s:
        unit = s.get(m.Market, ids[market]).org_unit_id
        s.add(m.Target(scope_type=m.TargetScope.MARKET, scope_id=ids[market], month=month,
                       volume=0, revenue=revenue, org_unit_id=unit))
