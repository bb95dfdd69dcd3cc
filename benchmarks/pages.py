"""Pages per role: every navigation page, loaded cold and warm by each demo role, against the real
server (uvicorn in its own process on a loopback port).

    .venv/bin/python -m benchmarks.pages [--scale small|large] [--roles demo-hq …] [--rebuild]

Builds the demo once (``jiqun demo build --scale SCALE --seed 7 --until 2026-11-30``) into
``benchmarks/out/pages-<scale>/`` and reuses it afterwards (a marker file names seed and day;
``--rebuild`` builds again). Serves it with scheduled jobs off (nothing else writes during the
run), signs in as each demo role (docs/demo.md and the generated staff of
``benchmarks.load.DEMO_USERS``), reads the role's navigation from the header of its dashboard (the
links ``web/nav.py`` renders for that user) and loads every page twice:

- **cold**: the first load after a data change. Every role signs in first (so each is a recent
  viewer), one pass by HQ loads every page (so Python's lazy imports and the engine's first-use
  costs are not counted), then the benchmark changes the data version the way an import does —
  it replaces one file of the lake's daily aggregates with an identical copy (new inode and
  time: ``jiqun.kpi.cache`` and ``jiqun.web.computed`` see a new version, every cached figure
  and computation is stale). The server warms every recent viewer's pages after the change, as
  ``jiqun serve`` does (``jiqun.web.warmup``); the benchmark waits for that warm-up (its time is
  reported) and then loads each role's pages. ``--no-warmup`` serves without it and changes the
  data before each role, so the role's first load of a page computes everything that page
  shows for its scope;
- **warm**: the same page again at once, three times, the median counting (served from the
  caches of this data version).

Also timed per role, beside the navigation: the weekly bulletin's files (HTML, XLSX, PDF), which
the bulletin page links to. Any 5xx (or a load without an answer) fails the run (exit status
1). Writes
``benchmarks/out/pages-<scale>.md`` (the table per role, then every page) and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from benchmarks.load import DEMO_PASSWORD, DEMO_USERS, serve
from jiqun.web.warmup import bulletin_files

OUT = Path(__file__).resolve().parent / "out"
SEED = 7
UNTIL = dt.date(2026, 11, 30)  # fixed, so every run measures the same data
TARGET_S = {"small": 1.0, "large": 2.0}  # issue 12: every page for HQ, warm
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
MAIN_NAV = re.compile(r'<nav class="main-nav".*?</nav>', re.S)
WARM_LOADS = 3  # the warm time is their median: one load on a shared machine can stall
HREF = re.compile(r'href="([^"]+)"')


def demo_env(folder: Path) -> dict[str, str]:
    return {
        "JIQUN_STORE_URL": f"sqlite:///{folder}/jiqun.db",
        "JIQUN_LAKE_PATH": str(folder / "lake"),
        "JIQUN_RULES_FILE": str(folder / "kpi-rules.toml"),
        "JIQUN_PLANNING_FILE": str(folder / "planning.toml"),
        "JIQUN_ENVIRONMENT": "test",
        "JIQUN_SECRET_KEY": "pages-benchmark-secret-key-0123456789",
        "JIQUN_SERVE_JOBS": "false",  # no scheduled job writes while pages are timed
        "JIQUN_WARMUP_INTERVAL_SECONDS": "1",
    }


def ensure_demo(scale: str, rebuild: bool = False) -> tuple[Path, float | None]:
    """The demo of ``scale`` in ``benchmarks/out/pages-<scale>/``, built when missing; the
    folder and the build's seconds (None when reused)."""
    folder = OUT / f"pages-{scale}"
    marker = folder / f"built-{SEED}-{UNTIL}"
    took = None
    if rebuild or not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "jiqun.cli", "demo", "build", "--scale", scale,
                        "--seed", str(SEED), "--until", str(UNTIL)],
                       env={**os.environ, **demo_env(folder)}, check=True,
                       stdout=subprocess.DEVNULL)
        took = time.perf_counter() - started
        marker.touch()
    upgrade_store(demo_env(folder)["JIQUN_STORE_URL"])  # a cached demo may predate a migration
    return folder, took


