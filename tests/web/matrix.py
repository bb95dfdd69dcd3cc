"""The matrix world and the app's own route table, for the IDOR, permission and aggregate matrices.

The world of ``tests/web/conftest.py`` (Huzhou and Hangzhou in Zhejiang) grows here by

* one user of every :class:`~jiqun.store.models.Role`, at the level that role usually works at,
  all of them (but HQ's two) inside Zhejiang, most inside Huzhou;
* a foreign province, Jiangsu (江苏), with one record of every scoped kind (market, grid,
  customer, pool prospect, visit, team, campaign, duplicate pair, notification) and waybills.
  Every record there carries the token :data:`FOREIGN` in its name, so a response that shows
  one is caught by a plain substring test;
* own records of the kinds the base world lacks (a Huzhou team, campaign, duplicate pair), so a
  positive control can show that the same request with an own id does answer.

The route table is read with FastAPI's own iterator, so a new route is in every matrix the day
it is added.
"""

from __future__ import annotations

import datetime as dt
import typing
from dataclasses import dataclass, field

import pyarrow as pa
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import or_, select

from jiqun.accounts import add_user
from jiqun.lake import WAYBILL_DATASET, append
from jiqun.permissions import Action
from jiqun.store import Store
from jiqun.store.models import (
    Base,
    Campaign,
    CampaignCustomer,
    Customer,
    CustomerTier,
    DedicatedLine,
    DuplicateCandidate,
    DuplicateStatus,
    ExceptionKind,
    Grid,
    LifecycleStage,
    LineStatus,
    Market,
    MarketType,
    MarketVolumeEstimate,
    Notification,
    OrgLevel,
    OrgUnit,
    Problem,
    Role,
    ServiceCase,
    Team,
    TeamMember,
    TeamStatus,
    Visit,
)
from jiqun.store.org import add_unit, unit_by_code
from tests.web.conftest import DATA_DATE, FEE, FIRST_DAY, PASSWORD, World, build_world

FOREIGN = "QQFOREIGN"  # in the name of every Jiangsu record
HANGZHOU_MARK = "西湖"  # in the name of every Hangzhou record of the base world
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

# One user per role: (username, org unit code). Users of the base world are reused.
ROLE_USERS: dict[Role, tuple[str, str]] = {
    Role.ADMIN: ("m-admin", "HQ"),
    Role.HQ_BUSINESS: ("m-hqbiz", "HQ"),
    Role.PROVINCIAL_MANAGER: ("zj-prov", "ZJ"),
    Role.SUPERVISOR: ("m-super", "ZJ"),
    Role.CITY_MANAGER: ("hz-city", "ZJ-HUZ"),
    Role.COUNTY_MANAGER: ("m-county", "ZJ-HUZ-WX"),
    Role.DEPARTMENT_HEAD: ("m-dept", "ZJ-HUZ-WX-ZL"),
    Role.MARKETER: ("zl-marketer", "ZJ-HUZ-WX-ZL"),
    Role.ACCOUNT_MANAGER: ("m-account", "ZJ-HUZ-WX-ZL"),
    Role.COURIER: ("m-courier", "ZJ-HUZ-WX-ZL"),
    Role.CUSTOMER_SERVICE: ("m-service", "ZJ-HUZ"),
}
# The registry limits some actions to org levels: these users hold a role at a level below the
# one it usually works at, for the permission matrix's level dimension.
LEVEL_USERS: dict[str, tuple[Role, str]] = {
    "m-city-at-county": (Role.CITY_MANAGER, "ZJ-HUZ-WX"),
    "m-prov-at-city": (Role.PROVINCIAL_MANAGER, "ZJ-HUZ"),
    "m-admin-at-outlet": (Role.ADMIN, "ZJ-HUZ-WX-ZL"),
}
BASE_USERS = {"zj-prov", "hz-city", "zl-marketer"}
HQ_USER = ROLE_USERS[Role.ADMIN][0]


