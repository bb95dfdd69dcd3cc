"""Users, passwords (argon2) and sign-in sessions. Shared by the CLI, the web and the Python API.

* **Password policy** (:func:`password_problem`): at least 10 characters (at most 128), not
  digits only, not the user name, not one of :data:`COMMON_PASSWORDS`.
* **Credentials end together**: every web session (a :class:`WebSession` row) and every API token
  records the user's ``auth_epoch`` when it is issued; a password change or reset and disabling
  the user raise the epoch (a flush listener, so every path does it) and delete the sessions, so
  every session and token of the user stops working at once.
* **Managing users** (:func:`create_user`, :func:`update_user`, :func:`reset_password`) asks the
  permission registry (``user.manage``, ``user.reset_password``) and the session's scope: a user
  outside the acting user's subtree is not found. Nobody but the system account grants a role
  that may do more than their own (:func:`may_grant`). Changing one's own password
  (:func:`change_own_password`) needs the current password and no registry action.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, event, func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jiqun.errors import Conflict, Invalid, NotAllowed, NotFound
from jiqun.permissions import (
    FIELD,
    REGISTRY,
    SYSTEM_USERNAME,
    Action,
    Actor,
    actor_of,
    require,
)
from jiqun.store.models import OrgUnit, Role, User, WebSession
from jiqun.store.scope import session_scope

_hasher = PasswordHasher()
# Verifying against a dummy hash when the user does not exist keeps the timing the same.
_DUMMY_HASH = _hasher.hash("jiqun-no-such-user")

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128  # argon2 takes any length; this bounds the work one request can ask
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# The most used passwords (public breach lists) that the length rule alone would let through.
COMMON_PASSWORDS = frozenset({
    "1234567890", "12345678910", "123456789a", "a123456789", "1q2w3e4r5t", "1qaz2wsx3edc",
    "qwertyuiop", "qwerty1234", "qwerty12345", "password12", "password123", "password1234",
    "passw0rd123", "iloveyou12", "abc1234567", "abcd123456", "abcdefghij", "aaaaaaaaaa",
    "asdfghjkl1", "zxcvbnm123", "qazwsxedcr", "woaini1314", "woaini520", "5201314520",
    "admin12345", "admin123456", "administrator", "welcome123", "letmein123", "changeme123",
    "jiqun12345", "jiqun123456", "ems1234567", "chinapost1", "chinapost123", "p@ssw0rd12",
    "p@ssword123", "iloveyou123", "princess12", "football12", "sunshine12", "1234qwerasdf",
})

PASSWORD_POLICY = ("at least 10 characters, not digits only, not the user name, not a common "
                   "password")


def password_problem(password: str, username: str | None = None) -> str | None:
    """What is wrong with ``password`` (a msgid), or ``None`` when the policy accepts it."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "The password needs at least 10 characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return "The password may have at most 128 characters"
    if password.isdigit():
        return "The password may not be digits only"
    if username and password.casefold() == username.casefold():
        return "The password may not be the user name"
    if password.casefold() in COMMON_PASSWORDS:
        return "This password is too common; choose another"
    return None


def check_password_policy(password: str, username: str | None = None) -> None:
    problem = password_problem(password, username)
    if problem:
        raise Invalid({"password": problem})


def hash_password(password: str) -> str:
    """The argon2 hash of ``password`` (the policy is checked where a password is chosen)."""
    return _hasher.hash(password)


def verify_password(user: User | None, password: str) -> bool:
    """Whether ``password`` is the user's; the same work when there is no such user."""
    if len(password) > MAX_PASSWORD_LENGTH:
        password = ""  # never accepted, and a megabyte form field costs no more than a short one
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return user is not None


# -- credentials end together -------------------------------------------------------------------
@event.listens_for(Session, "before_flush")
def _end_credentials_on_change(session: Session, _flush_context, _instances) -> None:
    """A changed password or a disabled account raises the user's ``auth_epoch`` and deletes
    their web sessions, whatever code made the change (page, API, CLI, Python)."""
    for obj in session.dirty:
        if not isinstance(obj, User):
            continue
        state = inspect(obj)
        changed = state.attrs.password_hash.history.has_changes() or (
            state.attrs.active.history.has_changes() and not obj.active)
        if changed and not state.attrs.auth_epoch.history.has_changes():
            obj.auth_epoch = (obj.auth_epoch or 0) + 1
            session.connection().execute(
                delete(WebSession.__table__).where(WebSession.__table__.c.user_id == obj.id))