def upgrade_store(url: str) -> None:
    """Migrate a cached demo's store to the head, on a plain connection: SQLite rebuilds a
    table (Alembic's batch mode) only with foreign keys off, its default, which the app's own
    engine turns on."""
    from sqlalchemy import create_engine

    from jiqun.store.migrate import upgrade

    engine = create_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def change_data_version(lake: Path) -> Path:
    """Replace one file of the daily aggregates with an identical copy, as an import's refresh
    replaces the months it touched: the same figures, a new data version."""
    victim = sorted((lake / "daily").glob("month=*/*.parquet"))[-1]
    copy = victim.with_name(victim.name + ".copy")
    shutil.copy2(victim, copy)
    os.replace(copy, victim)
    return victim


@dataclass
class Load:
    role: str
    path: str
    cold_s: float
    warm_s: float
    cold_status: int
    warm_status: int
    bytes: int
    warm_max_s: float  # the slowest of the warm loads


async def sign_in(base: str, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=600, follow_redirects=False)
    form = await client.get("/login")
    token = CSRF_INPUT.search(form.text).group(1)
    answer = await client.post("/login", data={"username": username, "password": DEMO_PASSWORD,
                                              "csrf_token": token})
    if answer.status_code != 303:
        raise RuntimeError(f"{username} could not sign in: {answer.status_code}")
    return client


def navigation(html: str) -> list[str]:
    """The page paths of the main navigation, in the header's order."""
    found = MAIN_NAV.search(html)
    if found is None:
        raise RuntimeError("no main navigation on the dashboard")
    return list(dict.fromkeys(HREF.findall(found.group(0))))


async def timed(client: httpx.AsyncClient, path: str) -> tuple[int, float, int]:
    """Status, seconds and size of one load; status 0: no answer (a dropped connection)."""
    started = time.perf_counter()
    try:
        response = await client.get(path)
    except httpx.HTTPError:
        return 0, time.perf_counter() - started, 0
    return response.status_code, time.perf_counter() - started, len(response.content)


async def pages_of(client: httpx.AsyncClient) -> list[str]:
    """The role's navigation (read from its dashboard's header) and the bulletin's files."""
    paths = navigation((await client.get("/")).text)
    if "/bulletin" in paths:
        # The bulletin's files, which its page links to (the issue measured the PDF on its own).
        paths += bulletin_files((await client.get("/bulletin")).text)
    return paths


async def role_pages(client: httpx.AsyncClient, role: str) -> list[Load]:
    paths = await pages_of(client)
    loads = []
    for path in paths:
        cold_status, cold_s, size = await timed(client, path)
        warm = [await timed(client, path) for _ in range(WARM_LOADS)]
        warm_s = statistics.median(w[1] for w in warm)
        warm_status = max(w[0] for w in warm) if all(w[0] for w in warm) else 0
        loads.append(Load(role, path, cold_s, warm_s, cold_status, warm_status, size,
                          max(w[1] for w in warm)))
        print(f"  {role:18} {path:24} {cold_status} {cold_s * 1000:8.0f} ms cold "
              f"{warm_s * 1000:8.0f} ms warm", flush=True)
    return loads


async def warm_up(client: httpx.AsyncClient) -> None:
    """HQ loads every page once: imports and first-use costs, before the measured pass."""
    for path in await pages_of(client):
        await timed(client, path)


async def server_warmup(client: httpx.AsyncClient) -> dict | None:
    """The server's latest warm-up (``/api/jobs``), None before its first."""
    return (await client.get("/api/jobs")).json().get("warmup")


async def warmed_after(client: httpx.AsyncClient, before: dict | None) -> dict:
    """Wait for a warm-up that finished after ``before`` (the one the data change started)."""
    while True:
        found = await server_warmup(client)
        if found and found["finished_at"] and found != before:
            return found
        await asyncio.sleep(0.5)


async def run(base: str, lake: Path, roles: list[str], warmup: bool) -> tuple[list[Load], dict]:
    clients = {role: await sign_in(base, role) for role in roles}  # every role a recent viewer
    hq = clients.get("demo-hq") or next(iter(clients.values()))
    try:
        await warm_up(hq)
        loads, warmed = [], {}
        if warmup:
            # One data change; the server warms every recent viewer's pages; then each role's
            # first loads are what a user opening the app after the import waits for.
            before = await warmed_after(hq, None)  # the round the sign-ins started
            changed = time.perf_counter()
            change_data_version(lake)
            warmed = await warmed_after(hq, before)
            warmed["wall_s"] = round(time.perf_counter() - changed, 1)
            print(f"  warm-up after the change: {warmed}", flush=True)
        for role, client in clients.items():
            if not warmup:
                change_data_version(lake)  # each role's first loads compute, as after an import
            loads.extend(await role_pages(client, role))
        return loads, warmed
    finally:
        for client in clients.values():
            await client.aclose()


