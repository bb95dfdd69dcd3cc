"""The one request dependency: who is asking, their scope, a scoped store session and the lake.

Every route reads data only through :class:`RequestContext`: its ``db`` session is opened with
the user's :class:`~jiqun.store.scope.Scope`, and the lake figures receive that same scope, so a
page cannot forget to filter. A record outside the scope simply is not found (404).
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, TypeVar

import ibis
from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from jiqun.accounts import Claim, claimed_user
from jiqun.config import FileRules
from jiqun.i18n import translator
from jiqun.kpi.cache import FigureCache, data_version
from jiqun.kpi.rules import KpiRules
from jiqun.kpi.service import OperatingPicture
from jiqun.lake import connect
from jiqun.permissions import Action, Actor, allowed
from jiqun.sales.reminders import unread_count
from jiqun.store import Store
from jiqun.store.models import OrgUnit
from jiqun.store.scope import Scope, session_scope
from jiqun.web.security import bearer_token

SESSION_ID_KEY = "sid"  # the random id of the server-side session (jiqun.accounts.open_session)

T = TypeVar("T")
R = TypeVar("R", bound=FileRules)


class LoginRequired(Exception):
    """No valid session or token: pages redirect to the login form, the API answers 401."""


class LakeConnections:
    """A small pool of Ibis connections; one is lent to a request at a time (not thread-safe)."""

    def __init__(self, factory: Callable[[], ibis.BaseBackend]):
        self._factory = factory
        self._idle: queue.SimpleQueue[ibis.BaseBackend] = queue.SimpleQueue()

    @contextmanager
    def lend(self) -> Iterator[ibis.BaseBackend]:
        try:
            con = self._idle.get_nowait()
        except queue.Empty:
            con = self._factory()
        try:
            yield con
        finally:
            self._idle.put(con)


@dataclass
class CurrentUser:
    """What the pages show of the signed-in user (a detached snapshot, never the hash)."""

    id: int
    username: str
    display_name: str
    role: str
    org_unit_id: int
    org_unit_code: str
    org_unit_name: str
    org_unit_level: str
    unread: int = 0  # unread inbox notifications, for the header
    actor: Actor | None = field(default=None, repr=False)

    def may(self, action: Action | str) -> bool:
        """Whether the user may take ``action`` (templates use it to hide what they may not)."""
        return self.actor is not None and allowed(self.actor, Action(action))


@dataclass
class RequestContext:
    user: CurrentUser
    scope: Scope
    db: Session  # scoped to ``scope``
    lake: Path
    locale: str
    con: ibis.BaseBackend = field(repr=False)  # lent from the pool for this request
    store: Store | None = field(default=None, repr=False)
    figures: FigureCache | None = field(default=None, repr=False)  # the app's, shared

    @property
    def t(self) -> Callable[..., str]:
        return translator(self.locale)

    @cached_property
    def data_version(self) -> str | None:
        """The lake's and the store's data version, read once per request (for the cache)."""
        if self.figures is None or self.store is None:
            return None
        return data_version(self.store.engine, self.lake)

    def figure(self, name: str, compute: Callable[[], T], *args: Hashable) -> T:
        """The figure ``name`` of ``args`` in the request's scope, computed once per data
        version for every request of the same scope (shared: never change the result)."""
        if self.data_version is None:
            return compute()
        return self.figures.get((name, args, self.scope.root_path, self.data_version), compute)


def request_source(request: Request) -> str:
    return "api" if request.url.path.startswith("/api") else "web"


def _user_id(request: Request) -> Claim | None:
    """What the request claims: a bearer token's user and epoch, or the cookie's session id."""
    token = bearer_token(request)
    if token:
        found = request.app.state.tokens.claim(token)
        return Claim(user_id=found[0], auth_epoch=found[1]) if found else None
    sid = request.session.get(SESSION_ID_KEY)
    return Claim(session_id=sid) if isinstance(sid, str) else None


def _load_user(store: Store, claim: Claim) -> CurrentUser | None:
    """The active user, read by a short system session, when the claim's session or token is
    still current (not signed out, no password change, not disabled)."""
    with store.session(source="auth") as s:
        user = claimed_user(s, claim)
        if user is None:
            return None
        unit = s.get(OrgUnit, user.org_unit_id)
        snapshot = CurrentUser(
            id=user.id, username=user.username, display_name=user.display_name,
            role=user.role.value, org_unit_id=unit.id, org_unit_code=unit.code,
            org_unit_name=unit.name, org_unit_level=unit.level.value,
            unread=unread_count(s, user.id), actor=Actor.of(user, unit),
        )
        return snapshot


# Declared so that OpenAPI documents the bearer flow; the token itself is read in _user_id.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/token", auto_error=False)


def get_context(
    request: Request, _token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Iterator[RequestContext]:
    """The request's user, scope, scoped store session and lake; raises when not signed in."""
    claim = _user_id(request)
    user = _load_user(request.app.state.store, claim) if claim is not None else None
    if user is None:
        raise LoginRequired()
    request.state.user = user
    state = request.app.state
    with state.lake_connections.lend() as con, state.store.session(
        actor=user.actor, source=request_source(request)
    ) as db:
        # The actor's subtree, as the store worked it out for the session (once a request).
        scope = session_scope(db)
        yield RequestContext(
            user=user, scope=scope, db=db, lake=Path(state.settings.lake_path),
            locale=request.state.locale, con=con, store=state.store,
            figures=getattr(state, "figures", None),
        )


Context = Annotated[RequestContext, Depends(get_context)]


def allow(action: Action) -> Depends:
    """Route dependency: 403 before the request is parsed unless the user may take ``action``.

    The service asks the same registry again (``permissions.require``); this early answer keeps
    a refused user from learning anything from validation errors, and it records on the route
    which action it takes, which the permission matrix tests read from the route table.
    """

    def check(ctx: Context) -> None:
        if not ctx.user.may(action):
            from jiqun.permissions import require

            require(ctx.user.actor, action)

    check.jiqun_action = action
    return Depends(check)


def not_found(ctx: RequestContext, what: str = "Not found") -> HTTPException:
    return HTTPException(status_code=404, detail=ctx.t(what))


def rules_of(request: Request, kind: type[R]) -> R:
    """The rules of ``kind`` (``KpiRules``, ``SalesRules``, ``PlanRules``, ``PlanningParams``)
    from the file that the app's settings name, not the process's: an app made with its own
    settings (a test, a second instance) uses its own rules on every page."""
    return kind.configured(request.app.state.settings)


def open_picture(request: Request, ctx: RequestContext) -> OperatingPicture:
    """The operating picture of the request's scope, with the app's KPI rules, on the request's
    lake connection and store session; its figures are shared with every request of the same
    scope, rules and data version (the app's figure cache)."""
    return OperatingPicture(request.app.state.store, ctx.lake, ctx.scope, con=ctx.con,
                            rules=rules_of(request, KpiRules), session=ctx.db,
                            figures=ctx.figures, version=ctx.data_version,
                            settings=request.app.state.settings)


def make_lake_connections(settings) -> LakeConnections:
    return LakeConnections(lambda: connect(settings))