# -- sign-in sessions ---------------------------------------------------------------------------
def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _session_key(raw: str) -> str:
    # Only the hash is stored: a copy of the table cannot be replayed as cookies.
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def open_session(session: Session, user: User, ttl_seconds: int) -> str:
    """A new web session for ``user``; returns the random id the signed cookie carries."""
    now = _now()
    session.execute(delete(WebSession).where(WebSession.user_id == user.id,
                                             WebSession.expires_at <= now))
    raw = secrets.token_urlsafe(32)
    session.add(WebSession(id=_session_key(raw), user_id=user.id, auth_epoch=user.auth_epoch,
                           created_at=now, expires_at=now + dt.timedelta(seconds=ttl_seconds)))
    session.flush()
    return raw


def end_session(session: Session, raw: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id == _session_key(raw)))


@dataclass(frozen=True)
class Claim:
    """Who a request says it is: a web session id, or a token's user id and epoch."""

    session_id: str | None = None
    user_id: int | None = None
    auth_epoch: int | None = None


def claimed_user(session: Session, claim: Claim) -> User | None:
    """The active user behind ``claim`` when its session or token is still current."""
    epoch, user_id = claim.auth_epoch, claim.user_id
    if claim.session_id is not None:
        row = session.get(WebSession, _session_key(claim.session_id))
        if row is None or row.expires_at <= _now():
            return None
        epoch, user_id = row.auth_epoch, row.user_id
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None or not user.active or user.auth_epoch != epoch:
        return None
    return user


# -- users --------------------------------------------------------------------------------------
def add_user(
    session: Session,
    username: str,
    password: str,
    org_unit: OrgUnit,
    role: Role,
    display_name: str | None = None,
) -> User:
    """Add a user (no permission check: for the Python API, tests and the demo builder; people
    go through :func:`create_user`). The password policy applies."""
    _check_username(username)
    check_password_policy(password, username)
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        org_unit_id=org_unit.id,
        role=role,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, or ``None``."""
    user = session.scalars(
        select(User).where(User.username == username, User.active.is_(True))
    ).one_or_none()
    return user if verify_password(user, password) else None


def _check_username(username: str) -> None:
    if not USERNAME_PATTERN.match(username):
        raise Invalid({"username": "A user name has 1 to 64 letters, digits, '.', '_' or '-'"})
    if username.casefold() == SYSTEM_USERNAME:
        raise Invalid({"username": "This user name is reserved"})


def role_powers(role: Role) -> frozenset[Action]:
    """The actions the registry lets ``role`` take (at some level)."""
    return frozenset(a for a, rule in REGISTRY.items() if role in rule.roles)


# Field work (archive a merchant, log a visit, claim from the pool) is what managers staff
# their units for; every other right of a role must be the granting user's own.
FIELD_WORK = frozenset().union(*(role_powers(r) for r in FIELD))


def may_grant(actor: Actor, role: Role) -> bool:
    """Whether ``actor`` may give ``role`` to someone (or manage a user who has it): no right
    beyond the actor's own, field work apart. Roles are compared by their rights at any level:
    a city manager may not create a provincial manager, even one placed in their city."""
    if actor.system:
        return True
    return role_powers(role) - role_powers(actor.role) <= FIELD_WORK


def _refuse_grant(actor: Actor, role: Role) -> None:
    if not may_grant(actor, role):
        raise NotAllowed("You may not give the role {role}: it may do more than yours",
                         role=_role_label(role))


def _role_label(role: Role) -> str:
    from jiqun.web.labels import ROLES

    return ROLES.get(role.value, role.value)


def grantable_roles(actor: Actor) -> list[Role]:
    return [r for r in Role if may_grant(actor, r)]


def list_users(session: Session) -> list[User]:
    """The users of the session's subtree, by user name (the scope filters the query)."""
    return list(session.scalars(select(User).order_by(User.username)))


USERS_PAGE_SIZE = 50


