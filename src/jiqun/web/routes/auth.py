"""Sign in and out (web session) and API tokens (OAuth2 password flow)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.security import OAuth2PasswordRequestForm

from jiqun.accounts import authenticate
from jiqun.i18n import translator
from jiqun.store.models import User
from jiqun.web.deps import SESSION_USER_KEY, Context
from jiqun.web.schemas import MeOut, OrgUnitOut, TokenOut
from jiqun.web.security import CSRF_SESSION_KEY
from jiqun.web.templating import render

router = APIRouter()


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _safe_next(target: str | None) -> str:
    """Only local paths: never redirect a fresh login to another site."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def _check_password(request: Request, username: str, password: str) -> User | None:
    """Authenticate under the rate limit; raises 429 when this client tried too often."""
    limit = request.app.state.login_limit
    client = _client(request)
    if limit.blocked(client, username):
        t = translator(request.state.locale)
        raise HTTPException(429, t("Too many failed sign-ins; try again in a few minutes."))
    with request.app.state.store.session(source="auth") as s:
        user = authenticate(s, username, password)
        if user is not None:
            s.expunge(user)
    if user is None:
        limit.failed(client, username)
    else:
        limit.succeeded(client, username)
    return user


@router.get("/login", include_in_schema=False)
def login_form(request: Request, next: str = "/"):
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
):
    user = _check_password(request, username, password)
    if user is None:
        t = translator(request.state.locale)
        context = {"next": _safe_next(next), "error": t("Wrong user name or password."),
                   "username": username}
        return render(request, "login.html", context, status_code=401)
    # A fresh session (and CSRF token) at sign-in defeats session fixation.
    request.session.clear()
    request.session[SESSION_USER_KEY] = user.id
    request.session[CSRF_SESSION_KEY] = secrets.token_urlsafe(32)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", include_in_schema=False)
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.post("/api/token", response_model=TokenOut, tags=["auth"])
def issue_token(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenOut:
    """OAuth2 password flow: a signed bearer token for scripts (``Authorization: Bearer …``)."""
    user = _check_password(request, form.username, form.password)
    if user is None:
        raise HTTPException(
            401, "Incorrect username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    tokens = request.app.state.tokens
    return TokenOut(access_token=tokens.issue(user.id), expires_in=tokens.ttl_seconds)


@router.get("/api/me", response_model=MeOut, tags=["auth"])
def me(ctx: Context) -> MeOut:
    """The signed-in user and their org unit (the root of everything they can see)."""
    u = ctx.user
    return MeOut(
        id=u.id, username=u.username, display_name=u.display_name, role=u.role,
        org_unit=OrgUnitOut(id=u.org_unit_id, code=u.org_unit_code, name=u.org_unit_name,
                            level=u.org_unit_level),
    )
