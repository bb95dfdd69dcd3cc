"""Accounts (用户管理): the users of one's subtree (``/users``, add form), one user
(``/users/{id}``: role, disable / enable, password reset) and one's own password
(``/account/password``), each with its ``/api`` twin.

The routes only parse and render: :mod:`jiqun.accounts` asks the registry (``user.manage``,
``user.reset_password``), refuses roles stronger than the acting user's and works in the
request's scoped session, so a user outside the subtree is 404. Changing one's own password needs
no registry action (every signed-in user may) but the current password, under the sign-in
throttle.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from jiqun import accounts
from jiqun.errors import Invalid
from jiqun.permissions import Action
from jiqun.store.models import OrgUnit, Role, User
from jiqun.store.org import unit_by_code
from jiqun.web.deps import Context, RequestContext, allow
from jiqun.web.params import IdPath, PageQuery
from jiqun.web.routes.auth import _client, start_session, too_many
from jiqun.web.schemas import OrgUnitOut
from jiqun.web.templating import render

router = APIRouter()

ShortText = Annotated[str, Form(max_length=200)]
PasswordText = Annotated[str, Form(max_length=1024)]
TICKED = frozenset({"1", "on", "true", "yes"})  # a checkbox's value; absent: unticked


# -- schemas ------------------------------------------------------------------------------------
class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    active: bool
    version: int = Field(description="Send it back with a change: a stale one answers 409.")
    org_unit: OrgUnitOut


class UserListOut(BaseModel):
    items: list[UserOut]
    total: int = Field(description="Users of the subtree matching the search.")
    page: int
    page_size: int
    pages: int


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    org_unit_code: str = Field(min_length=1, max_length=32)
    role: Role
    display_name: str | None = Field(None, max_length=100)


class UserPatch(BaseModel):
    """Fields to change; the others keep their values."""

    role: Role | None = None
    active: bool | None = None
    display_name: str | None = Field(None, min_length=1, max_length=100)
    version: int | None = Field(None, ge=1, le=2**31 - 1)


class PasswordResetIn(BaseModel):
    password: str = Field(min_length=1, max_length=1024)
    version: int | None = Field(None, ge=1, le=2**31 - 1)


class OwnPasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


WRITE_ERRORS = {401: {"description": "Not signed in"}, 403: {"description": "Not allowed"},
                404: {"description": "No such user in your subtree"},
                409: {"description": "Changed meanwhile"},
                422: {"description": "Invalid input"}}


def _out(user: User, unit: OrgUnit) -> UserOut:
    return UserOut(id=user.id, username=user.username, display_name=user.display_name,
                   role=user.role, active=user.active, version=user.version,
                   org_unit=OrgUnitOut(id=unit.id, code=unit.code, name=unit.name,
                                       level=unit.level.value))


def _units(ctx: RequestContext) -> dict[int, OrgUnit]:
    """The org units of the user's subtree, by id (the tree itself is not scoped)."""
    rows = ctx.db.scalars(select(OrgUnit).where(OrgUnit.path.startswith(ctx.scope.root_path))
                          .order_by(OrgUnit.path))
    return {u.id: u for u in rows}


def _user_out(ctx: RequestContext, user: User) -> UserOut:
    return _out(user, ctx.db.get(OrgUnit, user.org_unit_id))


def _create(ctx: RequestContext, username: str, password: str, org_unit_code: str, role: Role,
            display_name: str | None) -> User:
    unit = unit_by_code(ctx.db, org_unit_code.strip())
    return accounts.create_user(ctx.db, username.strip(), password, unit, role,
                                (display_name or "").strip() or None)


def _change_own(request: Request, ctx: RequestContext, current: str, new: str) -> User:
    """Change the signed-in user's password; the current one is checked under the throttle."""
    throttle = request.app.state.login_limit
    attempt = throttle.reserve(_client(request), ctx.user.username)
    if attempt is None:
        raise too_many(request)
    try:
        user = accounts.change_own_password(ctx.db, current, new)
    except Invalid as err:
        ctx.db.rollback()
        (throttle.failed if "current_password" in err.errors else throttle.succeeded)(attempt)
        raise
    ctx.db.commit()
    throttle.succeeded(attempt)
    return user


