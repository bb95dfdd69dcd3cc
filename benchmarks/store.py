"""Store of a real province: customer search and lists on PostgreSQL with 1M customers, 10k users.

    .venv/bin/python -m benchmarks.store [--customers 1000000] [--users 10000] [--rounds 40]
        [--pg-url URL] [--database jiqun_store_bench] [--seed 12]

Builds a database (``--database`` on the server of ``--pg-url``, else ``JIQUN_TEST_PG_URL``,
else a throw-away server started as ``scripts/test-services.sh`` does; dropped at the end) with
the migrations (``Store.upgrade``), then bulk-loads an organisation of three real provinces
(河南, 山东, 浙江: their cities and counties from ``jiqun.geo``, 3–6 outlets a county), a few
markets a county, ``--users`` staff with roles at every level and ``--customers`` merchants with
Chinese shop names (place + brand + trade + kind: 虞城华丰五金商行), phones, codes, volumes
(whole parcels a day, so that many tie) and their search keys (``jiqun.store.search_keys``,
computed by the same functions as every write, on every core). Rows go in with ``COPY`` (psycopg)
while the customers' secondary indexes are dropped; the migrations' index definitions are then
re-created as they were, and the tables analysed.

It then measures, warm, ``--rounds`` different queries of each kind as users of four scopes
(HQ, the province of Henan, its largest county, a marketer's outlet), through the services the
customer list and ``/api/customers`` call (``count_customers`` and ``find_customers`` of a page of
20 in the scoped session, as ``customer_paged`` does): search by a name fragment of two
characters, a phone (its last seven digits), a code, pinyin initials, and the last page a name
fragment's pager offers (a text search counts at most ``TEXT_COUNT_CAP`` matches, and when it
finds more, walks the list's order index instead of sorting them: the count chooses the plan); the
first page and a deep page (page 500, or the last) of the list without search; the scope's count. The table (median
and p95 of count + page, ms) goes to stdout and ``benchmarks/out/store.json``, and the
``EXPLAIN (ANALYZE, BUFFERS)`` of every statement of one query of each kind and scope to
``benchmarks/out/store_plans.txt``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.load import load_average, postgres_store, throwaway_postgres

OUT = Path(__file__).parent / "out"
DATABASE = "jiqun_store_bench"
PROVINCES = {"410000": 0.5, "370000": 0.3, "330000": 0.2}  # Henan (the demo's), Shandong, Zhejiang
PAGE = 20
DEEP_PAGE = 500
LAST_PAGE = 10 ** 6  # past the end: the last page
TARGET_MS = 200

# What shop names are made of: a place, a brand of two auspicious characters, a trade, a kind.
BRAND = "华丰鑫源金鼎宏达永盛兴隆福顺恒泰嘉和瑞祥昌茂广聚汇通宝利佳美新天成信德万家乐安康明辉"
TRADES = ("服装", "童装", "五金", "工具", "鞋业", "箱包", "食品", "茶叶", "家纺", "电子", "玩具",
          "饰品", "日用", "农产", "量具", "灯饰", "陶瓷", "眼镜", "医疗器械", "母婴")
KINDS = ("商行", "店", "厂", "有限公司", "经营部", "批发部", "旗舰店", "工作室", "网店", "贸易商行")
STAGES = (("archived", 0.35), ("nurturing", 0.25), ("trial", 0.1), ("cooperating", 0.2),
          ("growing", 0.05), ("vip", 0.02), ("churned", 0.03))
TIERS = ("special", "first", "second", "third", "micro")
PHONE_PREFIXES = ("130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152",
                  "155", "158", "159", "166", "176", "177", "180", "181", "186", "187", "188", "199")
MARKET_TYPES = ("industrial_cluster", "wholesale_market", "ecommerce_park", "livestream_base",
                "taobao_village")


@dataclass
class Unit:
    id: int
    parent_id: int | None
    level: str
    code: str
    name: str
    path: str
    adcode: str | None = None
    children: list[Unit] = field(default_factory=list)


# -- the organisation -------------------------------------------------------------------------
def org_tree(rng: random.Random) -> list[Unit]:
    """HQ → the three provinces → their cities → counties → 3–6 outlets each."""
    from jiqun.geo.divisions import all_divisions, division, short_name

    units: list[Unit] = []

    def add(parent: Unit | None, level: str, code: str, name: str, adcode: str | None) -> Unit:
        unit_id = len(units) + 1
        path = f"{parent.path if parent else '/'}{unit_id}/"
        unit = Unit(unit_id, parent.id if parent else None, level, code, name, path, adcode)
        units.append(unit)
        if parent:
            parent.children.append(unit)
        return unit

    hq = add(None, "hq", "HQ", "集团总部", "100000")
    divisions = all_divisions().values()
    for adcode in PROVINCES:
        prov = add(hq, "province", f"P{adcode}", f"{division(adcode).short_name}省分公司", adcode)
        for city in sorted((d for d in divisions if d.level == "city" and d.province == adcode),
                           key=lambda d: d.adcode):
            c = add(prov, "city", f"C{city.adcode}", f"{short_name(city.name)}市分公司", city.adcode)
            for county in sorted((d for d in divisions
                                  if d.level == "county" and d.city == city.adcode),
                                 key=lambda d: d.adcode):
                k = add(c, "county", f"K{county.adcode}", f"{county.short_name}分公司", county.adcode)
                for n in range(rng.randint(3, 6)):
                    add(k, "outlet", f"O{county.adcode}-{n + 1}", f"{county.short_name}揽投部{n + 1}",
                        county.adcode)
    return units


def staff(units: list[Unit], total: int, rng: random.Random) -> list[dict]:
    """Managers at every level, marketers, account managers and couriers at the outlets."""
    by_level = {"hq": ["hq_business"] * 6 + ["admin"] * 2,
                "province": ["provincial_manager"] * 2 + ["supervisor"] * 4,
                "city": ["city_manager", "customer_service", "customer_service", "supervisor"],
                "county": ["county_manager", "department_head", "account_manager"]}
    users = [(u, role) for u in units for role in by_level.get(u.level, [])]
    outlets = [u for u in units if u.level == "outlet"]
    field_roles = ("marketer", "marketer", "marketer", "courier", "account_manager")
    for i in range(max(total - len(users), 0)):
        users.append((outlets[i % len(outlets)], field_roles[rng.randrange(len(field_roles))]))
    return [{"id": i + 1, "username": f"u{i + 1:05d}", "display_name": f"员工{i + 1:05d}",
             "password_hash": "x", "role": role, "org_unit_id": u.id, "active": True,
             "auth_epoch": 0}
            for i, (u, role) in enumerate(users[:total])]


def markets(units: list[Unit], rng: random.Random) -> list[dict]:
    """One or two cluster markets in most counties, owned by the county."""
    from jiqun.geo.divisions import division

    rows = []
    for county in (u for u in units if u.level == "county"):
        for n in range(rng.choice((0, 1, 1, 2))):
            trade = rng.choice(TRADES)
            rows.append({"id": len(rows) + 1, "code": f"M{county.adcode}-{n + 1}",
                         "name": f"{division(county.adcode).short_name}{trade}市场{n + 1}",
                         "type": rng.choice(MARKET_TYPES), "industry": trade,
                         "adcode": county.adcode, "org_unit_id": county.id, "key_area": False})
    return rows


# -- the archive ------------------------------------------------------------------------------
def _keys(chunk: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    from jiqun.store.search_keys import fragment_key, words_key

    return [(fragment_key(name), words_key(name, code, phone)) for name, code, phone in chunk]


def customers(units: list[Unit], users: list[dict], market_rows: list[dict], total: int,
              rng: random.Random) -> Iterator[tuple]:
    """``total`` merchants over the outlets (a few outlets of cluster markets hold many), rows in
    the column order of :data:`CUSTOMER_COLUMNS`, search keys computed on every core."""
    from jiqun.geo.divisions import division

    by_id = {u.id: u for u in units}
    outlets = [u for u in units if u.level == "outlet"]
    share = {u.id: PROVINCES[by_id[int(u.path.split("/")[2])].adcode] for u in outlets}
    weights = [share[u.id] * rng.lognormvariate(0, 1.0) for u in outlets]
    scale = total / sum(weights)
    counts = [int(w * scale) for w in weights]
    counts[max(range(len(counts)), key=counts.__getitem__)] += total - sum(counts)
    marketers: dict[int, list[int]] = {}
    for user in users:
        if user["role"] == "marketer":
            marketers.setdefault(user["org_unit_id"], []).append(user["id"])
    county_markets: dict[int, list[int]] = {}
    for m in market_rows:
        county_markets.setdefault(m["org_unit_id"], []).append(m["id"])
    stages, stage_weights = zip(*STAGES, strict=True)
    rows, seq = [], 0
    for outlet, count in zip(outlets, counts, strict=True):
        place = division(outlet.adcode).short_name
        for _ in range(count):
            seq += 1
            name = "".join((place if rng.random() < 0.6 else "", rng.choice(BRAND), rng.choice(BRAND),
                            rng.choice(TRADES), rng.choice(KINDS)))
            code = f"{outlet.adcode}-{seq:07d}"
            phone = rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10 ** 8):08d}"
            volume = None if rng.random() < 0.1 else float(round(rng.lognormvariate(2.5, 1.3)))
            owners = marketers.get(outlet.id) or [None]
            in_market = county_markets.get(outlet.parent_id)
            rows.append([seq, code, name, phone, outlet.adcode,
                         rng.choice(in_market) if in_market and rng.random() < 0.7 else None,
                         volume, rng.choices(stages, stage_weights)[0],
                         rng.choice(TIERS) if volume else None,
                         rng.choice(owners) if rng.random() < 0.8 else None, False, outlet.id])
    keyed = [(r[2], r[1], r[3]) for r in rows]
    step = 20_000
    with ProcessPoolExecutor(os.cpu_count() or 2) as pool:
        keys = [k for part in pool.map(_keys, (keyed[i:i + step] for i in range(0, len(keyed), step)))
                for k in part]
    for row, (fragment, words) in zip(rows, keys, strict=True):
        yield (*row, fragment, words)


CUSTOMER_COLUMNS = ("id", "code", "name", "phone", "adcode", "market_id", "est_daily_volume",
                    "lifecycle_stage", "tier", "owner_id", "vip", "org_unit_id", "fragment_key",
                    "words_key")


# -- loading ----------------------------------------------------------------------------------
def _copy(cur, table: str, columns: tuple[str, ...], rows) -> int:
    n = 0
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def _dicts(cur, table: str, rows: list[dict]) -> int:
    columns = tuple(rows[0])
    return _copy(cur, table, columns, ([r[c] for c in columns] for r in rows))


def build(url: str, customers_total: int, users_total: int, seed: int) -> dict[str, float]:
    """Migrate, then bulk-load the organisation, markets, users and customers; seconds taken."""
    import psycopg
    from sqlalchemy import make_url

    from jiqun.store import Store

    timings: dict[str, float] = {}
    started = time.perf_counter()
    store = Store(url)
    store.upgrade()
    store.engine.dispose()
    timings["migrate_s"] = time.perf_counter() - started
    rng = random.Random(seed)
    units = org_tree(rng)
    users = staff(units, users_total, rng)
    market_rows = markets(units, rng)
    started = time.perf_counter()
    customer_rows = list(customers(units, users, market_rows, customers_total, rng))
    timings["generate_s"] = time.perf_counter() - started
    u = make_url(url)
    conninfo = {"dbname": u.database, "user": u.username, **u.query}
    with psycopg.connect(**conninfo, autocommit=False) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        cur.execute("SET session_replication_role = replica")  # no FK triggers during COPY
        _copy(cur, "org_units", ("id", "parent_id", "level", "code", "name", "adcode", "path"),
              ((x.id, x.parent_id, x.level, x.code, x.name, x.adcode, x.path) for x in units))
        _dicts(cur, "users", users)
        _dicts(cur, "markets", market_rows)
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customers' "
                    "AND indexname NOT IN ('customers_pkey', 'customers_code_key')")
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        _copy(cur, "customers", CUSTOMER_COLUMNS, customer_rows)
        conn.commit()
        timings["copy_s"] = time.perf_counter() - started
        cur.execute("SET maintenance_work_mem = '1GB'")
        for name, definition in indexes:
            started = time.perf_counter()
            cur.execute(definition)
            conn.commit()
            timings[f"index {name}_s"] = time.perf_counter() - started
        for table in ("org_units", "users", "markets", "customers"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT MAX(id) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        started = time.perf_counter()
        cur.execute("VACUUM ANALYZE")
        timings["vacuum_analyze_s"] = time.perf_counter() - started
        cur.execute("SELECT pg_size_pretty(pg_total_relation_size('customers'))")
        timings["customers_size"] = cur.fetchone()[0]
    return timings


# -- measuring --------------------------------------------------------------------------------
@dataclass
class Viewer:
    label: str
    unit_id: int
    user_id: int | None = None  # a marketer acts as themselves: the session of the user


def viewers(url: str) -> list[Viewer]:
    """HQ, Henan, Henan's largest county (by customers), a marketer of its largest outlet."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        henan = conn.execute(text("SELECT id FROM org_units WHERE code = 'P410000'")).scalar()
        county = conn.execute(text(
            "SELECT u.parent_id FROM customers c JOIN org_units u ON u.id = c.org_unit_id "
            "JOIN org_units k ON k.id = u.parent_id WHERE k.path LIKE :p "
            "GROUP BY u.parent_id ORDER BY count(*) DESC LIMIT 1"), {"p": f"/1/{henan}/%"}).scalar()
        outlet, marketer = conn.execute(text(
            "SELECT u.org_unit_id, u.id FROM users u WHERE u.role = 'marketer' AND u.org_unit_id IN "
            "(SELECT id FROM org_units WHERE parent_id = :k) ORDER BY (SELECT count(*) FROM "
            "customers c WHERE c.org_unit_id = u.org_unit_id) DESC, u.id LIMIT 1"),
            {"k": county}).one()
    engine.dispose()
    return [Viewer("HQ", 1), Viewer("province (Henan)", henan), Viewer("county", county),
            Viewer("marketer (outlet)", outlet, marketer)]


