"""Web security: CSRF tokens, signed API bearer tokens and the login rate limit.

* CSRF: every session carries a random token; every state-changing request that relies on the
  session cookie must send it back (hidden form field ``csrf_token`` or header ``X-CSRF-Token``,
  which HTMX adds from ``hx-headers``). Bearer-token calls carry no ambient authority and need none.
* API tokens: ``itsdangerous`` signed, timestamped user ids with the user's ``auth_epoch``;
  expired or forged tokens, and tokens issued before a password change or a disabling, are
  refused (``jiqun.accounts.claimed_user``).
* Login throttle (:class:`LoginThrottle`): attempts live in the store, so the count survives a
  restart and is shared by every server process. An attempt is reserved in the store *before*
  the password is checked, under a per-name lock, so of many parallel guesses at most the limit
  are ever evaluated. The client is the direct peer; ``X-Forwarded-For`` is believed only when the
  peer is one of the configured ``trusted_proxies`` (:func:`client_address`).
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from jiqun.store.models import LoginAttempt, LoginGuard

CSRF_SESSION_KEY = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Endpoints that authenticate by the credentials in the request itself, not by the cookie.
CSRF_EXEMPT_PATHS = frozenset({"/api/token"})
TOKEN_SALT = "jiqun-api-token"


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get(CSRF_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_SESSION_KEY] = token
    return token


def bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def csrf_protect(request: Request) -> None:
    """App-wide dependency: refuse (403) a cookie-authenticated unsafe request without the token."""
    if request.method in SAFE_METHODS or request.url.path in CSRF_EXEMPT_PATHS:
        return
    if bearer_token(request):
        return
    expected = request.session.get(CSRF_SESSION_KEY)
    sent = request.headers.get(CSRF_HEADER)
    if not sent and "form" in request.headers.get("content-type", ""):
        sent = (await request.form()).get(CSRF_FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(expected, sent):
        raise HTTPException(status_code=403, detail="CSRF token missing or invalid")


class TokenSigner:
    """Issues and checks API bearer tokens (signed user id and auth epoch, with an issue time)."""

    def __init__(self, secret_key: str, ttl_seconds: int):
        if not secret_key:  # anyone could sign a token with the empty key
            raise ValueError("an empty secret key signs nothing")
        self._serializer = URLSafeTimedSerializer(secret_key, salt=TOKEN_SALT)
        self.ttl_seconds = ttl_seconds

    def issue(self, user_id: int, auth_epoch: int = 0) -> str:
        return self._serializer.dumps({"uid": user_id, "ep": auth_epoch})

    def claim(self, token: str) -> tuple[int, int] | None:
        """``(user id, auth epoch)`` of a valid, unexpired token; ``None`` otherwise."""
        try:
            data = self._serializer.loads(token, max_age=self.ttl_seconds)
        except (SignatureExpired, BadSignature):
            return None
        if not isinstance(data, dict):
            return None
        uid, epoch = data.get("uid"), data.get("ep")
        if type(uid) is not int or type(epoch) is not int:
            return None
        return uid, epoch

    def user_id(self, token: str) -> int | None:
        """The user id in a valid, unexpired token; ``None`` otherwise."""
        found = self.claim(token)
        return found[0] if found else None


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(text: str, proxies: Sequence[Network]) -> bool:
    address = _address(text)
    return address is not None and any(address in net for net in proxies)


def client_address(request: Request, proxies: Sequence[Network] = ()) -> str:
    """The client's address for throttling: the direct peer, unless the peer is a trusted proxy;
    then the last ``X-Forwarded-For`` hop that is not itself a trusted proxy (the hops to its
    left were written by the client and prove nothing)."""
    peer = request.client.host if request.client else "unknown"
    if not _trusted(peer, proxies):
        return peer[:64]
    hops = [h.strip() for value in request.headers.getlist("x-forwarded-for")
            for h in value.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            address = _address(hop)
            return str(address) if address else hop[:64]
    return peer[:64]


@dataclass(frozen=True)
class Attempt:
    """A reserved sign-in attempt: report how it ended with ``failed`` or ``succeeded``."""

    id: int
    username: str
    client: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class LoginThrottle:
    """At most ``max_failures`` failed sign-ins per (client, user name), and
    ``max_failures_per_user`` per user name from all clients, within ``window`` seconds.

    Counted in the store (``login_attempts``), so every process of a deployment shares the count
    and a restart keeps it. :meth:`reserve` takes the name's lock row (``login_guards``) with an
    UPDATE, counts, and inserts a ``pending`` attempt in one short transaction: parallel
    attempts on one name are counted one after the other, and a password is only checked after
    its attempt was reserved. An attempt that never reports (a crash) counts as a failure.
    """

    def __init__(self, store, max_failures: int = 5, window: float = 300.0,
                 max_failures_per_user: int = 50):
        self.store = store
        self.attempts, self.window = max_failures, window
        self.per_user = max_failures_per_user
        self._attempts = LoginAttempt.__table__
        self._guards = LoginGuard.__table__

    @classmethod
    def from_settings(cls, store, settings) -> LoginThrottle:
        return cls(store, settings.login_max_failures, settings.login_window_seconds,
                   settings.login_max_failures_per_user)

    @staticmethod
    def _name(username: str) -> str:
        return username.strip().casefold()[:64]

    def _lock(self, conn: Connection, name: str, now: dt.datetime) -> None:
        """Lock the name's guard row until commit (a row lock on PostgreSQL, the database
        write lock on SQLite), creating it on the first attempt."""
        guards = self._guards
        lock = update(guards).where(guards.c.username == name).values(at=now)
        if conn.execute(lock).rowcount:
            return
        dialect = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(dialect(guards).values(username=name, at=now).on_conflict_do_nothing())
        conn.execute(lock)

    def _count(self, conn: Connection, name: str, client: str | None) -> int:
        a = self._attempts
        query = select(func.count()).select_from(a).where(a.c.username == name)
        if client is not None:
            query = query.where(a.c.client == client)
        return conn.execute(query).scalar_one()

    def reserve(self, client: str, username: str) -> Attempt | None:
        """Reserve an attempt; ``None`` when this client or this name tried too often."""
        name, client = self._name(username), client[:64]
        now = _now()
        a = self._attempts
        with self.store.engine.begin() as conn:
            self._lock(conn, name, now)
            cutoff = now - dt.timedelta(seconds=self.window)
            conn.execute(delete(a).where(a.c.username == name, a.c.at < cutoff))
            if (self._count(conn, name, client) >= self.attempts
                    or self._count(conn, name, None) >= self.per_user):
                return None
            attempt_id = conn.execute(
                insert(a).values(username=name, client=client, at=now, state="pending")
            ).inserted_primary_key[0]
            self._forget_one(conn, name, cutoff)
        return Attempt(attempt_id, name, client)

    def _forget_one(self, conn: Connection, name: str, cutoff: dt.datetime) -> None:
        """Drop one other name nobody tried within the window, so names sprayed once do not
        pile up. SKIP LOCKED: never wait for a name another attempt holds (no deadlock)."""
        a, g = self._attempts, self._guards
        stale = conn.execute(select(g.c.username).where(g.c.at < cutoff, g.c.username != name)
                             .limit(1).with_for_update(skip_locked=True)).scalar()
        if stale is not None:
            conn.execute(delete(a).where(a.c.username == stale))
            conn.execute(delete(g).where(g.c.username == stale))

    def failed(self, attempt: Attempt) -> None:
        a = self._attempts
        with self.store.engine.begin() as conn:
            conn.execute(update(a).where(a.c.id == attempt.id).values(state="failed"))

    def succeeded(self, attempt: Attempt) -> None:
        """A right password clears this client's failures on the name (not other clients')."""
        a = self._attempts
        with self.store.engine.begin() as conn:
            conn.execute(delete(a).where(a.c.username == attempt.username,
                                         a.c.client == attempt.client,
                                         (a.c.state == "failed") | (a.c.id == attempt.id)))

    def blocked(self, client: str, username: str) -> bool:
        """Whether the next attempt would be refused (for display; :meth:`reserve` decides)."""
        name, client = self._name(username), client[:64]
        cutoff = _now() - dt.timedelta(seconds=self.window)
        a = self._attempts
        with self.store.engine.connect() as conn:
            def count(*where) -> int:
                return conn.execute(select(func.count()).select_from(a).where(
                    a.c.username == name, a.c.at >= cutoff, *where)).scalar_one()
            return count(a.c.client == client) >= self.attempts or count() >= self.per_user