@dataclass
class MatrixWorld:
    base: World
    store: Store
    users: dict[str, int] = field(default_factory=dict)  # username → id
    unit_of: dict[str, str] = field(default_factory=dict)  # username → org unit code
    foreign: dict[str, int] = field(default_factory=dict)  # kind → id of a Jiangsu record
    own: dict[str, int] = field(default_factory=dict)  # kind → id of a record hz-city sees
    foreign_units: frozenset[int] = frozenset()

    @property
    def settings(self):
        return self.base.settings

    def role_user(self, role: Role) -> str:
        return ROLE_USERS[role][0]

    def subtree(self, username: str) -> frozenset[int]:
        """Ids of the org units at and below the user's unit (read without a scope)."""
        with self.store.session() as s:
            unit = unit_by_code(s, self.unit_of[username])
            return frozenset(s.scalars(select(OrgUnit.id).where(
                OrgUnit.path.startswith(unit.path))))

    def markers(self, username: str) -> tuple[str, ...]:
        """Strings that must never appear in an answer to ``username``."""
        unit = self.unit_of[username]
        if unit == "HQ":
            return ()
        if unit.startswith("ZJ-HUZ"):
            return (FOREIGN, HANGZHOU_MARK)
        return (FOREIGN,)


def _jiangsu(s, world: MatrixWorld) -> dict[str, int]:
    """The foreign province with one record of every kind; returns kind → id."""
    hq = unit_by_code(s, "HQ")
    js = add_unit(s, hq, "JS", f"{FOREIGN}江苏省分公司", adcode="320000")
    nj = add_unit(s, js, "JS-NJ", f"{FOREIGN}南京市分公司", adcode="320100")
    gl = add_unit(s, nj, "JS-NJ-GL", f"{FOREIGN}鼓楼区分公司", adcode="320106")
    outlet = add_unit(s, gl, "JS-NJ-GL-1", f"{FOREIGN}鼓楼揽投部", adcode="320106")
    city_user = add_user(s, "js-city", PASSWORD, nj, Role.CITY_MANAGER, f"{FOREIGN}南京经理")
    marketer = add_user(s, "js-marketer", PASSWORD, outlet, Role.MARKETER, f"{FOREIGN}营销员")
    world.users.update({"js-city": city_user.id, "js-marketer": marketer.id})
    world.unit_of.update({"js-city": "JS-NJ", "js-marketer": "JS-NJ-GL-1"})
    market = Market(code="M-QQX", name=f"{FOREIGN}外省市场", type=MarketType.WHOLESALE_MARKET,
                    industry="箱包", org_unit_id=gl.id, key_area=True, tier="A")
    s.add(market)
    s.flush()
    s.add(MarketVolumeEstimate(market_id=market.id, org_unit_id=gl.id, carrier="*",
                               valid_from=dt.date(2024, 1, 1), daily_volume=80.0))
    team = Team(name=f"{FOREIGN}团队", market_id=market.id, org_unit_id=gl.id,
                status=TeamStatus.PROPOSED, proposed_by_id=city_user.id)
    s.add(team)
    s.flush()
    grid = Grid(market_id=market.id, code="G-QQX-1", name=f"{FOREIGN}网格",
                org_unit_id=outlet.id, team_id=team.id)
    s.add(grid)
    s.flush()
    customer = Customer(code="C-QQX-1", name=f"{FOREIGN}外省客户", phone="13700000007",
                        market_id=market.id, grid_id=grid.id, org_unit_id=outlet.id,
                        est_daily_volume=200, lifecycle_stage=LifecycleStage.COOPERATING,
                        tier=CustomerTier.SECOND, owner_id=marketer.id, platforms=["pdd"])
    prospect = Customer(code="C-QQX-2", name=f"{FOREIGN}公海客户", phone="13700000008",
                        market_id=market.id, org_unit_id=outlet.id, est_daily_volume=30,
                        lifecycle_stage=LifecycleStage.ARCHIVED)
    s.add_all([customer, prospect])
    s.flush()
    campaign = Campaign(name=f"{FOREIGN}活动", starts_on=dt.date(2024, 5, 1),
                        ends_on=dt.date(2024, 5, 31), org_unit_id=outlet.id, filters={})
    s.add(campaign)
    s.flush()
    pair = DuplicateCandidate(customer_id=customer.id, other_id=prospect.id,
                              other_code=prospect.code, other_name=prospect.name,
                              reason="same_address", score=0.9, status=DuplicateStatus.OPEN,
                              org_unit_id=outlet.id)
    note = Notification(user_id=marketer.id, customer_id=prospect.id, kind="pool_owner",
                        due_on=DATA_DATE, sent_on=DATA_DATE, org_unit_id=outlet.id,
                        params={"name": prospect.name, "days": 3})
    s.add_all([
        TeamMember(team_id=team.id, user_id=marketer.id, role="leader"),
        CampaignCustomer(campaign_id=campaign.id, customer_id=customer.id),
        Visit(customer_id=customer.id, org_unit_id=outlet.id, user_id=marketer.id,
              visited_at=dt.datetime(2024, 6, 1, 9), method="sweep", outcome="interested",
              next_step=f"{FOREIGN} quote"),
        pair, note,
    ])
    s.flush()
    line = DedicatedLine(code="L-QQX-广州", origin_market_id=market.id, dest_adcode="440100",
                         org_unit_id=gl.id, status=LineStatus.DRAFT, proposed_level=OrgLevel.COUNTY)
    s.add(line)
    s.flush()
    case = _case(s, "SC-QQX-0001", outlet.id, customer.id, marketer.id)
    world.foreign_units = frozenset({js.id, nj.id, gl.id, outlet.id})
    return {"market": market.id, "grid": grid.id, "customer": customer.id,
            "prospect": prospect.id, "team": team.id, "campaign": campaign.id,
            "pair": pair.id, "notification": note.id, "user": marketer.id, "unit": outlet.id,
            "city_unit": nj.id, "city_user": city_user.id, "line": line.id, "case": case.id,
            "waybill_no": f"qqx-{DATA_DATE:%Y%m%d}-0"}  # of _foreign_waybills


