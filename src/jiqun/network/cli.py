"""``jiqun flows …``, ``jiqun plan lines [registry|approve|open|close]`` and
``jiqun plan hubs``: the network planners on the command line, acting as ``--user`` in that
user's subtree (narrowed by ``--scope``; ``jiqun.cli_actor``)."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from jiqun.cli_actor import ScopeOpt, UserOpt, acting, refusals
from jiqun.config import get_settings
from jiqun.network.params import HUB_MODELS, PlanningParams
from jiqun.output import Format, emit
from jiqun.permissions import require
from jiqun.store.models import LineStatus

# The planners, the solvers and the lake load when a command runs, never for its --help.

flows_app = typer.Typer(no_args_is_help=False, help="Flows by origin and destination (流量流向).",
                        invoke_without_command=True)
plan_app = typer.Typer(no_args_is_help=True, help="Dedicated lines and consolidation centres.")

FormatOpt = Annotated[Format, typer.Option("--format")]
ParamsOpt = Annotated[Path | None, typer.Option("--params", help="TOML planning parameters.")]


@contextmanager
def _context(user: str | None, scope_code: str | None):
    """The acting user's session (their subtree, narrowed by ``--scope``), a lake connection,
    the lake and the scope; refusals exit 2."""
    from jiqun.lake import connect

    settings = get_settings()
    who = acting(user, scope_code)
    with refusals(), who.session() as session:
        yield session, connect(settings), settings.lake_path, session.info["scope"]


def _params(path: Path | None) -> PlanningParams:
    return PlanningParams.from_file(path) if path else PlanningParams.configured()


def _check(value, allowed, name):
    if value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}", param_hint=name)


@flows_app.callback()
def flows_cmd(
    ctx: typer.Context, user: UserOpt = None, scope: ScopeOpt = None,
    by: Annotated[str, typer.Option("--by", help="market|outlet")] = "market",
    to: Annotated[str, typer.Option("--to", help="province|city")] = "city",
    period: Annotated[str, typer.Option("--period", help="all|day|week|month")] = "all",
    product: Annotated[str | None, typer.Option("--product", help="express|parcel|standard")] = None,
    start: Annotated[dt.datetime | None, typer.Option(
        "--from", formats=["%Y-%m-%d"], help="First day (default: a year before the last).")] = None,
    end: Annotated[dt.datetime | None, typer.Option(
        "--to-day", formats=["%Y-%m-%d"], help="Last day (default: the last day with data).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1)] = None,
    peaks: Annotated[bool, typer.Option("--peaks", help="List the peak windows instead.")] = False,
    fmt: FormatOpt = Format.TABLE, params: ParamsOpt = None,
) -> None:
    """Parcels by origin × destination over the trailing year unless --from/--to-day say
    otherwise, as /flows shows them (and the peak windows found in the data)."""
    if ctx.invoked_subcommand:
        return
    _check(by, ("market", "outlet"), "--by")
    _check(to, ("province", "city"), "--to")
    _check(period, ("all", "day", "week", "month"), "--period")
    from jiqun.network import flows as flows_mod

    with _context(user, scope) as (session, con, lake, sc):
        if peaks:
            windows = flows_mod.scope_peak_windows(con, lake, sc, _params(params))
            emit([w.as_row() for w in windows], fmt, "peak windows")
            return
        rows = flows_mod.flow_records(session, con, lake, sc, by=by, to=to, period=period,
                                      product=product, start=start.date() if start else None,
                                      end=end.date() if end else None, limit=limit)
        emit(rows, fmt, "flows")


lines_app = typer.Typer(no_args_is_help=False, invoke_without_command=True,
                        help="Dedicated lines (专线): the proposals, the registry and the steps "
                        "of a line's lifecycle.")
plan_app.add_typer(lines_app, name="lines")


@lines_app.callback()
def lines_cmd(ctx: typer.Context, user: UserOpt = None, scope: ScopeOpt = None,
              by: Annotated[str, typer.Option("--by", help="market|outlet")] = "market",
              all_lanes: Annotated[bool, typer.Option("--all", help="Also lanes not proposed.")]
              = False,
              pooled: Annotated[bool, typer.Option("--pooled", help="Pooled lines (拼线).")] = False,
              fmt: FormatOpt = Format.TABLE, params: ParamsOpt = None) -> None:
    """Dedicated-line proposals: break-even, days above it, saving a year, hours saved, and
    the line already recorded for a lane (existing_line, line_code)."""
    if ctx.invoked_subcommand:
        return
    _check(by, ("market", "outlet"), "--by")
    from jiqun.network.lines import plan_lines

    with _context(user, scope) as (session, con, lake, sc):
        plan = plan_lines(session, con, lake, sc, _params(params), by=by, pooling=pooled,
                          locale=get_settings().locale)
        if pooled:
            emit([p.as_row() for p in plan.pools], fmt, "pooled lines")
            return
        lanes = plan.lanes if all_lanes else plan.proposals
        emit([p.as_row() for p in lanes], fmt, "dedicated lines")


def _registry_rows(rows) -> list[dict]:
    return [{**asdict(r), "steps": " ".join(r.steps)} for r in rows]


@lines_app.command("registry")
def registry_cmd(user: UserOpt = None, scope: ScopeOpt = None,
                 status: Annotated[str | None, typer.Option(
                     "--status", help="draft|approved|active|peak_only|closed")] = None,
                 fmt: FormatOpt = Format.TABLE) -> None:
    """The recorded lines with their lifecycle status and the steps the user may take, as
    /lines/registry shows them."""
    if status is not None:
        _check(status, [s.value for s in LineStatus], "--status")
    from jiqun.network.line_lifecycle import line_registry

    with _context(user, scope) as (session, _con, _lake, _sc):
        rows = line_registry(session, LineStatus(status) if status else None)
        emit(_registry_rows(rows), fmt, "line registry")


LineArg = Annotated[str, typer.Argument(help="The line's id or code.")]
VersionOpt = Annotated[int, typer.Option("--version", min=1,
                                         help="The line's version as you saw it (registry).")]
DayOpt = Annotated[dt.datetime | None, typer.Option(
    "--on", formats=["%Y-%m-%d"], help="The day (default today).")]


def _step(step: str, line: str, version: int, user: str | None, scope: str | None,
          fmt: Format, mode: str | None = None, on: dt.datetime | None = None) -> None:
    """Take one lifecycle step on a line, as the acting user, in one transaction."""
    from jiqun.network.line_lifecycle import STEPS, find_line, line_registry, take_step

    who = acting(user, scope)
    with who.transaction() as session:
        require(session, STEPS[step].action)  # refuse before looking the line up
        found = find_line(session, line)
        done = take_step(session, found.id, step, version=version, mode=mode,
                         on=on.date() if on else None)
        rows = [r for r in line_registry(session) if r.id == done.id]
    emit(_registry_rows(rows), fmt, f"line {step}")


@lines_app.command("approve")
def approve_cmd(line: LineArg, version: VersionOpt, user: UserOpt = None,
                scope: ScopeOpt = None, fmt: FormatOpt = Format.TABLE) -> None:
    """Approve a draft line (审批): someone above the level of the one who accepted it."""
    _step("approve", line, version, user, scope, fmt)


@lines_app.command("open")
def open_cmd(line: LineArg, version: VersionOpt, user: UserOpt = None, scope: ScopeOpt = None,
             mode: Annotated[str | None, typer.Option(
                 "--mode", help="active (all year) | peak_only; default as proposed")] = None,
             on: DayOpt = None, fmt: FormatOpt = Format.TABLE) -> None:
    """Put an approved line into service from a day on."""
    from jiqun.network.line_lifecycle import OPEN_MODES

    if mode is not None:
        _check(mode, OPEN_MODES, "--mode")
    _step("open", line, version, user, scope, fmt, mode=mode, on=on)


@lines_app.command("close")
def close_cmd(line: LineArg, version: VersionOpt, user: UserOpt = None, scope: ScopeOpt = None,
              on: DayOpt = None, fmt: FormatOpt = Format.TABLE) -> None:
    """Close a running line, or withdraw a draft or approved one."""
    _step("close", line, version, user, scope, fmt, on=on)


def _site(text: str):
    from jiqun.network.hubs import SiteError, parse_site

    try:
        return parse_site(text)
    except SiteError as exc:
        raise typer.BadParameter(f"{exc} (NAME,LON,LAT): {text!r}", param_hint="--site") from None


@plan_app.command("hubs")
def hubs_cmd(user: UserOpt = None, scope: ScopeOpt = None,
             model: Annotated[str, typer.Option("--model", help="|".join(HUB_MODELS))] = "cover",
             p: Annotated[int | None, typer.Option("--p", min=1, help="Centres (mclp, pmedian).")]
             = None,
             radius: Annotated[float | None, typer.Option("--radius", min=0.1, max=600,
                                                         help="Minutes.")] = None,
             capacity: Annotated[float | None, typer.Option("--capacity",
                                                           help="Parcels a day (cflp).")] = None,
             closable: Annotated[bool, typer.Option("--closable",
                                                    help="Existing centres may close.")] = False,
             close: Annotated[list[str] | None, typer.Option(
                 "--close", help="Code of an existing centre that may close; the others stay "
                 "open in every model (repeatable).")] = None,
             site: Annotated[list[str] | None, typer.Option("--site", help="NAME,LON,LAT")] = None,
             centres: Annotated[bool, typer.Option("--centres", help="One row per centre.")]
             = False,
             fmt: FormatOpt = Format.TABLE, params: ParamsOpt = None) -> None:
    """Consolidation centres: cover, mclp, pmedian or cflp, with bound and gap."""
    _check(model, HUB_MODELS, "--model")
    from jiqun.network.hubs import candidate_sites, merchant_demand, plan_hubs

    with _context(user, scope) as (session, con, lake, sc):
        merchants = merchant_demand(session, con, lake, sc)
        sites = candidate_sites(session, [_site(s) for s in site or []])
    if not sites or merchants.ids.size == 0:
        raise typer.BadParameter("no merchants with coordinates or no candidate sites in scope")
    with refusals():
        plan = plan_hubs(merchants, sites, _params(params), model, p=p, radius=radius,
                         capacity=capacity, keep_existing=not closable,
                         closable=set(close) if close else None)
    emit(plan.centres if centres else [plan.summary()], fmt, f"centres · {model}")
