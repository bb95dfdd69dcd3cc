"""Importers of CSV and XLSX files (markets, customers, waybills, events) with validation and
reject reports. ``import_file`` is the Python API; ``jiqun import …`` the command line.

The names load on first use (PEP 562): ``jiqun import --help`` lists the kinds without DuckDB.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "LAKE_KINDS": "api", "import_file": "api", "FORMATS": "columns", "KINDS": "columns",
    "ImportFileError": "report", "ImportReport": "report", "Reject": "report",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