def failures(loads: list[Load]) -> list[Load]:
    """Loads answered 5xx, or not at all."""
    return [x for x in loads if not (0 < x.cold_status < 500 and 0 < x.warm_status < 500)]


def per_role_table(loads: list[Load], target: float) -> str:
    lines = ["| role | pages | slowest cold | cold s | slowest warm | warm s | 5xx | "
             f"warm ≥ {target:g} s |",
             "|---|---:|---|---:|---|---:|---:|---:|"]
    for role in dict.fromkeys(x.role for x in loads):
        mine = [x for x in loads if x.role == role]
        cold = max(mine, key=lambda x: x.cold_s)
        warm = max(mine, key=lambda x: x.warm_s)
        over = sum(x.warm_s >= target for x in mine)
        lines.append(f"| {role} | {len(mine)} | `{cold.path}` | {cold.cold_s:.2f} | "
                     f"`{warm.path}` | {warm.warm_s:.2f} | {len(failures(mine))} | {over} |")
    return "\n".join(lines)


def page_table(loads: list[Load]) -> str:
    roles = list(dict.fromkeys(x.role for x in loads))
    paths = list(dict.fromkeys(x.path for x in loads))
    by = {(x.role, x.path): x for x in loads}
    lines = ["| page | " + " | ".join(roles) + " |",
             "|---|" + "---:|" * len(roles)]
    for path in paths:
        cells = []
        for role in roles:
            x = by.get((role, path))
            if x is None:
                cells.append("—")
                continue
            status = "" if x.cold_status == x.warm_status == 200 \
                else f" ({x.cold_status}/{x.warm_status})"
            cells.append(f"{x.cold_s:.2f} / {x.warm_s:.2f}{status}")
        lines.append(f"| `{path}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--roles", nargs="*", default=list(DEMO_USERS))
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false",
                        help="Serve without the warm-up after a data change (jiqun.web.warmup): "
                        "each role's first loads then compute everything, a change before each "
                        "role.")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    folder, build_s = ensure_demo(args.scale, args.rebuild)
    print(f"demo {args.scale} in {folder}"
          + (f" (built in {build_s:.0f} s)" if build_s else " (reused)"), flush=True)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    started = time.perf_counter()
    env = {**demo_env(folder), "JIQUN_SERVE_WARMUP": "true" if args.warmup else "false"}
    with serve(env, OUT / f"pages-{args.scale}-server.log") as base:
        loads, warmed = asyncio.run(run(base, folder / "lake", args.roles, args.warmup))
    took = time.perf_counter() - started
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    target = TARGET_S.get(args.scale, 2.0)
    failed = failures(loads)
    title = (f"#### Pages — demo scale {args.scale}, {len(args.roles)} roles, "
             f"{len(loads)} page loads × 2, {took:.0f} s; load average "
             f"{' '.join(load_before)} before, {' '.join(load_after)} after; "
             f"{len(failed)} pages answered 5xx or not at all")
    cold = ("first load after a data change, once the server's warm-up of it finished: "
            f"{warmed.get('pages')} pages of {warmed.get('viewers')} viewers in "
            f"{warmed.get('seconds')} s, {warmed.get('wall_s')} s after the change"
            if args.warmup else "first load after a data change, warm-up off")
    text = (f"{title}\n\nSeconds per page, cold ({cold}) and warm "
            f"(the same page again); target {target:g} s.\n\n"
            f"{per_role_table(loads, target)}\n\nEvery page (cold / warm seconds):\n\n"
            f"{page_table(loads)}\n")
    print(text)
    (OUT / f"pages-{args.scale}.md").write_text(text, encoding="utf-8")
    (OUT / f"pages-{args.scale}.json").write_text(
        json.dumps([asdict(x) for x in loads], indent=1), encoding="utf-8")
    if failed:
        for x in failed:
            print(f"5xx: {x.role} {x.path} {x.cold_status}/{x.warm_status}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
