"""``jiqun users add|list|disable|enable|role|reset-password|passwd``

Every command acts as ``--user`` (or ``JIQUN_USER``) through :func:`jiqun.cli_actor.acting`, so
it may do exactly what the page and the API let that user do: ``user.manage`` to add, disable,
enable and re-role users of their subtree, ``user.reset_password`` to reset another user's
password; ``passwd`` changes the acting user's own password (the current one is asked for).
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun import accounts
from jiqun.cli_actor import ScopeOpt, UserOpt, acting, refusals
from jiqun.config import get_settings
from jiqun.errors import NotFound
from jiqun.i18n import translator
from jiqun.permissions import Action, require
from jiqun.store.models import OrgUnit, Role, User
from jiqun.store.org import unit_by_code

app = typer.Typer(no_args_is_help=True, help="Manage users: add, list, disable, enable, role, passwords.")
console = Console()

NewPassword = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                           help="The password (asked for when not given). Policy: at least 10 "
                                "characters, not digits only, not the user name, not common.")


def _t():
    return translator(get_settings().locale)


def _user(session: Session, username: str, action: Action) -> User:
    """A user of the acting user's subtree by name (the scope hides everyone else); the
    permission is asked first, so a refused user learns nothing about who exists."""
    require(session, action)
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        raise NotFound(username)
    return user


@app.command("add")
def add(
    username: str,
    org: str = typer.Option(..., help="Code of the user's org unit, e.g. ZJ-HZ."),
    role: Role = typer.Option(Role.MARKETER),
    password: str = NewPassword,
    name: str | None = typer.Option(None, help="Display name."),
    user: UserOpt = None,
) -> None:
    """Add a user to an org unit of your subtree, with a role no stronger than yours."""
    with acting(user).transaction() as session:
        unit = unit_by_code(session, org)
        added = accounts.create_user(session, username, password, unit, role, name)
        unit_name = session.get(OrgUnit, added.org_unit_id).name
    console.print(_t()("Added {name} ({role}) in {unit}", name=username, role=role.value,
                       unit=unit_name))


@app.command("list")
def list_users(user: UserOpt = None, scope: ScopeOpt = None) -> None:
    """List the users of your subtree with their org unit, role and status."""
    t = _t()
    table = Table("username", "name", "role", "org unit", "active")
    with refusals(), acting(user, scope).session() as session:
        units = {u.id: u.name for u in session.scalars(select(OrgUnit))}
        for row in accounts.list_users(session):
            table.add_row(row.username, row.display_name, row.role.value,
                          units.get(row.org_unit_id, "?"), t("yes") if row.active else t("no"))
    console.print(table)


def _update(user: str | None, username: str, **changes) -> None:
    with acting(user).transaction() as session:
        accounts.update_user(session, _user(session, username, Action.USER_MANAGE).id,
                             **changes)


@app.command("disable")
def disable(username: str, user: UserOpt = None) -> None:
    """Disable a user: they can no longer sign in, and their sessions and tokens end now."""
    _update(user, username, active=False)
    console.print(_t()("Disabled {name}; their sessions and tokens have ended", name=username))


@app.command("enable")
def enable(username: str, user: UserOpt = None) -> None:
    """Enable a disabled user again (old sessions and tokens stay ended)."""
    _update(user, username, active=True)
    console.print(_t()("Enabled {name}", name=username))


@app.command("role")
def set_role(username: str, role: Role, user: UserOpt = None) -> None:
    """Give a user another role (no stronger than yours)."""
    _update(user, username, role=role)
    console.print(_t()("{name} is now {role}", name=username, role=role.value))


@app.command("reset-password")
def reset_password(username: str, password: str = NewPassword, user: UserOpt = None) -> None:
    """Set another user's password (administrators); their sessions and tokens end."""
    with acting(user).transaction() as session:
        target = _user(session, username, Action.PASSWORD_RESET)
        accounts.reset_password(session, target.id, password)
    console.print(_t()("Password of {name} reset; their sessions and tokens have ended",
                       name=username))


@app.command("passwd")
def passwd(
    current: str = typer.Option(..., prompt=True, hide_input=True,
                                help="Your current password."),
    password: str = NewPassword,
    user: UserOpt = None,
) -> None:
    """Change your own password (the --user's); every session and token of yours ends."""
    with acting(user).transaction() as session:
        accounts.change_own_password(session, current, password)
    console.print(_t()("Password changed; sign in again everywhere"))
