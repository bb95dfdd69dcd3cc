"""Load: many signed-in users on the dashboard, the lists and ``/api`` at once, against the real
server (uvicorn in its own process on a loopback port), with latency and errors per endpoint group.

    .venv/bin/python -m benchmarks.load [--users 50] [--seconds 60] [--scale small]
        [--think 1,5] [--seed 12] [--store sqlite|postgresql] [--workers 1]

Builds the demo (``jiqun demo build --scale small``) into a temporary folder (its store a SQLite
file there, or a database ``jiqun_load`` of a PostgreSQL server: ``--pg-url``, else
``JIQUN_TEST_PG_URL``, else a throw-away server started as ``scripts/test-services.sh`` does),
starts ``uvicorn jiqun.web.app:create_app --factory`` on it, signs the users in (several roles,
each with its own session), then first measures one user alone (the baseline: every endpoint, a
few rounds), then every user at once for the given time. Each user walks the endpoint list in
its own order; after each answer it waits a think time drawn uniformly from ``--think MIN,MAX``
seconds (locust's ``between(1, 5)``; seeded per user) before the next request, as a person reads
a page before tapping the next; ``--think 0`` sends the next request at once (the stress mode:
every user always waiting, so latency is the queue for the CPU). An error is any answer other
than the one the lone user got (a 5xx, a timeout, a refused connection), or — for the JSON
endpoints that carry figures — a body different from the lone user's (the same fact for every
request).

``tests/web/test_load.py`` runs the same driver with 10 users for a few seconds in ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

OUT = Path(__file__).parent / "out"
DEMO_PASSWORD = "jiqun-demo"
# Several roles from HQ down to a marketer; the generated staff are named in docs/demo.md.
DEMO_USERS = ("demo-hq", "demo-province", "demo-city", "demo-marketer", "ha-sq-yc-gm",
              "ha-sq-sy-yj-am1", "ha-sq-yc-head")

# Endpoint groups: what a signed-in user opens most. JSON endpoints marked ``True`` carry figures
# whose body must equal the lone user's (nothing is written during the run).
ENDPOINTS: dict[str, list[tuple[str, bool]]] = {
    "dashboard": [("/", False), ("/api/dashboard", True)],
    "kpi pages": [("/share", False), ("/grids", False), ("/level", False), ("/tiers", False)],
    "kpi api": [("/api/share", True), ("/api/grids", True), ("/api/levels", True),
                ("/api/tiers", True)],
    "lists": [("/customers", False), ("/markets", False), ("/visits", False), ("/pool", False)],
    "list api": [("/api/customers", True), ("/api/markets", True), ("/api/visits", True),
                 ("/api/me", True)],
}
# Idle connections stay open this long, as behind a reverse proxy (uvicorn's own 5 s would close
# the connections of users waiting their turn, and a request sent as one closes fails on the
# client side without the server ever seeing it).
KEEP_ALIVE_S = 120
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(env: dict[str, str], log: Path, workers: int = 1) -> Iterator[str]:
    """The app under uvicorn (``workers`` processes) on a free loopback port; yields its base
    URL."""
    with serve_process(env, log, workers) as (base, _proc):
        yield base


@contextlib.contextmanager
def serve_process(env: dict[str, str], log: Path,
                  workers: int = 1) -> Iterator[tuple[str, subprocess.Popen]]:
    """:func:`serve`, yielding the server's process as well (for its CPU time)."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "jiqun.web.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
             "--no-access-log", "--timeout-keep-alive", str(KEEP_ALIVE_S),
             "--workers", str(workers)],
            env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, base, log)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its live children (uvicorn's workers),
    from /proc: what the server spent, whatever else the machine runs (0 where there is no
    /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1]: the parent
                total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _wait_until_up(proc: subprocess.Popen, base: str, log: Path, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}):\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {within:.0f} s:\n{log.read_text()}")


@dataclass
class Hit:
    group: str
    path: str
    status: int | None  # None: no answer (timeout, connection error)
    seconds: float
    wrong: str | None = None  # why the answer is an error, None when it is the expected one


