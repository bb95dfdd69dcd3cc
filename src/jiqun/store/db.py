"""Engine and sessions of the store; SQLite by default, PostgreSQL through psycopg 3."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, QueuePool, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from jiqun.config import Settings, get_settings
from jiqun.store import audit as _audit  # noqa: F401  (registers the audit listener)
from jiqun.store import scope as _scope  # noqa: F401  (registers the scope listeners)
from jiqun.store.scope import Scope, ScopeError, StoreSession

if TYPE_CHECKING:
    from jiqun.permissions import Actor


DEFAULT_POOL_SIZE = 80  # Settings.store_pool_size: two connections for each of 40 web threads
KEPT_OPEN = 10  # connections the pool keeps when idle; the rest are opened under load
POOL_TIMEOUT_S = 30  # waiting longer than this for a connection means a leak: fail loudly


def _pool(size: int) -> dict:
    """A queue pool of at most ``size`` connections, safe to share between threads.

    The web app serves sync routes from a pool of threads; each request holds its session's
    connection and may briefly open a second one (a short system session, a scope lookup), so
    ``size`` should be at least twice the threads (``Settings.store_pool_size``): a pool any
    smaller can run dry with every thread waiting for a second connection (the 50-user load
    measured ``QueuePool limit … reached`` timeouts with SQLAlchemy's default 5 + 10).
    """
    kept = min(KEPT_OPEN, size)
    return {"poolclass": QueuePool, "pool_size": kept, "max_overflow": size - kept,
            "pool_timeout": POOL_TIMEOUT_S}


def make_engine(url: str, pool_size: int = DEFAULT_POOL_SIZE) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        in_memory = not path or path == ":memory:" or "mode=memory" in url
        if not in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # An in-memory database lives in one connection: keep SQLAlchemy's pool for it.
        pool = {} if in_memory else _pool(pool_size)
        engine = create_engine(url, connect_args={"timeout": 30}, **pool)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **_pool(pool_size))


class Store:
    """The store of one deployment: an engine and a session factory."""

    def __init__(self, url: str, pool_size: int = DEFAULT_POOL_SIZE):
        self.url = url
        self.engine = make_engine(url, pool_size)
        self._sessions = sessionmaker(self.engine, class_=StoreSession, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Store:
        settings = settings or get_settings()
        return cls(settings.store_url, settings.store_pool_size)

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
