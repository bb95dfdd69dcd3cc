"""``python -m benchmarks.exceptions``: exception detection against the demo's injected truth.

Builds (or reuses, ``--reuse``) a demo in ``--folder``, runs detection every ``--step`` hours
over the last ``--hours`` of the history (the first detection of a parcel gives its lead
time: hours from then to its promised delivery) and at the end, and prints recall (by incident)
and precision (by detected kind) against ``<lake>/_demo/incidents.parquet``, the median lead
time, and the seconds of one detection at the end.

A delay found as ``stalled`` or ``late`` counts for either (a parcel of a stall that will also
miss its promise is found either way); a finding on a parcel of the truth is right.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections import defaultdict
from pathlib import Path

from jiqun.demo import build_demo
from jiqun.demo.incidents import read_truth
from jiqun.lake import connect
from jiqun.service.exceptions import detect
from jiqun.store import Store
from jiqun.store.scope import Scope

DELAY = {"late", "stalled"}
# Incidents whose parcels are still on their way: the lead time means something for them
# (a 异常 scan or a return is found with its scan, after any promise).
ON_THE_WAY = {"stall", "lost_bag", "late_line", "late_parcel", "natural"}
UNTIL = dt.date(2026, 11, 30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="small")
    ap.add_argument("--folder", type=Path, default=Path("/tmp/jiqun-bench-exceptions"))
    ap.add_argument("--reuse", action="store_true", help="reuse the demo built in --folder")
    ap.add_argument("--hours", type=int, default=36)
    ap.add_argument("--step", type=int, default=3)
    args = ap.parse_args()
    lake = args.folder / "lake"
    if not (args.reuse and (lake / "_demo").is_dir()):
        args.folder.mkdir(parents=True, exist_ok=True)
        store = Store(f"sqlite:///{args.folder}/store.db")
        store.upgrade()
        build_demo(store, lake, scale=args.scale, seed=7, until=UNTIL, progress=False)
    end = dt.datetime.combine(UNTIL + dt.timedelta(days=1), dt.time())
    con = connect(engine="duckdb")
    first: dict[tuple[str, str], dt.datetime] = {}
    for h in range(args.hours, 0, -args.step):
        for d in detect(con, lake, Scope.WHOLE, end - dt.timedelta(hours=h)):
            first.setdefault((d.waybill_no, d.kind.value), d.detected_at)
    began, cpu = time.perf_counter(), time.process_time()
    found = detect(con, lake, Scope.WHOLE, end)  # learns the day's leg times, then detects
    cold = (time.perf_counter() - began, time.process_time() - cpu)
    began, cpu = time.perf_counter(), time.process_time()
    detect(con, lake, Scope.WHOLE, end)  # the day's leg times known: what an hourly run costs
    warm = (time.perf_counter() - began, time.process_time() - cpu)
    for d in found:
        first.setdefault((d.waybill_no, d.kind.value), d.detected_at)
    report(read_truth(lake).to_pylist(), found, first, args.scale)
    events = con.con.sql(
        f"SELECT count(*) FILTER (event_time >= TIMESTAMP '{end - dt.timedelta(days=1)}'), "
        f"count(*) FROM read_parquet('{lake}/events/*/*.parquet')").fetchall()[0]
    print(f"\n| detection at the end ({args.scale}) | wall s | CPU s |\n|---|---:|---:|")
    print(f"| learning the day's leg times + detection | {cold[0]:.1f} | {cold[1]:.1f} |")
    print(f"| detection, leg times known | {warm[0]:.1f} | {warm[1]:.1f} |")
    print(f"\nevents of the last day: {events[0]:,}; in the lake: {events[1]:,}; "
          f"findings: {len(found):,}")


def report(truth, found, first, scale) -> None:
    kinds = defaultdict(set)
    for d in found:
        kinds[d.waybill_no].add(d.kind.value)
    by_incident = defaultdict(lambda: [0, 0, []])
    for t in truth:
        w, k = t["waybill_no"], t["kind"]
        hit = [kk for kk in kinds[w] if kk == k or (k in DELAY and kk in DELAY)]
        row = by_incident[t["incident"]]
        row[1] += 1
        if hit:
            row[0] += 1
            seen = min(first.get((w, kk), dt.datetime.max) for kk in hit)
            if t["promised_at"] is not None and seen != dt.datetime.max:
                row[2].append((t["promised_at"] - seen).total_seconds() / 3600)
    truthful = {t["waybill_no"] for t in truth}
    precision = defaultdict(lambda: [0, 0])
    for d in found:
        precision[d.kind.value][1] += 1
        precision[d.kind.value][0] += d.waybill_no in truthful
    print(f"\n## Exception detection ({scale} demo, detection at the end of the history)\n")
    print("| incident | parcels | found | recall | median lead (h) |")
    print("|---|---:|---:|---:|---:|")
    hits = total = 0
    leads: list[float] = []
    for name, (h, n, lead) in sorted(by_incident.items()):
        hits, total = hits + h, total + n
        leads += lead if name in ON_THE_WAY else []
        med = f"{statistics.median(lead):.1f}" if lead and name in ON_THE_WAY else "–"
        print(f"| {name} | {n} | {h} | {h / n:.2f} | {med} |")
    print(f"| **all** | {total} | {hits} | **{hits / max(total, 1):.2f}** | "
          f"**{statistics.median(leads):.1f}** |" if leads else "| all | 0 | 0 | – | – |")
    print("\n| detected kind | findings | on the truth | precision |")
    print("|---|---:|---:|---:|")
    for kind, (ok, n) in sorted(precision.items()):
        print(f"| {kind} | {n} | {ok} | {ok / n:.2f} |")
    flagged = sum(n for _, n in precision.values())
    right = sum(ok for ok, _ in precision.values())
    print(f"| **all** | {flagged} | {right} | **{right / max(flagged, 1):.2f}** |")


if __name__ == "__main__":
    main()