# -- API ----------------------------------------------------------------------------------------
SearchQuery = Annotated[str | None, Query(max_length=64, description="Part of a user name, "
                                                                    "name or phone.")]
PageSizeQuery = Annotated[int, Query(ge=1, le=500)]


@router.get("/api/users", response_model=UserListOut, tags=["accounts"])
def api_users(ctx: Context, q: SearchQuery = None, page: PageQuery = 1,
              page_size: PageSizeQuery = accounts.USERS_PAGE_SIZE) -> UserListOut:
    """One page of the users of the caller's subtree, by user name."""
    units = _units(ctx)
    found = accounts.users_page(ctx.db, q, page, page_size)
    return UserListOut(items=[_out(u, units[u.org_unit_id]) for u in found.items
                              if u.org_unit_id in units],
                       total=found.total, page=found.page, page_size=found.page_size,
                       pages=found.pages)


@router.post("/api/users", response_model=UserOut, status_code=201, tags=["accounts"],
             dependencies=[allow(Action.USER_MANAGE)], responses=WRITE_ERRORS)
def api_create_user(ctx: Context, body: UserIn) -> UserOut:
    """Add a user to an org unit of the caller's subtree, with a role no stronger than the
    caller's (password policy: docs/accounts.md)."""
    user = _create(ctx, body.username, body.password, body.org_unit_code, body.role,
                   body.display_name)
    ctx.db.commit()
    return _user_out(ctx, user)


@router.get("/api/users/{user_id}", response_model=UserOut, tags=["accounts"],
            responses={404: {"description": "No such user in your subtree"}})
def api_user(ctx: Context, user_id: IdPath) -> UserOut:
    return _user_out(ctx, accounts.get_user(ctx.db, user_id))


@router.patch("/api/users/{user_id}", response_model=UserOut, tags=["accounts"],
              dependencies=[allow(Action.USER_MANAGE)], responses=WRITE_ERRORS)
def api_update_user(ctx: Context, user_id: IdPath, body: UserPatch) -> UserOut:
    """Re-role, disable or enable, or rename a user; disabling ends their sessions and tokens."""
    user = accounts.update_user(ctx.db, user_id, role=body.role, active=body.active,
                                display_name=body.display_name, version=body.version)
    ctx.db.commit()
    return _user_out(ctx, user)


@router.post("/api/users/{user_id}/password", status_code=204, tags=["accounts"],
             dependencies=[allow(Action.PASSWORD_RESET)], responses=WRITE_ERRORS)
def api_reset_password(ctx: Context, user_id: IdPath, body: PasswordResetIn) -> Response:
    """Set a user's password (administrators); ends their sessions and tokens."""
    accounts.reset_password(ctx.db, user_id, body.password, version=body.version)
    ctx.db.commit()
    return Response(status_code=204)


@router.post("/api/account/password", status_code=204, tags=["accounts"],
             responses={**WRITE_ERRORS, 429: {"description": "Too many wrong passwords"}})
def api_change_own_password(request: Request, ctx: Context, body: OwnPasswordIn) -> Response:
    """Change one's own password (any signed-in user; the current password is required). Every
    session and token of the user ends, this token included: ask ``/api/token`` for a new one."""
    _change_own(request, ctx, body.current_password, body.new_password)
    return Response(status_code=204)


# -- pages --------------------------------------------------------------------------------------
def _list_page(request: Request, ctx: RequestContext, values: dict[str, Any] | None = None,
               errors: dict[str, str] | None = None, status_code: int = 200,
               q: str | None = None, page: int = 1):
    units = _units(ctx)
    found = accounts.users_page(ctx.db, q, page)
    return render(request, "users.html", {
        "users": [u for u in found.items if u.org_unit_id in units], "found": found, "q": q or "",
        "units": units, "roles": accounts.grantable_roles(ctx.user.actor),
        "values": values or {}, "errors": errors or {}, "policy": accounts.PASSWORD_POLICY,
    }, status_code=status_code)