@dataclass
class User:
    username: str
    client: httpx.AsyncClient
    bearer: bool  # /api through a bearer token (as scripts do) rather than the session cookie


async def sign_in(base: str, username: str, password: str, bearer: bool,
                  timeout: float) -> User:
    """A user with their own session cookie (signed in through the form, as a browser does),
    and a bearer token for ``/api`` when ``bearer``."""
    client = httpx.AsyncClient(base_url=base, timeout=timeout, follow_redirects=False)
    form = await client.get("/login")
    token = CSRF_INPUT.search(form.text).group(1)
    answer = await client.post("/login", data={"username": username, "password": password,
                                              "csrf_token": token})
    if answer.status_code != 303:
        raise RuntimeError(f"{username} could not sign in: {answer.status_code} {answer.text}")
    if bearer:
        issued = await client.post("/api/token", data={"username": username,
                                                       "password": password})
        issued.raise_for_status()
        client.headers["Authorization"] = f"Bearer {issued.json()['access_token']}"
    return User(username, client, bearer)


def endpoint_list() -> list[tuple[str, str, bool]]:
    return [(group, path, compare) for group, paths in ENDPOINTS.items()
            for path, compare in paths]


@dataclass
class Expected:
    """What the lone user got for each (user, path): the status, and the JSON body of figures."""

    status: dict[tuple[str, str], int] = field(default_factory=dict)
    body: dict[tuple[str, str], object] = field(default_factory=dict)


async def _get(user: User, group: str, path: str, compare: bool,
               expected: Expected | None) -> tuple[Hit, httpx.Response | None]:
    started = time.perf_counter()
    try:
        response = await user.client.get(path)
    except httpx.HTTPError as e:
        return Hit(group, path, None, time.perf_counter() - started, type(e).__name__), None
    hit = Hit(group, path, response.status_code, time.perf_counter() - started)
    key = (user.username, path)
    if response.status_code >= 500:
        hit.wrong = f"{response.status_code}"
    elif expected is not None:
        if response.status_code != expected.status[key]:
            hit.wrong = f"{response.status_code} instead of {expected.status[key]}"
        elif compare and key in expected.body and response.json() != expected.body[key]:
            hit.wrong = "a different body than the lone user's"
    return hit, response


async def alone(users: list[User], rounds: int) -> tuple[Expected, list[Hit], list[Hit]]:
    """Every endpoint for each user, one request at a time: the expected answers and the first
    round's latencies (figures computed), then the baseline latencies of the first user (the
    later rounds, the server warm)."""
    expected, first, hits = Expected(), [], []
    for n in range(rounds + 1):
        for user in users if n == 0 else users[:1]:
            for group, path, compare in endpoint_list():
                hit, response = await _get(user, group, path, compare,
                                           expected if n else None)
                if n == 0:
                    if hit.wrong or response is None:
                        raise RuntimeError(f"{user.username} {path}: {hit.wrong}")
                    expected.status[(user.username, path)] = response.status_code
                    if compare and response.status_code == 200:
                        expected.body[(user.username, path)] = response.json()
                    first.append(hit)
                else:
                    hits.append(hit)
                    if hit.wrong:
                        raise RuntimeError(f"{user.username} {path} alone: {hit.wrong}")
    return expected, first, hits


@dataclass(frozen=True)
class Think:
    """The pause of a user between an answer and their next request: uniform in
    [``low``, ``high``] seconds (0, 0: none, the stress mode), drawn from a generator seeded per
    user so that a run can be repeated."""

    low: float = 0.0
    high: float = 0.0
    seed: int = 12

    @classmethod
    def parse(cls, text: str, seed: int = 12) -> Think:
        """``"1,5"`` (between 1 and 5 s), ``"2"`` (always 2 s) or ``"0"`` (none)."""
        parts = [float(p) for p in text.split(",")]
        low, high = (parts[0], parts[0]) if len(parts) == 1 else parts
        if not 0 <= low <= high:
            raise ValueError(f"a think time of {text!r}: want MIN,MAX with 0 <= MIN <= MAX")
        return cls(low, high, seed)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    def offered_rate(self, users: int) -> float | None:
        """Requests per second the users would send if every answer were instant (None: no
        think time, the users send as fast as the server answers)."""
        return users / self.mean if self.mean else None

    def __str__(self) -> str:
        if not self.high:
            return "none (stress)"
        if self.low == self.high:
            return f"{self.low:g} s"
        return f"uniform {self.low:g}–{self.high:g} s"