def _samples(session, n: int, rng: random.Random) -> list:
    """``n`` customers the session sees, to draw queries from (a random sample, by id)."""
    from sqlalchemy import func, select

    from jiqun.store.models import Customer

    top = session.scalar(select(func.max(Customer.id)))
    found = []
    while len(found) < n:
        ids = [rng.randint(1, top) for _ in range(200)]
        found += session.scalars(select(Customer).where(Customer.id.in_(ids))).all()
    rng.shuffle(found)
    return found[:n]


def queries(session, rounds: int, rng: random.Random) -> dict[str, list[str]]:
    """``rounds`` queries of each kind, each from another customer the viewer sees."""
    from jiqun.store.search_keys import initials

    picked = _samples(session, rounds, rng)

    def fragment(c):
        start = rng.randrange(max(len(c.name) - 1, 1))
        return c.name[start:start + 2]

    def spell(c):
        letters = initials(c.name)[0]
        start = rng.randrange(max(len(letters) - 3, 1))
        return letters[start:start + 4]

    return {"name fragment": [fragment(c) for c in picked],
            "phone": [c.phone[-7:] for c in picked],
            "code": [c.code for c in picked],
            "pinyin initials": [spell(c) for c in picked]}


@dataclass
class Timed:
    times_ms: list[float] = field(default_factory=list)
    found: list[int] = field(default_factory=list)

    def p(self, q: float) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _page(session, q: str | None, page: int = 1) -> int:
    """What the customer list does for one page: the count (capped for a text search), then the
    page's rows in the plan the count chose; the count, with the cap's one more when capped."""
    from jiqun.sales.customer_search import CustomerSearch, count_found, find_customers

    search = CustomerSearch(q=q)
    found = count_found(session, search)
    last = max(1, math.ceil(found.total / PAGE))
    find_customers(session, search, (min(page, last) - 1) * PAGE, PAGE, found.capped)
    return found.total + found.capped


