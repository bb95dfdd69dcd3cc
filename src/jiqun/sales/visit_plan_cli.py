"""``jiqun sales plan``: a marketer's daily visit plan on the
command line.

The command acts as ``--user`` (``jiqun.cli_actor``) and shows the plan of ``--marketer``
as the acting user may see them (default: a marketer's own plan, a manager's first marketer with
merchants; :func:`jiqun.sales.visit_plan.choose_marketer` decides, as on the page): the same
:func:`jiqun.sales.visit_plan.plan_of` as the visit-plan page and ``/api/visit-plan``. Someone outside
the acting user's subtree is "not found" (exit 2), as on the web.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from jiqun.cli_actor import ScopeOpt, UserOpt, acting, refusals
from jiqun.config import get_settings
from jiqun.output import Format, emit

MarketerOpt = Annotated[str | None, typer.Option(
    "--marketer", help="User name of the marketer whose plan to show; default: the acting user.")]
DayOpt = Annotated[dt.datetime | None, typer.Option(
    "--date", formats=["%Y-%m-%d"], help="Plan day; default today.")]
FormatOpt = Annotated[Format, typer.Option("--format")]
ROW_KEYS = ("seq", "arrive", "leave", "code", "name", "reason", "score", "km_from_previous")


def visits(user: UserOpt = None, scope: ScopeOpt = None, marketer: MarketerOpt = None,
           date: DayOpt = None, fmt: FormatOpt = Format.TABLE) -> None:
    """A marketer's visit plan for a day (每日走访计划): scored merchants, routed from the
    outlet."""
    # The planner (numpy, ibis, the conversion model) loads when a plan is asked for, not
    # whenever the ``plan`` or ``sales`` group is.
    from jiqun.lake import connect
    from jiqun.sales import visit_plan

    day = date.date() if date else dt.date.today()
    settings = get_settings()
    who = acting(user, scope)
    with refusals(), who.session() as viewer:
        # The same choice as the page: a manager's default is their first marketer with
        # merchants, a field role's their own plan (someone else's is refused).
        asked = visit_plan.marketer_id(viewer, marketer) if marketer else None
        try:
            choice = visit_plan.choose_marketer(viewer, who.actor.user_id, who.actor.role, asked)
        except visit_plan.MarketerNotFound:  # named as the user typed it, not by id
            raise visit_plan.MarketerNotFound(marketer) from None
        if choice.marketer_id is None:
            raise visit_plan.MarketerNotFound(marketer or who.actor.username)
        uid = choice.marketer_id
        loaded = visit_plan.plan_of(who.store, viewer, connect(settings), Path(settings.lake_path),
                              uid, day)
    if fmt == Format.JSON:
        typer.echo(json.dumps(visit_plan.plan_json(loaded), ensure_ascii=False, indent=2, default=str))
        return
    rows = [{k: r[k] for k in ROW_KEYS} for r in visit_plan.plan_rows(loaded)]
    emit(rows, fmt, f"visit plan of {loaded.username} on {loaded.day}")
    day_plan = loaded.plan
    typer.echo(f"{len(day_plan.stops)} of {day_plan.candidates} candidates, score "
               f"{day_plan.score:.4f}, {day_plan.km:.1f} km, back at {day_plan.back_at} "
               f"({day_plan.solver})", err=True)
