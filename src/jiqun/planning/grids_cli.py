"""``jiqun plan grids``: design a market's grids on the command line (网格划分).

Registered onto the ``plan`` group by :func:`register_grids`, so that this command lives beside
the network planners without editing their module.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from jiqun.config import get_settings
from jiqun.output import Format, emit
from jiqun.planning import grid_store
from jiqun.planning.grids import DEFAULT_TOLERANCE
from jiqun.store import Store
from jiqun.store.models import Market


def _market_id(session, market: str) -> int:
    """A market given by id or by code."""
    if market.isdigit():
        return int(market)
    found = session.query(Market.id).filter(Market.code == market).scalar()
    if found is None:
        raise typer.BadParameter(f"no market with code {market!r}", param_hint="--market")
    return found


def grids(
    market: Annotated[str, typer.Option("--market", help="Market id or code.")],
    k: Annotated[int, typer.Option("--k", min=1, help="Number of grids.")],
    tolerance: Annotated[float, typer.Option(
        "--tolerance", min=0.0, help="Allowed max/min − 1 of workload and potential.")
    ] = DEFAULT_TOLERANCE,
    save: Annotated[bool, typer.Option("--save", help="Save the design as a draft.")] = False,
    fmt: Annotated[Format, typer.Option("--format")] = Format.TABLE,
) -> None:
    """Split a market's merchants into K contiguous grids balanced in workload and potential."""
    store = Store.from_settings(get_settings())
    with store.session(source="cli") as session:
        market_id = _market_id(session, market)
        try:
            if save:
                draft_id, plan = grid_store.create_draft(session, market_id, k, tolerance)
                session.commit()
            else:
                draft_id, (_, plan) = None, grid_store.plan_market(session, market_id, k,
                                                                   tolerance)
        except (grid_store.GridDesignError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--market/--k") from None
    result = {"market_id": market_id, "draft": draft_id, **plan.totals(),
              "grids": plan.as_records()}
    if fmt is Format.JSON:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        return
    head = ", ".join(f"{key}={result[key]}" for key in (
        "k", "tolerance", "workload_ratio", "potential_ratio", "moves", "within_tolerance"))
    emit(plan.as_records(), fmt, title=f"Market {market_id}: {head}")


def register_grids(app: typer.Typer) -> None:
    """Add ``grids`` to the ``plan`` group of the main app."""
    for group in app.registered_groups:
        if group.name == "plan":
            group.typer_instance.command("grids")(grids)
            return
    raise RuntimeError("the 'plan' command group is not registered")
