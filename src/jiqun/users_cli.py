"""``jiqun users …``"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from jiqun.accounts import add_user
from jiqun.store import Store
from jiqun.store.models import Role, User
from jiqun.store.org import unit_by_code

app = typer.Typer(no_args_is_help=True)
console = Console()


@app.command("add")
def add(
    username: str,
    org: str = typer.Option(..., help="Code of the user's org unit, e.g. ZJ-HZ."),
    role: Role = typer.Option(Role.MARKETER),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
    name: str | None = typer.Option(None, help="Display name."),
) -> None:
    """Add a user to an org unit with a role."""
    store = Store.from_settings()
    with store.transaction(source="cli") as session:
        unit = unit_by_code(session, org)
        if unit is None:
            console.print(f"[red]no org unit with code {org!r}[/]")
            raise typer.Exit(2)
        try:
            add_user(session, username, password, unit, role, name)
        except ValueError as err:
            console.print(f"[red]{err}[/]")
            raise typer.Exit(2) from err
    console.print(f"added [bold]{username}[/] ({role.value}) in {unit.name}")


@app.command("list")
def list_users() -> None:
    """List users with their org unit and role."""
    store = Store.from_settings()
    table = Table("username", "name", "role", "org unit")
    with store.session() as session:
        for user in session.scalars(select(User).order_by(User.username)):
            table.add_row(user.username, user.display_name, user.role.value, user.org_unit.name)
    console.print(table)