def statements_of(engine, run: Callable[[], object]) -> list[tuple[str, dict]]:
    """The SQL statements (with their parameters) that ``run`` sends, as the database got them
    (the scope's criteria in place)."""
    from sqlalchemy import event

    seen: list[tuple[str, dict]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def measure(url: str, rounds: int, seed: int, plans: list[str]) -> dict[str, dict[str, Timed]]:
    from jiqun.sales.customer_search import CustomerSearch, count_customers
    from jiqun.store import Store
    from jiqun.store.models import Customer
    from jiqun.store.scope import Scope

    store = Store(url)
    rng = random.Random(seed)
    results: dict[str, dict[str, Timed]] = {}
    for viewer in viewers(url):
        with store.session(actor=store.actor(viewer.user_id)) if viewer.user_id else \
                store.session(scope=Scope.for_unit_id(store, viewer.unit_id)) as s:
            asked = queries(s, rounds, rng)
            work: dict[str, list[Callable[[], int]]] = {
                kind: [lambda q=q: _page(s, q) for q in qs] for kind, qs in asked.items()}
            # The deepest page a common fragment's pager offers (its cap), or a rare one's last
            work["name fragment: last page"] = [lambda q=q: _page(s, q, LAST_PAGE)
                                                for q in asked["name fragment"]]
            work["list: first page"] = [lambda: _page(s, None)] * rounds
            work["list: deep page"] = [lambda: _page(s, None, DEEP_PAGE)] * rounds
            work["scope count"] = [lambda: count_customers(s, CustomerSearch())] * rounds
            # The floor under every figure: one customer by id through the same scoped session
            # (a round trip and the ORM), on this machine at this moment.
            ids = [c.id for c in _samples(s, rounds, rng)]
            work["baseline: one customer by id"] = [
                lambda i=i: int(s.get(Customer, i) is not None) for i in ids]
            for runs in work.values():  # warm: the pages and plans of each kind once
                runs[0]()
            row = results[viewer.label] = {}
            for kind, runs in work.items():
                timed = row[kind] = Timed()
                for run in runs:
                    started = time.perf_counter()
                    timed.found.append(run())
                    timed.times_ms.append((time.perf_counter() - started) * 1000)
                    s.rollback()  # each query in its own transaction, as each request is
            for kind, runs in work.items():
                # The slowest query of the kind, as it ran: where the time goes
                slowest = max(range(len(runs)), key=row[kind].times_ms.__getitem__)
                plans.append(f"==== {viewer.label}: {kind}, the slowest of {len(runs)} "
                             f"({row[kind].times_ms[slowest]:.1f} ms, found "
                             f"{row[kind].found[slowest]}"
                             + (f", q={asked[kind][slowest]!r})" if kind in asked else ")"))
                for statement, parameters in statements_of(store.engine, runs[slowest]):
                    if not statement.lstrip().upper().startswith("SELECT"):
                        continue
                    explained = s.connection().exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).scalars().all()
                    plans.append(statement + "\n" + json.dumps(parameters, default=str,
                                                               ensure_ascii=False))
                    plans.extend(explained)
                    plans.append("")
                s.rollback()
    store.engine.dispose()
    return results