async def together(users: list[User], expected: Expected, seconds: float,
                   max_requests: int, think: Think = Think(), rounds: int = 0) -> list[Hit]:
    """Every user at once, each walking the endpoints from its own starting point and pausing
    ``think`` between requests, until ``seconds`` have passed or ``max_requests`` were sent —
    but not before it has walked every endpoint ``rounds`` times (a test's bounded work, which
    a busy machine makes slower, not smaller). With a think time each user starts after a
    pause of its own, so that the users do not all send their first request in the same
    instant (as locust spawns them)."""
    endpoints = endpoint_list()
    hits: list[Hit] = []
    deadline = time.monotonic() + seconds

    async def walk(n: int, user: User) -> None:
        rng = random.Random(think.seed * 1_000_003 + n)
        i = n * 7  # users start at different endpoints, so every page is hit at once
        if think.high:
            await asyncio.sleep(rng.uniform(0, think.high))
        owed = rounds * len(endpoints)
        while (time.monotonic() < deadline and len(hits) < max_requests) or owed > 0:
            owed -= 1
            group, path, compare = endpoints[i % len(endpoints)]
            hit, _ = await _get(user, group, path, compare, expected)
            hits.append(hit)
            i += 1
            if think.high:
                await asyncio.sleep(min(rng.uniform(think.low, think.high),
                                        max(0.0, deadline - time.monotonic())))

    await asyncio.gather(*(walk(n, u) for n, u in enumerate(users)))
    return hits


@dataclass
class Run:
    users: int
    seconds: float
    first: list[Hit]  # every user alone, first visit of each endpoint (figures computed)
    baseline: list[Hit]  # one user alone, later visits
    loaded: list[Hit]  # everybody at once
    expected: Expected
    think: Think = Think()
    server_cpu_s: float | None = None  # the server's CPU seconds while everybody was on

    @property
    def cpu_per_request_ms(self) -> float | None:
        """Server CPU per request: what a request costs, however busy the machine is."""
        if self.server_cpu_s is None or not self.loaded:
            return None
        return 1000 * self.server_cpu_s / len(self.loaded)

    @property
    def achieved_rate(self) -> float:
        return len(self.loaded) / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> list[Hit]:
        return [h for h in self.loaded if h.wrong]


