"""The dimensions a KPI can be broken down by, and the waybill column of each (a light module:
the command line lists them in its help without loading the engines)."""

from __future__ import annotations

BY_COLUMN: dict[str, str] = {
    "market": "market_id",
    "grid": "grid_id",
    "team": "team_id",
    "person": "owner_id",
    "customer": "customer_id",
    "product": "product",
    "province": "dest_province",
}
