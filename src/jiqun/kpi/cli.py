"""``jiqun kpi …`` and ``jiqun tiers apply``: the operating picture on the command line.

Every command acts as ``--user`` (``jiqun.cli_actor``): the figures are those of the user's
subtree, narrowed by ``--scope``; ``--user system`` is the whole organisation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jiqun.cli_actor import ScopeOpt, UserOpt, acting, refusals
from jiqun.config import get_settings
from jiqun.errors import Conflict
from jiqun.i18n import translator
from jiqun.kpi.dimensions import BY_COLUMN
from jiqun.output import Format, emit
from jiqun.permissions import Action, require

if TYPE_CHECKING:  # the engines load when a command runs, not for its --help
    from jiqun.kpi.rules import KpiRules
    from jiqun.kpi.service import OperatingPicture
    from jiqun.sales.ownership import TierPlan

app = typer.Typer(no_args_is_help=True, help="KPIs of a scope: volume, share, customers, grids …")

ByOpt = Annotated[str, typer.Option("--by", help="|".join(BY_COLUMN))]
PeriodOpt = Annotated[str, typer.Option("--period", help="day|week|month")]
FromOpt = Annotated[dt.datetime | None, typer.Option("--from", formats=["%Y-%m-%d"])]
ToOpt = Annotated[dt.datetime | None, typer.Option("--to", formats=["%Y-%m-%d"],
                                                   help="Default: the last day with data.")]
EngineOpt = Annotated[str | None, typer.Option("--engine", help="duckdb|pyspark")]
FormatOpt = Annotated[Format, typer.Option("--format")]
RulesOpt = Annotated[Path | None, typer.Option("--rules", help="TOML file of KPI rules.")]


def _rules(rules: Path | None) -> KpiRules:
    from jiqun.kpi.rules import KpiRules

    return KpiRules.from_file(rules) if rules else KpiRules.configured()


@contextmanager
def open_picture(user: str | None, scope_code: str | None, engine: str | None,
                 rules: Path | None) -> Iterator[OperatingPicture]:
    """The operating picture of ``--user`` in ``--scope``, with ``--engine`` and ``--rules``
    (for every KPI and report command), read through the acting user's session."""
    from jiqun.kpi.service import OperatingPicture

    who = acting(user, scope_code)
    with refusals(), who.session() as session, OperatingPicture(
            who.store, get_settings().lake_path, session.info["scope"], engine=engine,
            rules=_rules(rules), session=session) as picture:
        yield picture


def _dates(picture: OperatingPicture, start, end, default_days: int,
           default_first: Callable[[dt.date], dt.date] | None = None) -> tuple[dt.date, dt.date]:
    last = end.date() if end else picture.data_date() or dt.date.today()
    if start:
        first = start.date()
    else:
        first = default_first(last) if default_first else last - dt.timedelta(days=default_days - 1)
    if first > last:
        raise typer.BadParameter("--from is after --to")
    return first, last


def _check(value: str, allowed, name: str) -> None:
    if value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}", param_hint=name)


@app.command("volume")
def volume_cmd(user: UserOpt = None, scope: ScopeOpt = None, by: ByOpt = "market", period: PeriodOpt = "month",
               start: FromOpt = None, end: ToOpt = None, engine: EngineOpt = None,
               fmt: FormatOpt = Format.TABLE, rules: RulesOpt = None) -> None:
    """Parcels and revenue with MoM and YoY."""
    _check(by, BY_COLUMN, "--by")
    _check(period, ("day", "week", "month"), "--period")
    with open_picture(user, scope, engine, rules) as p:
        first, last = _dates(p, start, end, 90)
        emit(p.volume(by, period, first, last), fmt, "volume")


@app.command("share")
def share_cmd(user: UserOpt = None, scope: ScopeOpt = None, period: PeriodOpt = "month", start: FromOpt = None,
              end: ToOpt = None, engine: EngineOpt = None, fmt: FormatOpt = Format.TABLE,
              rules: RulesOpt = None) -> None:
    """Market share against the market-total estimate."""
    _check(period, ("day", "week", "month"), "--period")
    with open_picture(user, scope, engine, rules) as p:
        from jiqun.kpi import share

        first, last = _dates(p, start, end, 90, lambda day: share.default_start(period, day))
        emit(p.share(period, first, last), fmt, "share")


@app.command("customers")
def customers_cmd(user: UserOpt = None, scope: ScopeOpt = None, by: ByOpt = "grid", start: FromOpt = None,
                  end: ToOpt = None, engine: EngineOpt = None, fmt: FormatOpt = Format.TABLE,
                  rules: RulesOpt = None) -> None:
    """Active, activated, new effective and churned customers."""
    _check(by, BY_COLUMN, "--by")
    with open_picture(user, scope, engine, rules) as p:
        first, last = _dates(p, start, end, 30)
        emit(p.customers(by, first, last), fmt, "customers")


