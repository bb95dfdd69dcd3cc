"""``jiqun finance ledger|cost|costs``: the monthly ledger, cost per parcel with its drivers and
the cost parameters, acting as ``--user`` in that user's subtree (narrowed by ``--scope``)."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from typing import Annotated

import typer

from jiqun.cli_actor import ScopeOpt, UserOpt, acting, refusals
from jiqun.config import get_settings
from jiqun.output import Format, emit

app = typer.Typer(no_args_is_help=True, help="Ledger, cost per parcel and cost parameters.")
costs_app = typer.Typer(no_args_is_help=True, help="Cost parameters (成本参数): list, set.")
app.add_typer(costs_app, name="costs")

FormatOpt = Annotated[Format, typer.Option("--format")]
MonthOpt = Annotated[str | None, typer.Option(
    "--month", help="YYYY-MM; default: the month of the latest data.")]


def parse_month(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a month YYYY-MM", param_hint="--month") \
            from None


@contextmanager
def _context(user: str | None, scope_code: str | None):
    from jiqun.lake import connect

    settings = get_settings()
    who = acting(user, scope_code)
    with refusals(), who.session() as session:
        yield session, connect(settings), settings.lake_path, session.info["scope"]


def _month(con, lake, scope, month: dt.date | None) -> dt.date:
    from jiqun.money.ledger import latest_month

    return month or latest_month(con, lake, scope)


@app.command("ledger")
def ledger_cmd(user: UserOpt = None, scope: ScopeOpt = None, month: MonthOpt = None,
               fmt: FormatOpt = Format.TABLE) -> None:
    """One record per org unit: revenue, cost, profit, loss cover, bonus pool, outlet share."""
    from jiqun.money.ledger import ledger
    from jiqun.money.rules import FinanceRules

    with _context(user, scope) as (session, con, lake, sc):
        when = _month(con, lake, sc, parse_month(month))
        rows = ledger(con, lake, session, when, sc, FinanceRules.configured())
    emit([{"month": when.strftime("%Y-%m"), "org_code": r.org_code,
           "parent_code": r.parent_code, "level": r.level, "name": r.name,
           "parcels": r.parcels, "revenue": r.revenue, "cost": r.cost, "profit": r.profit,
           "loss_cover": r.loss_cover, "bonus_pool": r.bonus_pool,
           "outlet_share": r.outlet_share, "result": round(r.result, 2)} for r in rows], fmt,
         title="ledger")


@app.command("cost")
def cost_cmd(user: UserOpt = None, scope: ScopeOpt = None, month: MonthOpt = None,
             by: Annotated[str, typer.Option(
                 "--by", help="customer|market|lane|product|grid|city")] = "market",
             limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 50,
             fmt: FormatOpt = Format.TABLE) -> None:
    """Cost per parcel by a dimension, each pool as driver quantity × rate + fixed part."""
    from jiqun.money.cost import DIMENSIONS, cost_per_parcel
    from jiqun.money.rules import FinanceRules

    if by not in DIMENSIONS:
        raise typer.BadParameter(f"{by!r} is not one of {', '.join(DIMENSIONS)}",
                                 param_hint="--by")
    with _context(user, scope) as (session, con, lake, sc):
        when = _month(con, lake, sc, parse_month(month))
        rows = cost_per_parcel(con, lake, session, sc, when, by, FinanceRules.configured())
    out = []
    for r in rows[:limit]:
        record = {"month": when.strftime("%Y-%m"), "key": r.key, "label": r.label,
                  "parcels": r.parcels, "revenue": round(r.revenue, 2),
                  "cost": round(r.cost, 2),
                  "cost_per_parcel": None if r.cost_per_parcel is None
                  else round(r.cost_per_parcel, 4)}
        for p in r.pools:
            record[f"{p.pool}_fixed"] = round(p.fixed, 4)
            for d in p.drivers:
                record[f"{p.pool}_{d.driver}"] = round(d.quantity, 4)
                record[f"{p.pool}_{d.driver}_rate"] = None if d.rate is None \
                    else round(d.rate, 6)
        out.append(record)
    emit(out, fmt, title=f"cost per parcel by {by}")


@costs_app.command("list")
def costs_list(user: UserOpt = None, scope: ScopeOpt = None, month: MonthOpt = None,
               fmt: FormatOpt = Format.TABLE) -> None:
    """The cost parameters in scope with their dates; ``in_force`` in the month."""
    from dataclasses import asdict

    from jiqun.money.cost import parameter_list

    with _context(user, scope) as (session, _con, _lake, _sc):
        rows = parameter_list(session, parse_month(month))
    emit([asdict(r) for r in rows], fmt, title="cost parameters")


@costs_app.command("set")
def costs_set(
    org: Annotated[str, typer.Option("--org", help="Province or city code.")],
    pool: Annotated[str, typer.Option("--pool")],
    driver: Annotated[str, typer.Option("--driver")],
    rate: Annotated[float, typer.Option("--rate", help="Yuan per driver unit.")],
    valid_from: Annotated[str, typer.Option("--from", help="First month, YYYY-MM.")],
    fixed: Annotated[float, typer.Option("--fixed", help="Fixed part, yuan a month.")] = 0.0,
    zone: Annotated[str, typer.Option("--zone", help="Last mile: same|neighbour|far|remote|*")]
    = "*",
    key: Annotated[str, typer.Option("--key", help="pieces|weight|revenue")] = "pieces",
    version: Annotated[int | None, typer.Option("--version")] = None,
    user: UserOpt = None, scope: ScopeOpt = None, fmt: FormatOpt = Format.TABLE,
) -> None:
    """Set a rate from a month on (cost.edit); earlier months keep theirs."""
    from sqlalchemy import select

    from jiqun.errors import Invalid
    from jiqun.money.cost import set_parameter
    from jiqun.store.models import CostDriver, CostPool, OrgUnit

    first = parse_month(valid_from)
    who = acting(user, scope)
    with who.transaction() as session:
        from jiqun.permissions import Action, require

        require(session, Action.COST_EDIT)
        if pool not in CostPool._value2member_map_ or driver not in \
                CostDriver._value2member_map_:
            raise Invalid({"pool": "Unknown cost pool or driver"})
        unit = session.scalar(select(OrgUnit.id).where(OrgUnit.code == org))
        if unit is None or not session.info["scope"].allows(unit):
            raise Invalid({"org_unit": "Cost parameters belong to a province or a city"})
        row = set_parameter(session, org_unit_id=unit, pool=CostPool(pool),
                            driver=CostDriver(driver), valid_from=first, rate=rate,
                            fixed_per_month=fixed, zone=zone, allocation_key=key,
                            version=version)
        out = {"id": row.id, "org_code": org, "pool": pool, "driver": driver, "zone": zone,
               "rate": row.rate, "fixed_per_month": row.fixed_per_month,
               "valid_from": row.valid_from.isoformat(), "version": row.version}
    emit([out], fmt, title="cost parameter")
