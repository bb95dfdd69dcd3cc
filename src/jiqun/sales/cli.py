"""``jiqun sales …``: lifecycle from waybills, the pool, the funnel, visits."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated

import typer
from sqlalchemy import select

from jiqun.analytics.service import OperatingPicture
from jiqun.cli_scope import scope_for_code
from jiqun.config import get_settings
from jiqun.output import Format, emit
from jiqun.sales import funnel as funnel_mod
from jiqun.sales import lifecycle, pool, visits
from jiqun.sales.rules import SalesRules
from jiqun.store import Scope, Store
from jiqun.store.models import User

app = typer.Typer(no_args_is_help=True,
                  help="Customer development: lifecycle, visits, funnel, pool.")

ScopeOpt = Annotated[str | None, typer.Option("--scope", help="Org unit code; default: all.")]
FormatOpt = Annotated[Format, typer.Option("--format")]
DateOpt = Annotated[dt.datetime | None, typer.Option("--date", formats=["%Y-%m-%d"])]


@app.command("lifecycle")
def lifecycle_cmd(
    scope: ScopeOpt = None,
    day: Annotated[dt.datetime | None, typer.Option(
        "--to", formats=["%Y-%m-%d"], help="As of this day; default: the last day with data.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List, change nothing.")] = False,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Move customers along the lifecycle from their waybills (first waybills → cooperating,
    falling → at risk, silent → churned, back → reactivated); every change recorded and audited."""
    settings = get_settings()
    store = Store.from_settings(settings)
    unit_scope = scope_for_code(store, scope)
    with OperatingPicture(store, settings.lake_path, unit_scope) as picture, \
            store.transaction(scope=unit_scope, source="cli") as session:
        changes = lifecycle.promote_from_waybills(
            session, picture, day.date() if day else None, dry_run=dry_run)
    emit([asdict(c) for c in changes], fmt, "lifecycle changes" + (" (dry run)" if dry_run else ""))


@app.command("pool")
def pool_cmd(
    scope: ScopeOpt = None,
    apply: Annotated[bool, typer.Option("--apply", help="Return the due prospects.")] = False,
    reminders: Annotated[bool, typer.Option("--reminders", help="List the reminders.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="Also prospects not yet due.")] = False,
    day: DateOpt = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Prospects with no follow-up returning to the pool (公海), and the reminders before."""
    store = Store.from_settings()
    unit_scope = scope_for_code(store, scope)
    today = day.date() if day else dt.date.today()
    rules = SalesRules.configured()
    with store.transaction(scope=unit_scope, source="cli") as session:
        entries = pool.pool_clock(session, today, rules)
        if apply:
            returned = pool.return_to_pool(session, entries)
    if reminders:
        emit([asdict(r) for r in pool.reminders(entries, rules)], fmt, "pool reminders")
    else:
        shown = entries if show_all else [e for e in entries if e.action != pool.WATCH]
        emit([asdict(e) for e in shown], fmt, "pool clock")
    if apply:
        typer.echo(f"{returned} prospects returned to the pool", err=True)


@app.command("funnel")
def funnel_cmd(
    scope: ScopeOpt = None,
    by: Annotated[str, typer.Option("--by", help="stage|" + "|".join(funnel_mod.BY))] = "stage",
    since: Annotated[dt.datetime | None, typer.Option(
        "--since", formats=["%Y-%m-%d"], help="Only customers archived on or after.")] = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Conversion by stage (the funnel), or by visit method, campaign, platform or person."""
    if by not in ("stage", *funnel_mod.BY):
        raise typer.BadParameter(f"{by!r} is not stage or one of {', '.join(funnel_mod.BY)}",
                                 param_hint="--by")
    store = Store.from_settings()
    with store.session(scope=scope_for_code(store, scope), source="cli") as session:
        facts = funnel_mod.load_facts(session, since.date() if since else None)
        if by == "stage":
            rows = funnel_mod.funnel(facts)
        else:
            rows = funnel_mod.conversion_by(facts, by, funnel_mod.group_names(session, by))
    emit(rows, fmt, f"funnel by {by}")


@app.command("time-in-stage")
def time_in_stage_cmd(scope: ScopeOpt = None, fmt: FormatOpt = Format.TABLE) -> None:
    """Days customers spend in each stage, from the recorded stage changes."""
    store = Store.from_settings()
    with store.session(scope=scope_for_code(store, scope), source="cli") as session:
        spells = funnel_mod.load_spells(session)
    emit(funnel_mod.time_in_stage(spells, dt.datetime.now()), fmt, "time in stage")


@app.command("visits")
def visits_cmd(
    user: Annotated[str, typer.Option("--user", help="User name.")],
    limit: Annotated[int, typer.Option("--limit")] = 50,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """A user's latest visits, in the user's own scope."""
    store = Store.from_settings()
    with store.session() as s:
        found = s.scalars(select(User).where(User.username == user)).one_or_none()
        if found is None:
            raise typer.BadParameter(f"no user {user!r}", param_hint="--user")
        uid, unit_scope = found.id, Scope.for_unit(s, found.org_unit_id)
    with store.session(scope=unit_scope, user_id=uid, source="cli") as session:
        rows = visits.visits_of(session, user_id=uid, limit=limit)
    emit([asdict(r) for r in rows], fmt, f"visits of {user}")


@app.command("plan")
def plan_cmd(
    user: Annotated[str, typer.Option("--user", help="User name of the marketer.")],
    day: Annotated[dt.datetime | None, typer.Option(
        "--date", formats=["%Y-%m-%d"], help="Plan day; default today.")] = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """A marketer's daily visit plan (每日走访计划): scored merchants, routed from the outlet."""
    from jiqun.sales.plan import visits_command

    visits_command(user, day, fmt)
