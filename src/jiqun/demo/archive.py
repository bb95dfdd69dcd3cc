"""The store side of the demo: org tree, staff, markets, grids, teams, customers and the rest.

Rows are collected as plain dicts with ids assigned here (1, 2, 3 … per table, so every build
with the same seed gives the same ids) and written with bulk Core inserts: fast, and the audit
log stays free of thousands of generated rows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from jiqun.accounts import hash_password
from jiqun.demo import names
from jiqun.demo.merchants import (
    ARCHIVED,
    CHURNED,
    COOPERATING,
    GROWING,
    NEVER,
    NURTURING,
    STAGES,
    TRIAL,
    TRIAL_SHARE,
    VIP,
    WEIGHT_MULT_SIGMA,
    Merchants,
    campaign_window,
    spec_adcode,
)
from jiqun.demo.network import (
    PRODUCTS,
    RATE_CARD_MAX_KG,
    VIP_CONTRACT_DISCOUNT,
    ZONE_KINDS,
    destination_probabilities,
    market_price_factors,
    market_rate_card,
    zone_table,
)
from jiqun.demo.places import (
    COMPETITOR_WEIGHTS,
    COMPETITORS,
    DEMO_LOGINS,
    DEMO_PASSWORD,
    MARKETS,
    ORG_TREE,
    OTHER_CARRIERS_SHARE,
    SHAOGANG_DIRECTIONS,
    OrgSpec,
)
from jiqun.demo.scale import demo_cost, demo_kpi_rules, demo_planning_params
from jiqun.demo.timeline import Timeline
from jiqun.demo.waybills import STANDARD_SHARE, LakeKeys, LineKey
from jiqun.geo import division, province_code, provinces, zone_of
from jiqun.kpi.rules import TIER_ORDER
from jiqun.store import models as m
from jiqun.store.org import add_unit

CN_NUMBERS = "一二三四五六七八九十"
VISIT_METHODS = ("card", "directory", "sweep", "referral", "retiree", "event")
# Which methods lead to cooperation (seed: 名片发放法, 名录走访法, 地毯式走访法, 客户转介法,
# 关注退休法, 平台招商会): referrals convert best, cards worst.
_METHOD_P_CONVERTED = np.array([0.10, 0.20, 0.20, 0.30, 0.10, 0.10])
_METHOD_P_OTHER = np.array([0.35, 0.15, 0.30, 0.05, 0.05, 0.10])
# Bundles (C4) per platform segment: segment, name, product, promise hours, rate adjustment,
# services (灵活调整时效、服务、价格组合比例).
BUNDLES = (
    ("taobao", "淘系次日达组合", "parcel", 72, -0.03, ("daily_pickup", "returns")),
    ("pdd", "拼系低价组合", "parcel", 96, -0.06, ("daily_pickup",)),
    ("live", "直播爆单组合", "standard", 48, -0.02, ("peak_capacity", "returns")),
)
D0 = Decimal(0)
PLAN_STRETCH = 1.08  # monthly and yearly plans: expected volume and revenue + 8%
LINE_FILL = 0.9  # a line runs as many trips as keep its trucks at most 90% full on average


# Markets where every n-th merchant also sells tea (time-sensitive goods, product advice P2);
# no random draw, so the rest of the demo stays as it was.
TEA_SELLERS = {"HA-XY": 6}

class Rows:
    """Rows per table with deterministic ids; written in dependency order by :meth:`write`."""

    def __init__(self) -> None:
        self.tables: dict[type, list[dict]] = defaultdict(list)
        self._next: dict[type, int] = defaultdict(int)

    def add(self, model: type, **values) -> int | None:
        if "id" in model.__table__.c and "id" not in values:
            self._next[model] += 1
            values["id"] = self._next[model]
        self.tables[model].append(values)
        return values.get("id")

    def count(self, model: type) -> int:
        return len(self.tables[model])

    def write(self, session: Session) -> None:
        order = {t: i for i, t in enumerate(m.Base.metadata.sorted_tables)}
        for model in sorted(self.tables, key=lambda mod: order[mod.__table__]):
            by_keys: dict[tuple, list[dict]] = defaultdict(list)
            for row in self.tables[model]:
                by_keys[tuple(sorted(row))].append(row)
            for rows in by_keys.values():
                session.execute(insert(model.__table__), rows)
        if session.bind.dialect.name == "postgresql":  # explicit ids do not move the sequences
            for model in self.tables:
                if "id" in model.__table__.c:
                    name = model.__tablename__
                    session.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {name}), 1))"
                    ))


@dataclass
class Staff:
    """Who is who, by org code, for owners, visits and approvals."""

    by_role: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))

    def first(self, code: str, role: str) -> int:
        return self.by_role[(code, role)][0]


@dataclass
class ArchiveResult:
    rows: Rows
    keys: LakeKeys
    org_ids: dict[str, int]


def _stamp(day) -> dt.datetime:
    return dt.datetime.combine(_date(day), dt.time(9, 0))


def _date(day) -> dt.date:
    return day if isinstance(day, dt.date) else day.astype("datetime64[D]").astype(object)


def build_org(session: Session) -> dict[str, m.OrgUnit]:
    """The org tree of :data:`ORG_TREE` (HQ → province → city → county → outlet)."""
    units: dict[str, m.OrgUnit] = {}

    def walk(spec: OrgSpec, parent: m.OrgUnit | None) -> None:
        units[spec.code] = add_unit(session, parent, spec.code, spec.name, adcode=spec.adcode,
                                    name_en=spec.name_en)
        for child in spec.children:
            walk(child, units[spec.code])

    walk(ORG_TREE, None)
    return units


class ArchiveBuilder:
    """Builds every store row of the demo from the merchants and the timeline."""

    def __init__(self, rng: np.random.Generator, tl: Timeline, merchants: Merchants,
                 factor: float, units: dict[str, m.OrgUnit]):
        self.rng, self.tl, self.mer, self.factor = rng, tl, merchants, factor
        self.rules = demo_kpi_rules(factor)  # what `jiqun demo build` writes for the app
        self.planning = demo_planning_params(factor)
        self.units = units
        self.org = {code: u.id for code, u in units.items()}
        self.rows = Rows()
        self.staff = Staff()
        self.password_hash = hash_password(DEMO_PASSWORD)  # one hash: argon2 is slow by design
        self.created = _stamp(tl.start)

    # -- people ---------------------------------------------------------------------------
    def user(self, username: str, code: str, role: m.Role, display: str | None = None) -> int:
        uid = self.rows.add(
            m.User, username=username, display_name=display or names.person(self.rng),
            password_hash=self.password_hash, org_unit_id=self.org[code], role=role,
            phone=names.phone(self.rng), active=True, created_at=self.created,
            updated_at=self.created,
        )
        self.staff.by_role[(code, role.value)].append(uid)
        return uid

    def people(self) -> None:
        fixed = {code: (username, m.Role(role)) for username, role, code in DEMO_LOGINS}
        for username, role, code in DEMO_LOGINS:
            if role != "marketer":  # the demo marketer joins a team below
                self.user(username, code, m.Role(role))
        self._unit_staff(ORG_TREE, fixed)

    def _unit_staff(self, spec: OrgSpec, fixed: dict) -> None:
        code, low = spec.code, spec.code.lower()
        level = self.units[code].level
        if level == m.OrgLevel.PROVINCE:
            if code not in fixed:
                self.user(f"{low}-manager", code, m.Role.PROVINCIAL_MANAGER)
            supervisors = len(spec.children) if code == "GD" else 1  # 督导专员 挂点 each city
            for i in range(supervisors):
                self.user(f"{low}-supervisor{i + 1}", code, m.Role.SUPERVISOR)
        elif level == m.OrgLevel.CITY:
            if code not in fixed:
                self.user(f"{low}-manager", code, m.Role.CITY_MANAGER)
            for i in range(2 if code == "HA-SQ" else 1):
                self.user(f"{low}-cs{i + 1}", code, m.Role.CUSTOMER_SERVICE)
        elif level == m.OrgLevel.COUNTY:
            self.user(f"{low}-gm", code, m.Role.COUNTY_MANAGER)
            self.user(f"{low}-head", code, m.Role.DEPARTMENT_HEAD)
        elif level == m.OrgLevel.OUTLET:
            for i in range(2):
                self.user(f"{low}-am{i + 1}", code, m.Role.ACCOUNT_MANAGER)
        for child in spec.children:
            self._unit_staff(child, fixed)

    # -- markets, teams, grids ------------------------------------------------------------
    def markets(self) -> None:
        self.market_ids = np.zeros(len(MARKETS), dtype=int)
        self.market_rows: list[dict] = []
        self.outlet_org = np.array([self.org[s.outlet_code] for s in MARKETS])
        for i, spec in enumerate(MARKETS):
            place = division(spec_adcode(spec))
            self.market_ids[i] = self.rows.add(
                m.Market, code=spec.code, name=spec.name, name_en=spec.name_en, type=spec.type,
                industry=spec.industry, adcode=place.adcode, address=f"{place.name}{spec.name}",
                lon=round(place.lon, 5), lat=round(place.lat, 5), tier=spec.tier,
                key_area=spec.key_area, yearly_revenue_target=None,  # the plan: see _targets
                org_unit_id=self.org[spec.outlet_code], created_at=self.created,
                updated_at=self.created,
            )
            self.market_rows.append(self.rows.tables[m.Market][-1])

    def _province_of(self, code: str) -> str:
        return code.split("-")[0]

    def teams_and_grids(self) -> None:
        """Teams proposed by the city, approved by the province; one grid (网格) per team."""
        self.grid_ids: dict[tuple[int, int], int] = {}
        self.grid_team: dict[int, int] = {}
        self.team_people: dict[int, list[int]] = {}
        self.team_marketers: dict[int, list[int]] = {}
        joined = _date(self.tl.days[0]) - dt.timedelta(days=200)
        for i, spec in enumerate(MARKETS):
            outlet = spec.outlet_code
            city = "-".join(outlet.split("-")[:2])
            province = self._province_of(outlet)
            shangqiu = city == "HA-SQ"
            marketers, couriers = (3, 12) if shangqiu else (3, 8) if spec.code == "ZJ-ZL" else (2, 4)
            short = spec.name[:2]
            lons = self.mer.lon[self.mer.market == i]
            edges = np.quantile(lons, np.linspace(0, 1, spec.grids + 1))
            for g in range(spec.grids):
                tname = f"{short}{CN_NUMBERS[g]}组"
                members: list[int] = []
                mk: list[int] = []
                for k in range(marketers):
                    if shangqiu and spec.code == "HA-YJ" and g == 0 and k == 0:
                        username = "demo-marketer"
                    else:
                        username = f"{outlet.lower()}-t{g + 1}-mkt{k + 1}"
                    mk.append(self.user(username, outlet, m.Role.MARKETER))
                for k in range(couriers):
                    members.append(self.user(f"{outlet.lower()}-t{g + 1}-cou{k + 1:02d}", outlet,
                                             m.Role.COURIER))
                team_id = self.rows.add(
                    m.Team, market_id=int(self.market_ids[i]), name=tname,
                    status=m.TeamStatus.APPROVED, org_unit_id=self.org[outlet],
                    proposed_by_id=self.staff.first(city, "city_manager"),
                    approved_by_id=self.staff.first(province, "provincial_manager"),
                    approved_at=_stamp(joined + dt.timedelta(days=7)),
                    created_at=_stamp(joined), updated_at=_stamp(joined),
                )
                for k, uid in enumerate(mk + members):
                    self.rows.add(m.TeamMember, team_id=team_id, user_id=uid,
                                  role="leader" if k == 0 else "member", joined_on=joined)
                self.team_people[team_id] = mk + members
                self.team_marketers[team_id] = mk
                lo, hi = float(edges[g]), float(edges[g + 1])
                lat0 = float(division(spec_adcode(spec)).lat)
                polygon = [[lo, lat0 - 0.035], [hi, lat0 - 0.035], [hi, lat0 + 0.035],
                           [lo, lat0 + 0.035], [lo, lat0 - 0.035]]
                gid = self.rows.add(
                    m.Grid, market_id=int(self.market_ids[i]), code=f"{spec.code}-G{g + 1}",
                    name=f"{spec.name}{CN_NUMBERS[g]}号网格", team_id=team_id, manager_id=mk[0],
                    status="active", valid_from=joined, org_unit_id=self.org[outlet],
                    geometry={"type": "Polygon", "coordinates": [[[round(x, 5), round(y, 5)] for x, y in polygon]]},
                    created_at=_stamp(joined), updated_at=_stamp(joined),
                )
                self.grid_ids[(i, g)] = gid
                self.grid_team[gid] = team_id
        # A team Xuchang proposed and the province has not decided yet (G1 approval queue).
        self.rows.add(
            m.Team, market_id=int(self.market_ids[[s.code for s in MARKETS].index("HA-XC")]),
            name="许昌直播组", status=m.TeamStatus.PROPOSED, org_unit_id=self.org["HA-XC-WD-FZ"],
            proposed_by_id=self.staff.first("HA-XC", "city_manager"),
            created_at=_stamp(self.tl.until), updated_at=_stamp(self.tl.until),
        )

    # -- customers ------------------------------------------------------------------------
    def _owner(self, i: int, tier: int, seq: int) -> int:
        outlet = MARKETS[i].outlet_code
        county = "-".join(outlet.split("-")[:3])
        if tier == 0:  # 特级: county GM
            return self.staff.first(county, "county_manager")
        if tier <= 2:  # 一级 / 二级: department head
            return self.staff.first(county, "department_head")
        ams = self.staff.by_role[(outlet, "account_manager")]  # 三级 / 小微: account manager
        return ams[seq % len(ams)]

    def customers(self) -> None:
        mer, rng = self.mer, self.rng
        n = len(mer)
        self.customer_ids = np.arange(1, n + 1)
        self.customer_grid = np.array(
            [self.grid_ids[(int(mer.market[c]), int(mer.grid[c]))] for c in range(n)]
        )
        pnames = ("taobao", "pdd", "live")
        self.tiers = self.rule_tiers()
        for c in range(n):
            i, spec = int(mer.market[c]), MARKETS[int(mer.market[c])]
            place = division(spec_adcode(spec))
            stage, tier = int(mer.stage[c]), int(self.tiers[c])
            first = mer.first_shipped[c]
            cats = list(spec.categories[: 1 + int(rng.integers(0, max(len(spec.categories), 1)))])
            if spec.code in TEA_SELLERS and c % TEA_SELLERS[spec.code] == 0:
                cats.append("茶叶")  # Henan's tea (信阳毛尖) sold from Taobao villages: P2's case
            self.rows.add(
                m.Customer, id=c + 1, code=f"{spec.code}-{c + 1:05d}",
                name=names.shop(rng, place.short_name if len(place.short_name) > 1 else place.name, spec.industry),
                contact=names.person(rng), phone=names.phone(rng),
                address=f"{place.name}{spec.name[:2]}{int(rng.integers(1, 400))}号",
                adcode=place.adcode, lon=round(float(mer.lon[c]), 5), lat=round(float(mer.lat[c]), 5),
                market_id=int(self.market_ids[i]), grid_id=int(self.customer_grid[c]),
                platforms=[p for k, p in enumerate(pnames) if mer.platform_p[c, k] > 0],
                categories=cats,
                est_daily_volume=round(float(mer.volume[c]) * self.factor, 3),
                lifecycle_stage=m.LifecycleStage(STAGES[stage]), tier=TIER_ORDER[tier],
                owner_id=self._owner(i, tier, c), vip=stage == VIP,
                vip_manager_id=self._owner(i, 3, c) if stage == VIP else None,
                first_shipped_on=None if first == NEVER else _date(first),
                archived_on=_date(mer.archived_on[c]), org_unit_id=int(self.outlet_org[i]),
                created_at=_stamp(mer.archived_on[c]), updated_at=_stamp(mer.archived_on[c]),
            )
            self._carriers(c, i, stage)

    def expected_daily(self, span: slice) -> np.ndarray:
        """Each merchant's expected parcels a day with us over ``span`` of the history."""
        daily = np.zeros(len(self.mer))
        for i in range(len(MARKETS)):
            rows, rates = self.tl.our_rates(self.mer, i, self.factor, span)
            daily[rows] = rates.mean(axis=1)
        return daily

    def rule_tiers(self) -> np.ndarray:
        """Each merchant's tier (index into ``TIER_ORDER``) under the model's rules, from its
        expected parcels with us over the rules' trailing window: what ``jiqun tiers apply``
        reads from the lake, so the archive agrees with /tiers before any reconciling."""
        window = self.rules.tier_window_days
        daily = self.expected_daily(slice(max(len(self.tl.days) - window, 0), None))
        province = np.array([province_code(spec_adcode(s)) for s in MARKETS])[self.mer.market]
        tiers = np.full(len(self.mer), len(TIER_ORDER) - 1)
        for p in np.unique(province):
            limits = self.rules.thresholds_for(str(p))
            bars = np.array([getattr(limits, t.value) for t in TIER_ORDER[:-1]])
            here = province == p
            tiers[here] = np.searchsorted(-bars, -daily[here], side="left")  # >= the bar
        return tiers

    def _carriers(self, c: int, i: int, stage: int) -> None:
        """Current carriers of the merchant and their first-kg price (CustomerCarrier)."""
        rng, org = self.rng, int(self.outlet_org[i])
        ours = float(self.mer.our_share[c]) if stage in (TRIAL, COOPERATING, GROWING, VIP) else 0.0
        if ours > 0:
            self.rows.add(m.CustomerCarrier, customer_id=c + 1, carrier="邮政", share=round(ours, 3),
                          price_first_kg=float(self.first_kg[c, 1, 0]), org_unit_id=org)
        if ours >= 0.999:
            return
        k = int(rng.integers(1, 4))
        picked = rng.choice(len(COMPETITORS), size=k, replace=False,
                            p=np.array(COMPETITOR_WEIGHTS) / sum(COMPETITOR_WEIGHTS))
        split = rng.dirichlet(np.ones(k)) * (1 - ours)
        base = float(self.first_kg[c, 1, 0])
        for j, share in zip(picked, split, strict=True):
            self.rows.add(m.CustomerCarrier, customer_id=c + 1, carrier=COMPETITORS[j],
                          share=round(float(share), 3),
                          price_first_kg=round(base * float(rng.uniform(0.82, 1.05)), 2),
                          org_unit_id=org)

    # -- prices ---------------------------------------------------------------------------
    def zones_and_prices(self) -> None:
        """Zones of each origin province; rate cards (一地一价): a default per province and
        product, per market and product a card whose first version (a year before the history,
        5 % cheaper) was superseded when the current one came into force on the first day of
        the history; Shaogang's parcel card has a draft for next month. Bundles per platform
        segment (C4) in every province, and contract prices (协议价) for the VIPs, each on the
        bundle of its main platform. Waybill fees (``first_kg``/``extra_kg``) are what
        ``jiqun.money.rates.quote`` answers for them, computed with the same arithmetic."""
        self.zone_ids: dict[tuple[str, int], int] = {}
        self.card_ids: dict[str, int] = {}
        for code in ("HA", "ZJ", "GD"):
            origin = self.units[code].adcode
            for z, kind in enumerate(ZONE_KINDS):
                members = [p.adcode for p in provinces() if zone_of(origin, p.adcode).value == kind]
                self.zone_ids[(code, z)] = self.rows.add(
                    m.Zone, code=f"{code}-{kind}", name=("省内", "邻省", "跨省", "偏远")[z], kind=kind,
                    province_adcodes=members, org_unit_id=self.org[code],
                )
        factors = market_price_factors(self.rng)
        n = len(self.mer)
        self.first_kg = np.zeros((n, len(PRODUCTS), len(ZONE_KINDS)))
        self.extra_kg = np.zeros_like(self.first_kg)
        self.market_cards = []
        start = self.tl.start
        year_before = start - dt.timedelta(days=365)
        for code in ("HA", "ZJ", "GD"):
            first, extra = market_rate_card(1.0)
            self._cards(None, code, first, extra, [(year_before, None, m.PriceStatus.IN_FORCE)])
        self.base_cards: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # before our move
        self.moved_from = np.full(len(MARKETS), np.datetime64(start, "s"))
        for i in range(len(MARKETS)):
            first, extra = market_rate_card(float(factors[i]))
            old_first, old_extra = market_rate_card(float(factors[i]) * 0.95)
            self._cards(i, None, old_first, old_extra,
                        [(year_before, start - dt.timedelta(days=1), m.PriceStatus.SUPERSEDED)])
            first = self._current_cards(i, first, extra)
            self.market_cards.append((first, extra))
            rows = self.mer.market == i
            self.first_kg[rows], self.extra_kg[rows] = first, extra
            if MARKETS[i].code == "HA-SG":  # a rise proposed for next month, not in force yet
                nxt = self.tl.until.replace(day=1) + dt.timedelta(days=32)
                self._cards(i, None, *market_rate_card(float(factors[i]) * 1.04),
                            [(nxt.replace(day=1), None, m.PriceStatus.DRAFT)], number=3,
                            products=("parcel",), remote=True)
        self._bundles_and_contracts()
        self._prices_before_moves()

    def _current_cards(self, i: int, first: np.ndarray, extra: np.ndarray) -> np.ndarray:
        """The market's cards from the history's first day; where we moved our parcel price
        (``demo.pricing``), the parcel card's version of the move follows the one it
        superseded. Returns the first-weight prices in force at the end."""
        from jiqun.demo.pricing import moves_of

        ours = [mv for mv in moves_of(MARKETS[i].code) if mv.ours]
        start = self.tl.start
        if not ours:
            self._cards(i, None, first, extra, [(start, None, m.PriceStatus.IN_FORCE)], number=2)
            return first
        (move,) = ours  # one move of ours per market
        begins = move.starts(self.tl.until)
        parcel = PRODUCTS.index("parcel")
        others = tuple(p for p in PRODUCTS if p != "parcel")
        self._cards(i, None, first, extra, [(start, None, m.PriceStatus.IN_FORCE)], number=2,
                    products=others)
        self._cards(i, None, first, extra,
                    [(start, begins - dt.timedelta(days=1), m.PriceStatus.SUPERSEDED)],
                    number=2, products=("parcel",))
        moved = first.copy()
        moved[parcel] = np.round(first[parcel] + move.ours, 2)
        self._cards(i, None, moved, extra, [(begins, None, m.PriceStatus.IN_FORCE)], number=3,
                    products=("parcel",))
        self.base_cards[i] = (first, extra)
        self.moved_from[i] = np.datetime64(begins, "s")
        return moved

    def _prices_before_moves(self) -> None:
        """``first_kg_before``: every merchant's first-weight prices before its market's move
        (the same contract arithmetic on the superseded card), for the fees of those days."""
        self.first_kg_before = self.first_kg.copy()
        for i, (first, extra) in self.base_cards.items():
            rows = np.flatnonzero(self.mer.market == i)
            self.first_kg_before[rows] = first
            for c in rows[self.mer.stage[rows] == VIP]:
                self.first_kg_before[c], _ = self._contract_prices(int(c), first, extra)

    def _contract_prices(self, c: int, first: np.ndarray, extra: np.ndarray):
        """(products × zones) first and extra prices of VIP ``c`` on its contract and bundle."""
        from jiqun.money.tariff import Line, adjusted, money

        def priced(first: float, extra: float, adjustments) -> tuple[float, float]:
            line = Line("same", D0, D0, D0, money(first), money(extra))
            for a in adjustments:
                line = adjusted(line, a)
            return float(line.first_price), float(line.extra_per_kg)

        discount = round(1 - VIP_CONTRACT_DISCOUNT, 4)
        segment = int(np.argmax(self.mer.platform_p[c]))
        bundle_product = PRODUCTS.index(BUNDLES[segment][2])
        out_first, out_extra = np.zeros_like(first), np.zeros_like(extra)
        for p in range(len(PRODUCTS)):
            steps = [Decimal(repr(-discount))]
            if p == bundle_product:
                steps.append(Decimal(repr(BUNDLES[segment][4])))
            for z in range(len(ZONE_KINDS)):
                out_first[p, z], out_extra[p, z] = priced(float(first[p, z]), float(extra[p, z]),
                                                          steps)
        return out_first, out_extra

    def _bundles_and_contracts(self) -> None:
        self.bundle_ids: dict[tuple[str, int], int] = {}
        for code in ("HA", "ZJ", "GD"):
            for k, (segment, name, product, hours, adjust, services) in enumerate(BUNDLES):
                self.bundle_ids[(code, k)] = self.rows.add(
                    m.PriceBundle, code=f"{code}-B-{segment.upper()}", name=name, segment=segment,
                    product=m.Product(product), promise_hours=hours, services=list(services),
                    rate_adjustment=adjust, active=True, org_unit_id=self.org[code],
                    created_at=self.created, updated_at=self.created)
        discount = round(1 - VIP_CONTRACT_DISCOUNT, 4)
        for c in np.flatnonzero(self.mer.stage == VIP):  # VIP contract prices (协议价)
            i = int(self.mer.market[c])
            province = self._province_of(MARKETS[i].outlet_code)
            segment = int(np.argmax(self.mer.platform_p[c]))
            self.first_kg[c], self.extra_kg[c] = self._contract_prices(int(c),
                                                                       *self.market_cards[i])
            self.rows.add(
                m.PriceContract, code=f"{MARKETS[i].code}-{int(c) + 1:05d}-C1",
                customer_id=int(c) + 1, product=None, discount=discount,
                bundle_id=self.bundle_ids[(province, segment)], valid_from=self.tl.start,
                valid_to=None, status=m.PriceStatus.IN_FORCE, note="大客户协议价",
                org_unit_id=int(self.outlet_org[i]), created_at=self.created,
                updated_at=self.created)
        # A deep discount a county proposed for next month: below the floor, waiting for the
        # city (the approvals on /prices).
        sg = [s.code for s in MARKETS].index("HA-SG")
        candidates = np.flatnonzero((self.mer.market == sg) & (self.mer.stage == GROWING))
        if len(candidates):
            c = int(candidates[0])
            self.rows.add(
                m.PriceContract, code=f"HA-SG-{c + 1:05d}-C1", customer_id=c + 1,
                product=m.Product.PARCEL, discount=0.5, bundle_id=None,
                valid_from=self.tl.until + dt.timedelta(days=1), valid_to=None,
                status=m.PriceStatus.PENDING, note="争取回流, 低于底价", proposed_level=m.OrgLevel.COUNTY,
                proposed_by_id=self.staff.first("HA-SQ-YC", "county_manager"),
                org_unit_id=int(self.outlet_org[sg]), created_at=_stamp(self.tl.until),
                updated_at=_stamp(self.tl.until))

    def _cards(self, i: int | None, province: str | None, first, extra, versions, number=1,
               products=PRODUCTS, remote=False) -> None:
        """One card per product (of market ``i``, or the default of ``province``), or a further
        version of each: ``versions`` is [(valid_from, valid_to, status)]."""
        zh = {"express": "特快", "parcel": "快包", "standard": "标快"}
        for p, product in enumerate(PRODUCTS):
            if product not in products:
                continue
            if i is not None:
                code, name = f"{MARKETS[i].code}-{product}", f"{MARKETS[i].name}{zh[product]}价格表"
                org, origin = int(self.outlet_org[i]), m.RateOrigin.MARKET
            else:
                code, name = f"{province}-{product}", f"{self.units[province].name}{zh[product]}标准价"
                org, origin = self.org[province], m.RateOrigin.PROVINCE
            if number == 1:
                self.card_ids[code] = self.rows.add(
                    m.RateCard, code=code, name=name, origin=origin,
                    market_id=int(self.market_ids[i]) if i is not None else None,
                    customer_id=None, product=m.Product(product), org_unit_id=org,
                    created_at=self.created, updated_at=self.created)
            for valid_from, valid_to, status in versions:
                vid = self.rows.add(
                    m.RateCardVersion, card_id=self.card_ids[code], number=number, status=status,
                    valid_from=valid_from, valid_to=valid_to, volumetric_divisor=6000.0,
                    note=None, org_unit_id=org, created_at=_stamp(min(valid_from, self.tl.until)),
                    version=1)
                for z, zone in enumerate(ZONE_KINDS):
                    self.rows.add(m.RateLine, version_id=vid, zone=zone, weight_from_kg=0.0,
                                  weight_to_kg=RATE_CARD_MAX_KG, first_weight_kg=1.0,
                                  first_price=float(first[p, z]), extra_per_kg=float(extra[p, z]),
                                  org_unit_id=org)
                if remote:
                    self.rows.add(m.RateSurcharge, version_id=vid, position=1, kind="remote",
                                  amount=3.0, percent=0.0, adcodes=["540000", "650000"],
                                  starts_on=None, ends_on=None, org_unit_id=org)

    def competitor_prices(self) -> None:
        """Competitor prices heard in the field (竞争对手价格): a survey of the last 90 days and,
        from a generator of its own (the main stream stays as it was), a monthly series over
        the history per carrier and destination, moving when a competitor's price moves
        (``demo.pricing``: the signal of the price-response fit)."""
        rng = self.rng
        history = rng.spawn(1)[0]
        months = [np.datetime64(m, "D").astype(dt.date) for m in self.tl.months()]
        dests = ("440000", "320000", "330000", "110000", "410000")
        for i, spec in enumerate(MARKETS):
            first, _ = self.market_cards[i]
            origin = spec_adcode(spec)
            observer = self.staff.by_role[(spec.outlet_code, "marketer")][0]

            def add(comp, dest, price, day, i=i, observer=observer):
                self._competitor_price(i, comp, dest, price, day, observer)

            for comp in ("中通", "圆通", "韵达", "极兔"):
                for dest in rng.choice(dests, size=2, replace=False):
                    z = ZONE_KINDS.index(zone_of(origin, str(dest)).value)
                    base = float(first[1, z]) * float(rng.uniform(0.82, 1.06))
                    add(comp, dest, base,
                        self.tl.until - dt.timedelta(days=int(rng.integers(1, 90))))
                    for month in months:
                        day = month + dt.timedelta(days=int(history.integers(0, 28)))
                        if day <= self.tl.until:
                            add(comp, dest, base * float(history.normal(1.0, 0.01)), day)

    def _competitor_price(self, i: int, comp: str, dest: str, price: float, day: dt.date,
                          observer: int) -> None:
        from jiqun.demo.pricing import change_on

        moved = float(change_on(MARKETS[i].code, np.array([np.datetime64(day, "D")]),
                                self.tl.until, "theirs")[0])
        self.rows.add(
            m.CompetitorPrice, market_id=int(self.market_ids[i]), competitor=comp,
            dest_province_adcode=str(dest), weight_kg=1.0, observed_on=day,
            price=round(price + moved, 2), observed_by_id=observer,
            org_unit_id=int(self.outlet_org[i]))

    # -- market estimates and targets -----------------------------------------------------
    def estimates_and_targets(self) -> None:
        """Monthly market totals and competitor volumes (M3) and monthly plans (targets)."""
        rng, tl = self.rng, self.tl
        months = tl.months()
        plan_months = months + [months[-1] + 1]
        fee_rng = np.random.default_rng(12345)  # apart from the main stream: plans only
        for i, spec in enumerate(MARKETS):
            total = tl.market_total(i, self.factor)
            rows, rates = tl.our_rates(self.mer, i, self.factor)
            ours = rates.sum(axis=0)
            bias = np.array([spec.competitor_bias.get(c, 1.0) for c in COMPETITORS])
            weights = np.array(COMPETITOR_WEIGHTS) * bias * rng.uniform(0.8, 1.2, len(COMPETITORS))
            weights /= weights.sum()
            org = int(self.outlet_org[i])
            avg_fee = self._average_fee(fee_rng, i, rows, rates.sum(axis=1))
            if spec.yearly_revenue_target is not None:  # the seed names a plan for it
                self.market_rows[i]["yearly_revenue_target"] = self._yearly_revenue_target(
                    ours, avg_fee)
            monthly_ours = []
            for month in months:
                span = tl.month_slice(month)
                market_day = float(total[span].mean())
                our_day = float(ours[span].mean())
                monthly_ours.append(float(ours[span].sum()) / (span.stop - span.start))
                first_day = month.astype("datetime64[D]").astype(object)
                self.rows.add(m.MarketVolumeEstimate, market_id=int(self.market_ids[i]), carrier=m.ALL_CARRIERS,
                              valid_from=first_day, daily_volume=round(market_day, 3),
                              source="市场调研", org_unit_id=org)
                rest = max(market_day * (1 - OTHER_CARRIERS_SHARE) - our_day, 0.0)
                for c, comp in enumerate(COMPETITORS):
                    self.rows.add(m.MarketVolumeEstimate, market_id=int(self.market_ids[i]),
                                  carrier=comp, valid_from=first_day,
                                  daily_volume=round(rest * float(weights[c]), 3),
                                  source="市场调研", org_unit_id=org)
            self._targets(i, rows, rates, plan_months, monthly_ours, avg_fee)

    def _average_fee(self, rng: np.random.Generator, i: int, rows: np.ndarray,
                     weights: np.ndarray) -> float:
        """Expected fee of a parcel of market ``i``: its card by product mix, weights and
        destinations, VIP contracts for the VIPs' share of ``weights`` (parcels per row)."""
        spec = MARKETS[i]
        first, extra = self.market_cards[i]
        zones = zone_table()[i]
        p = destination_probabilities(i)
        sigma = np.hypot(spec.weight_sigma, WEIGHT_MULT_SIGMA)  # parcel × merchant spread
        w = np.clip(spec.weight_median_kg * rng.lognormal(0.0, sigma, 4000), 0.05, 60.0)
        extra_kg = np.maximum(np.ceil(np.round(w, 2) - 1e-9) - 1, 0).mean()
        zone_mix = np.bincount(zones, weights=p, minlength=len(ZONE_KINDS))
        products = np.array([spec.express_share, 1 - spec.express_share - STANDARD_SHARE,
                             STANDARD_SHARE])  # order of PRODUCTS
        card = float(products @ (first + extra * extra_kg) @ zone_mix)
        total = float(weights.sum())
        vip = float(weights[self.mer.stage[rows] == VIP].sum()) / total if total > 0 else 0.0
        return card * (1 - vip * (1 - VIP_CONTRACT_DISCOUNT))

    def _yearly_revenue_target(self, ours: np.ndarray, avg_fee: float) -> float:
        """The plan of the data date's calendar year, made as the monthly plans are: expected
        revenue + 8%. Days of the year after the history count as the same days a year before,
        grown as the market's parcels grew over the last year."""
        days, year = self.tl.days, self.tl.until.year
        start, end = np.datetime64(dt.date(year, 1, 1), "D"), np.datetime64(dt.date(year, 12, 31), "D")
        expected = float(ours[days >= start].sum())
        after = np.datetime64(self.tl.until, "D") + 1
        if after <= end:
            year_ago = np.timedelta64(365, "D")
            growth = float(ours[-365:].sum()) / max(float(ours[-730:-365].sum()), 1e-9)
            same_days = (days >= after - year_ago) & (days <= end - year_ago)
            expected += float(ours[same_days].sum()) * growth
        return float(f"{expected * avg_fee * PLAN_STRETCH:.3g}")  # plans are round figures

    def _targets(self, i, rows, rates, plan_months, monthly_ours, avg_fee) -> None:
        """Monthly plans for market, grids, teams and marketers: expected volume + 8% stretch,
        revenue at the market's expected fee."""
        tl = self.tl
        org = int(self.outlet_org[i])
        grid_of = self.customer_grid[rows]
        grid_ids = sorted(set(grid_of.tolist()))
        firsts = self.mer.first_shipped[rows]
        for k, month in enumerate(plan_months):
            if k < len(monthly_ours):
                span = tl.month_slice(month)
                per_row = rates[:, span].sum(axis=1)
                days_in = (month + 1).astype("datetime64[D]") - month.astype("datetime64[D]")
                scale_up = int(days_in.astype(int)) / (span.stop - span.start)
            else:  # next month's plan: last month's pace
                span = tl.month_slice(plan_months[k - 1])
                per_row = rates[:, span].sum(axis=1)
                scale_up = 1.0
            first_day = month.astype("datetime64[D]").astype(object)
            new = int(((firsts >= month.astype("datetime64[D]"))
                       & (firsts < (month + 1).astype("datetime64[D]"))).sum())
            volume = float(per_row.sum()) * scale_up * PLAN_STRETCH
            self._target(m.TargetScope.MARKET, int(self.market_ids[i]), first_day, volume,
                         avg_fee, max(new + 1, 2), org)
            for gid in grid_ids:
                share = float(per_row[grid_of == gid].sum()) / max(float(per_row.sum()), 1e-9)
                g_volume = volume * share
                g_new = max(round((new + 1) * share), 1)
                self._target(m.TargetScope.GRID, gid, first_day, g_volume, avg_fee, g_new, org)
                team = self.grid_team[gid]
                self._target(m.TargetScope.TEAM, team, first_day, g_volume, avg_fee, g_new, org)
                marketers = self.team_marketers[team]
                for uid in marketers:
                    self._target(m.TargetScope.PERSON, uid, first_day, g_volume / len(marketers),
                                 avg_fee, max(g_new // len(marketers), 1), org)

    def _target(self, scope, scope_id, month, volume, avg_fee, new, org) -> None:
        self.rows.add(m.Target, scope_type=scope, scope_id=scope_id, month=month,
                      volume=round(volume, 1), revenue=round(volume * avg_fee, 2),
                      new_customers=int(new), org_unit_id=org)

    # -- field sales ----------------------------------------------------------------------
    def visits_and_trials(self) -> None:
        """Visits (走访) with method and outcome, trial shipments (试寄), consistent with stages."""
        mer, rng, until = self.mer, self.rng, self.tl.until
        for c in range(len(mer)):
            stage, i = int(mer.stage[c]), int(mer.market[c])
            org = int(self.outlet_org[i])
            team = self.grid_team[int(self.customer_grid[c])]
            people = self.team_people[team]
            converted = stage in (COOPERATING, GROWING, VIP, CHURNED)
            method = VISIT_METHODS[rng.choice(6, p=_METHOD_P_CONVERTED if converted else _METHOD_P_OTHER)]
            archived = _date(mer.archived_on[c])
            plan: list[tuple[dt.date, str, str | None]] = []
            if stage == NURTURING:
                for _ in range(int(rng.integers(1, 4))):
                    plan.append((until - dt.timedelta(days=int(rng.integers(1, 120))),
                                 rng.choice(["interested", "follow_up", "no_interest"], p=[0.4, 0.45, 0.15]),
                                 "安排试寄" if rng.random() < 0.4 else "再次走访"))
                if rng.random() < 0.3:
                    start = until - dt.timedelta(days=int(rng.integers(30, 200)))
                    self._trial(c, start, start + dt.timedelta(days=14), "declined", org)
            elif stage == TRIAL:
                start = _date(mer.first_shipped[c])
                plan.append((start - dt.timedelta(days=int(rng.integers(5, 40))), "interested", "推荐试寄"))
                plan.append((start - dt.timedelta(days=1), "trial", "跟踪试寄时效"))
                self._trial(c, start, None, None, org)
            elif converted:
                first = _date(mer.first_shipped[c])
                plan.append((first - dt.timedelta(days=int(rng.integers(20, 60))), "interested", "推荐试寄"))
                plan.append((first - dt.timedelta(days=15), "trial", "跟踪试寄时效"))
                plan.append((first - dt.timedelta(days=1), "signed", "签订协议"))
                self._trial(c, first - dt.timedelta(days=14), first - dt.timedelta(days=1), "converted", org)
                every = 30 if stage == VIP else 75
                day = first + dt.timedelta(days=every)
                end = _date(mer.churned_on[c]) if stage == CHURNED else until
                while day < end and day <= until:
                    if day >= self.tl.start:
                        plan.append((day, "follow_up", "维护回访"))
                    day += dt.timedelta(days=every)
                if stage == CHURNED:
                    plan.append((end - dt.timedelta(days=3), "lost", "竞品低价, 争取回流"))
            elif stage == ARCHIVED and rng.random() < 0.3:
                plan.append((archived, "no_interest", "建档, 择期再访"))
            for day, outcome, next_step in plan:
                day = max(min(day, until), archived)
                who = people[int(rng.integers(len(people)))]
                next_on = day + dt.timedelta(days=int(rng.integers(3, 21))) if stage == NURTURING else None
                self.rows.add(
                    m.Visit, customer_id=c + 1, user_id=who,
                    visited_at=dt.datetime.combine(day, dt.time(int(rng.integers(9, 18)), int(rng.integers(0, 60)))),
                    method=method if outcome != "follow_up" or stage == NURTURING else "revisit",
                    outcome=str(outcome), next_step=next_step, next_visit_on=next_on, notes=None,
                    org_unit_id=org,
                )

    def _trial(self, c, start, end, outcome, org) -> None:
        """A trial sends a small share of the merchant's parcels, × the model's factor."""
        days = ((end or self.tl.until) - start).days + 1
        parcels = float(self.mer.volume[c]) * TRIAL_SHARE * self.factor * days
        self.rows.add(m.TrialShipment, customer_id=c + 1, started_on=start, ended_on=end,
                      parcels=max(1, round(parcels)), outcome=outcome, org_unit_id=org)

    def campaigns(self) -> None:
        """春耕计划 (spring drive) and the mid-autumn drive in Huzhou (seed: 织里)."""
        camp_from, camp_to = campaign_window(self.tl.until)
        org = self.org["ZJ-HUZ"]
        spring = self.rows.add(
            m.Campaign, name="春耕计划", starts_on=camp_from, ends_on=camp_to,
            description="织里童装集群春季蓄客拓客: 试寄优惠, 专线直达, 平台招商会", org_unit_id=org,
            created_at=_stamp(camp_from), updated_at=_stamp(camp_from),
        )
        for c in np.flatnonzero(self.mer.in_campaign):
            self.rows.add(m.CampaignCustomer, campaign_id=spring, customer_id=int(c) + 1)
        year = self.tl.until.year if self.tl.until >= dt.date(self.tl.until.year, 9, 30) else self.tl.until.year - 1
        autumn = self.rows.add(
            m.Campaign, name="中秋同欢喜, 邮你情更浓", starts_on=dt.date(year, 9, 1),
            ends_on=dt.date(year, 9, 30), description="客户关怀活动, 金融业务客户节引入快递收寄",
            org_unit_id=org, created_at=_stamp(dt.date(year, 8, 20)),
            updated_at=_stamp(dt.date(year, 8, 20)),
        )
        zhili = [s.code for s in MARKETS].index("ZJ-ZL")
        loyal = np.flatnonzero((self.mer.market == zhili) & np.isin(self.mer.stage, (COOPERATING, GROWING, VIP)))
        for c in loyal[self.rng.random(len(loyal)) < 0.3]:
            self.rows.add(m.CampaignCustomer, campaign_id=autumn, customer_id=int(c) + 1)

    # -- network --------------------------------------------------------------------------
    def facilities_and_lines(self) -> None:
        """Outlets, the two front consolidation centres (前置集包中心), Guangdong's regional
        centre (85万件/日), the Yucheng direct lines (虞城→广州/南京/杭州)."""
        f = self.factor
        self.outlet_facility = np.zeros(len(MARKETS), dtype=int)
        for i, spec in enumerate(MARKETS):
            place = division(spec_adcode(spec))
            self.outlet_facility[i] = self.rows.add(
                m.Facility, code=f"F-{spec.outlet_code}", name=self.units[spec.outlet_code].name,
                kind=m.FacilityKind.OUTLET, adcode=place.adcode, lon=round(place.lon + 0.01, 5),
                lat=round(place.lat + 0.01, 5),
                capacity_per_day=round(spec.market_volume * spec.our_share * 1.6 * f, 2),
                status="active", org_unit_id=int(self.outlet_org[i]),
                created_at=self.created, updated_at=self.created,
            )
        self.departure = self.outlet_facility.copy()
        centres = (
            ("F-HA-SG-JB", "稍岗前置集包中心", "HA-SQ-YC", "411425", 90_000, "HA-SG"),
            ("F-HA-YJ-JB", "闫集前置集包中心", "HA-SQ-SY", "411403", 40_000, "HA-YJ"),
            ("F-GD-JB", "广东区域集包中心", "GD-GZ", "440100", 850_000, None),
        )
        codes = [s.code for s in MARKETS]
        for code, name, org, adcode, capacity, market in centres:
            place = division(adcode)
            fid = self.rows.add(
                m.Facility, code=code, name=name, kind=m.FacilityKind.CONSOLIDATION_CENTRE,
                adcode=adcode, lon=round(place.lon - 0.02, 5), lat=round(place.lat + 0.02, 5),
                capacity_per_day=round(capacity * f, 2), status="active",
                org_unit_id=self.org[org], created_at=self.created, updated_at=self.created,
            )
            if market:
                self.departure[codes.index(market)] = fid
            else:
                self.departure[[k for k, s in enumerate(MARKETS) if s.code.startswith("GD")]] = fid
                self.gd_centre = fid
        self.lines: list[LineKey] = []
        sg = codes.index("HA-SG")
        opened = (60, 150, 150)
        daily = (24_000, 12_000, 12_000)
        truck = self.planning.trucks[-1]  # the model of the 17.5 m truck
        capacity = self._truck_capacity(truck, sg)
        for d, days_in, volume in zip(SHAOGANG_DIRECTIONS, opened, daily, strict=True):
            city = division(d.city)
            opened_on = self.tl.start + dt.timedelta(days=days_in)
            trips = max(1, math.ceil(volume * f / (capacity * LINE_FILL)))
            lid = self.rows.add(
                m.DedicatedLine, code=f"L-YC-{city.short_name}", origin_facility_id=int(self.departure[sg]),
                origin_market_id=int(self.market_ids[sg]), dest_adcode=d.city,
                status=m.LineStatus.ACTIVE, truck_type=truck.name,
                trips_per_day=float(trips), opened_on=opened_on,
                proposal={"daily_volume": round(volume * f, 2), "threshold": round(8000 * f, 2),
                          "note": f"虞城→{city.short_name} 一干直发专线"},
                org_unit_id=self.org["HA-SQ-YC"], created_at=_stamp(opened_on),
                updated_at=_stamp(opened_on),
            )
            self.lines.append(LineKey(lid, sg, d.province, np.datetime64(opened_on, "D")))
        zl = codes.index("ZJ-ZL")
        self.rows.add(
            m.DedicatedLine, code="L-ZL-广州", origin_facility_id=int(self.departure[zl]),
            origin_market_id=int(self.market_ids[zl]), dest_adcode="440100",
            status=m.LineStatus.DRAFT, truck_type=self.planning.trucks[0].name, trips_per_day=1.0,
            proposal={"note": "旺季广州路向够量直运评估中"}, org_unit_id=self.org["ZJ-HUZ-WX"],
            created_at=_stamp(self.tl.until), updated_at=_stamp(self.tl.until),
        )

    def _truck_capacity(self, truck, i: int) -> float:
        """Parcels one trip of the (model) ``truck`` carries for market ``i``'s goods, as the
        line planner counts them (weight and volume bound, the mean parcel weight)."""
        spec = MARKETS[i]
        sigma2 = spec.weight_sigma ** 2 + WEIGHT_MULT_SIGMA ** 2
        mean_kg = spec.weight_median_kg * math.exp(sigma2 / 2)
        p = self.planning
        return truck.capacity_parcels(mean_kg, p.density(spec.industry), p.fill_rate,
                                      p.min_parcel_m3)

    def problems(self) -> None:
        """Problems (R2, 问题有人盯) with their levels and history: open at a city, escalated by
        the clock and by hand, a common problem of three cities in three provinces held by HQ,
        one of two Henan cities merged and solved by the province, others solved with credit.
        Clocks are the real ones (``ProblemRules()``); every date counts back from the data date.
        """
        from jiqun.service.problem_rules import ProblemRules

        until, rules = self.tl.until, ProblemRules()
        codes = [s.code for s in MARKETS]
        lv = m.OrgLevel

        def at(ago: int, hour: int = 9) -> dt.datetime:
            return dt.datetime.combine(until - dt.timedelta(days=ago), dt.time(hour))

        def who(org: str) -> int:
            level = self.units[org].level
            role = {lv.HQ: "hq_business", lv.PROVINCE: "provincial_manager"}.get(
                level, "city_manager")
            return self.staff.first(org, role)

        def event(pid, kind, when, by, src=None, dst=None, note=None) -> None:
            self.rows.add(m.ProblemEvent, problem_id=pid, at=when, kind=kind, by_id=by,
                          from_level=src, to_level=dst, note=note)

        def problem(title, desc, market, org, ago, steps=(), *, common_of=(), merged=None,
                    solved=None):
            """A problem raised ``ago`` days back at ``org`` (a common problem: merged from
            ``common_of`` ``merged`` days back, as old as its oldest member); ``steps`` are
            ``(org, (days back, note))`` escalations by a person (``(None, None)``: by the
            clock when it runs out), ``solved`` is ``(days back, org of the solver, solution)``.
            """
            raised, level, holder = at(ago), self.units[org].level, org
            when = at(merged) if common_of else raised
            due, status, escalated_at = rules.due(level, when), "open", None
            pid = self.rows.count(m.Problem) + 1
            event(pid, "merged" if common_of else "raised", when, who(org), None, level,
                  ", ".join(f"#{c}" for c in common_of) or None)
            for by_org, note in steps:
                when = due if by_org is None else max(when, at(note[0]))
                up = {lv.CITY: lv.PROVINCE, lv.PROVINCE: lv.HQ}[level]
                holder = holder if self.units[holder].level == up else (
                    "HQ" if up == lv.HQ else holder.split("-")[0])
                event(pid, "escalated", when, None if by_org is None else who(by_org), level,
                      up, "clock" if by_org is None else note[1])
                level, status, escalated_at, due = up, "escalated", when, rules.due(up, when)
            solved_by = solution = solved_on = None
            if solved:
                solved_on, solved_by, solution = at(solved[0]), who(solved[1]), solved[2]
                event(pid, "solved", solved_on, solved_by, level, None, solution)
                status, due = "solved", None
            self.rows.add(
                m.Problem, title=title, description=desc,
                market_id=int(self.market_ids[codes.index(market)]) if market else None,
                raised_by_id=who(org), raised_on=raised.date(), status=m.ProblemStatus(status),
                escalated_to_id=self.org[holder] if holder != org else None,
                owner_id=who(holder), solved_on=solved_on.date() if solved_on else None,
                level=level, due_at=due, escalated_at=escalated_at,
                source="merge" if common_of else "meeting", is_common=bool(common_of),
                solved_by_id=solved_by, solution=solution, org_unit_id=self.org[org],
                created_at=at(merged) if common_of else raised, updated_at=when,
            )
            return pid

        def merge(into: int, members: list[int], ago: int, by_org: str) -> None:
            """The members follow the common problem ``into`` from ``ago`` days back."""
            common = self.rows.tables[m.Problem][into - 1]
            for pid in members:
                row = self.rows.tables[m.Problem][pid - 1]
                event(pid, "merged", at(ago), who(by_org), row["level"], common["level"],
                      f"#{into} {common['title']}")
                holder = common["escalated_to_id"] or common["org_unit_id"]
                row.update(merged_into_id=into, level=common["level"], escalated_to_id=holder,
                           owner_id=common["owner_id"], due_at=None,
                           status=m.ProblemStatus.ESCALATED)
                if common["status"] == m.ProblemStatus.SOLVED:
                    row.update(status=m.ProblemStatus.SOLVED, solved_on=common["solved_on"],
                               solved_by_id=common["solved_by_id"], solution=common["solution"])
                    event(pid, "solved", dt.datetime.combine(common["solved_on"], dt.time(9)),
                          common["solved_by_id"], common["level"], None, common["solution"])

        # Held by Shangqiu, Xuchang and Henan: the provincial manager sees every level.
        problem("稍岗集包中心旺季产能不足", "双11期间日均收寄超出前置集包中心产能, 需增加环形集包笼",
                "HA-SG", "HA-SQ", 20, [(None, None)])
        problem("闫集直播基地夜间揽收", "直播基地晚间8点后出单集中, 需增开夜间揽收频次", "HA-YJ",
                "HA-SQ", 2)
        problem("夏邑快递价格战", "同行对淘宝村小件报价低于我方协议价0.3元", "HA-XY", "HA-SQ", 9)
        problem("许昌发制品出口件报关时效", "假发出口件报关排队, 需省公司与海关协调", "HA-XC",
                "HA-XC", 12, [("HA-XC", (9, "需省公司协调海关")), ("HA", (4, "需总部协调国际资源"))])
        problem("夏邑淘宝村揽收时效不稳", "下午揽收车次不足, 部分邮件次日发出", "HA-XY", "HA-SQ",
                120, solved=(95, "HA-SQ", "加开16点揽收车次, 当日发出率升至98%"))
        # One problem of two Henan cities, merged by the province, solved there (credit: 省).
        a = problem("稍岗集包笼周转不足", "旺季集包笼回收慢, 前置集包点缺笼", "HA-SG", "HA-SQ", 16)
        b = problem("发制品园区集包笼不够用", "集包笼由市局调拨, 周转周期长", "HA-XC", "HA-XC", 14)
        henan = problem("旺季集包笼周转不足", "商丘、许昌两市同时反映集包笼短缺", None, "HA", 16,
                        common_of=(a, b), merged=10,
                        solved=(5, "HA", "省分公司统一调拨环形集包笼2000个"))
        merge(henan, [a, b], 10, "HA")
        # The same problem in three provinces: one common problem (共性问题) held by HQ.
        c = problem("闫集童装退件率偏高", "部分直播客户退货集中, 逆向物流成本上升", "HA-YJ", "HA-SQ",
                    30, [(None, None)])
        d = problem("织里童装直播退货逆向成本高", "直播退货集中返回, 逆向件单价偏高", "ZJ-ZL",
                    "ZJ-HUZ", 26, [(None, None)])
        e = problem("白云服装直播退货量大", "退货件处理占用揽投部人力", "GD-GZ-BY", "GD-GZ", 21,
                    [(None, None)])
        hq = problem("直播电商退货集中, 逆向物流成本高", "三省集群市场同时反映直播退货问题, "
                     "需总部统一逆向物流产品与价格", None, "HQ", 30, common_of=(c, d, e), merged=8)
        merge(hq, [c, d, e], 8, "HQ")
        # Other provinces, as before: open, escalated, solved at HQ (credit: 总部).
        problem("织里极兔低价竞争", "极兔对头部客户报价低于我方协议价", "ZJ-ZL", "ZJ-HUZ", 15,
                [(None, None)])
        problem("快包与特快混合收寄系统支持", "一体机混合收寄需系统支持同场同机作业", "GD-FS-LC",
                "GD-FS", 300, [(None, None), (None, None)],
                solved=(240, "HQ", "新一代寄递平台支持同机混合收寄, 已全国推广"))
        problem("横岗眼镜特快时效考核", "眼镜客户要求次日达比例, 需总部协调航空资源", "GD-SZ-HG",
                "GD-SZ", 40, [("GD-SZ", (38, "需省公司协调")), ("GD", (30, "需总部协调航空资源"))])

    def cost_parameters(self) -> None:
        """Activity cost rates (P3) per province, and a few cities of their own: real rates
        (yuan per visit, stop, piece, case, trip, kg·km, pieces by zone) and fixed parts a
        month, written at the model's scale (:func:`jiqun.demo.scale.demo_cost`). Xuchang pays
        more for its small volume (its own sorting and a dearer last mile), so it loses money
        and Henan covers it; Shangqiu's consolidation centres cost a fixed part of their own."""
        P, D = m.CostPool, m.CostDriver
        province = (
            (P.MARKETING, D.VISITS, "*", 30.0, 0.0),
            (P.PICKUP, D.STOPS, "*", 2.0, 0.0),
            (P.PICKUP, D.PIECES, "*", 0.25, 0.0),
            (P.CUSTOMER_SERVICE, D.CONTACTS, "*", 5.0, 50_000.0),
            (P.PROCESSING, D.PIECES, "*", 0.30, 400_000.0),
            (P.LINE_HAUL, D.KG_KM, "*", 0.0004, 0.0),
            (P.LINE_HAUL, D.TRIPS, "*", 4_000.0, 0.0),
            (P.LAST_MILE, D.PIECES, "same", 0.90, 0.0),
            (P.LAST_MILE, D.PIECES, "neighbour", 1.00, 0.0),
            (P.LAST_MILE, D.PIECES, "far", 1.10, 0.0),
            (P.LAST_MILE, D.PIECES, "remote", 2.50, 0.0),
        )
        cities = (
            ("HA-SQ", P.CONSOLIDATION, D.PIECES, "*", 0.12, 150_000.0),
            ("GD", P.CONSOLIDATION, D.PIECES, "*", 0.10, 600_000.0),
            ("HA-XC", P.PROCESSING, D.PIECES, "*", 0.60, 900_000.0),
            ("HA-XC", P.LAST_MILE, D.PIECES, "far", 1.60, 0.0),
            ("HA-XC", P.LAST_MILE, D.PIECES, "neighbour", 1.50, 0.0),
        )
        rows = [(code, *item) for code in ("HA", "ZJ", "GD") for item in province]
        for code, pool, driver, zone, rate, fixed in (*rows, *cities):
            rate, fixed = demo_cost(driver.value, rate, fixed, self.factor)
            self.rows.add(m.CostParameter, pool=pool, driver=driver, zone=zone,
                          rate=rate, fixed_per_month=round(fixed, 2),
                          allocation_key="pieces", valid_from=self.tl.start.replace(day=1),
                          note=None, org_unit_id=self.org[code], version=1,
                          created_at=self.created, updated_at=self.created)

    # -- warehousing (S2) -----------------------------------------------------------------
    # 源头仓 in Henan's three biggest markets (real capacity, parcels a day), each beside its
    # market's outlet, filled by its biggest cooperating merchants to about this share.
    WAREHOUSES = (("HA-SG", "稍岗五金源头仓", 30_000), ("HA-YJ", "闫集童装源头仓", 15_000),
                  ("HA-XY", "夏邑淘宝村云仓", 8_000))
    WAREHOUSE_FILL = 0.7
    WAREHOUSE_MERCHANTS = 12  # at most, the biggest that fit

    def warehouses(self) -> None:
        """Warehouses (仓配一体, 源头仓) and the large merchants served from them; no random
        draws (the merchants are taken by their expected parcels of the last 30 days), so the
        rest of the build is the same with or without them."""
        codes = [s.code for s in MARKETS]
        recent = self.expected_daily(slice(-30, None))
        customers = {row["id"]: row for row in self.rows.tables[m.Customer]}
        for market_code, name, capacity in self.WAREHOUSES:
            i = codes.index(market_code)
            place = division(spec_adcode(MARKETS[i]))
            cap = round(capacity * self.factor, 2)
            wid = self.rows.add(
                m.Facility, code=f"W-{market_code}", name=name, kind=m.FacilityKind.WAREHOUSE,
                adcode=place.adcode, lon=round(place.lon + 0.015, 5),
                lat=round(place.lat - 0.01, 5), capacity_per_day=cap, status="active",
                org_unit_id=int(self.outlet_org[i]), created_at=self.created,
                updated_at=self.created)
            mine = np.flatnonzero((self.mer.market == i)
                                  & np.isin(self.mer.stage, (COOPERATING, GROWING, VIP)))
            load, served = 0.0, 0
            for c in mine[np.argsort(-recent[mine], kind="stable")]:
                if served == self.WAREHOUSE_MERCHANTS:
                    break
                if load + recent[c] <= cap * self.WAREHOUSE_FILL:  # a bigger one would not fit
                    customers[int(self.customer_ids[c])]["warehouse_id"] = wid
                    load += float(recent[c])
                    served += 1

    # -- all ------------------------------------------------------------------------------
    def build(self) -> ArchiveResult:
        self.people()
        self.markets()
        self.teams_and_grids()
        self.zones_and_prices()
        self.customers()
        self.competitor_prices()
        self.facilities_and_lines()
        self.estimates_and_targets()
        self.visits_and_trials()
        self.campaigns()
        self.problems()
        self.cost_parameters()
        self.warehouses()
        keys = LakeKeys(
            market_ids=self.market_ids, outlet_org_ids=self.outlet_org,
            outlet_facility_ids=self.outlet_facility, departure_facility_ids=self.departure,
            customer_ids=self.customer_ids, grid_ids=self.customer_grid,
            first_kg=self.first_kg, extra_kg=self.extra_kg, lines=self.lines,
            first_kg_before=self.first_kg_before, moved_from=self.moved_from,
        )
        return ArchiveResult(self.rows, keys, self.org)
