"""The bounds of a grid redraw that forms and commands check before any solver loads."""

from __future__ import annotations

DEFAULT_TOLERANCE = 0.2  # allowed max/min − 1 of workload and potential between grids
MAX_GRIDS = 200  # grids of one market a redraw may make
MAX_TOLERANCE = 5.0  # max/min − 1 of workload and potential
