"""Web security: CSRF tokens, signed API bearer tokens and the login rate limit.

* CSRF: every session carries a random token; every state-changing request that relies on the
  session cookie must send it back (hidden form field ``csrf_token`` or header ``X-CSRF-Token``,
  which HTMX adds from ``hx-headers``). Bearer-token calls carry no ambient authority and need none.
* API tokens: ``itsdangerous`` signed, timestamped user ids; expired or forged tokens are refused.
* Login rate limit: a few failures per client and user name per window, then 429.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import defaultdict, deque

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

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
    """Issues and checks API bearer tokens (signed user id with an issue time)."""

    def __init__(self, secret_key: str, ttl_seconds: int):
        self._serializer = URLSafeTimedSerializer(secret_key, salt=TOKEN_SALT)
        self.ttl_seconds = ttl_seconds

    def issue(self, user_id: int) -> str:
        return self._serializer.dumps({"uid": user_id})

    def user_id(self, token: str) -> int | None:
        """The user id in a valid, unexpired token; ``None`` otherwise."""
        try:
            data = self._serializer.loads(token, max_age=self.ttl_seconds)
        except (SignatureExpired, BadSignature):
            return None
        uid = data.get("uid") if isinstance(data, dict) else None
        return uid if isinstance(uid, int) else None


class LoginRateLimit:
    """At most ``attempts`` failed logins per (client, user name) within ``window`` seconds."""

    def __init__(self, attempts: int = 5, window: float = 300.0):
        self.attempts, self.window = attempts, window
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and now - failures[0] > self.window:
            failures.popleft()
        return failures

    def blocked(self, client: str, username: str) -> bool:
        with self._lock:
            return len(self._recent((client, username.lower()), time.monotonic())) >= self.attempts

    def failed(self, client: str, username: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._recent((client, username.lower()), now).append(now)

    def succeeded(self, client: str, username: str) -> None:
        with self._lock:
            self._failures.pop((client, username.lower()), None)
