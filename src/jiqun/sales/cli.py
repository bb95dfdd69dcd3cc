"""``jiqun sales …``: lifecycle from waybills, the pool, the funnel, visits.

Every command acts as a user (``--user NAME`` or ``JIQUN_USER``; ``system`` for the operator's
whole-organisation jobs) and works in their subtree, narrowed by ``--scope``
(:mod:`jiqun.cli_actor`). What the user's role may not do is refused by the services and
printed as one line, exit code 2.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from jiqun.cli_actor import ScopeOpt, UserOpt, acting, refusals
from jiqun.config import get_settings
from jiqun.output import Format, emit
from jiqun.sales.rules import SalesRules
from jiqun.sales.vocab import FUNNEL_BY, METHODS, OUTCOMES
from jiqun.store.models import User

app = typer.Typer(no_args_is_help=True,
                  help="Customer development: lifecycle, visits, funnel, pool.")

FormatOpt = Annotated[Format, typer.Option("--format")]
DateOpt = Annotated[dt.datetime | None, typer.Option("--date", formats=["%Y-%m-%d"])]


@app.command("lifecycle")
def lifecycle_cmd(
    user: UserOpt = None,
    scope: ScopeOpt = None,
    day: Annotated[dt.datetime | None, typer.Option(
        "--to", formats=["%Y-%m-%d"], help="As of this day; default: the last day with data.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List, change nothing.")] = False,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Move customers along the lifecycle from their waybills (first waybills → cooperating,
    falling → at risk, silent → churned, back → reactivated); every change recorded and audited."""
    from jiqun.kpi.service import OperatingPicture
    from jiqun.sales import lifecycle

    settings = get_settings()
    who = acting(user, scope)
    with OperatingPicture(who.store, settings.lake_path, who.scope) as picture, \
            who.transaction() as session:
        changes = lifecycle.promote_from_waybills(
            session, picture, day.date() if day else None, dry_run=dry_run)
    emit([asdict(c) for c in changes], fmt, "lifecycle changes" + (" (dry run)" if dry_run else ""))


