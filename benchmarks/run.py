"""``make bench``: run every benchmark with its default size and print its table."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ("benchmarks.import_waybills", "benchmarks.kpi", "benchmarks.location",
              "benchmarks.pmed_family", "benchmarks.cap_family", "benchmarks.grids",
              "benchmarks.load")


def main() -> None:
    for module in BENCHMARKS:  # each in its own process: its peak memory is its own
        subprocess.run([sys.executable, "-m", module], check=True)


if __name__ == "__main__":
    main()
