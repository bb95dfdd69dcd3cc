"""Demo scales: the demo is a miniature of the real province.

Every volume (waybills, market estimates, targets, ``est_daily_volume``, capacities) is the real
figure × ``volume_factor``, so shares, growth and rankings stay as in the seed article. Counts of
merchants, staff, markets and grids are real at every scale.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    volume_factor: float
    approx_waybills: str


# About 205M real parcels over two years in the demo's markets; factors picked so that
# tiny ≈ 30k, small ≈ 1M, medium ≈ 5M, large ≈ 22M waybills.
SCALES: dict[str, Scale] = {
    s.name: s
    for s in (
        Scale("tiny", 0.000145, "≈30k"),
        Scale("small", 0.0049, "≈1M"),
        Scale("medium", 0.0245, "≈5M"),
        Scale("large", 0.11, "≈22M"),
        Scale("huge", 0.5, "≈100M"),  # benchmarks only (benchmarks/kpi.py --rows 100M)
    )
}


def get_scale(name: str) -> Scale:
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}") from None