async def run_load(base: str, usernames: list[str], password: str, *, users: int,
                   seconds: float, max_requests: int = 1_000_000, baseline_rounds: int = 3,
                   timeout: float = 60.0, think: Think = Think(),
                   server_pid: int | None = None, rounds: int = 0) -> Run:
    """Sign ``users`` users in (cycling through ``usernames``), measure one alone, then all
    together for ``seconds`` (and at least ``rounds`` walks of every endpoint each: see
    :func:`together`), each pausing ``think`` between requests (with ``server_pid``, the
    server's CPU seconds of that phase too)."""
    signed = [await sign_in(base, usernames[n % len(usernames)], password, bearer=n % 2 == 1,
                            timeout=timeout) for n in range(users)]
    try:
        distinct = list({u.username: u for u in signed}.values())
        expected, first, baseline = await alone(distinct, baseline_rounds)
        cpu = cpu_seconds(server_pid) if server_pid else None
        started = time.monotonic()
        loaded = await together(signed, expected, seconds, max_requests, think, rounds)
        run = Run(users, time.monotonic() - started, first, baseline, loaded, expected, think)
        if cpu is not None:
            run.server_cpu_s = cpu_seconds(server_pid) - cpu
        return run
    finally:
        for u in signed:
            await u.client.aclose()


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def table(run: Run) -> str:
    """p50/p95/max per endpoint group under load, and as ratios of the lone user's p50."""
    lines = [
        "| group | requests | errors | p50 ms | p95 ms | max ms | lone first ms | "
        "lone p50 ms | p50 / lone | p95 / lone |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for group in [*ENDPOINTS, "all"]:
        loaded = [h for h in run.loaded if group in ("all", h.group)]
        lone = [h.seconds for h in run.baseline if group in ("all", h.group)]
        first = [h.seconds for h in run.first if group in ("all", h.group)]
        if not loaded:
            continue
        took = [h.seconds for h in loaded]
        base = 1000 * statistics.median(lone)
        p50, p95 = _ms(took, 0.5), _ms(took, 0.95)
        name = f"**{group}**" if group == "all" else group
        lines.append(
            f"| {name} | {len(loaded):,} | {sum(bool(h.wrong) for h in loaded)} | {p50:.0f} | "
            f"{p95:.0f} | {1000 * max(took):.0f} | {1000 * statistics.median(first):.0f} | "
            f"{base:.0f} | {p50 / base:.1f}× | {p95 / base:.1f}× |")
    return "\n".join(lines)


def error_summary(run: Run, limit: int = 20) -> str:
    seen: dict[tuple[str, str], int] = {}
    for h in run.errors:
        seen[(h.path, h.wrong)] = seen.get((h.path, h.wrong), 0) + 1
    return "\n".join(f"{n}× {path}: {why}" for (path, why), n in list(seen.items())[:limit])


def build_demo(folder: Path, scale: str,
               store_url: str | None = None) -> tuple[dict[str, str], float]:
    """``jiqun demo build --scale SCALE`` into ``folder`` (and ``store_url``, default a SQLite
    file there); the server's environment and the seconds the build took. The scheduled jobs
    stay off in the server (as behind several web processes, where ``jiqun worker`` runs them):
    a catch-up run at start would be a load of its own, and its writes a new data version."""
    env = {
        "JIQUN_STORE_URL": store_url or f"sqlite:///{folder}/store.db",
        "JIQUN_LAKE_PATH": str(folder / "lake"),
        "JIQUN_RULES_FILE": str(folder / "kpi-rules.toml"),
        "JIQUN_PLANNING_FILE": str(folder / "planning.toml"),
        "JIQUN_ENVIRONMENT": "test", "JIQUN_SECRET_KEY": "load-benchmark-secret-key-0123456789",
        "JIQUN_SERVE_JOBS": "false",
    }
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "jiqun"), "demo", "build", "--scale",
                    scale], env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
    return env, time.perf_counter() - started


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server of its own in a temporary folder (a Unix socket there, no TCP),
    started as ``scripts/test-services.sh`` starts the test suite's; yields its admin URL."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = found[-1] if found else shutil.which("initdb")
    if initdb is None:
        raise SystemExit("no PostgreSQL here: pass --pg-url, set JIQUN_TEST_PG_URL or install "
                         "it (bash scripts/install-system-deps.sh)")
    bindir = Path(initdb).parent
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="jiqun-load-pg-"))  # the server's user may enter it
    if as_postgres:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", free_port()
    subprocess.run([*as_postgres, str(initdb), "-D", str(data), "-A", "trust", "-U", "jiqun",
                    "-E", "UTF8", "--locale=C.UTF-8"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-l",
                    str(folder / "log"), "-w", "-o",
                    f"-k {folder} -p {port} -c listen_addresses='' -c fsync=off "
                    "-c max_connections=400", "start"], check=True, stdout=subprocess.DEVNULL)
    try:
        yield f"postgresql+psycopg://jiqun@/postgres?host={folder}&port={port}"
    finally:
        subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m",
                        "immediate", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(folder, ignore_errors=True)


LOAD_DATABASE = "jiqun_load"


