"""``jiqun price …``: rate cards (list, import, export, activate, approve), contract prices and
the quote of one parcel, acting as ``--user`` in that user's subtree (``jiqun.cli_actor``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from jiqun.cli_actor import ScopeOpt, UserOpt, acting, refusals
from jiqun.config import get_settings
from jiqun.errors import NotFound
from jiqun.output import Format, emit
from jiqun.permissions import Action, require
from jiqun.store.models import Customer, Market

# The services (and their engines: numpy through jiqun.geo) load when a command runs, so
# ``jiqun price --help`` stays light (tests/cli/test_command_table.py).
app = typer.Typer(no_args_is_help=True, help="Prices: rate cards, contract prices, quotes.")
cards_app = typer.Typer(no_args_is_help=False, invoke_without_command=True,
                        help="Rate cards (价格表): list, import, export, activate, approve.")
contract_app = typer.Typer(no_args_is_help=True, help="Contract prices (协议价).")
app.add_typer(cards_app, name="cards")
app.add_typer(contract_app, name="contract")

FormatOpt = Annotated[Format, typer.Option("--format")]
DayOpt = Annotated[dt.datetime | None, typer.Option("--on", formats=["%Y-%m-%d"],
                                                    help="The day (default today).")]
CardArg = Annotated[str, typer.Argument(help="The card's id or code.")]
NumberOpt = Annotated[int, typer.Option("--number", min=1, help="The card's version number.")]
RowVersionOpt = Annotated[int | None, typer.Option(
    "--seen", min=1, help="The version's row version as you saw it (refused if it changed).")]


def _rows(items) -> list[dict]:
    return [asdict(i) for i in items]


def _cards():
    from jiqun.money import cards

    return cards


def _costs(session):
    """The floor's cost per parcel from the cost model over the configured lake."""
    from jiqun.lake import connect
    from jiqun.money.floor import cost_floor

    settings = get_settings()
    return cost_floor(session, connect(settings), settings.lake_path, session.info["scope"])


@cards_app.callback()
def cards_cmd(ctx: typer.Context, user: UserOpt = None, scope: ScopeOpt = None,
              on: DayOpt = None, fmt: FormatOpt = Format.TABLE) -> None:
    """The cards in scope with the version in force on the day."""
    if ctx.invoked_subcommand:
        return
    with refusals(), acting(user, scope).session() as s:
        emit(_rows(_cards().card_list(s, on.date() if on else None)), fmt, "rate cards")


@cards_app.command("show")
def show_cmd(card: CardArg, user: UserOpt = None, scope: ScopeOpt = None,
             fmt: FormatOpt = Format.TABLE) -> None:
    """A card's versions, newest first, with their lines."""
    with refusals(), acting(user, scope).session() as s:
        detail = _cards().card_detail(s, _cards().find_card(s, card).id)
        rows = [{"number": v.number, "status": v.status, "valid_from": v.valid_from,
                 "valid_to": v.valid_to, "zone": x.zone, "weight_from_kg": x.weight_from_kg,
                 "weight_to_kg": x.weight_to_kg, "first_weight_kg": x.first_weight_kg,
                 "first_price": x.first_price, "extra_per_kg": x.extra_per_kg}
                for v in detail.versions for x in v.lines]
        emit(rows, fmt, detail.card.code)


@cards_app.command("import")
def import_cmd(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
               user: UserOpt = None, scope: ScopeOpt = None,
               dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
               rejects: Annotated[Path | None, typer.Option("--rejects")] = None,
               fmt: FormatOpt = Format.TABLE) -> None:
    """Import rate cards from XLSX/CSV (the rate_cards kind of ``jiqun import``): new dates
    become drafts, a version in force is never changed."""
    from jiqun.ingest.api import import_file

    settings = get_settings()
    who = acting(user, scope)
    with refusals():
        report = import_file("rate_cards", path, who.store, settings.lake_path, dry_run=dry_run,
                             rejects=rejects, locale=settings.locale, actor=who.actor,
                             scope=who.scope)
    emit([{"total": report.total, "inserted": report.inserted, "updated": report.updated,
           "unchanged": report.duplicates, "rejected": report.rejected,
           "dry_run": report.dry_run,
           "rejects": str(report.rejects_path) if report.rejects_path else None}], fmt,
         "rate card import")
    raise typer.Exit(report.exit_code)


@cards_app.command("export")
def export_cmd(card: CardArg, out: Annotated[Path, typer.Option("--out", help="XLSX file.")],
               number: Annotated[int | None, typer.Option("--number", min=1)] = None,
               user: UserOpt = None, scope: ScopeOpt = None) -> None:
    """Write a card's version (in force today, else the newest) as the import's XLSX."""
    with refusals(), acting(user, scope).session() as s:
        out.write_bytes(_cards().export_xlsx(s, card, number))
    typer.echo(str(out))


def _step(step, card: str, number: int, seen: int | None, user, scope, fmt) -> None:
    who = acting(user, scope)
    action = Action.PRICE_CARD_EDIT if step == "activate" else Action.PRICE_APPROVE
    with who.transaction() as s:
        require(s, action)  # refuse before looking the card up
        if step == "activate":
            v = _cards().activate(s, card, number, version=seen, costs=_costs(s))
        else:
            v = _cards().approve(s, card, number, version=seen)
        emit([{"card": v.card.code, "number": v.number, "status": v.status.value,
               "valid_from": v.valid_from, "row_version": v.version}], fmt, "rate card")


