"""``jiqun markets add|edit|top|targets``: the same services as the pages ``/markets/new``,
``/markets/top``, ``/markets/targets`` and their ``/api`` twins.

Every command acts as a user (``--user NAME`` or ``JIQUN_USER``; ``system`` for the whole
organisation) and may narrow to an org unit of their subtree (``--scope``), through
:func:`jiqun.cli_actor.acting`: the user's role decides what they may do (a marketer's
``markets edit --revenue-target`` is refused), their subtree what they see. Refusals are printed
in the configured language (``JIQUN_LOCALE``) and exit with 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from sqlalchemy.orm import Session

from jiqun.cli_actor import ScopeOpt, UserOpt, acting, refusals
from jiqun.config import get_settings
from jiqun.markets import registry
from jiqun.output import Format, emit
from jiqun.permissions import Action, require
from jiqun.store.models import MarketType
from jiqun.store.org import unit_by_code

if TYPE_CHECKING:  # the engines load when a command runs, not for its --help
    from jiqun.kpi.service import OperatingPicture

markets_app = typer.Typer(no_args_is_help=True, help="Register markets; TOP-N by potential; "
                                                     "key-city targets.")

FormatOpt = Annotated[Format, typer.Option("--format")]


@contextmanager
def _reading(user: str | None, scope: str | None) -> Iterator[tuple[Session, OperatingPicture]]:
    """A read-only session and the KPI picture of the acting user's (narrowed) subtree."""
    from jiqun.kpi.service import OperatingPicture

    act = acting(user, scope)
    settings = get_settings()
    with refusals(), OperatingPicture(act.store, settings.lake_path, act.scope) as picture, \
            act.session() as session:
        yield session, picture


def _market_record(market) -> dict[str, Any]:
    return {"id": market.id, "code": market.code, "name": market.name,
            "type": market.type.value, "industry": market.industry, "tier": market.tier,
            "key_area": bool(market.key_area), "org_unit_id": market.org_unit_id,
            "yearly_revenue_target": market.yearly_revenue_target}


def _market_options(session: Session, org: str | None, **values: Any) -> dict[str, Any]:
    data = {k: v for k, v in values.items() if v is not None}
    if "type" in data:
        data["type"] = data["type"].value
    if org:
        unit = unit_by_code(session, org)
        if unit is None:
            raise typer.BadParameter(f"no org unit with code {org!r}", param_hint="--org")
        data["org_unit_id"] = unit.id
    return data


Opt = typer.Option


