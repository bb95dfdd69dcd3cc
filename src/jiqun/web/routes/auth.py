"""Sign in and out (server-side web session) and API tokens (OAuth2 password flow).

Signing in stores a session row and puts its random id in the signed cookie; signing out deletes
the row, so a copy of the cookie taken before stops working. Every password is checked only
after the store-backed throttle reserved an attempt for this client and name.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.security import OAuth2PasswordRequestForm

from jiqun.accounts import authenticate, end_session, open_session
from jiqun.i18n import translator
from jiqun.store.models import User
from jiqun.web.deps import SESSION_ID_KEY, Context
from jiqun.web.schemas import MeOut, OrgUnitOut, TokenOut
from jiqun.web.security import CSRF_SESSION_KEY, client_address
from jiqun.web.templating import render

router = APIRouter()

# Form fields are bounded before any work: a longer name cannot exist, a longer password is
# refused by the policy (and never hashed).
UsernameField = Annotated[str, Form(max_length=64)]
PasswordField = Annotated[str, Form(max_length=1024)]


def _client(request: Request) -> str:
    return client_address(request, request.app.state.settings.trusted_networks)


def _safe_next(target: str | None) -> str:
    """Only local paths: never redirect a fresh login to another site."""
    if target and target.startswith("/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return "/"


def too_many(request: Request) -> HTTPException:
    t = translator(request.state.locale)
    return HTTPException(429, t("Too many failed sign-ins; try again in a few minutes."))


def _check_password(request: Request, username: str, password: str) -> User | None:
    """Authenticate under the throttle; raises 429 when this client or name tried too often."""
    throttle = request.app.state.login_limit
    attempt = throttle.reserve(_client(request), username)
    if attempt is None:
        raise too_many(request)
    with request.app.state.store.session(source="auth") as s:
        user = authenticate(s, username, password)
        if user is not None:
            s.expunge(user)
    if user is None:
        throttle.failed(attempt)
    else:
        throttle.succeeded(attempt)
    return user


def start_session(request: Request, user: User) -> None:
    """A fresh server-side session (and CSRF token) for ``user``: defeats session fixation."""
    store, settings = request.app.state.store, request.app.state.settings
    with store.transaction(source="auth") as s:
        old = request.session.get(SESSION_ID_KEY)
        if isinstance(old, str):
            end_session(s, old)
        sid = open_session(s, s.get(User, user.id), settings.session_ttl_seconds)
    request.session.clear()
    request.session[SESSION_ID_KEY] = sid
    request.session[CSRF_SESSION_KEY] = secrets.token_urlsafe(32)


@router.get("/login", include_in_schema=False)
def login_form(request: Request, next: str = "/"):
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    username: UsernameField,
    password: PasswordField,
    next: Annotated[str, Form(max_length=2000)] = "/",
):
    user = _check_password(request, username, password)
    if user is None:
        t = translator(request.state.locale)
        context = {"next": _safe_next(next), "error": t("Wrong user name or password."),
                   "username": username}
        return render(request, "login.html", context, status_code=401)
    start_session(request, user)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", include_in_schema=False)
def logout(request: Request) -> Response:
    """End the web session on the server (a saved copy of the cookie is worthless after)."""
    sid = request.session.get(SESSION_ID_KEY)
    if isinstance(sid, str):
        with request.app.state.store.transaction(source="auth") as s:
            end_session(s, sid)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.post("/api/token", response_model=TokenOut, tags=["auth"],
             responses={401: {"description": "Wrong user name or password"},
                        429: {"description": "Too many failed sign-ins"}})
def issue_token(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenOut:
    """OAuth2 password flow: a signed bearer token for scripts (``Authorization: Bearer …``).

    The token ends at its expiry, when the user's password changes and when the user is
    disabled."""
    user = _check_password(request, form.username[:256], form.password[:1024])
    if user is None:
        raise HTTPException(
            401, "Incorrect username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    tokens = request.app.state.tokens
    return TokenOut(access_token=tokens.issue(user.id, user.auth_epoch),
                    expires_in=tokens.ttl_seconds)


@router.get("/api/me", response_model=MeOut, tags=["auth"])
def me(ctx: Context) -> MeOut:
    """The signed-in user and their org unit (the root of everything they can see)."""
    u = ctx.user
    return MeOut(
        id=u.id, username=u.username, display_name=u.display_name, role=u.role,
        org_unit=OrgUnitOut(id=u.org_unit_id, code=u.org_unit_code, name=u.org_unit_name,
                            level=u.org_unit_level),
    )
