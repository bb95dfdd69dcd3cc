"""Regenerate ``src/jiqun/geo/data/divisions.csv`` from the cpca package's adcode table.

jiqun owns the resulting table (it is committed), so the app never depends on cpca's file
layout at run time. Run: ``.venv/bin/python scripts/build_divisions.py``.
"""

from __future__ import annotations

import csv
from importlib.resources import files
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src/jiqun/geo/data/divisions.csv"


def main() -> None:
    source = files("cpca").joinpath("resources/adcodes.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(source.splitlines()))
    names = {r["adcode"][:6]: r["name"] for r in rows}
    out = []
    for r in rows:
        code = r["adcode"][:6]
        if not r["longitude"]:
            continue  # "市辖区" placeholders without a place
        if code.endswith("0000"):
            level, province, city = "province", code, ""
        elif code.endswith("00"):
            level, province, city = "city", code[:2] + "0000", code
        else:
            level, province, city = "county", code[:2] + "0000", code[:4] + "00"
        name = r["name"]
        if level == "city" and name == "市辖区":  # municipalities: the city is the province
            name = names[province]
        out.append(
            {
                "adcode": code,
                "name": name,
                "level": level,
                "province": province,
                "city": city,
                "lon": round(float(r["longitude"]), 5),
                "lat": round(float(r["latitude"]), 5),
            }
        )
    out.sort(key=lambda r: r["adcode"])
    with OUT.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(out[0]))
        writer.writeheader()
        writer.writerows(out)
    print(f"wrote {len(out)} divisions to {OUT}")


if __name__ == "__main__":
    main()
