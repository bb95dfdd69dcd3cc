"""``jiqun warehouses list|candidates|assign``: warehousing customers (仓配一体, 源头仓) on the
command line, acting as ``--user`` in that user's subtree (narrowed by ``--scope``). The service
and the lake load when a command runs, so ``--help`` loads no engine."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy import select

from jiqun.cli_actor import ScopeOpt, UserOpt, acting, refusals
from jiqun.config import get_settings
from jiqun.errors import Invalid, NotFound
from jiqun.i18n import translator
from jiqun.output import Format, emit
from jiqun.permissions import Action, require
from jiqun.store.models import Customer, Facility, FacilityKind

if TYPE_CHECKING:
    from jiqun.service.warehousing import Candidate, WarehouseRow

app = typer.Typer(no_args_is_help=True,
                  help="Warehouses (源头仓), the merchants they serve, and who should move in.")

FormatOpt = Annotated[Format, typer.Option("--format")]
AsOfOpt = Annotated[dt.datetime | None, typer.Option(
    "--as-of", formats=["%Y-%m-%d"], help="Last day of the window (default: the last with data).")]


@contextmanager
def _context(user: str | None, scope_code: str | None):
    from jiqun.lake import connect

    settings = get_settings()
    who = acting(user, scope_code)
    with refusals(), who.session() as session:
        yield session, connect(settings), settings.lake_path, session.info["scope"]


def warehouse_rows(rows: list[WarehouseRow]) -> list[dict]:
    """Flat rows of ``jiqun warehouses list`` (the served merchants by code)."""
    out = []
    for r in rows:
        row = asdict(r)
        row["customers"] = " ".join(c.code for c in r.customers)
        out.append(row)
    return out


def candidate_rows(rows: list[Candidate], fmt: Format = Format.JSON) -> list[dict]:
    """Flat rows of ``jiqun warehouses candidates``; a table leaves the reasons (sentences) to
    ``--format json|csv``."""
    out = []
    for r in rows:
        row = asdict(r)
        if fmt is Format.TABLE:
            del row["reasons"]
        else:
            row["reasons"] = " ".join(r.reasons)
        out.append(row)
    return out


@app.command("list")
def list_cmd(user: UserOpt = None, scope: ScopeOpt = None, as_of: AsOfOpt = None,
             fmt: FormatOpt = Format.TABLE) -> None:
    """Warehouses with their capacity, merchants, outbound parcels a day and utilisation."""
    from jiqun.service import warehousing

    with _context(user, scope) as (session, con, lake, sc):
        rows = warehousing.warehouses(session, con, lake, sc, as_of.date() if as_of else None)
        emit(warehouse_rows(rows), fmt, "warehouses")


@app.command("candidates")
def candidates_cmd(user: UserOpt = None, scope: ScopeOpt = None, as_of: AsOfOpt = None,
                   limit: Annotated[int | None, typer.Option("--limit", min=1)] = None,
                   fmt: FormatOpt = Format.TABLE) -> None:
    """Merchants for whom warehousing would pay, biggest saving first, with the reasons."""
    from jiqun.service import warehousing

    settings = get_settings()
    with _context(user, scope) as (session, con, lake, sc):
        rows = warehousing.candidates(session, con, lake, sc, as_of.date() if as_of else None,
                                      t=translator(settings.locale), locale=settings.locale)
        emit(candidate_rows(rows[:limit] if limit else rows, fmt), fmt, "warehousing candidates")


def _by_code(session, model, code: str, **where):
    query = select(model).where(model.code == code)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    found = session.scalar(query)
    if found is None:
        raise NotFound(code)
    return found


@app.command("assign")
def assign_cmd(customer: Annotated[str, typer.Argument(help="The merchant's code.")],
               warehouse: Annotated[str | None, typer.Option(
                   "--warehouse", help="The warehouse's code.")] = None,
               none: Annotated[bool, typer.Option(
                   "--none", help="Serve the merchant from no warehouse.")] = False,
               user: UserOpt = None, scope: ScopeOpt = None,
               fmt: FormatOpt = Format.TABLE) -> None:
    """Serve a merchant from a warehouse (refused over the warehouse's capacity), or from none."""
    from jiqun.lake import connect
    from jiqun.service import warehousing

    settings = get_settings()
    who = acting(user, scope)
    with who.transaction() as session:
        require(session, Action.WAREHOUSE_ASSIGN)  # before any lookup: a refusal says nothing
        if none == (warehouse is not None):
            raise Invalid({"warehouse": "Name a warehouse or --none"})
        found = _by_code(session, Customer, customer)
        target = (_by_code(session, Facility, warehouse, kind=FacilityKind.WAREHOUSE)
                  if warehouse else None)
        done = warehousing.assign(session, found.id, target.id if target else None,
                                  con=connect(settings), lake=settings.lake_path)
        row = {"customer": done.code, "name": done.name,
               "warehouse": target.code if target else None}
    emit([row], fmt, "warehouse assigned")