@router.get("/users", include_in_schema=False)
def users_page(request: Request, ctx: Context, q: SearchQuery = None, page: PageQuery = 1):
    return _list_page(request, ctx, q=q, page=page)


@router.post("/users", include_in_schema=False, dependencies=[allow(Action.USER_MANAGE)])
def add_user_page(request: Request, ctx: Context, username: ShortText, password: PasswordText,
                  org_unit_code: ShortText, role: Annotated[Role, Form()],
                  display_name: Annotated[str, Form(max_length=200)] = ""):
    values = {"username": username, "org_unit_code": org_unit_code, "role": role.value,
              "display_name": display_name}
    try:
        user = _create(ctx, username, password, org_unit_code, role, display_name)
    except Invalid as err:
        ctx.db.rollback()
        return _list_page(request, ctx, values, err.errors, status_code=422)
    ctx.db.commit()
    return RedirectResponse(f"/users/{user.id}", status_code=303)


def _user_page(request: Request, ctx: RequestContext, user: User,
               errors: dict[str, str] | None = None, status_code: int = 200, done: str = ""):
    return render(request, "user.html", {
        "target": user, "unit": ctx.db.get(OrgUnit, user.org_unit_id),
        "roles": accounts.grantable_roles(ctx.user.actor),
        "manageable": accounts.may_grant(ctx.user.actor, user.role),
        "errors": errors or {}, "done": done, "policy": accounts.PASSWORD_POLICY,
    }, status_code=status_code)


@router.get("/users/{user_id}", include_in_schema=False)
def user_page(request: Request, ctx: Context, user_id: IdPath, done: str = ""):
    return _user_page(request, ctx, accounts.get_user(ctx.db, user_id),
                      done=done if done in {"saved", "reset"} else "")


@router.post("/users/{user_id}", include_in_schema=False,
             dependencies=[allow(Action.USER_MANAGE)])
def save_user_page(request: Request, ctx: Context, user_id: IdPath,
                   role: Annotated[Role, Form()],
                   version: Annotated[int, Form(ge=1, le=2**31 - 1)],
                   display_name: Annotated[str, Form(max_length=200)] = "",
                   active: Annotated[str, Form(max_length=8)] = ""):
    try:
        accounts.update_user(ctx.db, user_id, role=role, active=active.lower() in TICKED,
                             display_name=display_name or None, version=version)
    except Invalid as err:
        ctx.db.rollback()
        return _user_page(request, ctx, accounts.get_user(ctx.db, user_id),
                          err.errors, status_code=422)
    ctx.db.commit()
    return RedirectResponse(f"/users/{user_id}?done=saved", status_code=303)


@router.post("/users/{user_id}/password", include_in_schema=False,
             dependencies=[allow(Action.PASSWORD_RESET)])
def reset_password_page(request: Request, ctx: Context, user_id: IdPath,
                        password: PasswordText,
                        version: Annotated[int, Form(ge=1, le=2**31 - 1)]):
    try:
        accounts.reset_password(ctx.db, user_id, password, version=version)
    except Invalid as err:
        ctx.db.rollback()
        return _user_page(request, ctx, accounts.get_user(ctx.db, user_id),
                          err.errors, status_code=422)
    ctx.db.commit()
    return RedirectResponse(f"/users/{user_id}?done=reset", status_code=303)


@router.get("/account/password", include_in_schema=False)
def own_password_page(request: Request, ctx: Context, done: str = ""):
    return render(request, "password.html", {"errors": {}, "done": done == "1",
                                             "policy": accounts.PASSWORD_POLICY})


@router.post("/account/password", include_in_schema=False)
def change_own_password_page(request: Request, ctx: Context, current_password: PasswordText,
                             new_password: PasswordText):
    """Any signed-in user (no registry action): needs the current password. The other
    sessions of the user end; this browser gets a fresh session."""
    try:
        user = _change_own(request, ctx, current_password, new_password)
    except Invalid as err:
        return render(request, "password.html", {
            "errors": err.errors, "done": False, "policy": accounts.PASSWORD_POLICY,
        }, status_code=422)
    start_session(request, user)
    return RedirectResponse("/account/password?done=1", status_code=303)