@markets_app.command("add")
def add_cmd(
    code: Annotated[str, Opt("--code", help="Unique market code, e.g. ZJ-ZL.")],
    name: Annotated[str, Opt("--name")],
    type: Annotated[MarketType, Opt("--type")],
    industry: Annotated[str, Opt("--industry")],
    org: Annotated[str, Opt("--org", help="Code of the city, county or outlet it belongs to.")],
    tier: Annotated[str | None, Opt("--tier", help="A, B or C.")] = None,
    key_area: Annotated[bool, Opt("--key-area/--no-key-area", help="重点产粮区.")] = False,
    revenue_target: Annotated[float | None, Opt("--revenue-target", help="Yearly, yuan.")] = None,
    volume_target: Annotated[float | None, Opt("--volume-target", help="Yearly, parcels.")] = None,
    market_volume: Annotated[float | None, Opt(
        "--market-volume", help="Estimated parcels a day of all carriers.")] = None,
    year: Annotated[int | None, Opt("--year", help="Year of the targets; default: this year.")
                    ] = None,
    lon: Annotated[float | None, Opt("--lon")] = None,
    lat: Annotated[float | None, Opt("--lat")] = None,
    address: Annotated[str | None, Opt("--address")] = None,
    adcode: Annotated[str | None, Opt("--adcode")] = None,
    name_en: Annotated[str | None, Opt("--name-en")] = None,
    scope: ScopeOpt = None,
    user: UserOpt = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Register a market (集群市场) with its yearly targets; audited."""
    with acting(user, scope).transaction() as session:
        require(session, Action.MARKET_CREATE)  # before any lookup, as the web answers
        data = _market_options(
            session, org, code=code, name=name, type=type, industry=industry, tier=tier,
            key_area=key_area, yearly_revenue_target=revenue_target,
            yearly_volume_target=volume_target, market_daily_volume=market_volume,
            target_year=year, lon=lon, lat=lat, address=address, adcode=adcode, name_en=name_en)
        market = registry.create_market(session, data)
        record = _market_record(market)
    emit([record], fmt, "market added")


@markets_app.command("edit")
def edit_cmd(
    code: Annotated[str, typer.Argument(help="Code of the market to change.")],
    new_code: Annotated[str | None, Opt("--code")] = None,
    name: Annotated[str | None, Opt("--name")] = None,
    type: Annotated[MarketType | None, Opt("--type")] = None,
    industry: Annotated[str | None, Opt("--industry")] = None,
    org: Annotated[str | None, Opt("--org")] = None,
    tier: Annotated[str | None, Opt("--tier")] = None,
    key_area: Annotated[bool | None, Opt("--key-area/--no-key-area")] = None,
    revenue_target: Annotated[float | None, Opt("--revenue-target")] = None,
    volume_target: Annotated[float | None, Opt("--volume-target")] = None,
    market_volume: Annotated[float | None, Opt("--market-volume")] = None,
    year: Annotated[int | None, Opt("--year")] = None,
    lon: Annotated[float | None, Opt("--lon")] = None,
    lat: Annotated[float | None, Opt("--lat")] = None,
    address: Annotated[str | None, Opt("--address")] = None,
    scope: ScopeOpt = None,
    user: UserOpt = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Change some fields of a market; the others keep their values. Audited."""
    with acting(user, scope).transaction() as session:
        require(session, Action.MARKET_EDIT)  # before any lookup, as the web answers
        market = registry.market_by_code(session, code)
        changes = _market_options(
            session, org, code=new_code, name=name, type=type, industry=industry, tier=tier,
            key_area=key_area, yearly_revenue_target=revenue_target,
            yearly_volume_target=volume_target, market_daily_volume=market_volume,
            target_year=year, lon=lon, lat=lat, address=address)
        market = registry.edit_market(session, market.id, changes)
        record = _market_record(market)
    emit([record], fmt, "market changed")


@markets_app.command("top")
def top_cmd(
    n: Annotated[int, Opt("--n", min=1, help="How many markets.")] = 10,
    by: Annotated[str, Opt("--by", help="potential|gap")] = "potential",
    user: UserOpt = None,
    scope: ScopeOpt = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """TOP-N markets by potential (潜力): estimate of all carriers or merchants × typical
    volume, with our daily parcels, share and the gap (potential − ours)."""
    from jiqun.markets import potential

    if by not in ("potential", "gap"):
        raise typer.BadParameter("potential or gap", param_hint="--by")
    with _reading(user, scope) as (session, picture):
        rows, as_of = potential.top_markets(session, picture, n, by)
    emit([asdict(r) for r in rows], fmt, f"TOP {n} by {by} (data date {as_of or '—'})")


@markets_app.command("targets")
def targets_cmd(
    user: UserOpt = None,
    scope: ScopeOpt = None,
    detail: Annotated[bool, Opt("--detail", help="One row per market.")] = False,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Key cities (重点产粮区): markets with yearly revenue targets ≥ 10M and ≥ 5M against the
    plan (one 10M and two 5M markets per key city) and whether it is met."""
    from jiqun.markets import potential

    with _reading(user, scope) as (session, picture):
        cities = potential.key_city_targets(session, picture)
    if detail:
        rows = [{"city": c.name, **asdict(m)} for c in cities for m in c.markets]
    else:
        rows = [c.record() for c in cities]
    emit(rows, fmt, "key-city targets")