def table(results: dict[str, dict[str, Timed]]) -> str:
    kinds = list(next(iter(results.values())))
    lines = ["| operation | " + " | ".join(results) + " |",
             "|---|" + "---:|" * len(results)]
    for kind in kinds:
        cells = [f"{r[kind].p(0.5):.1f} / {r[kind].p(0.95):.1f}" for r in results.values()]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@contextlib.contextmanager
def _server(pg_url: str | None) -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        yield pg_url or stack.enter_context(throwaway_postgres())


@contextlib.contextmanager
def _database(admin: str, args: argparse.Namespace) -> Iterator[str]:
    """A fresh database (dropped at the end unless ``--keep``), or the kept one."""
    from sqlalchemy import create_engine, make_url, text

    if not (args.keep or args.measure_only):
        with postgres_store(admin, args.database) as url:
            yield url
        return
    url = make_url(admin).set(database=args.database).render_as_string(hide_password=False)
    if args.keep:
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{args.database}"'))
        engine.dispose()
    yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--pg-url", default=os.environ.get("JIQUN_TEST_PG_URL"))
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--keep", action="store_true",
                        help="leave the database for runs with --measure-only (drop it after)")
    parser.add_argument("--measure-only", action="store_true",
                        help="measure the database a run with --keep left (needs --pg-url)")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    load_before = load_average()
    plans: list[str] = []
    with _server(args.pg_url) as admin, _database(admin, args) as url:
        timings = {} if args.measure_only else build(url, args.customers, args.users, args.seed)
        print(json.dumps(timings, indent=1), flush=True)
        results = measure(url, args.rounds, args.seed, plans)
    load_after = load_average()
    (OUT / "store_plans.txt").write_text("\n".join(plans) + "\n", encoding="utf-8")
    report = {
        "customers": args.customers, "users": args.users, "rounds": args.rounds,
        "load_average": [load_before, load_after], "build": timings,
        "results": {v: {k: {"median_ms": t.p(0.5), "p95_ms": t.p(0.95),
                            "max_ms": max(t.times_ms), "median_found": statistics.median(t.found)}
                        for k, t in row.items()} for v, row in results.items()},
    }
    (OUT / "store.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n",
                                    encoding="utf-8")
    slowest = max(t.p(0.95) for row in results.values() for t in row.values())
    print(f"{args.customers} customers, {args.users} users; median / p95 ms of count + page "
          f"({args.rounds} queries each); load average {load_before} → {load_after}")
    print(table(results))
    print(f"slowest p95 {slowest:.1f} ms: {'within' if slowest < TARGET_MS else 'over'} the "
          f"{TARGET_MS} ms target")


if __name__ == "__main__":
    main()
