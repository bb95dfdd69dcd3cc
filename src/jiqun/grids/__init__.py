"""Grids and teams (G1, G3): the grids (网格, 责任田) inside a market and the team that works each.

* :mod:`jiqun.grids.design` — drawing a market's grids with balanced workload and potential;
* :mod:`jiqun.grids.redraw` — a redraw in the store: draft → compare → approve → activate;
* :mod:`jiqun.grids.teams` — marketing teams a city proposes and the province approves.

The grid KPIs (G2) are figures of the operating picture, :mod:`jiqun.kpi`.
"""
