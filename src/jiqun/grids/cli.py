"""``jiqun grids``: design a market's grids on the command line (网格划分), and take a redraw
through its workflow (网格调整): draft → compare → approve → activate.

The same :mod:`jiqun.grids.redraw` service as the grid design page: every command acts as
``--user`` (``jiqun.cli_actor``) in that user's subtree, narrowed by ``--scope``; the service asks
the permission registry (``grid.draft``, ``grid.approve``, ``grid.activate``) and every write is
audited with that user and the source ``cli``. ``compare`` prints the draft's fingerprint;
``approve`` and ``activate`` take it back (``--fingerprint``), so that only the draft the user
looked at is decided. ``jiqun.cli`` mounts :data:`grids_app` as ``jiqun grids``.

    jiqun grids --market ZL --k 4 [--save-draft] --user city-boss
    jiqun grids compare --draft 20260401-1 --user city-boss
    jiqun grids approve --draft 20260401-1 --fingerprint 3f… --user city-boss
    jiqun grids activate --draft 20260401-1 --fingerprint 9a… --user city-boss [--on …]
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.bounds import MAX_ID
from jiqun.cli_actor import ScopeOpt, UserOpt, acting, refusals
from jiqun.config import get_settings
from jiqun.grids.limits import DEFAULT_TOLERANCE, MAX_GRIDS, MAX_TOLERANCE
from jiqun.i18n import translator
from jiqun.output import Format, emit
from jiqun.permissions import Action, require
from jiqun.store.models import Market

grids_app = typer.Typer(
    help="Design a market's grids (网格划分) and take a redraw through draft → compare → "
    "approve → activate.", invoke_without_command=True, no_args_is_help=False)

MarketOpt = Annotated[str | None, typer.Option(
    "--market", help="Market id or code (found from the draft when omitted).")]
DraftOpt = Annotated[str, typer.Option("--draft", help="Draft id, e.g. 20260401-1.")]
SeenOpt = Annotated[str, typer.Option(
    "--fingerprint", help="The draft's fingerprint as `compare` printed it: only that draft is "
    "decided.")]
FormatOpt = Annotated[Format, typer.Option("--format")]


def _redraw():
    """The redraw service (numpy, scipy), loaded when a command runs, not for its --help."""
    from jiqun.grids import redraw

    return redraw


def _t():
    return translator(get_settings().locale)


def _market_id(session: Session, market: str) -> int:
    """A market given by id or by code, seen through the (scoped) session."""
    digits = market.isascii() and market.isdigit()  # '²' is a digit to str.isdigit
    if digits and 1 <= int(market) <= MAX_ID:
        found = session.get(Market, int(market))
        found = found.id if found else None
    else:
        found = session.scalar(select(Market.id).where(Market.code == market))
    if found is None:
        raise typer.BadParameter(_t()("No market {market} in your area", market=market),
                                 param_hint="--market")
    return found


def _draft_market(session: Session, market: str | None, draft_id: str) -> int:
    """The market of a draft: ``--market`` when given, else the only market holding it."""
    if market:
        return _market_id(session, market)
    found = _redraw().markets_with_draft(session, draft_id)
    if not found:
        raise typer.BadParameter(_t()("No draft {draft} in your area", draft=draft_id),
                                 param_hint="--draft")
    if len(found) > 1:
        raise typer.BadParameter(
            _t()("Draft {draft} exists in markets {markets}: name one", draft=draft_id,
                 markets=", ".join(map(str, found))), param_hint="--market")
    return found[0]


def _json(value) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


@grids_app.callback()
def grids(
    ctx: typer.Context,
    market: Annotated[str | None, typer.Option("--market", help="Market id or code.")] = None,
    k: Annotated[int | None, typer.Option("--k", min=1, max=MAX_GRIDS,
                                          help="Number of grids.")] = None,
    tolerance: Annotated[float, typer.Option(
        "--tolerance", min=0.0, max=MAX_TOLERANCE,
        help="Allowed max/min − 1 of workload and potential.")] = DEFAULT_TOLERANCE,
    save: Annotated[bool, typer.Option(
        "--save-draft", "--save", help="Save the design as a draft (replaces an unapproved "
        "one).")] = False,
    user: UserOpt = None, scope: ScopeOpt = None, fmt: FormatOpt = Format.TABLE,
) -> None:
    """Split a market's merchants into K contiguous grids balanced in workload and potential."""
    if ctx.invoked_subcommand:
        return
    if market is None or k is None:
        raise typer.BadParameter(_t()("--market and --k are needed to design grids"),
                                 param_hint="--market/--k")
    who = acting(user, scope)
    with who.transaction() as session:
        if save:  # refused before anything is looked up: a refusal tells nothing else
            require(session, Action.GRID_DRAFT)
        market_id = _market_id(session, market)
        if save:
            draft_id, plan = _redraw().create_draft(session, market_id, k, tolerance)
        else:
            draft_id, (_, plan) = None, _redraw().plan_market(session, market_id, k, tolerance)
    result = {"market_id": market_id, "draft": draft_id, **plan.totals(),
              "grids": plan.as_records()}
    if fmt is Format.JSON:
        _json(result)
        return
    head = ", ".join(f"{key}={result[key]}" for key in (
        "draft", "k", "tolerance", "workload_ratio", "potential_ratio", "moves",
        "within_tolerance"))
    emit(plan.as_records(), fmt, title=f"Market {market_id}: {head}")