@app.command("pool")
def pool_cmd(
    user: UserOpt = None,
    scope: ScopeOpt = None,
    apply: Annotated[bool, typer.Option("--apply", help="Return the due prospects.")] = False,
    reminders: Annotated[bool, typer.Option("--reminders", help="List the reminders.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="Also prospects not yet due.")] = False,
    day: DateOpt = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Prospects with no follow-up returning to the pool (公海), and the reminders before."""
    from jiqun.sales import pool

    who = acting(user, scope)
    today = day.date() if day else dt.date.today()
    rules = SalesRules.configured()
    with who.transaction() as session:
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
    user: UserOpt = None,
    scope: ScopeOpt = None,
    by: Annotated[str, typer.Option("--by", help="stage|" + "|".join(FUNNEL_BY))] = "stage",
    since: Annotated[dt.datetime | None, typer.Option(
        "--since", formats=["%Y-%m-%d"], help="Only customers archived on or after.")] = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Conversion by stage (the funnel), or by visit method, campaign, platform or person."""
    from jiqun.sales import funnel as funnel_mod

    if by not in ("stage", *FUNNEL_BY):
        raise typer.BadParameter(f"{by!r} is not stage or one of {', '.join(FUNNEL_BY)}",
                                 param_hint="--by")
    with refusals(), acting(user, scope).session() as session:
        facts = funnel_mod.load_facts(session, since.date() if since else None)
        if by == "stage":
            rows = funnel_mod.funnel(facts)
        else:
            rows = funnel_mod.conversion_by(facts, by,
                                            funnel_mod.group_names(session, by, facts))
    emit(rows, fmt, f"funnel by {by}")


@app.command("time-in-stage")
def time_in_stage_cmd(user: UserOpt = None, scope: ScopeOpt = None, day: DateOpt = None,
                      fmt: FormatOpt = Format.TABLE) -> None:
    """Days customers spend in each stage (median, 75th percentile, mean; and those still in
    it), from the stage changes and the archive's milestones — the figures of /funnel."""
    from jiqun.sales import funnel as funnel_mod

    today = day.date() if day else dt.date.today()
    with refusals(), acting(user, scope).session() as session:
        rows = funnel_mod.time_in_stage(session, today)
    emit([asdict(r) for r in rows], fmt, "time in stage")


@app.command("visits")
def visits_cmd(
    user: UserOpt = None,
    scope: ScopeOpt = None,
    of: Annotated[str | None, typer.Option(
        "--of", help="Whose visits (user name, in the acting user's subtree); default: own.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """A user's latest visits, as the acting user sees them."""
    from jiqun.errors import NotFound
    from jiqun.sales import visits

    who = acting(user, scope)
    with refusals(), who.session() as session:
        name = of or who.actor.username
        uid = session.scalar(select(User.id).where(User.username == name))  # scoped
        if uid is None:
            raise NotFound(name)
        rows = visits.visits_of(session, user_id=uid, limit=limit)
    emit([asdict(r) for r in rows], fmt, f"visits of {name}")


@app.command("visit")
def visit_cmd(
    customer: Annotated[str, typer.Option("--customer", help="Customer code.")],
    method: Annotated[str, typer.Option("--method", help="|".join(METHODS))],
    outcome: Annotated[str, typer.Option("--outcome", help="|".join(OUTCOMES))],
    user: UserOpt = None,
    scope: ScopeOpt = None,
    next_step: Annotated[str | None, typer.Option("--next-step")] = None,
    next_on: Annotated[str | None, typer.Option(
        "--next-on", help="Next visit, YYYY-MM-DD (today or later).")] = None,
    competitor: Annotated[str | None, typer.Option("--competitor")] = None,
    price: Annotated[str | None, typer.Option(
        "--price", help="First-kg price heard, yuan (0–1000).")] = None,
    notes: Annotated[str | None, typer.Option("--notes")] = None,
) -> None:
    """Log a visit (走访) as the acting user: the same checks, messages and stage change as the
    phone form and ``POST /api/visits`` (a wrong value: one line per field, exit 2)."""
    from jiqun.errors import NotAllowed, NotFound
    from jiqun.sales import visits
    from jiqun.store.models import Customer

    who = acting(user, scope)
    with who.transaction() as session:
        if who.actor.user_id is None:
            raise NotAllowed("A visit is logged by a named user (--user)")
        cid = session.scalar(select(Customer.id).where(Customer.code == customer))  # scoped
        if cid is None:
            raise NotFound(customer)
        data = visits.parse_visit({
            "customer_id": cid, "method": method, "outcome": outcome, "next_step": next_step,
            "next_visit_on": next_on, "competitor": competitor, "competitor_price": price,
            "notes": notes}, dt.date.today())
        logged = visits.log_visit(session, data, who.actor.user_id,
                                  dt.datetime.now().replace(microsecond=0))
        change = logged.stage_change
        typer.echo(f"visit {logged.visit.id}: {customer}" + (
            f", {change.from_stage.value} → {change.to_stage.value}" if change else ""))


# -- bulk archive and duplicates (批量建档, 疑似重复) ----------------------------------------------
LocaleOpt = Annotated[str | None, typer.Option("--locale", help="zh-CN or en (messages).")]


@app.command("archive")
def archive_cmd(
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8 or GBK) or XLSX of merchants.")],
    user: UserOpt = None,
    scope: ScopeOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and report; write nothing.")
                       ] = False,
    rejects: Annotated[Path | None, typer.Option(
        "--rejects", help="Reject report (default <FILE>.rejects.csv).")] = None,
    locale: LocaleOpt = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Archive merchants from a spreadsheet (批量建档): exact duplicates merged or skipped,
    likely duplicates archived and listed for review (``jiqun sales duplicates``).
    Exit 0: all rows accepted; 1: some rejected (the good ones applied); 2: file not read."""
    from jiqun.i18n import translator
    from jiqun.ingest.report import ImportFileError
    from jiqun.sales.archive import archive_file

    settings = get_settings()
    lang = locale or settings.locale
    who = acting(user, scope)
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("reading", total=4)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        try:
            with refusals(), who.session() as session:
                report = archive_file(session, file, dry_run=dry_run, rejects=rejects,
                                      locale=lang, progress=progress)
        except ImportFileError as exc:
            typer.echo(translator(lang)("File not imported") + ": " + exc.message(lang), err=True)
            raise typer.Exit(2) from exc
    summary = report.as_dict()
    if fmt == Format.JSON:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
    else:
        emit([{k: summary[k] for k in ("file", "dry_run", "total", "accepted", "rejected",
                                       "inserted", "merged", "skipped", "likely",
                                       "rejects_path")}], fmt, "archive")
        if report.exact:
            emit([asdict(e) for e in report.exact], fmt, "exact duplicates (merged or skipped)")
        if report.likely:
            emit([asdict(p) for p in report.likely], fmt, "likely duplicates (to review)")
    raise typer.Exit(report.exit_code)


class PairStatus(str, enum.Enum):
    OPEN = "open"
    MERGED = "merged"
    KEPT = "kept"
    ALL = "all"

    @property
    def filter(self) -> str | None:
        return None if self is PairStatus.ALL else self.value


duplicates_app = typer.Typer(no_args_is_help=True,
                             help="Likely duplicate merchants from the bulk archive (疑似重复).")
app.add_typer(duplicates_app, name="duplicates")


@duplicates_app.command("list")
def duplicates_list(
    user: UserOpt = None,
    scope: ScopeOpt = None,
    status: Annotated[PairStatus, typer.Option("--status")] = PairStatus.OPEN,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """The likely duplicate pairs in scope."""
    from jiqun.sales.archive import pairs

    with refusals(), acting(user, scope).session() as session:
        rows = pairs(session, status.filter)
    emit([asdict(r) for r in rows], fmt, f"duplicate pairs ({status})")


def _decide_pair(pair_id: int, scope: str | None, user: str | None, merge: bool) -> None:
    """Merge or keep as the acting user: a role that may not decide duplicates, a pair outside
    the subtree or one decided already is refused (exit 2) by the service."""
    from jiqun.sales.archive import keep_pair, merge_pair

    who = acting(user, scope)
    with who.transaction() as session:
        pair = (merge_pair if merge else keep_pair)(session, pair_id, who.actor.user_id)
        typer.echo(f"pair {pair.id}: {pair.status.value} ({pair.other_code} → "
                   f"{pair.customer_id})")


PairId = Annotated[int, typer.Argument(min=1, max=2**31 - 1)]


@duplicates_app.command("merge")
def duplicates_merge(pair_id: PairId, user: UserOpt = None, scope: ScopeOpt = None) -> None:
    """Merge a pair: the newer record is folded into the older one (audited)."""
    _decide_pair(pair_id, scope, user, merge=True)


@duplicates_app.command("keep")
def duplicates_keep(pair_id: PairId, user: UserOpt = None, scope: ScopeOpt = None) -> None:
    """Keep both records of a pair: two different merchants (audited)."""
    _decide_pair(pair_id, scope, user, merge=False)


# -- campaigns (营销活动) ------------------------------------------------------------------------
campaigns_app = typer.Typer(no_args_is_help=True, help="Campaigns and their measured effect.")
app.add_typer(campaigns_app, name="campaigns")
ListOpt = Annotated[list[str] | None, typer.Option(help="Repeat or separate by commas.")]


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


@campaigns_app.command("list")
def campaigns_list(user: UserOpt = None, scope: ScopeOpt = None,
                   fmt: FormatOpt = Format.TABLE) -> None:
    """The campaigns in scope with their target counts."""
    from jiqun.sales.campaigns import list_campaigns

    with refusals(), acting(user, scope).session() as session:
        rows = list_campaigns(session)
    emit([asdict(r) for r in rows], fmt, "campaigns")


@campaigns_app.command("create")
def campaigns_create(
    name: Annotated[str, typer.Option("--name")],
    starts: Annotated[dt.datetime, typer.Option("--start", formats=["%Y-%m-%d"])],
    ends: Annotated[dt.datetime, typer.Option("--end", formats=["%Y-%m-%d"])],
    user: UserOpt = None,
    scope: ScopeOpt = None,
    market: ListOpt = None,
    grid: ListOpt = None,
    stage: ListOpt = None,
    tier: ListOpt = None,
    platform: ListOpt = None,
    codes: Annotated[Path | None, typer.Option(
        "--codes", help="File of customer codes (one per line) instead of filters.")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
) -> None:
    """Create a campaign; its targets are the merchants in scope matching every filter, or
    the codes of a file. The campaign belongs to the --scope unit (default: the acting user's
    own; the root for the system account). Dates outside 2000–2100, or an end before the start,
    are refused as on the page and the API."""
    from jiqun.sales.campaigns import TargetFilters, codes_from_text, create_campaign
    from jiqun.store.models import OrgUnit

    who = acting(user, scope)
    with who.transaction() as session:
        unit_id = who.scope.root_id if who.scope else session.scalar(
            select(OrgUnit.id).where(OrgUnit.parent_id.is_(None)).order_by(OrgUnit.id))
        filters = TargetFilters(markets=_split(market), grids=_split(grid),
                                stages=_split(stage), tiers=_split(tier),
                                platforms=_split(platform))
        listed = codes_from_text(codes.read_text(encoding="utf-8-sig")) if codes else None
        campaign, missing = create_campaign(
            session, name=name, starts_on=starts.date(), ends_on=ends.date(),
            org_unit_id=unit_id, filters=filters, codes=listed, description=description)
        targets = len(campaign_targets_of(session, campaign.id))
    typer.echo(f"campaign {campaign.id}: {campaign.name}, {targets} targets")
    if missing:
        typer.echo(f"{len(missing)} codes not found: {', '.join(missing[:20])}", err=True)


def campaign_targets_of(session, campaign_id: int) -> list[int]:
    from jiqun.sales.campaigns import campaign_targets

    return campaign_targets(session, campaign_id)


@campaigns_app.command("show")
def campaigns_show(campaign_id: Annotated[int, typer.Argument(min=1, max=2**31 - 1)],
                   user: UserOpt = None, scope: ScopeOpt = None,
                   fmt: FormatOpt = Format.TABLE) -> None:
    """A campaign's effect: targets and control, before and during (visits, conversions,
    parcels per customer-day) and the lift."""
    from jiqun.kpi.service import OperatingPicture
    from jiqun.sales.campaigns import campaign_effect

    settings = get_settings()
    who = acting(user, scope)
    with OperatingPicture(who.store, settings.lake_path, who.scope) as picture, refusals(), \
            who.session() as session:
        effect = campaign_effect(session, picture.con, Path(settings.lake_path), who.scope,
                                 campaign_id, picture.data_date())
    if fmt == Format.JSON:
        typer.echo(json.dumps(effect.as_dict(), ensure_ascii=False, indent=2, default=str))
        return
    emit([asdict(r) for r in effect.rows], fmt, f"campaign {effect.campaign_id}: {effect.name}")
    typer.echo(f"target growth {effect.target_growth}, control growth {effect.control_growth}, "
               f"lift {effect.lift}, extra conversions {effect.extra_conversions}", err=True)


# -- reminders (提醒) ---------------------------------------------------------------------------
@app.command("remind")
def remind_cmd(user: UserOpt = None, scope: ScopeOpt = None, day: DateOpt = None) -> None:
    """Send the day's pool reminders to the inbox (owner 3 days, manager 5 days before the
    return, per the [sales] rules); running it again the same day sends nothing new."""
    from jiqun.sales.reminders import send_pool_reminders

    who = acting(user, scope)
    today = day.date() if day else dt.date.today()
    with who.transaction() as session:
        result = send_pool_reminders(session, today, SalesRules.configured())
    typer.echo(f"{result.day}: {result.created} reminders sent, {result.existing} sent before")
