"""``jiqun price response|advise|competitors``: the merchants' price response fitted from the
data, a what-if for a market × zone with the advised change, and our price against each
competitor's — acting as ``--user`` in that user's subtree (``jiqun.cli_actor``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated

import typer

from jiqun.cli_actor import ScopeOpt, UserOpt, acting, refusals
from jiqun.config import get_settings
from jiqun.errors import NotFound
from jiqun.output import Format, emit

FormatOpt = Annotated[Format, typer.Option("--format")]
AsOfOpt = Annotated[dt.datetime | None, typer.Option(
    "--as-of", formats=["%Y-%m-%d"], help="Data up to this day (default: the last with data).")]
MarketOpt = Annotated[str, typer.Option("--market", help="The market's code.")]


def _context(user: str | None, scope: str | None):
    from jiqun.lake import connect

    who = acting(user, scope)
    return who, connect(get_settings())


def _as_of(session, con, lake, scope, as_of: dt.datetime | None) -> dt.date:
    if as_of:
        return as_of.date()
    from jiqun.money.price_advice import data_date

    return data_date(con, lake, scope)


def _market_id(session, code: str) -> int:
    from sqlalchemy import select

    from jiqun.store.models import Market

    market_id = session.scalar(select(Market.id).where(Market.code == code))  # scoped
    if market_id is None:
        raise NotFound("market")
    return market_id


def response_command(user: UserOpt = None, scope: ScopeOpt = None, as_of: AsOfOpt = None,
                     fmt: FormatOpt = Format.TABLE) -> None:
    """The merchants' price response fitted from the data (beta per yuan of gap, its 95 %
    interval) and its check on the last three months against no response."""
    from jiqun.money.price_advice import fit_response, report_record

    who, con = _context(user, scope)
    lake = get_settings().lake_path
    with refusals(), who.session() as session:
        day = _as_of(session, con, lake, session.info["scope"], as_of)
        _, report = fit_response(session, con, lake, session.info["scope"], day)
    emit([report_record(report)], fmt, "price response")


def advise_command(
    market: MarketOpt,
    zone: Annotated[str, typer.Option("--zone", help="same|neighbour|far|remote")],
    change: Annotated[float, typer.Option("--change", help="Yuan per parcel; a cut is "
                                                           "negative, e.g. -0.10.")],
    user: UserOpt = None, scope: ScopeOpt = None, as_of: AsOfOpt = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """If we change our price by CHANGE for ZONE in MARKET: parcels, share, revenue and margin
    a month (low, value, high of the 95 % interval), and the advised change (never below
    cost)."""
    from jiqun.money.price_advice import advise_market, fit_response, what_if_records

    who, con = _context(user, scope)
    lake = get_settings().lake_path
    with refusals(), who.session() as session:
        sc = session.info["scope"]
        day = _as_of(session, con, lake, sc, as_of)
        model, _ = fit_response(session, con, lake, sc, day)
        found = advise_market(session, con, lake, sc, model, day, _market_id(session, market),
                              zone, change)
    emit(what_if_records(found), fmt, f"price what-if · {found.market} · {found.zone}")


def competitors_command(market: MarketOpt, user: UserOpt = None, scope: ScopeOpt = None,
                        as_of: AsOfOpt = None,
                        series: Annotated[bool, typer.Option(
                            "--series", help="The monthly series instead of the latest gap.")]
                        = False,
                        fmt: FormatOpt = Format.TABLE) -> None:
    """Our price against each competitor's in a market: per zone, weight band and carrier the
    latest month's prices, the gap and its three-month trend (or the monthly series)."""
    from jiqun.money.competitors import price_comparison

    who, con = _context(user, scope)
    lake = get_settings().lake_path
    with refusals(), who.session() as session:
        day = _as_of(session, con, lake, session.info["scope"], as_of)
        gaps, points = price_comparison(session, _market_id(session, market), day)
    emit([asdict(p) for p in (points if series else gaps)], fmt, f"competitor prices · {market}")


def products_command(user: UserOpt = None, scope: ScopeOpt = None, as_of: AsOfOpt = None,
                     mine: Annotated[bool, typer.Option(
                         "--mine", help="Only the merchants the acting user owns.")] = False,
                     fmt: FormatOpt = Format.TABLE) -> None:
    """Product advice (P2): merchants that should ship express — time-sensitive goods or
    lanes late against their product's promise — with the revenue and margin a month."""
    from jiqun.money.product_advice import advice

    who, con = _context(user, scope)
    lake = get_settings().lake_path
    with refusals(), who.session() as session:
        day = _as_of(session, con, lake, session.info["scope"], as_of)
        found = advice(session, con, lake, session.info["scope"], day,
                       owner_id=who.actor.user_id if mine else None)
    emit([{**asdict(a), "reasons": ",".join(a.reasons), "categories": ",".join(a.categories),
           "late_lanes": ",".join(a.late_lanes)} for a in found], fmt, "product advice")