def _case(s, code: str, unit_id: int, customer_id: int, owner_id: int | None) -> ServiceCase:
    """A service case of the queue (jiqun.service.cases), opened on the data date."""
    opened = dt.datetime.combine(DATA_DATE, dt.time(9))
    case = ServiceCase(code=code, group_key=f"customer:{customer_id}", org_unit_id=unit_id,
                       customer_id=customer_id, kind=ExceptionKind.LATE, owner_id=owner_id,
                       opened_at=opened, first_response_due=opened + dt.timedelta(hours=2),
                       resolve_due=opened + dt.timedelta(hours=9))
    s.add(case)
    s.flush()
    return case


def _problems(s, world: MatrixWorld) -> None:
    """A problem (R2) on each side, raised from the side's visit of its customer: Jiangsu's at
    Nanjing, Huzhou's at Huzhou (``visit`` and ``problem`` of ``foreign`` and ``own``)."""
    for ids, city, title in ((world.foreign, "JS-NJ", f"{FOREIGN}问题"),
                             (world.own, "ZJ-HUZ", "湖州集包问题")):
        visit_id = s.scalars(select(Visit.id).where(Visit.customer_id == ids["customer"])
                             .order_by(Visit.id)).first()
        problem = Problem(title=title, raised_on=DATA_DATE, org_unit_id=unit_by_code(s, city).id,
                          visit_id=visit_id, source="visit")
        s.add(problem)
        s.flush()
        ids.update(visit=visit_id, problem=problem.id)


def _prices(s, world: MatrixWorld) -> None:
    """A market rate card with a version and a customer contract, both waiting for approval
    below the floor, on each side (``card`` and ``contract`` of ``foreign`` and ``own``)."""
    from jiqun.store.models import (
        PriceContract,
        PriceStatus,
        Product,
        RateCard,
        RateCardVersion,
        RateLine,
        RateOrigin,
    )

    for ids, tag in ((world.foreign, "QQX"), (world.own, "ZLO")):
        unit = s.get(Market, ids["market"]).org_unit_id
        card = RateCard(code=f"RC-{tag}", name=f"{FOREIGN if tag == 'QQX' else '织里'}价格表",
                        origin=RateOrigin.MARKET, market_id=ids["market"], product=Product.PARCEL,
                        org_unit_id=unit)
        s.add(card)
        s.flush()
        version = RateCardVersion(card_id=card.id, number=1, status=PriceStatus.PENDING,
                                  valid_from=dt.date(2024, 6, 1), org_unit_id=unit,
                                  proposed_level=OrgLevel.COUNTY)
        s.add(version)
        s.flush()
        s.add(RateLine(version_id=version.id, zone="same", weight_from_kg=0, weight_to_kg=60,
                       first_weight_kg=1, first_price=0.5, extra_per_kg=0.2, org_unit_id=unit))
        customer = s.get(Customer, ids["customer"])
        contract = PriceContract(code=f"PC-{tag}", customer_id=customer.id, discount=0.5,
                                 valid_from=dt.date(2024, 6, 1), status=PriceStatus.PENDING,
                                 proposed_level=OrgLevel.COUNTY,
                                 org_unit_id=customer.org_unit_id)
        s.add(contract)
        s.flush()
        ids.update(card=card.id, contract=contract.id)