@contextlib.contextmanager
def postgres_store(admin_url: str, name: str = LOAD_DATABASE) -> Iterator[str]:
    """A fresh database ``name`` on the server of ``admin_url`` (dropped first if a previous
    run left it, and afterwards); yields its URL."""
    from sqlalchemy import create_engine, make_url, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def store_url_for(kind: str, pg_url: str | None) -> Iterator[str | None]:
    """The store URL of the run: None for the default SQLite file, else a PostgreSQL
    database (on ``pg_url``'s server, or on a throw-away one)."""
    if kind == "sqlite":
        yield None
        return
    with contextlib.ExitStack() as stack:
        admin = pg_url or stack.enter_context(throwaway_postgres())
        yield stack.enter_context(postgres_store(admin))


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages of the machine (other work shares the cores)."""
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def title(run: Run, args: argparse.Namespace, build_s: float, loads: tuple[str, str]) -> str:
    offered = run.think.offered_rate(run.users)
    offer = (f"offered ≤ {offered:.1f} requests/s" if offered is not None
             else "offered: as fast as answered")
    cache = "" if args.figure_cache_size is None else f", figure cache {args.figure_cache_size}"
    return (f"#### Load — {args.store}, {args.users} users, think {run.think}, "
            f"{args.workers} worker(s), {run.seconds:.0f} s, demo scale {args.scale}{cache}: "
            f"{len(run.loaded):,} requests, {len(run.errors)} errors; {offer}, achieved "
            f"{run.achieved_rate:.1f} requests/s{_cpu_text(run)} (load average before "
            f"{loads[0]}, after {loads[1]}; demo build {build_s:.1f} s)")


def _cpu_text(run: Run) -> str:
    if run.cpu_per_request_ms is None:
        return ""
    return (f"; server CPU {run.cpu_per_request_ms:.1f} ms a request, "
            f"{run.server_cpu_s / run.seconds:.2f} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--scale", default="small")
    parser.add_argument("--think", default="1,5",
                        help="MIN,MAX seconds a user waits between requests (uniform, seeded); "
                             "0: none, the stress mode")
    parser.add_argument("--seed", type=int, default=12, help="seed of the think times")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("JIQUN_TEST_PG_URL"),
                        help="admin URL of a PostgreSQL server (default JIQUN_TEST_PG_URL; "
                             "none: a throw-away server); the run uses a database jiqun_load")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--figure-cache-size", type=int, default=None,
                        help="JIQUN_FIGURE_CACHE_SIZE of the server (0: every request computes)")
    args = parser.parse_args()
    think = Think.parse(args.think, args.seed)
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jiqun-load-") as tmp, \
            store_url_for(args.store, args.pg_url) as store_url:
        env, build_s = build_demo(Path(tmp), args.scale, store_url)
        print(f"demo build --scale {args.scale} ({args.store}): {build_s:.1f} s")
        if args.figure_cache_size is not None:
            env["JIQUN_FIGURE_CACHE_SIZE"] = str(args.figure_cache_size)
        with serve_process(env, OUT / "load-server.log", args.workers) as (base, proc):
            before = load_average()
            run = asyncio.run(run_load(base, list(DEMO_USERS), DEMO_PASSWORD, users=args.users,
                                       seconds=args.seconds, think=think,
                                       server_pid=proc.pid))
            after = load_average()
    text = f"{title(run, args, build_s, (before, after))}\n\n{table(run)}\n"
    if run.errors:
        text += f"\nErrors:\n\n{error_summary(run)}\n"
    print(text)
    name = (f"load-{args.store}-{args.scale}-{args.users}"
            f"-think{'0' if not think.high else f'{think.low:g}-{think.high:g}'}"
            f"-w{args.workers}") + (
        "" if args.figure_cache_size is None else f"-cache{args.figure_cache_size}")
    (OUT / f"{name}.md").write_text(text, encoding="utf-8")
    (OUT / f"{name}.json").write_text(json.dumps([h.__dict__ for h in run.loaded]),
                                      encoding="utf-8")


if __name__ == "__main__":
    main()