@cards_app.command("activate")
def activate_cmd(card: CardArg, number: NumberOpt, seen: RowVersionOpt = None,
                 user: UserOpt = None, scope: ScopeOpt = None,
                 fmt: FormatOpt = Format.TABLE) -> None:
    """Put a draft version in force from its start date (below the floor: for approval)."""
    _step("activate", card, number, seen, user, scope, fmt)


@cards_app.command("approve")
def approve_cmd(card: CardArg, number: NumberOpt, seen: RowVersionOpt = None,
                user: UserOpt = None, scope: ScopeOpt = None,
                fmt: FormatOpt = Format.TABLE) -> None:
    """Approve a version below the floor: someone above the proposer's level."""
    _step("approve", card, number, seen, user, scope, fmt)


@contract_app.command("list")
def contract_list_cmd(user: UserOpt = None, scope: ScopeOpt = None,
                      fmt: FormatOpt = Format.TABLE) -> None:
    """Contract prices in scope."""
    with refusals(), acting(user, scope).session() as s:
        emit(_rows(_cards().contract_list(s)), fmt, "contracts")


@contract_app.command("set")
def contract_set_cmd(
    customer: Annotated[str, typer.Argument(help="The customer's code.")],
    start: Annotated[dt.datetime, typer.Option("--from", formats=["%Y-%m-%d"])],
    end: Annotated[dt.datetime | None, typer.Option("--to", formats=["%Y-%m-%d"])] = None,
    discount: Annotated[float, typer.Option("--discount", help="0.1 = 10 % off the tariff")]
    = 0.0,
    product: Annotated[str | None, typer.Option("--product")] = None,
    bundle: Annotated[str | None, typer.Option("--bundle", help="A bundle's code.")] = None,
    user: UserOpt = None, scope: ScopeOpt = None, fmt: FormatOpt = Format.TABLE,
) -> None:
    """Give a customer a contract price (below the floor: for approval)."""
    with acting(user, scope).transaction() as s:
        require(s, Action.PRICE_CONTRACT)
        c = _cards().set_contract(s, customer=customer, valid_from=start.date(),
                                   valid_to=end.date() if end else None, discount=discount,
                                   product=product, bundle=bundle, costs=_costs(s))
        emit([{"code": c.code, "status": c.status.value, "valid_from": c.valid_from}], fmt,
             "contract")


@contract_app.command("approve")
def contract_approve_cmd(code: Annotated[str, typer.Argument()], seen: RowVersionOpt = None,
                         user: UserOpt = None, scope: ScopeOpt = None,
                         fmt: FormatOpt = Format.TABLE) -> None:
    """Approve a contract below the floor: someone above the proposer's level."""
    with acting(user, scope).transaction() as s:
        require(s, Action.PRICE_APPROVE)
        c = _cards().approve_contract(s, code, version=seen)
        emit([{"code": c.code, "status": c.status.value}], fmt, "contract")


@app.command("quote")
def quote_cmd(
    market: Annotated[str, typer.Option("--market", help="The market's code.")],
    to: Annotated[str, typer.Option("--to", help="Destination adcode.")],
    weight: Annotated[float, typer.Option("--weight", help="kg")],
    product: Annotated[str, typer.Option("--product")] = "parcel",
    customer: Annotated[str | None, typer.Option("--customer")] = None,
    on: DayOpt = None,
    dims: Annotated[str | None, typer.Option("--dims", help="L×W×H in cm: 40x30x20")] = None,
    user: UserOpt = None, scope: ScopeOpt = None, fmt: FormatOpt = Format.TABLE,
) -> None:
    """The price of one parcel and the rule that produced it (card, version, contract)."""
    sides = None
    if dims:
        try:
            sides = tuple(float(x) for x in dims.lower().replace("×", "x").split("x"))
        except ValueError:
            raise typer.BadParameter("three numbers: 40x30x20", param_hint="--dims") from None
    from jiqun.money.rates import quote

    with refusals(), acting(user, scope).session() as s:
        market_id = s.scalar(select(Market.id).where(Market.code == market))
        if market_id is None:
            raise NotFound("market")
        customer_id = None
        if customer:
            customer_id = s.scalar(select(Customer.id).where(Customer.code == customer))
            if customer_id is None:
                raise NotFound("customer")
        q = quote(s, market_id=market_id, dest_adcode=to, weight_kg=weight, product=product,
                  customer_id=customer_id, on=on.date() if on else None, dims_cm=sides,
                  costs=_costs(s))
    record = q.as_dict()
    if fmt is Format.JSON:
        import json

        typer.echo(json.dumps(record, ensure_ascii=False, indent=1))
        return
    flat = {k: v for k, v in record.items() if k != "rule"}
    flat.update({f"rule_{k}": v for k, v in record["rule"].items() if k != "surcharges"})
    flat["rule_surcharges"] = " ".join(f"{x['kind']}+{x['added']}"
                                       for x in record["rule"]["surcharges"])
    emit([flat], fmt, "quote")
