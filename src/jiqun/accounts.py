"""Users and passwords (argon2). Shared by the CLI, the web login and the API token endpoint."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.store.models import OrgUnit, Role, User

_hasher = PasswordHasher()
# Verifying against a dummy hash when the user does not exist keeps the timing the same.
_DUMMY_HASH = _hasher.hash("jiqun-no-such-user")

MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def add_user(
    session: Session,
    username: str,
    password: str,
    org_unit: OrgUnit,
    role: Role,
    display_name: str | None = None,
) -> User:
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
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user