@grids_app.command("compare")
def compare_cmd(
    draft: DraftOpt, market: MarketOpt = None, user: UserOpt = None, scope: ScopeOpt = None,
    as_of: Annotated[dt.datetime | None, typer.Option(
        "--as-of", formats=["%Y-%m-%d"], help="Last day of the 30 days of parcels; default "
        "today.")] = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Current grids beside the draft: merchants, workload, potential, parcels of 30 days,
    max/min ratios and the merchants that would move."""
    from jiqun.lake import connect

    settings = get_settings()
    who = acting(user, scope)
    with refusals(), who.session() as session:
        market_id = _draft_market(session, market, draft)
        end = as_of.date() if as_of else dt.date.today()
        parcels = _redraw().parcels_by_customer(connect(settings), settings.lake_path,
                                                 session.info["scope"], market_id, end)
        result = _redraw().compare(session, market_id, draft, parcels)
    if fmt is Format.JSON:
        _json(result)
        return
    rows = [{"side": side, **row} for side, key in (("current", "current"),
                                                    ("draft", "draft_grids"))
            for row in result[key]["grids"]]
    head = (f"moves={result['moves']}, workload max/min {result['current']['workload_ratio']}"
            f" → {result['draft_grids']['workload_ratio']}, potential max/min "
            f"{result['current']['potential_ratio']} → {result['draft_grids']['potential_ratio']}"
            f", approved_by={result['approved_by_name'] or result['approved_by']}"
            f", fingerprint={result['fingerprint']}")
    emit(rows, fmt, title=f"Market {market_id}, draft {draft}: {head}")


def _step_result(market_id: int, draft: str, grids, action: str) -> dict:
    props = grids[0].geometry.get("properties", {}) if grids else {}
    return {"market_id": market_id, "draft": draft, "action": action,
            "fingerprint": _redraw().fingerprint(grids),
            "approved_by": props.get("approved_by"),
            "approved_by_name": props.get("approved_by_name"),
            "approved_at": props.get("approved_at"),
            "grids": [{"id": g.id, "code": g.code, "name": g.name, "status": g.status,
                       "valid_from": g.valid_from} for g in grids]}


@grids_app.command("approve")
def approve_cmd(draft: DraftOpt, seen: SeenOpt, user: UserOpt = None, market: MarketOpt = None,
                scope: ScopeOpt = None, fmt: FormatOpt = Format.TABLE) -> None:
    """Approve a draft (province or city manager, 省市审批)."""
    who = acting(user, scope)
    with who.transaction() as session:
        require(session, Action.GRID_APPROVE)
        market_id = _draft_market(session, market, draft)
        grids = _redraw().approve(session, market_id, draft, seen=seen)
        result = _step_result(market_id, draft, grids, "approved")
    _emit_step(result, fmt)


@grids_app.command("activate")
def activate_cmd(
    draft: DraftOpt, seen: SeenOpt, user: UserOpt = None, market: MarketOpt = None,
    scope: ScopeOpt = None,
    on: Annotated[dt.datetime | None, typer.Option(
        "--on", formats=["%Y-%m-%d"], help="First day of the new grids; default today.")] = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Make an approved draft the market's grids from a day on: the old grids retire the day
    before and the merchants move; parcels already shipped keep their grid."""
    who = acting(user, scope)
    with who.transaction() as session:
        require(session, Action.GRID_ACTIVATE)
        market_id = _draft_market(session, market, draft)
        grids = _redraw().activate(session, market_id, draft, seen=seen,
                                    on=on.date() if on else None)
        result = _step_result(market_id, draft, grids, "activated")
    _emit_step(result, fmt)


def _emit_step(result: dict, fmt: Format) -> None:
    if fmt is Format.JSON:
        _json(result)
        return
    emit(result["grids"], fmt, title=f"Market {result['market_id']}: draft {result['draft']} "
         f"{result['action']} (approved by {result['approved_by_name']} at "
         f"{result['approved_at']}; fingerprint now {result['fingerprint']})")

