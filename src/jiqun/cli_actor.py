"""Who a command acts as: ``--user NAME`` (or ``JIQUN_USER``) and ``--scope CODE``.

Every command that reads or writes scoped data takes :data:`UserOpt` and :data:`ScopeOpt` and
opens its sessions through :func:`acting`:

* ``--user`` names the acting user; their role decides what the command may do
  (``jiqun.permissions``) and their org unit the subtree it sees. ``--user system`` is the named
  system account (the whole organisation) for jobs run by the operator.
* ``--scope`` narrows the subtree to an org unit inside the user's own; it never widens it.

Refusals of the services are printed in the configured language with exit code 2
(:func:`refusals`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from jiqun.config import get_settings
from jiqun.errors import Conflict, Invalid, NotAllowed, NotFound
from jiqun.i18n import translator
from jiqun.permissions import Actor
from jiqun.store import Scope, ScopeError, Store
from jiqun.store.org import unit_by_code

UserOpt = Annotated[str | None, typer.Option(
    "--user", envvar="JIQUN_USER", show_envvar=True,
    help="Act as this user: their role decides what the command may do, their org unit what it "
         "sees; recorded in the audit log. 'system' is the whole-organisation system account.")]
ScopeOpt = Annotated[str | None, typer.Option(
    "--scope", help="Org unit code inside the acting user's subtree (narrows, never widens).")]


@dataclass(frozen=True)
class Acting:
    """The acting user and the subtree a command works on."""

    store: Store
    actor: Actor
    scope: Scope  # Scope.WHOLE: the system account's whole organisation

    def session(self) -> Session:
        return self.store.session(scope=self.scope, actor=self.actor, source="cli")

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session committed at the end, rolled back whole on error; refusals exit 2."""
        with refusals(), self.session() as session, session.begin():
            yield session


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(2)


def acting(user: str | None, scope_code: str | None = None,
           store: Store | None = None) -> Acting:
    """Resolve ``--user`` and ``--scope``; a missing or unknown user is a usage error."""
    store = store or Store.from_settings(get_settings())
    t = translator(get_settings().locale)
    if not user:
        raise typer.BadParameter(
            t("Say who acts: --user NAME or JIQUN_USER ('system' for whole-organisation jobs)"),
            param_hint="--user")
    try:
        actor = store.actor(user)
    except LookupError:
        raise typer.BadParameter(t("No active user {name}", name=user),
                                 param_hint="--user") from None
    if not actor.system and not _active(store, actor):
        raise typer.BadParameter(t("No active user {name}", name=user), param_hint="--user")
    scope = None
    if scope_code:
        with store.session() as s:
            unit = unit_by_code(s, scope_code)
            if unit is None:
                raise typer.BadParameter(t("No org unit {code}", code=scope_code),
                                         param_hint="--scope")
            scope = Scope.for_unit(s, unit)
    try:
        with store.session(scope=scope, actor=actor) as s:
            scope = s.info["scope"]
    except ScopeError:
        raise typer.BadParameter(
            t("{code} is not inside the subtree of {name}", code=scope_code, name=user),
            param_hint="--scope") from None
    return Acting(store, actor, scope)


def _active(store: Store, actor: Actor) -> bool:
    from jiqun.store.models import User

    with store.session() as s:
        row = s.get(User, actor.user_id)
        return row is not None and row.active


@contextmanager
def refusals() -> Iterator[None]:
    """Service refusals as one line in the configured language, exit code 2."""
    t = translator(get_settings().locale)
    try:
        yield
    except Invalid as err:
        raise _fail("\n".join(f"{k}: {v}" for k, v in err.translated(t).items())) from None
    except (NotAllowed, Conflict) as err:
        raise _fail(err.translated(t)) from None
    except NotFound as err:
        raise _fail(t("Not found") + (f": {err.args[0]}" if err.args else "")) from None
    except ScopeError:
        raise _fail(t("Outside your part of the organisation")) from None