@dataclass(frozen=True)
class UserPage:
    """One page of the subtree's users, in a stable order (user name, then id)."""

    items: list[User]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def users_page(session: Session, q: str | None = None, page: int = 1,
               page_size: int = USERS_PAGE_SIZE) -> UserPage:
    """A page of the subtree's users whose user name, name or phone contains ``q``."""
    query = select(User)
    if q and q.strip():
        like = f"%{q.strip()}%"
        query = query.where(User.username.ilike(like) | User.display_name.ilike(like)
                            | User.phone.ilike(like))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    items = session.scalars(query.order_by(User.username, User.id)
                            .offset((page - 1) * page_size).limit(page_size)).all()
    return UserPage(list(items), total or 0, page, page_size)


def get_user(session: Session, user_id: int) -> User:
    """A user of the session's subtree; :class:`NotFound` otherwise."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user")
    return user


def _unit_in_scope(session: Session, unit: OrgUnit | None) -> OrgUnit:
    scope = session_scope(session)
    if unit is None or (scope is not None and not scope.allows(unit.id)):
        raise Invalid({"org": "No such org unit in your part of the organisation"})
    return unit


def create_user(session: Session, username: str, password: str, org_unit: OrgUnit | None,
                role: Role, display_name: str | None = None) -> User:
    """Add a user to an org unit of the acting user's subtree (``user.manage``)."""
    actor = require(session, Action.USER_MANAGE)
    _refuse_grant(actor, role)
    unit = _unit_in_scope(session, org_unit)
    _check_username(username)
    if display_name is not None and len(display_name) > 100:
        raise Invalid({"display_name": "At most 100 characters"})
    check_password_policy(password, username)
    taken = session.scalar(select(User.id).where(User.username == username)
                           .execution_options(unscoped=True))
    if taken is not None:
        raise Invalid({"username": "This user name is taken"})
    try:
        with session.begin_nested():
            return add_user(session, username, password, unit, role, display_name)
    except IntegrityError:  # taken by a parallel request since the check above
        raise Invalid({"username": "This user name is taken"}) from None


def _managed(session: Session, user_id: int, version: int | None) -> tuple[Actor, User]:
    """The user to change: in the subtree, not stronger than the actor, as the actor saw it."""
    actor = actor_of(session)
    user = get_user(session, user_id)
    if not may_grant(actor, user.role):
        raise NotAllowed("You may not change a user whose role may do more than yours")
    if version is not None and version != user.version:
        raise Conflict("This user was changed meanwhile; reload and try again",
                       mine={"version": version}, theirs={"version": user.version})
    return actor, user


def update_user(session: Session, user_id: int, *, role: Role | None = None,
                active: bool | None = None, display_name: str | None = None,
                version: int | None = None) -> User:
    """Re-role, disable or enable, or rename a user of the subtree (``user.manage``).

    Disabling ends the user's sessions and tokens. Nobody changes their own role or disables
    themselves (an account without a manager could not be repaired from the web)."""
    require(session, Action.USER_MANAGE)
    actor, user = _managed(session, user_id, version)
    if user.id == actor.user_id and (
            (role is not None and role != user.role) or active is False):
        raise NotAllowed("You may not change your own role or disable yourself")
    if role is not None and role != user.role:
        _refuse_grant(actor, role)
        user.role = role
    if active is not None:
        user.active = active
    if display_name is not None:
        name = display_name.strip()
        if not name or len(name) > 100:
            raise Invalid({"display_name": "Between 1 and 100 characters"})
        user.display_name = name
    session.flush()
    return user


def reset_password(session: Session, user_id: int, new_password: str,
                   version: int | None = None) -> User:
    """Set another user's password (``user.reset_password``); ends their sessions and tokens."""
    require(session, Action.PASSWORD_RESET)
    _, user = _managed(session, user_id, version)
    check_password_policy(new_password, user.username)
    user.password_hash = hash_password(new_password)
    session.flush()
    return user


def change_own_password(session: Session, current_password: str, new_password: str) -> User:
    """The acting user's own password, given the current one (every signed-in user may).

    Ends every session and token of the user, this one included: the caller opens a new one."""
    actor = actor_of(session)
    if actor.system or actor.user_id is None:
        raise NotAllowed("The system account has no password")
    user = get_user(session, actor.user_id)
    if not verify_password(user, current_password):
        raise Invalid({"current_password": "The current password is wrong"})
    check_password_policy(new_password, user.username)
    if verify_password(user, new_password):
        raise Invalid({"password": "The new password must differ from the current one"})
    user.password_hash = hash_password(new_password)
    session.flush()
    return user
