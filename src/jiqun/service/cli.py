"""``jiqun service``: the proactive service queue (主动客服) as ``/service`` shows and works it.

``cases`` and ``exceptions`` list the queue and the parcel exceptions of the acting user's scope;
``detect`` runs detection, opens the cases and checks their deadlines now (what the
``exceptions`` job does on its schedule); ``contact``, ``note``, ``wait``, ``resume``,
``resolve`` and ``assign`` work one case, named by its code (``SC-261128-0007``) or id.
Every command acts as a user (``--user NAME`` or ``JIQUN_USER``); refusals exit with 2.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from jiqun.bounds import MAX_ID
from jiqun.cli_actor import ScopeOpt, UserOpt, acting, refusals
from jiqun.config import get_settings
from jiqun.errors import NotFound
from jiqun.output import Format, emit
from jiqun.permissions import Action, require
from jiqun.service import cases as cs
from jiqun.service import messages
from jiqun.service.rules import ServiceRules
from jiqun.store.models import ExceptionKind, ServiceCase, User

app = typer.Typer(no_args_is_help=True,
                  help="The proactive service queue (主动客服): cases, exceptions, case work.")

FormatOpt = Annotated[Format, typer.Option("--format")]
CaseArg = Annotated[str, typer.Argument(help="Case code (SC-261128-0007) or id.")]
VersionOpt = Annotated[int | None, typer.Option(
    "--version", min=1, max=MAX_ID, help="The version you saw: a case changed since is refused.")]
AtOpt = Annotated[dt.datetime | None, typer.Option(
    "--at", formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    help="The moment to act at (default: now).")]


def _now(at: dt.datetime | None) -> dt.datetime:
    return at or dt.datetime.now().replace(microsecond=0)


def _case_id(session, ref: str) -> int:
    """The id of a case named by code or id, in the session's scope."""
    found = session.scalar(select(ServiceCase.id).where(ServiceCase.code == ref))
    if found is None and ref.isascii() and ref.isdigit() and 0 < int(ref) <= MAX_ID:
        found = session.scalar(select(ServiceCase.id).where(ServiceCase.id == int(ref)))
    if found is None:
        raise NotFound(ref)
    return found