@app.command("grids")
def grids_cmd(user: UserOpt = None, scope: ScopeOpt = None, end: ToOpt = None, engine: EngineOpt = None,
              fmt: FormatOpt = Format.TABLE, rules: RulesOpt = None) -> None:
    """The grid KPI table with development rate, ranked by plan progress."""
    with open_picture(user, scope, engine, rules) as p:
        _, last = _dates(p, None, end, 1)
        emit(p.grids(last), fmt, "grids")


@app.command("tiers")
def tiers_cmd(user: UserOpt = None, scope: ScopeOpt = None, end: ToOpt = None, engine: EngineOpt = None,
              fmt: FormatOpt = Format.TABLE, rules: RulesOpt = None) -> None:
    """Customer tiers from trailing volume."""
    with open_picture(user, scope, engine, rules) as p:
        _, last = _dates(p, None, end, 1)
        emit(p.tiers(last), fmt, "tiers")


@app.command("rankings")
def rankings_cmd(user: UserOpt = None, scope: ScopeOpt = None, by: ByOpt = "market",
                 metric: Annotated[str, typer.Option(help="progress|growth")] = "progress",
                 end: ToOpt = None, engine: EngineOpt = None, fmt: FormatOpt = Format.TABLE,
                 rules: RulesOpt = None) -> None:
    """Markets, grids, teams or people ranked by plan progress or growth."""
    _check(by, ("market", "grid", "team", "person"), "--by")
    _check(metric, ("progress", "growth"), "--metric")
    with open_picture(user, scope, engine, rules) as p:
        _, last = _dates(p, None, end, 1)
        emit(p.rankings(by, last, metric), fmt, "rankings")


tiers_app = typer.Typer(no_args_is_help=True, help="Customer tiers and the owners they require.")


def _seen_plan(who, picture: OperatingPicture, session, end) -> TierPlan:
    """The organisation's tier plan (computed once for everyone) as ``session`` sees it."""
    from jiqun.sales import ownership

    return ownership.organisation_plan(who.store, picture.lake, picture.rules, picture.con,
                                       end.date() if end else None).seen_by(session)


@tiers_app.command("issues")
def tiers_issues(
    user: UserOpt = None, scope: ScopeOpt = None, end: ToOpt = None, engine: EngineOpt = None,
    every: Annotated[bool, typer.Option("--all", help="Every tiered customer, not only those "
                                                      "with an issue.")] = False,
    fmt: FormatOpt = Format.TABLE, rules: RulesOpt = None,
) -> None:
    """Customers whose archived tier, owner or owner's role is not what their volume requires:
    the rows of the tiers page and ``/api/tiers`` (``jiqun.sales.tier_issues``)."""
    from jiqun.kpi.service import OperatingPicture
    from jiqun.sales.tier_issues import tier_issues

    who = acting(user, scope)
    with refusals(), who.session() as session, OperatingPicture(
            who.store, get_settings().lake_path, session.info["scope"], engine=engine,
            rules=_rules(rules), session=session) as p:
        plan = _seen_plan(who, p, session, end)
        found = tier_issues(session, plan, p.rules)
    rows = [{**asdict(r), "issues": ",".join(r.issues)} for r in found.rows
            if every or r.issues]
    emit(rows, fmt, f"tier issues: {found.mismatches} of {found.total}")


@tiers_app.command("apply")
def tiers_apply(
    user: UserOpt = None, scope: ScopeOpt = None, end: ToOpt = None, engine: EngineOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the changes only.")] = False,
    expect: Annotated[str | None, typer.Option(
        "--expect", help="Apply only if the list is still the one of this fingerprint (as "
        "--dry-run printed it).")] = None,
    fmt: FormatOpt = Format.TABLE, rules: RulesOpt = None,
) -> None:
    """Write computed tiers and tier owners to the archive (audited) and list the changes.

    The plan is the organisation's, computed once (the same rows every viewer of a customer
    gets); the command applies the rows of the acting user's customers (``tier.apply``)."""
    from jiqun.kpi.service import OperatingPicture
    from jiqun.sales import ownership

    who = acting(user, scope)
    settings = get_settings()
    with who.transaction() as session:
        if not dry_run:  # refused before the plan is computed
            require(session, Action.TIER_APPLY)
        with OperatingPicture(who.store, settings.lake_path, session.info["scope"],
                              engine=engine, rules=_rules(rules), session=session) as p:
            plan = _seen_plan(who, p, session, end)
        if expect is not None and expect != plan.fingerprint:
            raise Conflict("The list changed since you saw it; review it again",
                           mine={"fingerprint": expect}, theirs={"fingerprint": plan.fingerprint})
        changes = plan.ordered()
        if not dry_run:
            ownership.apply_changes(session, [c for c in changes if c.writes])
    emit([{**asdict(c), "fingerprint": c.fingerprint} for c in changes], fmt,
         "tier changes" + (" (dry run)" if dry_run else ""))
    t = translator(settings.locale)
    typer.echo(t("List fingerprint {fingerprint}", fingerprint=plan.fingerprint), err=True)
    unfilled = sum(c.new_owner_id is None for c in changes)
    if unfilled:
        typer.echo(t("{n} customers need an owner of their tier's role and have none in reach",
                     n=unfilled), err=True)