def _own_records(s, world: MatrixWorld) -> dict[str, int]:
    """Huzhou records of the kinds the base world lacks (seen by hz-city)."""
    ids = world.base.ids
    huzhou = unit_by_code(s, "ZJ-HUZ")
    zhili = unit_by_code(s, "ZJ-HUZ-WX-ZL")
    # A market and a team at the outlet: every Huzhou role sees them, so a refusal in the
    # permission matrix is the registry's, not "not found".
    outlet_market = Market(code="M-ZLO", name="织里童装城", type=MarketType.WHOLESALE_MARKET,
                           industry="童装", org_unit_id=zhili.id, key_area=False)
    s.add(outlet_market)
    s.flush()
    team = Team(name="织里攻坚队", market_id=outlet_market.id, org_unit_id=zhili.id,
                status=TeamStatus.PROPOSED, proposed_by_id=ids["hz-city"])
    campaign = Campaign(name="湖州春季活动", starts_on=dt.date(2024, 5, 1),
                        ends_on=dt.date(2024, 5, 31), org_unit_id=zhili.id, filters={})
    s.add_all([team, campaign])
    s.flush()
    pair = DuplicateCandidate(customer_id=ids["zl_big"], other_id=ids["zl_small"],
                              other_code="C-ZL-2", other_name="小熊童装", reason="same_address",
                              score=0.8, status=DuplicateStatus.OPEN, org_unit_id=zhili.id)
    s.add_all([pair, TeamMember(team_id=team.id, user_id=ids["zl-marketer"], role="leader"),
               CampaignCustomer(campaign_id=campaign.id, customer_id=ids["zl_big"])])
    s.flush()
    return {"market": ids["zhili"], "grid": ids["grid"], "customer": ids["zl_big"],
            "prospect": ids["zl_small"], "team": team.id, "campaign": campaign.id,
            "pair": pair.id, "user": ids["zl-marketer"], "unit": zhili.id,
            "city_unit": huzhou.id, "outlet_market": outlet_market.id,
            "case": _case(s, "SC-ZLO-0001", zhili.id, ids["zl_big"], None).id,
            "waybill_no": f"zl_big-{DATA_DATE:%Y%m%d}-0"}  # a base world's waybill


def _foreign_waybills(world: MatrixWorld) -> pa.Table:
    """Jiangsu's customer ships 4 parcels a day over the base world's whole window."""
    rows, day = [], FIRST_DAY
    while day <= DATA_DATE:
        for n in range(4):
            rows.append({
                "waybill_no": f"qqx-{day:%Y%m%d}-{n}", "org_unit_id": world.foreign["unit"],
                "customer_id": world.foreign["customer"], "market_id": world.foreign["market"],
                "grid_id": world.foreign["grid"], "product": "parcel", "platform": "pdd",
                "ship_time": dt.datetime.combine(day, dt.time(11, n)),
                "dest_province": "440000", "weight_kg": 0.5, "fee": FEE, "status": "delivered",
            })
        day += dt.timedelta(days=1)
    return pa.Table.from_pylist(rows)


def build_matrix_world(tmp_path) -> MatrixWorld:
    store = Store(f"sqlite:///{tmp_path}/store.db")
    store.upgrade()
    base = build_world(store, tmp_path / "lake")
    world = MatrixWorld(base=base, store=store)
    with store.transaction() as s:
        for role, (username, code) in ROLE_USERS.items():
            world.unit_of[username] = code
            if username in BASE_USERS:
                world.users[username] = base.ids[username]
                continue
            unit = unit_by_code(s, code)
            world.users[username] = add_user(s, username, PASSWORD, unit, role,
                                             f"矩阵{role.value}").id
        for username, (role, code) in LEVEL_USERS.items():
            world.unit_of[username] = code
            world.users[username] = add_user(s, username, PASSWORD, unit_by_code(s, code),
                                             role, f"矩阵{role.value}@{code}").id
        world.foreign = _jiangsu(s, world)
        world.own = _own_records(s, world)
        _problems(s, world)
        _prices(s, world)
    append(base.settings.lake_path, WAYBILL_DATASET, _foreign_waybills(world))
    return world


