"""Load: many signed-in users on the dashboard, the lists and ``/api`` at once, against the real
server (uvicorn in its own process on a loopback port), with latency and errors per endpoint group.

    .venv/bin/python -m benchmarks.load [--users 50] [--seconds 60] [--scale small]

Builds the demo (``jiqun demo build --scale small``) into a temporary folder, starts ``uvicorn
jiqun.web.app:create_app --factory`` on it, signs the users in (several roles, each with its own
session), then first measures one user alone (the baseline: every endpoint, a few rounds), then
every user at once for the given time. Each user walks the endpoint list in its own order and
starts the next request when the previous one answered. An error is any answer other than the
one the lone user got (a 5xx, a timeout, a refused connection), or — for the JSON endpoints that
carry figures — a body different from the lone user's (the same fact for every request).

``tests/web/test_load.py`` runs the same driver with 10 users for a few seconds in ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
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
def serve(env: dict[str, str], log: Path) -> Iterator[str]:
    """The app under uvicorn in its own process on a free loopback port; yields its base URL."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "jiqun.web.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
             "--no-access-log", "--timeout-keep-alive", str(KEEP_ALIVE_S)],
            env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, base, log)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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


async def together(users: list[User], expected: Expected, seconds: float,
                   max_requests: int) -> list[Hit]:
    """Every user at once, each walking the endpoints from its own starting point, until
    ``seconds`` have passed or ``max_requests`` were sent."""
    endpoints = endpoint_list()
    hits: list[Hit] = []
    deadline = time.monotonic() + seconds

    async def walk(n: int, user: User) -> None:
        i = n * 7  # users start at different endpoints, so every page is hit at once
        while time.monotonic() < deadline and len(hits) < max_requests:
            group, path, compare = endpoints[i % len(endpoints)]
            hit, _ = await _get(user, group, path, compare, expected)
            hits.append(hit)
            i += 1

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

    @property
    def errors(self) -> list[Hit]:
        return [h for h in self.loaded if h.wrong]


async def run_load(base: str, usernames: list[str], password: str, *, users: int,
                   seconds: float, max_requests: int = 1_000_000, baseline_rounds: int = 3,
                   timeout: float = 60.0) -> Run:
    """Sign ``users`` users in (cycling through ``usernames``), measure one alone, then all
    together for ``seconds``."""
    signed = [await sign_in(base, usernames[n % len(usernames)], password, bearer=n % 2 == 1,
                            timeout=timeout) for n in range(users)]
    try:
        distinct = list({u.username: u for u in signed}.values())
        expected, first, baseline = await alone(distinct, baseline_rounds)
        started = time.monotonic()
        loaded = await together(signed, expected, seconds, max_requests)
        return Run(users, time.monotonic() - started, first, baseline, loaded, expected)
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
    file there); the server's environment and the seconds the build took."""
    env = {
        "JIQUN_STORE_URL": store_url or f"sqlite:///{folder}/store.db",
        "JIQUN_LAKE_PATH": str(folder / "lake"),
        "JIQUN_RULES_FILE": str(folder / "kpi-rules.toml"),
        "JIQUN_PLANNING_FILE": str(folder / "planning.toml"),
        "JIQUN_ENVIRONMENT": "test", "JIQUN_SECRET_KEY": "load-benchmark-secret-key-0123456789",
    }
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "jiqun"), "demo", "build", "--scale",
                    scale], env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
    return env, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--scale", default="small")
    parser.add_argument("--figure-cache-size", type=int, default=None,
                        help="JIQUN_FIGURE_CACHE_SIZE of the server (0: every request computes)")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jiqun-load-") as tmp:
        env, build_s = build_demo(Path(tmp), args.scale)
        print(f"demo build --scale {args.scale}: {build_s:.1f} s")
        if args.figure_cache_size is not None:
            env["JIQUN_FIGURE_CACHE_SIZE"] = str(args.figure_cache_size)
        with serve(env, OUT / "load-server.log") as base:
            run = asyncio.run(run_load(base, list(DEMO_USERS), DEMO_PASSWORD, users=args.users,
                                       seconds=args.seconds))
    cache = "" if args.figure_cache_size is None else f", figure cache {args.figure_cache_size}"
    title = (f"#### Load — {args.users} users, {run.seconds:.0f} s, demo scale {args.scale}"
             f"{cache} ({len(run.loaded):,} requests, {len(run.errors)} errors, "
             f"{len(run.loaded) / run.seconds:.1f} requests/s; demo build {build_s:.1f} s)")
    text = f"{title}\n\n{table(run)}\n"
    if run.errors:
        text += f"\nErrors:\n\n{error_summary(run)}\n"
    print(text)
    name = f"load-{args.scale}-{args.users}" + (
        "" if args.figure_cache_size is None else f"-cache{args.figure_cache_size}")
    (OUT / f"{name}.md").write_text(text, encoding="utf-8")
    (OUT / f"{name}.json").write_text(json.dumps([h.__dict__ for h in run.loaded]),
                                      encoding="utf-8")


if __name__ == "__main__":
    main()