@app.command("cases")
def cases_cmd(
    status: Annotated[str, typer.Option(
        "--status", help=" | ".join(cs.STATUS_FILTERS) + " (active: not resolved)")] = "active",
    kind: Annotated[ExceptionKind | None, typer.Option("--kind")] = None,
    breached: Annotated[bool | None, typer.Option(
        "--breached/--in-time", help="Only cases that missed a deadline, or only the others.")
    ] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only the acting user's cases.")] = False,
    at: AtOpt = None,
    user: UserOpt = None,
    scope: ScopeOpt = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """The queue of your scope: your cases first, then the breached, then by deadline."""
    if status not in cs.STATUS_FILTERS:
        raise typer.BadParameter(" | ".join(cs.STATUS_FILTERS), param_hint="--status")
    act = acting(user, scope)
    with refusals(), act.session() as session:
        rows = cs.case_rows(session, _now(at), status=status, kind=kind.value if kind else None,
                            breach=breached, mine=mine, me=act.actor.user_id)
    emit([asdict(r) for r in rows], fmt, "service cases")


@app.command("exceptions")
def exceptions_cmd(
    kind: Annotated[ExceptionKind | None, typer.Option("--kind")] = None,
    cleared: Annotated[bool, typer.Option("--cleared", help="Also those cleared.")] = False,
    user: UserOpt = None,
    scope: ScopeOpt = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Parcel exceptions of your scope, newest first, with their case."""
    with refusals(), acting(user, scope).session() as session:
        rows = cs.exception_rows(session, kind=kind.value if kind else None,
                                 include_cleared=cleared)
    emit([asdict(r) for r in rows], fmt, "parcel exceptions")


def _detect(session, as_of: dt.datetime) -> dict | None:
    """Detection over the lake, where the detector and a lake are there."""
    try:
        from jiqun.service.exceptions import run_detection
    except ImportError:  # the detector is another capability's; the queue works without it
        return None
    from jiqun.lake import connect

    settings = get_settings()
    return run_detection(session, connect(settings), Path(settings.lake_path), as_of)


@app.command("detect")
def detect_cmd(at: AtOpt = None, user: UserOpt = None, scope: ScopeOpt = None) -> None:
    """Detect parcel exceptions, open their cases and check the deadlines, now (the
    ``exceptions`` job by hand); running it again changes nothing."""
    now = _now(at)
    rules = ServiceRules.configured()
    act = acting(user, scope)
    with act.transaction() as session:
        require(session, Action.EXCEPTIONS_RUN)
        found = _detect(session, now)
    with act.transaction() as session:
        opened = cs.open_cases(session, now, rules)
    with act.transaction() as session:
        checked = cs.check_deadlines(session, now, rules)
    emit([{"detection": found, "cases": opened, "deadlines": checked}], Format.JSON)


def _work(user, scope, action: Action, ref: str, fn, **kwargs) -> None:
    with acting(user, scope).transaction() as session:
        require(session, action)  # refused before the case is looked up
        case = fn(session, _case_id(session, ref), **kwargs)
        typer.echo(f"{case.code}: {case.status.value} (version {case.version})")


@app.command("contact")
def contact_cmd(
    case: CaseArg,
    channel: Annotated[str, typer.Option("--channel", help=" | ".join(cs.CHANNELS))] = "phone",
    template: Annotated[str | None, typer.Option(
        "--template", help=" | ".join(messages.BY_CODE) + " (the message is filled in from it "
        "unless --message is given)")] = None,
    message: Annotated[str | None, typer.Option("--message")] = None,
    version: VersionOpt = None,
    at: AtOpt = None,
    user: UserOpt = None,
    scope: ScopeOpt = None,
) -> None:
    """Log the proactive contact with the merchant (the first answers the first-response
    deadline)."""
    with acting(user, scope).transaction() as session:
        require(session, Action.CASE_WORK)
        case_id = _case_id(session, case)
        text = message
        if text is None and template in messages.BY_CODE:
            text = cs.case_detail(session, case_id, _now(at)).messages[template]
        found = cs.log_contact(session, case_id, channel, template, text or "", version=version,
                               at=_now(at))
        typer.echo(f"{found.code}: {found.status.value} (version {found.version})")


@app.command("note")
def note_cmd(case: CaseArg, note: Annotated[str, typer.Option("--note")],
             version: VersionOpt = None, at: AtOpt = None, user: UserOpt = None,
             scope: ScopeOpt = None) -> None:
    """Add a note to a case's log."""
    _work(user, scope, Action.CASE_WORK, case, cs.add_note, note=note, version=version,
          at=_now(at))


@app.command("wait")
def wait_cmd(case: CaseArg, note: Annotated[str | None, typer.Option("--note")] = None,
             version: VersionOpt = None, at: AtOpt = None, user: UserOpt = None,
             scope: ScopeOpt = None) -> None:
    """Waiting on others (merchant, recipient, another carrier): the clock stops."""
    _work(user, scope, Action.CASE_WORK, case, cs.wait, note=note, version=version, at=_now(at))


@app.command("resume")
def resume_cmd(case: CaseArg, version: VersionOpt = None, at: AtOpt = None,
               user: UserOpt = None, scope: ScopeOpt = None) -> None:
    """The answer came: the clock runs again, the deadlines moved by the pause."""
    _work(user, scope, Action.CASE_WORK, case, cs.resume, version=version, at=_now(at))


@app.command("resolve")
def resolve_cmd(case: CaseArg, note: Annotated[str, typer.Option("--note")],
                version: VersionOpt = None, at: AtOpt = None, user: UserOpt = None,
                scope: ScopeOpt = None) -> None:
    """Close a case with what was done."""
    _work(user, scope, Action.CASE_WORK, case, cs.resolve, note=note, version=version,
          at=_now(at))


@app.command("assign")
def assign_cmd(case: CaseArg, to: Annotated[str, typer.Option("--to", help="User name.")],
               version: VersionOpt = None, at: AtOpt = None, user: UserOpt = None,
               scope: ScopeOpt = None) -> None:
    """Give a case to another owner (an agent or manager who sees the case's customers)."""
    with acting(user, scope).transaction() as session:
        require(session, Action.CASE_ASSIGN)
        case_id = _case_id(session, case)
        owner = session.scalar(select(User.id).where(User.username == to))
        found = cs.assign(session, case_id, owner or 0, version=version, at=_now(at))
        typer.echo(f"{found.code}: {found.status.value} (version {found.version})")
