"""Engine and sessions of the store; SQLite by default, PostgreSQL through psycopg 3."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from jiqun.config import Settings, get_settings
from jiqun.store import audit as _audit  # noqa: F401  (registers the audit listener)
from jiqun.store import scope as _scope  # noqa: F401  (registers the scope listeners)
from jiqun.store.scope import Scope


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
        self, scope: Scope | None = None, user_id: int | None = None, source: str = "cli"
    ) -> Session:
        """A session limited to ``scope`` (``None``: the whole organisation, for system jobs)."""
        session = self._sessions()
        session.info.update(scope=scope, user_id=user_id, source=source)
        return session

    @contextmanager
    def transaction(self, **kwargs) -> Iterator[Session]:
        """A session whose work is committed at the end, or rolled back whole on error."""
        with self.session(**kwargs) as session, session.begin():
            yield session

    def upgrade(self) -> None:
        from jiqun.store.migrate import upgrade

        upgrade(self.engine)
