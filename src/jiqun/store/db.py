"""Engine and sessions of the store; SQLite by default, PostgreSQL through psycopg 3."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from jiqun.config import Settings, get_settings
from jiqun.store import audit as _audit  # noqa: F401  (registers the audit listener)
from jiqun.store import scope as _scope  # noqa: F401  (registers the scope listeners)
from jiqun.store.scope import Scope, ScopeError

if TYPE_CHECKING:
    from jiqun.permissions import Actor


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


class Store:
    """The store of one deployment: an engine and a session factory."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Store:
        return cls((settings or get_settings()).store_url)

    def session(
        self, scope: Scope | None = None, user_id: int | None = None, source: str = "cli",
        actor: Actor | None = None,
    ) -> Session:
        """A session acting as ``actor`` (or the user ``user_id``), limited to their subtree.

        ``scope`` may narrow the actor's subtree, never widen it. Without an actor or user the
        session belongs to the system account: the whole organisation (or ``scope``), every
        action — for scheduled jobs, the demo builder and tests.
        """
        if actor is None and user_id is not None:
            actor = self.actor(user_id)
        if actor is not None and not actor.system:
            scope = self._narrowed(Scope.for_unit_id(self, actor.org_unit_id), scope)
        scope = scope or Scope.WHOLE  # the system account's, said explicitly
        session = self._sessions()
        session.info.update(scope=scope, user_id=actor.user_id if actor else None,
                            source=source, actor=actor)
        return session

    def actor(self, user: int | str) -> Actor:
        """The actor of a user id or user name (``system``: the system account)."""
        from jiqun.permissions import SYSTEM, SYSTEM_USERNAME, Actor
        from jiqun.store.models import User

        if user == SYSTEM_USERNAME:
            return SYSTEM
        with self._sessions() as s:
            row = s.get(User, user) if isinstance(user, int) else s.query(User).filter_by(
                username=user).one_or_none()
            if row is None:
                raise LookupError(f"no user {user!r}")
            return Actor.of(row)

    @staticmethod
    def _narrowed(own: Scope, asked: Scope | None) -> Scope:
        if asked is None:
            return own
        if not asked.root_path.startswith(own.root_path):
            raise ScopeError("the requested scope lies outside the acting user's subtree")
        return asked

    @contextmanager
    def transaction(self, **kwargs) -> Iterator[Session]:
        """A session whose work is committed at the end, or rolled back whole on error."""
        with self.session(**kwargs) as session, session.begin():
            yield session

    def upgrade(self) -> None:
        from jiqun.store.migrate import upgrade

        upgrade(self.engine)