# -- tokens -------------------------------------------------------------------------------------
class Tokens:
    """Bearer headers per username, issued once per app by ``POST /api/token``."""

    def __init__(self, client: TestClient):
        self.client = client
        self._headers: dict[str, dict[str, str]] = {}

    def __call__(self, username: str) -> dict[str, str]:
        if username not in self._headers:
            r = self.client.post("/api/token", data={"username": username,
                                                     "password": PASSWORD})
            assert r.status_code == 200, (username, r.status_code, r.text)
            self._headers[username] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return self._headers[username]


# -- the route table ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RouteInfo:
    method: str
    path: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    body_fields: tuple[str, ...]
    actions: tuple[Action, ...]
    signed_in: bool  # reads the request context (needs a user)
    in_schema: bool

    @property
    def api(self) -> bool:
        return self.path.startswith("/api")

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _walk(dependant):
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk(sub)


def _model_fields(annotation, depth: int = 0) -> list[str]:
    """Field names of a body model, nested models (and lists of them) included."""
    if depth > 3:
        return []
    names = []
    for arg in typing.get_args(annotation):  # list[X], X | None
        names.extend(_model_fields(arg, depth + 1))
    for name, info in (getattr(annotation, "model_fields", None) or {}).items():
        names.append(name)
        names.extend(_model_fields(info.annotation, depth + 1))
    return names


def _body_fields(route) -> tuple[str, ...]:
    names = []
    for param in route.dependant.body_params:
        nested = _model_fields(getattr(param.field_info, "annotation", None))
        names.extend(nested or [param.name])
    return tuple(dict.fromkeys(names))


def routes(app) -> list[RouteInfo]:
    """Every API route of the app (pages and ``/api``), one row per method."""
    out = []
    for ctx in iter_route_contexts(app.routes):
        if not isinstance(ctx.original_route, APIRoute):
            continue
        dependants = list(_walk(ctx.dependant))
        actions = tuple(d.call.jiqun_action for d in dependants
                        if getattr(d.call, "jiqun_action", None) is not None)
        signed_in = any(getattr(d.call, "__name__", "") == "get_context" for d in dependants)
        query = []
        for d in dependants:
            query.extend(p.name for p in d.query_params)
        for method in sorted(ctx.methods):
            out.append(RouteInfo(
                method=method, path=ctx.path,
                path_params=tuple(p.name for p in ctx.dependant.path_params),
                query_params=tuple(dict.fromkeys(query)), body_fields=_body_fields(ctx),
                actions=actions, signed_in=signed_in, in_schema=ctx.include_in_schema,
            ))
    return out


# Parameters that name a record without an ``_id`` suffix (a person chosen from a list).
ID_NAMES = {"id", "ids", "marketer"}


def is_id_like(name: str) -> bool:
    return name in ID_NAMES or name.endswith("_id") or name.endswith("_ids")


def fill(path: str, values: dict[str, object]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", str(value))
    return path


# -- what must not change -----------------------------------------------------------------------
# Columns that point at a record, and the foreign records they must not come to point at.
POINTERS = {"market_id": ("market",), "origin_market_id": ("market",),
            "customer_id": ("customer", "prospect"), "other_id": ("customer", "prospect"),
            "grid_id": ("grid",), "team_id": ("team",), "campaign_id": ("campaign",),
            "user_id": ("user", "city_user"), "owner_id": ("user", "city_user"),
            "problem_id": ("problem",), "merged_into_id": ("problem",), "visit_id": ("visit",)}


def foreign_fingerprint(world: MatrixWorld) -> dict[str, list[tuple]]:
    """Every row in the foreign province and every row pointing at one of its records."""
    out: dict[str, list[tuple]] = {}
    with world.store.session() as s:
        for table in Base.metadata.sorted_tables:
            conditions = []
            if "org_unit_id" in table.c:
                conditions.append(table.c.org_unit_id.in_(world.foreign_units))
            for column, kinds in POINTERS.items():
                if column in table.c:
                    conditions.append(table.c[column].in_([world.foreign[k] for k in kinds]))
            if conditions:
                rows = s.execute(select(table).where(or_(*conditions))).all()
                out[table.name] = sorted(tuple(map(str, r)) for r in rows)
    return out


# Unsafe routes about the caller themselves: they name no record and take no registry action.
SELF_SERVICE_WRITES = {
    ("POST", "/login"): "signing in is open to everyone",
    ("POST", "/logout"): "signing out is open to everyone signed in",
    ("POST", "/api/token"): "a token is a sign-in",
    ("POST", "/account/password"): "everyone may change their own password",
    ("POST", "/api/account/password"): "everyone may change their own password",
}

